/**
 * Waits for many children at once without blocking the event loop: one
 * `epoll_wait` over all their pidfds, run as a nonblocking FFI call, so
 * a hundred running containers cost one thread, not a hundred.
 *
 * @module
 */

import { check, native } from "./ffi.ts";

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
  #ep = -1;
  #waiters = new Map<number, { resolve: (s: ExitStatus) => void; reject: (e: Error) => void; promise: Promise<ExitStatus> }>();
  #running = false;

  /** Resolves when the child behind `pidfd` exits (it must be our child); reaps it. */
  wait(pidfd: number): Promise<ExitStatus> {
    const existing = this.#waiters.get(pidfd);
    if (existing) return existing.promise;
    const lib = native();
    // Already exited? Reap now without involving epoll.
    const out = new Int32Array(2);
    const r = lib.nsi_waitid(pidfd, 1, new Uint8Array(out.buffer));
    if (r === 0) return Promise.resolve(decode(out));
    if (r < 0) return Promise.reject(check(r, "waitid") as never);
    if (this.#ep < 0) this.#ep = check(lib.nsi_epoll_create(), "epoll_create");
    let resolve!: (s: ExitStatus) => void, reject!: (e: Error) => void;
    const promise = new Promise<ExitStatus>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#waiters.set(pidfd, { resolve, reject, promise });
    check(lib.nsi_epoll_add(this.#ep, pidfd, BigInt(pidfd)), "epoll_ctl");
    if (!this.#running) this.#loop();
    return promise;
  }

  async #loop(): Promise<void> {
    this.#running = true;
    const lib = native();
    const buf = new BigUint64Array(64);
    const out = new Int32Array(2);
    try {
      while (this.#waiters.size > 0) {
        const n = check(await lib.nsi_epoll_wait(this.#ep, new Uint8Array(buf.buffer), 64, -1), "epoll_wait");
        for (let i = 0; i < n; i++) {
          const fd = Number(buf[i]);
          const w = this.#waiters.get(fd);
          if (!w) continue;
          const r = lib.nsi_waitid(fd, 1, new Uint8Array(out.buffer));
          if (r === 1) continue;
          lib.nsi_epoll_del(this.#ep, fd);
          this.#waiters.delete(fd);
          if (r < 0) {
            try {
              check(r, "waitid");
            } catch (e) {
              w.reject(e as Error);
            }
          } else {
            w.resolve(decode(out));
          }
        }
      }
    } finally {
      this.#running = false;
    }
  }
}

function decode(out: Int32Array): ExitStatus {
  // si_code: CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3
  return out[0] === 1 ? { code: out[1] } : { signal: out[1] };
}

/** The process-wide reaper. */
export const reaper: Reaper = new Reaper();
