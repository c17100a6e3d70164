// End-to-end: the runtime is SIGKILLed in the middle of create; `nsinit delete --force`
// recovers: no state directory, cgroup or process is left.
import assert from "node:assert/strict";
import { makeBundle } from "./helpers/bundle.ts";
import { makeTempDir } from "./helpers/paths.ts";
import { nsinitCommand, runNsinit } from "./helpers/run.ts";
import { isRoot, skipUnless } from "./helpers/skip.ts";
import { testRun } from "./helpers/paths.ts";
import { alive, cgroupDirsNamed, waitFor } from "./helpers/host.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

for (const phase of ["createRuntime", "startContainer"] as const) {
  Deno.test({
    name: `crash: SIGKILL of nsinit during ${
      phase === "createRuntime" ? "create (hooks running)" : "start"
    } is recovered by delete --force`,
    ignore,
    async fn() {
      await using dir = await makeTempDir("crash");
      const marker = `${dir.path}/hook.pid`;
      await using b = await makeBundle({ args: ["sleep", "60"] });
      // The hook records its pid and blocks: the runtime is then mid-operation.
      const hook = `${phase === "createRuntime" ? dir.path : b.rootfs}/hook.sh`;
      await Deno.writeTextFile(
        hook,
        `#!/bin/sh\necho $$ > ${
          phase === "createRuntime" ? marker : "/hooklog/hook.pid"
        }\nexec sleep 60\n`,
        {
          mode: 0o755,
        },
      );
      if (phase === "createRuntime") {
        b.config.hooks = { createRuntime: [{ path: hook }] };
      } else {
        await Deno.mkdir(`${b.rootfs}/hooklog`);
        b.config.mounts!.push({
          destination: "/hooklog",
          type: "bind",
          source: dir.path,
          options: ["rbind", "rw"],
        });
        b.config.hooks = { startContainer: [{ path: "/hook.sh" }] };
      }
      await b.write();
      const root = b.stateRoot;
      if (phase === "startContainer") {
        const c = await runNsinit(["--root", root, "create", "--bundle", b.dir, b.id]);
        assert.equal(c.code, 0, c.stderr);
      }
      const [cmd, ...args] = nsinitCommand([
        "--root",
        root,
        phase === "createRuntime" ? "create" : "start",
        ...(phase === "createRuntime" ? ["--bundle", b.dir] : []),
        b.id,
      ]);
      const child = new Deno.Command(cmd, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "null",
        env: { NSINIT_TEST_RUN: testRun() },
      }).spawn();
      let hookPid = 0;
      try {
        await waitFor(() => {
          try {
            hookPid = Number(Deno.readTextFileSync(marker).trim());
            return hookPid > 0;
          } catch {
            return false;
          }
        }, "the hook to start");
        child.kill("SIGKILL");
        await child.status;
        // The state directory is there, half made: delete --force cleans it up.
        assert.ok(Deno.statSync(`${root}/${b.id}`).isDirectory);
        const d = await runNsinit(["--root", root, "delete", "--force", b.id]);
        assert.equal(d.code, 0, d.stderr);
        assert.deepEqual([...Deno.readDirSync(root)], [], "no state left");
        assert.deepEqual(cgroupDirsNamed(b.config.linux!.cgroupsPath!, 4), [], "no cgroup left");
        if (phase === "createRuntime") {
          // The init, waiting at the barrier, saw its runtime go and exited by itself;
          // the runtime-side hook was the runtime's child: end it (we started it, by pid).
          assert.ok(hookPid > 0);
          Deno.kill(hookPid, "SIGKILL");
        }
        // (A startContainer hook runs inside the container, so its pid is one of the
        // container's namespace: it is gone with the cgroup, checked above.)
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        await runNsinit(["--root", root, "delete", "--force", b.id]);
        if (phase === "createRuntime" && hookPid > 0 && alive(hookPid)) {
          Deno.kill(hookPid, "SIGKILL");
        }
      }
    },
  });
}
