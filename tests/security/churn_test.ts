// Churn: the soak of scripts/soak/ shortened for CI (`deno task soak` runs it for 10 minutes
// from the library and 10 from the CLI), as root and rootless (`--rootless`: the runtime is the
// unprivileged test user's), and the stall it found: container streams that each held a thread
// of Deno's blocking pool.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import type { ContainerProcess } from "../../core/process.ts";
import { poller } from "../../native/poller.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { isRoot, skipIf, skipUnless } from "../helpers/skip.ts";
import { cannotRunAsTestUser } from "../helpers/user.ts";
import { stateEntries } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

Deno.test({
  name: "churn: 60 containers whose piped output has not come do not stall the runtime",
  ignore,
  async fn() {
    // Before native/poller.ts each pending read held one of Deno's ~30 blocking-pool threads:
    // with 60 such containers every other native call and async file operation of the
    // runtime waited until one of them wrote or exited.
    const N = 60;
    // They wait for a line on stdin, at most 300 s: a stalled runtime cannot write it (nor
    // finish anything else) before they give up, and then the assertions below say so.
    await using b = await makeBundle({
      args: ["sh", "-c", "if read -t 300 x; then echo got; else echo 'timed out'; fi"],
      rootfs: "shared",
    });
    const factory = new Factory({ root: b.stateRoot });
    const spec = (id: string) => {
      const s = structuredClone(b.config);
      s.linux!.cgroupsPath = `nsinit-test-${id}`;
      return s;
    };
    const waiting: { c: Awaited<ReturnType<Factory["run"]>>; out: Promise<string> }[] = [];
    const releaseAll = async () => {
      for (const w of waiting) {
        const writer = (w.c.init as ContainerProcess).stdin!.getWriter();
        await writer.write(new TextEncoder().encode("go\n")).catch(() => {});
        await writer.close().catch(() => {});
      }
    };
    try {
      for (let i = 0; i < N; i++) {
        const id = `${b.id}-w${i}`;
        const c = await factory.run(id, {
          bundle: b.dir,
          spec: spec(id),
          stdio: { stdin: "piped", stdout: "piped", stderr: "null" },
        });
        waiting.push({ c, out: new Response(c.init!.stdout).text() });
      }
      assert.ok(poller.pending >= N, `only ${poller.pending} reads wait in the poller`);
      // Another container runs to its end while all of them wait for input.
      const id = `${b.id}-x`;
      const s = spec(id);
      s.process!.args = ["echo", "through"];
      const c = await factory.run(id, {
        bundle: b.dir,
        spec: s,
        stdio: { stdin: "null", stdout: "piped", stderr: "null" },
      });
      const out = await c.init!.output();
      await c.destroy();
      assert.equal(out.stdout, "through\n");
      for (const w of waiting) {
        assert.equal(
          await w.c.status(),
          "running",
          "the runtime stalled until the waiting containers gave up",
        );
      }
      await releaseAll();
      for (const w of waiting) {
        assert.equal(await w.out, "got\n");
        assert.equal((await w.c.wait()).code, 0);
      }
    } finally {
      for (const w of waiting) await w.c.destroy({ force: true }).catch(() => {});
    }
    assert.deepEqual(stateEntries(b.stateRoot), []);
    assert.equal(poller.pending, 0, "waits left in the poller");
  },
});

for (const rootless of [false, true]) {
  const who = rootless ? "rootless, as the unprivileged test user" : "root";
  const why = rootless ? cannotRunAsTestUser() : undefined;
  Deno.test({
    name:
      `churn (${who}): 100 containers at once for 30 s from the library and from the CLI (deno task soak${
        rootless ? " --rootless" : ""
      }, shortened)`,
    ignore: ignore || skipIf(why !== undefined, why ?? ""),
    async fn() {
      const out = `${REPO_ROOT}/.cache/soak/ci-report${rootless ? "-rootless" : ""}.json`;
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${REPO_ROOT}/scripts/soak/main.ts`,
          "--duration",
          "30",
          "--containers",
          "100",
          "--drain-every",
          "5",
          "--cli-drain-every",
          "15",
          "--out",
          out,
          ...(rootless ? ["--rootless"] : []),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
      console.log(
        text.trim().split("\n").filter((l) => !l.includes("error:")).slice(-30).join("\n"),
      );
      assert.equal(r.code, 0, text.slice(-4000));
      const report = JSON.parse(await Deno.readTextFile(out));
      assert.equal(report.reports.length, 2, "both modes ran");
      for (const m of report.reports) {
        assert.equal(m.rootless, rootless, `${m.mode}: run as the wrong user`);
        assert.ok(m.ok, `${m.mode}: ${m.problems.join("; ")}`);
        assert.ok(m.cycles >= 100, `${m.mode}: only ${m.cycles} container cycles`);
        // The library is judged at its drain points; the CLI per verb (a CLI drain waits for
        // every cycle in flight, which takes long with 100 Deno processes on two cores).
        const drains = m.mode === "library" ? 3 : 2;
        assert.ok(m.drains.length >= drains, `${m.mode}: only ${m.drains.length} drain points`);
        assert.ok(m.verdicts.length > 0, `${m.mode}: nothing measured`);
      }
    },
  });
}
