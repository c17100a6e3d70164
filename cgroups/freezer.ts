/**
 * Whether a cgroup is frozen, v1 (`freezer.state`) and v2 (`cgroup.events`): what every
 * command's status reads. Freezing and thawing, which only `pause`, `resume` and a kill of
 * a paused container do, are in `freezer_set.ts`.
 *
 * @module
 */

import { readCgroupFile } from "./fs_base.ts";

/** Default time to wait for a freeze or thaw to complete. */
export const DEFAULT_FREEZE_TIMEOUT_MS = 5000;

/**
 * Whether a v1 freezer cgroup is `FROZEN`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isFrozenV1 } from "./freezer.ts";
 * assert.ok(!(await isFrozenV1("/nonexistent")));
 * ```
 */
export async function isFrozenV1(dir: string): Promise<boolean> {
  return (await readCgroupFile(dir, "freezer.state")) === "FROZEN";
}

/** The `frozen` value of a v2 `cgroup.events`, or undefined when the file is absent. */
export async function eventsFrozen(dir: string): Promise<boolean | undefined> {
  const events = await readCgroupFile(dir, "cgroup.events");
  if (events === undefined) return undefined;
  return /^frozen 1$/m.test(events);
}

/**
 * Whether a v2 cgroup is frozen (`frozen 1` in `cgroup.events`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isFrozenV2 } from "./freezer.ts";
 * assert.ok(!(await isFrozenV2("/nonexistent")));
 * ```
 */
export async function isFrozenV2(dir: string): Promise<boolean> {
  return (await eventsFrozen(dir)) === true;
}
