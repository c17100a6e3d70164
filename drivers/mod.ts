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
 * assert.equal(createCgroupManager({ id: "c1" }, { root }).kind, "cgroupfs-v2");
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

export type {
  CgroupConfig,
  CgroupEvent,
  CgroupManager,
  DriverKind,
  PressureLevel,
} from "./driver.ts";
export { createCgroupManager, type CreateCgroupManagerOptions } from "./factory.ts";
