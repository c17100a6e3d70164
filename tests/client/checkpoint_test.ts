/**
 * OciRuntimeClient checkpoint and restore with the real CRIU (scripts/install_criu.sh), through
 * runc and dist/nsinit (crun 1.8.1 from Debian is built without CRIU: "unknown command").
 */

import assert from "node:assert/strict";
import { NullIO, OciRuntimeClient } from "../../client/mod.ts";
import { hasCommand, isRoot, makeBundle, REPO_ROOT, skipUnless } from "../helpers/mod.ts";
import { criuProblem, hasMemTrack } from "../checkpoint/helpers.ts";

// No root, no criu, or a criu that cannot dump on this kernel (it hangs on some): why.
const noCriu = await criuProblem();
const memTrack = noCriu === undefined && hasMemTrack();

const COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done";

async function count(pid: number): Promise<number> {
  return Number((await Deno.readTextFile(`/proc/${pid}/root/tmp/count`)).trim() || "0");
}

for (const command of ["runc", `${REPO_ROOT}/dist/nsinit`]) {
  const name = command.split("/").at(-1)!;
  Deno.test({
    name:
      `oci client (${name}): checkpoint (a pre-dump where the kernel tracks dirty memory, refused where not; leave-running; final) and restore with CRIU`,
    ignore: skipUnless(isRoot(), "needs root") ||
      skipUnless(hasCommand(command), `${command} is missing`) ||
      skipUnless(noCriu === undefined, noCriu ?? ""),
    sanitizeResources: false,
    async fn() {
      await using b = await makeBundle({ args: ["sh", "-c", COUNTER], readonlyRoot: false });
      const c = new OciRuntimeClient({ command, root: b.stateRoot });
      const images = `${b.dir}/images`;
      try {
        await c.run(b.id, b.dir, { detach: true, io: new NullIO() });
        const pid = (await c.state(b.id)).pid;
        while (await count(pid).catch(() => 0) < 3) await new Promise((r) => setTimeout(r, 50));
        const pre = { imagePath: `${b.dir}/pre`, workDir: `${b.dir}/pre`, preDump: true };
        if (memTrack) {
          // A kernel that tracks dirty memory (the cgroup v2 VM's): the pre-dump is written.
          await c.checkpoint(b.id, pre);
          assert.equal((await c.state(b.id)).status, "running");
        } else {
          // Without CONFIG_MEM_SOFT_DIRTY (the CI host's kernel) it is refused, with the
          // runtime's reason.
          await assert.rejects(c.checkpoint(b.id, pre), /missing features|memory tracking/);
        }
        await c.checkpoint(b.id, {
          imagePath: `${b.dir}/keep`,
          workDir: `${b.dir}/keep`,
          leaveRunning: true,
        });
        assert.equal((await c.state(b.id)).status, "running");
        await c.checkpoint(b.id, { imagePath: images, workDir: images });
        const before = await Deno.readTextFile(`${b.rootfs}/tmp/count`).then(Number);
        await c.delete(b.id, { force: true }).catch(() => {});
        const code = await c.restore(b.id, b.dir, {
          imagePath: images,
          workDir: images,
          detach: true,
          io: new NullIO(),
        });
        assert.equal(code, 0);
        const st = await c.state(b.id);
        assert.equal(st.status, "running");
        // One read per look: the shell rewrites the file (truncate, then write), so a second
        // read may find it empty.
        let now = 0;
        while ((now = await count(st.pid)) <= before + 2) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(now > before, "the counter goes on from where it was");
      } finally {
        await c.delete(b.id, { force: true }).catch(() => {});
      }
    },
  });
}
