/**
 * A tiny container engine on RuntimeManager: runs the bundle's workload under the chosen
 * runtime handler, waits for it, and prints its exit code and its log (Kubernetes format).
 *
 *   deno run -A examples/engine.ts BUNDLE_DIR [library|runc|crun|nsinit]
 *
 * @module
 */

import { readContainerLog, RuntimeManager } from "../mod.ts";

const [bundle = ".", handler = "runc"] = Deno.args;
const root = await Deno.makeTempDir({ prefix: "engine-example-" });
await using manager = await RuntimeManager.open({
  root,
  runtimes: {
    library: { type: "library" }, // nsinit in this process
    runc: { type: "oci", runtimePath: "runc" }, // runc under conmon
    crun: { type: "oci", runtimePath: "crun" },
    nsinit: { type: "oci", runtimePath: new URL("../dist/nsinit", import.meta.url).pathname },
  },
});
const id = `job-${Deno.pid}`;
await manager.createContainer({ id, bundle, handler });
await manager.startContainer(id);
let status = await manager.updateContainerStatus(id);
while (status.status !== "stopped") {
  await new Promise((r) => setTimeout(r, 100));
  status = await manager.updateContainerStatus(id);
}
const logs = await readContainerLog(status.logPath);
console.log(`exit code ${status.exitCode}`);
console.log(`stdout ${JSON.stringify(logs.stdout)}`);
console.log(`stderr ${JSON.stringify(logs.stderr)}`);
await manager.deleteContainer(id);
await Deno.remove(root, { recursive: true });
