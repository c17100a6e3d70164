/**
 * The stdio a runtime command (and so the container it starts) gets, as
 * go-runc's `IO`: pipes owned by a chosen uid/gid ({@link PipeIO}), the
 * caller's own stdio ({@link StdIO}), or `/dev/null` ({@link NullIO}).
 *
 * @module
 */

import { check, native } from "../native/ffi.ts";
import { closeFd, makePipe, O, openFd, RawFd } from "./process.ts";

/**
 * What a runtime command's stdin, stdout and stderr are. The client passes
 * {@link RuntimeIO.fds} to the runtime process and calls
 * {@link RuntimeIO.closeAfterStart} once it has started, as go-runc does.
 */
export interface RuntimeIO {
  /** The fds that become the runtime process's 0, 1 and 2. */
  readonly fds: readonly [number, number, number];
  /** Closes this process's copies of the ends the runtime process received. */
  closeAfterStart(): void;
  /** Closes everything; idempotent. */
  close(): Promise<void>;
}

/** Which streams {@link PipeIO.create} makes pipes for (the others are `/dev/null`). */
export interface PipeIOOptions {
  /** The uid that owns the container's ends of the pipes (as go-runc's `NewPipeIO(uid, gid)`). */
  uid?: number;
  /** The gid that owns the container's ends. */
  gid?: number;
  /** Make a stdin pipe; default true. */
  stdin?: boolean;
  /** Make a stdout pipe; default true. */
  stdout?: boolean;
  /** Make a stderr pipe; default true. */
  stderr?: boolean;
}

/**
 * Pipes between this process and the container: write to `stdin`, read from
 * `stdout` and `stderr`. The container's ends are chowned to `uid`/`gid`, so a
 * container running as that user can reopen them (`/proc/self/fd/N`).
 *
 * @example Pipes for a container running as root
 * ```ts
 * import { PipeIO } from "./io.ts";
 * import assert from "node:assert/strict";
 *
 * const io = PipeIO.create({ uid: 0, gid: 0, stdin: false });
 * assert.equal(io.stdin, undefined);
 * assert.ok(io.stdout instanceof ReadableStream);
 * assert.equal(io.fds.length, 3);
 * io.closeAfterStart();
 * await io.close();
 * ```
 */
export class PipeIO implements RuntimeIO {
  /** Writes to the container's stdin (closing it sends EOF); absent if not piped. */
  readonly stdin?: WritableStream<Uint8Array>;
  /** The container's stdout; absent if not piped. */
  readonly stdout?: ReadableStream<Uint8Array<ArrayBuffer>>;
  /** The container's stderr; absent if not piped. */
  readonly stderr?: ReadableStream<Uint8Array<ArrayBuffer>>;
  readonly fds: readonly [number, number, number];
  #childEnds: number[];
  #ours: RawFd[];

  private constructor(
    fds: [number, number, number],
    childEnds: number[],
    ours: { stdin?: RawFd; stdout?: RawFd; stderr?: RawFd },
  ) {
    this.fds = fds;
    this.#childEnds = childEnds;
    this.#ours = [ours.stdin, ours.stdout, ours.stderr].filter((x): x is RawFd => !!x);
    if (ours.stdin) this.stdin = ours.stdin.writable();
    if (ours.stdout) this.stdout = ours.stdout.readable();
    if (ours.stderr) this.stderr = ours.stderr.readable();
  }

  /** Makes the pipes. */
  static create(opts: PipeIOOptions = {}): PipeIO {
    const made: number[] = [];
    try {
      const uid = opts.uid ?? -1, gid = opts.gid ?? -1;
      const childEnds: number[] = [];
      const ours: { stdin?: RawFd; stdout?: RawFd; stderr?: RawFd } = {};
      const fds: number[] = [];
      for (const [i, name] of (["stdin", "stdout", "stderr"] as const).entries()) {
        if (opts[name] === false) {
          const fd = openFd("/dev/null", i === 0 ? O.RDONLY : O.WRONLY);
          made.push(fd);
          childEnds.push(fd);
          fds.push(fd);
          continue;
        }
        const [r, w] = makePipe();
        made.push(r, w);
        const [child, mine] = i === 0 ? [r, w] : [w, r];
        if (uid !== -1 || gid !== -1) check(native().nsi_fchown(child, uid, gid), "fchown pipe");
        childEnds.push(child);
        fds.push(child);
        ours[name] = new RawFd(mine);
      }
      return new PipeIO(fds as [number, number, number], childEnds, ours);
    } catch (e) {
      made.forEach(closeFd);
      throw e;
    }
  }

  closeAfterStart(): void {
    this.#childEnds.forEach(closeFd);
    this.#childEnds = [];
  }

  async close(): Promise<void> {
    this.closeAfterStart();
    await Promise.all(this.#ours.map((f) => f.close()));
  }
}

/**
 * The caller's own stdin, stdout and stderr (go-runc's `NewSTDIO`).
 *
 * @example
 * ```ts
 * import { StdIO } from "./io.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(new StdIO().fds, [0, 1, 2]);
 * ```
 */
export class StdIO implements RuntimeIO {
  readonly fds: readonly [number, number, number] = [0, 1, 2];
  closeAfterStart(): void {}
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * `/dev/null` for all three (go-runc's `NewNullIO`).
 *
 * @example
 * ```ts
 * import { NullIO } from "./io.ts";
 * import assert from "node:assert/strict";
 * const io = new NullIO();
 * assert.equal(io.fds[0], io.fds[1]);
 * await io.close();
 * ```
 */
export class NullIO implements RuntimeIO {
  readonly fds: readonly [number, number, number];
  #fd: number;
  constructor() {
    this.#fd = openFd("/dev/null", O.RDWR);
    this.fds = [this.#fd, this.#fd, this.#fd];
  }
  closeAfterStart(): void {
    closeFd(this.#fd);
    this.#fd = -1;
  }
  close(): Promise<void> {
    this.closeAfterStart();
    return Promise.resolve();
  }
}
