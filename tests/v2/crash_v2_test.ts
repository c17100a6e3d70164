/**
 * On cgroup v2, where the init is cloned into a cgroup made before the spawn and limited while
 * the helper clones (core/create.ts), the runtime is SIGKILLed at every mark `create`
 * passes (NSINIT_CRASH_AT, util/trace.ts), and `nsinit delete --force` removes the
 * state, the cgroup and every process. The host's crash suite (tests/security) covers every
 * verb and helper step on its own cgroup layout; this one covers the v2 order, in the cgroup
 * v2 VM (`bash scripts/v2vm/run.sh`). Elsewhere it is skipped with the reason printed.
 */

import assert from "node:assert/strict";
import { makeBundle } from "../helpers/bundle.ts";
import { runNsinit } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { cgroupV2, ownCgroup2Dir } from "../helpers/host.ts";
import { exists } from "../../util/fs.ts";
import { processesIn, stateEntries } from "../security/helpers.ts";

const reason = !isRoot()
  ? "needs root"
  : !cgroupV2()
  ? "/sys/fs/cgroup is not cgroup2 (run with scripts/v2vm/run.sh)"
  : undefined;

/** The cgroup2 directory a cgroupsPath names for a runtime started from here. */
function cgroupDir(path: string): string {
  return path.startsWith("/") ? `/sys/fs/cgroup${path}` : `${ownCgroup2Dir()}/${path}`;
}

Deno.test({
  name: "crash on cgroup v2: SIGKILL at every mark of create is recovered by delete --force",
  ignore: skipUnless(reason === undefined, `crash on cgroup v2: ${reason}`),
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"] });
    b.config.linux!.resources = { ...b.config.linux!.resources, pids: { limit: 64 } };
    await b.write();
    const root = b.stateRoot;
    const cli = (args: string[], env: Record<string, string> = {}) =>
      runNsinit(["--root", root, ...args], { env });
    let n = 0;
    // `create` passes every mark of the cgroup's order (`run` differs only after the exec).
    for (const verb of [["create", "--bundle", b.dir]]) {
      const traceId = `${b.id}-t${n++}`;
      const traced = await cli([...verb, traceId], { NSINIT_TRACE: "1" });
      assert.equal(traced.code, 0, traced.stderr);
      assert.ok(exists(cgroupDir(b.config.linux!.cgroupsPath!)), "the container's cgroup");
      assert.equal((await cli(["delete", "--force", traceId])).code, 0);
      const marks = traced.stderr.split("\n")
        .filter((l) => l.startsWith("nsinit-trace "))
        .map((l) => l.split(" ").slice(2).join(" ").replace(/ \[[^\]]*\]$/, ""))
        .filter((m) => !m.startsWith("cli:"));
      assert.ok(marks.includes("create: cgroup manager made, plan built"), marks.join(", "));
      for (const at of marks) {
        const id = `${b.id}-${n++}`;
        const r = await cli([...verb, id], { NSINIT_CRASH_AT: at });
        assert.equal(r.code, 137, `${verb[0]} at ${at}: exit ${r.code}: ${r.stderr}`);
        const d = await cli(["delete", "--force", id]);
        assert.ok(
          d.code === 0 || /does not exist/.test(d.stderr),
          `${verb[0]} at ${at}: delete --force: ${d.stderr}`,
        );
        assert.deepEqual(stateEntries(root), [], `${verb[0]} at ${at}: state left`);
        assert.ok(
          !exists(cgroupDir(b.config.linux!.cgroupsPath!)),
          `${verb[0]} at ${at}: cgroup left`,
        );
        for (let i = 0; i < 100 && processesIn(b.rootfs).length > 0; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(processesIn(b.rootfs), [], `${verb[0]} at ${at}: processes left`);
      }
    }
  },
});
