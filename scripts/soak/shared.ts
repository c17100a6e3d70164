/**
 * What the library and CLI sides of the soak share.
 *
 * @module
 */

/** The kinds of container life the soak cycles through. */
export const CYCLE_KINDS = ["create-start", "run", "exec", "create-delete"] as const;

/** One kind of container life. */
export type CycleKind = typeof CYCLE_KINDS[number];

/**
 * The kind of a worker's k-th cycle (workers start at different kinds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cycleKind } from "./shared.ts";
 * assert.equal(cycleKind(0), "create-start");
 * assert.equal(cycleKind(5), "run");
 * ```
 */
export function cycleKind(k: number): CycleKind {
  return CYCLE_KINDS[k % CYCLE_KINDS.length];
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
