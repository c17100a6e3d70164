/**
 * Facts about host processes the manager needs: a process's start time (so a
 * reused pid is not mistaken for the container, as CRI-O checks), its state
 * letter (`D` is uninterruptible sleep), and waiting for any process (not
 * only a child) to end through its pidfd.
 *
 * @module
 */

import { native } from "../native/ffi.ts";
import { procStat } from "../core/state.ts";

/**
 * A process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), or undefined.
 *
 * @example
 * ```ts
 * import { processStartTime } from "./proc.ts";
 * import assert from "node:assert/strict";
 * assert.match(processStartTime(Deno.pid)!, /^\d+$/);
 * assert.equal(processStartTime(0), undefined);
 * ```
 */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const st = procStat(pid);
  return st && String(st.startTime);
}

/**
 * The state letter of a process (`R`, `S`, `D`, `Z`, ...), or undefined if it is gone.
 *
 * @example
 * ```ts
 * import { processState } from "./proc.ts";
 * import assert from "node:assert/strict";
 * assert.match(processState(Deno.pid)!, /^[RS]$/);
 * ```
 */
export function processState(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return procStat(pid)?.state;
}

/**
 * Whether `pid` runs and is the process that started at `startTime` (a zombie does not run).
 *
 * @example
 * ```ts
 * import { isAlive, processStartTime } from "./proc.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isAlive(Deno.pid, processStartTime(Deno.pid)), true);
 * assert.equal(isAlive(Deno.pid, "1"), false);
 * ```
 */
export function isAlive(pid: number | undefined, startTime: string | undefined): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  const st = procStat(pid);
  if (!st || st.state === "Z" || st.state === "X") return false;
  return startTime === undefined || String(st.startTime) === startTime;
}

const POLLIN = 0x1;

/**
 * Resolves when the process ends (any process, through a pidfd; not reaped here), or at once if
 * it is gone or is not the one that started at `startTime`. An abort stops the wait.
 */
export async function waitForExit(
  pid: number,
  startTime?: string,
  signal?: AbortSignal,
): Promise<void> {
  if (!isAlive(pid, startTime)) return;
  const lib = native();
  const pidfd = lib.nsi_pidfd_open(pid);
  if (pidfd < 0) return;
  const cancel = lib.nsi_eventfd();
  const wake = () => lib.nsi_eventfd_signal(cancel);
  signal?.addEventListener("abort", wake, { once: true });
  try {
    // the pid could have been reused between the check and pidfd_open
    if (!isAlive(pid, startTime)) return;
    const set = new Int32Array([pidfd, POLLIN, 0, cancel, POLLIN, 0]);
    await lib.nsi_ev_poll(new Uint8Array(set.buffer), 2, -1);
  } finally {
    signal?.removeEventListener("abort", wake);
    lib.nsi_close(pidfd);
    lib.nsi_close(cancel);
  }
}
