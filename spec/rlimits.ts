/**
 * The POSIX resource limits a config may name in `process.rlimits[].type`, with their
 * Linux resource numbers (x86_64 and every other architecture except alpha, mips and
 * sparc, which number a few differently).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rlimitNumber } from "./rlimits.ts";
 * assert.equal(rlimitNumber("RLIMIT_NOFILE"), 7);
 * assert.equal(rlimitNumber("RLIMIT_BOGUS"), undefined);
 * ```
 *
 * @module
 */

/**
 * Resource limit names indexed by their Linux resource number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RLIMITS } from "./rlimits.ts";
 * assert.equal(RLIMITS[0], "RLIMIT_CPU");
 * assert.equal(RLIMITS.length, 16);
 * ```
 */
export const RLIMITS: readonly string[] = Object.freeze([
  "RLIMIT_CPU",
  "RLIMIT_FSIZE",
  "RLIMIT_DATA",
  "RLIMIT_STACK",
  "RLIMIT_CORE",
  "RLIMIT_RSS",
  "RLIMIT_NPROC",
  "RLIMIT_NOFILE",
  "RLIMIT_MEMLOCK",
  "RLIMIT_AS",
  "RLIMIT_LOCKS",
  "RLIMIT_SIGPENDING",
  "RLIMIT_MSGQUEUE",
  "RLIMIT_NICE",
  "RLIMIT_RTPRIO",
  "RLIMIT_RTTIME",
]);

const NUMBERS: ReadonlyMap<string, number> = new Map(RLIMITS.map((name, i) => [name, i]));

/**
 * Returns the resource number for a `RLIMIT_*` name, or `undefined` if it is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rlimitNumber } from "./rlimits.ts";
 * assert.equal(rlimitNumber("RLIMIT_CORE"), 4);
 * ```
 */
export function rlimitNumber(name: string): number | undefined {
  return NUMBERS.get(name);
}
