/**
 * The container operations (creates and deletes) this process has under way, for the steps
 * that choose where to run: a removal on a file system that discards freed blocks (this
 * host's /run), or a container's cgroup rmdirs, costs less on the event loop than a trip to
 * Deno's thread pool and back when nothing else waits for the loop (measured: a library
 * create, start, wait and delete 0.42-0.52 ms sooner with both on the loop, medians of 145,
 * three runs), but many at once would each stall the others' work there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { alone, underWay } from "./busy.ts";
 * assert.ok(alone());
 * const done = underWay();
 * assert.ok(alone()); // the caller's own operation only
 * const other = underWay();
 * assert.ok(!alone());
 * other();
 * other(); // once only
 * assert.ok(alone());
 * done();
 * ```
 *
 * @module
 */

let count = 0;

/** Counts an operation as under way until the returned function is called (once). */
export function underWay(): () => void {
  count++;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    count--;
  };
}

/** No other operation than (at most) the caller's own is under way in this process. */
export function alone(): boolean {
  return count <= 1;
}
