/**
 * cgroup support shared by the drivers: host layout and path resolution, the
 * translation of OCI `linux.resources` into cgroup file writes, and statistics in
 * runc's shape. The drivers themselves are in `../drivers/`.
 *
 * @example Translating resources for a v2 host
 * ```ts
 * import assert from "node:assert/strict";
 * import { permissiveHost, translateResources } from "./mod.ts";
 * const writes = translateResources({ pids: { limit: 100 } }, permissiveHost(2));
 * assert.equal(writes[0].file, "pids.max");
 * assert.equal(writes[0].value, "100");
 * ```
 *
 * @module
 */

export {
  type CgroupHost,
  type CgroupMode,
  type CgroupMount,
  cleanCgroupPath,
  describeCgroupRoot,
  detectCgroupMode,
  readCgroupHost,
  resolveCgroupPaths,
} from "./paths.ts";
export {
  blkioWeightToIoWeight,
  type CgroupHostFiles,
  type CgroupWrite,
  firstResourceField,
  isAllowAllDevices,
  permissiveHost,
  sharesToWeight,
  swapToV2,
  translateResources,
} from "./resources.ts";
export {
  type BlkioEntry,
  type CgroupStats,
  emptyStats,
  type HugetlbStats,
  type MemoryEntry,
  readStatsV1,
  readStatsV2,
} from "./stats.ts";
