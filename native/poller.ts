/**
 * Readiness of many fds through one `epoll_wait`, run as one nonblocking FFI call: a
 * hundred containers' pidfds, stdio pipes and ptys cost one thread, not a hundred.
 *
 * Why it matters: each pending `nonblocking: true` FFI call holds a thread of Deno's
 * blocking pool, which has ~30 (measured: 200 concurrent 0.5 s calls took 3.5 s). A
 * blocking read per container stream filled it with ~30 idle containers, and then every
 * other nonblocking call and async file operation of the runtime waited until a container
 * wrote or exited (found by the churn soak, scripts/soak/). Streams therefore put their fds
 * in O_NONBLOCK mode, read and write on the calling thread, and on EAGAIN wait here.
 *
 * @module
 */

import { check, native } from "./ffi.ts";

const EPOLLIN = 0x001;
const EPOLLOUT = 0x004;
const EPOLLONESHOT = 1 << 30;
const MASK32 = 0xffffffffn;

interface Waiter {
  token: bigint;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** One epoll set; one wait per fd at a time (a pty's reader and writer use two fds). */
class Poller {
  #ep = -1;
  #wake = -1; // an eventfd that ends a pending epoll_wait when nothing is left to wait for
  #gen = 0n;
  #waiters = new Map<number, Waiter>();
  #running = false;

  /** Resolves when `fd` is readable (data, EOF, hang-up or error; for a pidfd: exit). */
  readable(fd: number): Promise<void> {
    return this.#watch(fd, EPOLLIN);
  }

  /** Resolves when `fd` is writable (or in error: the write then says which). */
  writable(fd: number): Promise<void> {
    return this.#watch(fd, EPOLLOUT);
  }

  /**
   * Stops waiting on `fd`: a pending wait resolves. Call it before closing an fd that
   * may be waited on (a closed fd leaves the epoll set silently).
   */
  forget(fd: number): void {
    const w = this.#waiters.get(fd);
    if (!w) return;
    this.#waiters.delete(fd);
    native().nsi_epoll_del(this.#ep, fd);
    w.resolve();
    // Nothing left: end the pending epoll_wait, so its thread is free and Deno may exit.
    if (this.#waiters.size === 0 && this.#running) native().nsi_eventfd_signal(this.#wake);
  }

  /** How many waits are pending (tests and the soak look at it). */
  get pending(): number {
    return this.#waiters.size;
  }

  #watch(fd: number, dir: number): Promise<void> {
    if (this.#waiters.has(fd)) {
      return Promise.reject(new Error(`fd ${fd} is already being waited on`));
    }
    const lib = native();
    if (this.#ep < 0) {
      this.#ep = check(lib.nsi_epoll_create(), "epoll_create");
      this.#wake = check(lib.nsi_eventfd(), "eventfd");
      check(lib.nsi_epoll_watch(this.#ep, this.#wake, EPOLLIN, MASK32), "epoll_ctl", "eventfd");
    }
    // The token names this wait: an event of an earlier wait on a reused fd number is stale.
    const token = (++this.#gen << 32n) | BigInt(fd);
    const r = lib.nsi_epoll_watch(this.#ep, fd, dir | EPOLLONESHOT, token);
    if (r < 0) return Promise.reject(check(r, "epoll_ctl", `fd ${fd}`) as never);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiters.set(fd, { token, resolve, reject });
    if (!this.#running) this.#loop();
    return promise;
  }

  async #loop(): Promise<void> {
    this.#running = true;
    const lib = native();
    const buf = new BigUint64Array(64);
    try {
      while (this.#waiters.size > 0) {
        const n = await lib.nsi_epoll_wait(this.#ep, new Uint8Array(buf.buffer), 64, -1);
        if (n < 0) check(n, "epoll_wait");
        for (let i = 0; i < n; i++) {
          const token = buf[i];
          if (token === MASK32) {
            lib.nsi_eventfd_drain(this.#wake);
            continue;
          }
          const fd = Number(token & MASK32);
          const w = this.#waiters.get(fd);
          if (w?.token !== token) continue;
          this.#waiters.delete(fd);
          lib.nsi_epoll_del(this.#ep, fd);
          w.resolve();
        }
      }
    } catch (e) {
      for (const w of this.#waiters.values()) w.reject(e as Error);
      this.#waiters.clear();
    } finally {
      this.#running = false;
    }
  }
}

/** The process-wide poller. */
export const poller: Poller = new Poller();
