/**
 * The receiving side of runc's fd-passing sockets: `--console-socket`
 * (the runtime connects and sends the pty master of a container with
 * `process.terminal`) and `--pidfd-socket` (it sends a pidfd of the
 * container's process). The client listens; the fd arrives in SCM_RIGHTS.
 *
 * @module
 */

import { check, cstr, native } from "../native/ffi.ts";
import { RawFd } from "./process.ts";

/** Cancellation and time limit for one receive. */
export interface ReceiveOptions {
  /** Gives up when aborted. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds. */
  timeout?: number;
}

const POLLIN = 0x1;
const EAGAIN = 11;

/**
 * A listening unix socket that receives one fd per connection: the base of
 * {@link ConsoleSocket} and {@link PidfdSocket}.
 *
 * @example
 * ```ts
 * import { ConsoleSocket, FdSocket } from "./console.ts";
 * import assert from "node:assert/strict";
 * await using s = await ConsoleSocket.temp();
 * assert.ok(s instanceof FdSocket);
 * ```
 */
export class FdSocket implements AsyncDisposable {
  /** The socket's path, to pass as `--console-socket` / `--pidfd-socket`. */
  readonly path: string;
  #fd: number;
  #cancel: number;
  #tempDir?: string;
  #closed = false;
  #pending = new Set<Promise<unknown>>();

  /** Listens at `path`; `tempDir` (holding it) is removed by close. */
  protected constructor(path: string, tempDir?: string) {
    this.path = path;
    this.#fd = check(native().nsi_unix_listen(cstr(path)), "listen", path);
    this.#cancel = native().nsi_eventfd();
    if (tempDir !== undefined) this.#tempDir = tempDir;
  }

  /** Waits for the runtime to connect and send an fd; returns the raw fd (the caller owns it). */
  protected async receiveFd(opts: ReceiveOptions = {}): Promise<number> {
    const signals = [
      opts.signal,
      opts.timeout !== undefined ? AbortSignal.timeout(opts.timeout) : undefined,
    ]
      .filter((s): s is AbortSignal => !!s);
    const signal = signals.length ? AbortSignal.any(signals) : undefined;
    const wake = () => native().nsi_eventfd_signal(this.#cancel);
    signal?.addEventListener("abort", wake, { once: true });
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (this.#closed) throw new Deno.errors.BadResource(`socket ${this.path} is closed`);
        const out = new Int32Array(1);
        const r = native().nsi_unix_recv_fd(this.#fd, new Uint8Array(out.buffer));
        if (r === 0) return out[0];
        if (r !== -EAGAIN) check(r, "receive fd", this.path);
        const set = new Int32Array([this.#fd, POLLIN, 0, this.#cancel, POLLIN, 0]);
        const p = native().nsi_ev_poll(new Uint8Array(set.buffer), 2, -1);
        this.#pending.add(p);
        try {
          check(await p, "poll", this.path);
        } finally {
          this.#pending.delete(p);
        }
        if (set[5] !== 0) native().nsi_eventfd_drain(this.#cancel);
      }
    } finally {
      signal?.removeEventListener("abort", wake);
    }
  }

  /** Stops listening and removes the socket file (and its temp dir). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    native().nsi_eventfd_signal(this.#cancel);
    await Promise.allSettled([...this.#pending]);
    native().nsi_close(this.#fd);
    native().nsi_close(this.#cancel);
    await Deno.remove(this.#tempDir ?? this.path, { recursive: true }).catch(() => {});
  }

  /** Same as {@link FdSocket.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A window size. */
export interface WinSize {
  /** Rows. */
  rows: number;
  /** Columns. */
  cols: number;
}

/**
 * A container's terminal: the pty master received over a console socket.
 * Write what the container reads; read what it writes.
 *
 * @example
 * ```ts ignore
 * const con = await socket.receiveMaster();
 * await con.resize({ rows: 40, cols: 120 });
 * const w = con.writable.getWriter();
 * await w.write(new TextEncoder().encode("exit\n"));
 * ```
 */
export class Console implements AsyncDisposable {
  #raw: RawFd;
  /** What the container writes to its terminal. */
  readonly readable: ReadableStream<Uint8Array<ArrayBuffer>>;
  /** What the container reads from its terminal. */
  readonly writable: WritableStream<Uint8Array>;

  /** Wraps a pty master fd (this object owns it from now on). */
  constructor(fd: number) {
    this.#raw = new RawFd(fd);
    this.readable = this.#raw.readable();
    this.writable = this.#raw.writable();
  }

  /** The pty master's fd. */
  get fd(): number {
    return this.#raw.fd;
  }

  /** Sets the terminal's window size (the container gets SIGWINCH). */
  resize(size: WinSize): void {
    if (
      !Number.isInteger(size.rows) || !Number.isInteger(size.cols) || size.rows < 0 || size.cols < 0
    ) {
      throw new RangeError(`invalid window size ${size.rows}x${size.cols}`);
    }
    check(native().nsi_set_winsize(this.#raw.fd, size.rows, size.cols), "TIOCSWINSZ");
  }

  /** Closes the master (the container's terminal hangs up). Idempotent. */
  close(): Promise<void> {
    return this.#raw.close();
  }

  /** Same as {@link Console.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * A socket the runtime sends a container's pty master to (`--console-socket`),
 * as go-runc's `NewConsoleSocket` / `NewTempConsoleSocket`.
 *
 * @example Listen on a temporary socket
 * ```ts
 * import { ConsoleSocket } from "./console.ts";
 * import assert from "node:assert/strict";
 *
 * await using socket = await ConsoleSocket.temp();
 * assert.match(socket.path, /console\.sock$/);
 * await assert.rejects(socket.receiveMaster({ timeout: 50 }));
 * ```
 */
export class ConsoleSocket extends FdSocket {
  /** Listens at `path` (which must not exist). */
  static listen(path: string): ConsoleSocket {
    return new ConsoleSocket(path);
  }

  /** Listens in a new private temp directory (removed by close). */
  static async temp(): Promise<ConsoleSocket> {
    const dir = await Deno.makeTempDir({ prefix: "nsinit-console-" });
    try {
      return new ConsoleSocket(`${dir}/console.sock`, dir);
    } catch (e) {
      await Deno.remove(dir, { recursive: true });
      throw e;
    }
  }

  /** Waits for the runtime to send the pty master. */
  async receiveMaster(opts: ReceiveOptions = {}): Promise<Console> {
    return new Console(await this.receiveFd(opts));
  }
}

/**
 * A socket the runtime sends a pidfd of the container's process to
 * (`--pidfd-socket`, runc 1.2 and later).
 *
 * @example
 * ```ts
 * import { PidfdSocket } from "./console.ts";
 * import assert from "node:assert/strict";
 *
 * await using socket = await PidfdSocket.temp();
 * assert.match(socket.path, /pidfd\.sock$/);
 * ```
 */
export class PidfdSocket extends FdSocket {
  /** Listens at `path` (which must not exist). */
  static listen(path: string): PidfdSocket {
    return new PidfdSocket(path);
  }

  /** Listens in a new private temp directory (removed by close). */
  static async temp(): Promise<PidfdSocket> {
    const dir = await Deno.makeTempDir({ prefix: "nsinit-pidfd-" });
    try {
      return new PidfdSocket(`${dir}/pidfd.sock`, dir);
    } catch (e) {
      await Deno.remove(dir, { recursive: true });
      throw e;
    }
  }

  /** Waits for the pidfd; the caller owns the returned fd. */
  receivePidfd(opts: ReceiveOptions = {}): Promise<number> {
    return this.receiveFd(opts);
  }
}
