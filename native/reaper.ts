/**
 * Waits for many children at once without blocking the event loop: their pidfds
 * join the one `epoll_wait` of `native/poller.ts` (with every container's stdio),
 * so a hundred running containers cost one thread, not a hundred.
 *
 * @module
 */

import { check, native } from "./ffi.ts";
import { poller } from "./poller.ts";

/** How a process ended. */
export interface ExitStatus {
  /** Exit code if it exited. */
  code?: number;
  /** Signal number if a signal ended it. */
  signal?: number;
}

/** The shell-style status: the exit code, or 128 + signal. */
export function exitCode(s: ExitStatus): number {
  return s.code ?? 128 + (s.signal ?? 0);
}

class Reaper {
  #waiters = new Map<number, Promise<ExitStatus>>();

  /** Resolves when the child behind `pidfd` exits (it must be our child); reaps it. */
  wait(pidfd: number): Promise<ExitStatus> {
    const existing = this.#waiters.get(pidfd);
    if (existing) return existing;
    // Forgotten before the caller sees the status (and may close the pidfd, freeing its number).
    const promise = this.#reap(pidfd).finally(() => this.#waiters.delete(pidfd));
    this.#waiters.set(pidfd, promise);
    return promise;
  }

  async #reap(pidfd: number): Promise<ExitStatus> {
    const lib = native();
    const out = new Int32Array(2);
    for (;;) {
      const r = lib.nsi_waitid(pidfd, 1, new Uint8Array(out.buffer));
      if (r === 0) return decode(out);
      if (r < 0) throw check(r, "waitid") as never;
      // A pidfd is readable once its process has exited.
      await poller.readable(pidfd);
    }
  }
}

function decode(out: Int32Array): ExitStatus {
  // si_code: CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3
  return out[0] === 1 ? { code: out[1] } : { signal: out[1] };
}

/** The process-wide reaper. */
export const reaper: Reaper = new Reaper();
