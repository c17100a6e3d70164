// End-to-end, the class of CVE-2021-30465 (see mount_race.ts): a read-only bind mount whose
// destination another container swaps between a directory and a symlink to /sys. nsinit makes the
// bind mount read-only while it is still detached and attaches it on the fd it resolved once.
// Run as root, and rootless: both containers from runc's rootless spec, the runtime (the library,
// in a Deno process of its own) run by the unprivileged test user.
//
// NSINIT_RACE_RUNS sets the number of starts as root (default 150; run 1000 by hand),
// NSINIT_RACE_RUNS_ROOTLESS rootless (default 60).
// The result line `race (MODE): N of M starts ...` is printed for the report.
import assert from "node:assert/strict";
import { REPO_ROOT } from "../helpers/paths.ts";
import { hasCommand, skipUnless } from "../helpers/skip.ts";
import { runAs, testUser, warmDenoCache } from "../helpers/user.ts";
import { prepareRace, type RaceResult, runRace } from "./mount_race.ts";
import { MODES } from "./modes.ts";

const RUNS = {
  root: Number(Deno.env.get("NSINIT_RACE_RUNS") ?? "150"),
  rootless: Number(Deno.env.get("NSINIT_RACE_RUNS_ROOTLESS") ?? "60"),
};
const noCc = skipUnless(hasCommand("cc"), "needs a C compiler for the attacker's program");

for (const m of MODES) {
  const runs = RUNS[m.name];
  Deno.test({
    name: `escape (${m.name}): symlink-exchange race on a read-only bind mount (${runs} starts)`,
    ignore: m.ignore || noCc,
    async fn() {
      const user = testUser();
      await using setup = await prepareRace(m.name === "rootless" ? user : undefined);
      let r: RaceResult;
      if (m.name === "root") {
        r = await runRace(setup, runs);
      } else {
        await warmDenoCache(user!);
        const out = await runAs(
          user!,
          Deno.execPath(),
          [
            "run",
            "-A",
            `${REPO_ROOT}/tests/security/mount_race.ts`,
            JSON.stringify(setup),
            String(runs),
          ],
          { cwd: REPO_ROOT, timeoutMs: 600_000 },
        );
        assert.equal(out.code, 0, out.stderr);
        r = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
      }
      console.log(
        `race (${m.name}): ${r.writable} of ${runs} starts had the read-only bind mount writable, ` +
          `${r.sysWeakened} had /sys without nosuid/nodev/noexec ` +
          `(${r.failed} refused to start, ${r.notMounted} without the bind mount visible)`,
      );
      for (const [msg, n] of Object.entries(r.failures)) console.log(`race: ${n} x ${msg}`);
      assert.ok(r.attackerSwapped, "the attacker never swapped: the race tested nothing");
      assert.equal(r.writable, 0, "a read-only bind mount was writable");
      assert.equal(r.sysWeakened, 0, "/sys lost nosuid/nodev/noexec");
      assert.ok(r.failed < runs, "no start succeeded: the race test tested nothing");
    },
  });
}
