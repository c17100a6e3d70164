/**
 * Unique names for test resources (container ids, directories, cgroups).
 *
 * @module
 */

let counter = 0;

/**
 * A name that no other call, in this or any other process, returns: `PREFIX-PID-N-RANDOM`
 * (pid and counter in base 36, 4 random hex digits). It is short and uses only
 * `[A-Za-z0-9_.-]`, so it is a valid container id, hostname part and cgroup name.
 *
 * @example Two ids differ
 * ```ts
 * import assert from "node:assert/strict";
 * import { uniqueId } from "./ids.ts";
 * const a = uniqueId("ctr");
 * assert.ok(a.startsWith("ctr-"));
 * assert.notEqual(a, uniqueId("ctr"));
 * ```
 */
export function uniqueId(prefix = "t"): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(prefix)) {
    throw new TypeError(`uniqueId: bad prefix ${JSON.stringify(prefix)}`);
  }
  counter++;
  const random = crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, "0");
  return `${prefix}-${Deno.pid.toString(36)}-${counter.toString(36)}-${random}`;
}
