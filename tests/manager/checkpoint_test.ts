/**
 * RuntimeManager checkpointContainer / restoreContainer through each handler with the real CRIU:
 * `library` (core's Container.checkpoint and Factory.restore), `oci` with runc and with
 * dist/nsinit (`runtime checkpoint`, then conmon `--restore`).
 */

import assert from "node:assert/strict";
import { RuntimeManager } from "../../manager/mod.ts";
import { hasCommand, isRoot, makeBundle, REPO_ROOT, skipUnless } from "../helpers/mod.ts";
import { criuProblem } from "../checkpoint/helpers.ts";

// No root, no criu, or a criu that cannot dump on this kernel (it hangs on some): why.
const noCriu = await criuProblem();

const NSINIT = `${REPO_ROOT}/dist/nsinit`;
const COUNTER =
  "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; echo tick $i; sleep 0.05; done";

for (
  const [name, config] of [
    ["library", { type: "library" }],
    ["runc", { type: "oci", runtimePath: "runc" }],
    ["nsinit", { type: "oci", runtimePath: NSINIT }],
  ] as const
) {
  Deno.test({
    name:
      `manager (${name}): checkpointContainer stops it, restoreContainer brings it back where it was`,
    ignore: skipUnless(isRoot(), "needs root") ||
      skipUnless(noCriu === undefined, noCriu ?? "") ||
      skipUnless(config.type === "library" || hasCommand("conmon"), "conmon is not installed"),
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: "nsinit-test-manager-cr-" });
      await using b = await makeBundle({ args: ["sh", "-c", COUNTER], readonlyRoot: false });
      const m = await RuntimeManager.open({ root, runtimes: { [name]: config } });
      const counter = () => Deno.readTextFile(`${b.rootfs}/tmp/count`).then(Number, () => 0);
      try {
        await m.createContainer({ id: b.id, bundle: b.dir });
        await m.startContainer(b.id);
        while (await counter() < 3) await new Promise((r) => setTimeout(r, 50));
        await m.checkpointContainer(b.id, { imagePath: `${b.dir}/images` });
        const stopped = await m.updateContainerStatus(b.id);
        assert.equal(stopped.status, "stopped");
        assert.equal(stopped.exitCode, 0);
        assert.ok(stopped.checkpointedAt);
        const before = await counter();
        await m.restoreContainer(b.id, { imagePath: `${b.dir}/images` });
        const st = await m.updateContainerStatus(b.id);
        assert.equal(st.status, "running");
        assert.ok(st.pid! > 0);
        const deadline = Date.now() + 15_000;
        // One read per look: the shell rewrites the file (truncate, then write), so a second
        // read may find it empty.
        let now = 0;
        while ((now = await counter()) <= before + 2 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(now > before + 2, "the counter goes on after the restore");
        await m.stopContainer(b.id, 0);
        assert.equal((await m.updateContainerStatus(b.id)).status, "stopped");
      } finally {
        await m.deleteContainer(b.id).catch(() => {});
        await m.close();
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
