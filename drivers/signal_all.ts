/**
 * Freeze-signal-thaw, once for every driver: how `killAll()` reaches every process
 * of a cgroup when the kernel has no faster way (cgroup v2's `cgroup.kill` is one,
 * for SIGKILL only). Freezing first means no process can fork a child the signal
 * would miss.
 *
 * @module
 */

import type { CgroupManager } from "./driver.ts";
import { signalPids } from "../cgroups/pids.ts";

/**
 * Sends `signal` to every pid of `m`'s cgroup while it is frozen (when the driver
 * has a freezer), then thaws it, unless it was already frozen before (a paused
 * container stays paused: core decides what to do with it).
 *
 * @example With a fake manager
 * ```ts
 * import assert from "node:assert/strict";
 * import { signalThroughFreezer } from "./signal_all.ts";
 * const calls: string[] = [];
 * await signalThroughFreezer({
 *   capabilities: { freezer: true },
 *   frozen: () => Promise.resolve(false),
 *   freeze: (f: boolean) => { calls.push(f ? "freeze" : "thaw"); return Promise.resolve(); },
 *   pids: () => { calls.push("pids"); return Promise.resolve([]); },
 * }, 15);
 * assert.deepEqual(calls, ["freeze", "pids", "thaw"]);
 * ```
 */
export async function signalThroughFreezer(
  m: Pick<CgroupManager, "freeze" | "frozen" | "pids"> & {
    capabilities: { freezer: boolean };
  },
  signal: number,
): Promise<void> {
  const freezer = m.capabilities.freezer;
  const wasFrozen = freezer && await m.frozen();
  if (freezer && !wasFrozen) await m.freeze(true);
  try {
    signalPids(await m.pids(), signal);
  } finally {
    if (freezer && !wasFrozen) await m.freeze(false);
  }
}
