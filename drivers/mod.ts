/**
 * cgroup drivers: the {@link CgroupManager} interface and the factory that picks
 * the implementation for the host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createCgroupManager } from "./mod.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/cgroup.controllers`, "memory\n");
 * assert.equal((await createCgroupManager({ id: "c1" }, { root })).view().layout, "v2");
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

export type * from "./driver.ts";
export {
  createCgroupManager,
  type CreateCgroupManagerOptions,
  type DriverConstructor,
  type DriverContext,
  DRIVERS,
  loadCgroupManager,
} from "./factory.ts";
export { signalThroughFreezer } from "./signal_all.ts";
