/**
 * Standard I/O for container processes: inherited fds, pipes, /dev/null, or a
 * terminal. Pipe and pty ends on the runtime's side become web streams backed
 * by nonblocking FFI reads and writes.
 *
 * @module
 */

import { check, cstr, native } from "../native/ffi.ts";
import { poller } from "../native/poller.ts";

/** How one of a process's standard streams is connected. */
export type StdioMode = "inherit" | "piped" | "null" | number;

/** Stdio options for a container process. */
export interface StdioOptions {
  /** stdin; default "inherit". */
  stdin?: StdioMode;
  /** stdout; default "inherit". */
  stdout?: StdioMode;
  /** stderr; default "inherit". */
  stderr?: StdioMode;
}

/** The runtime's side of a process's stdio once it is started. */
export interface StdioParent {
  /** Write end of a piped stdin. */
  stdin?: WritableStream<Uint8Array>;
  /** Read end of a piped stdout. */
  stdout?: ReadableStream<Uint8Array>;
  /** Read end of a piped stderr. */
  stderr?: ReadableStream<Uint8Array>;
}

const O_RDWR = 2;
const EAGAIN = 11;

/**
 * A function that closes `fd` the first time it is called (a wait on it in the poller
 * ends first: a closed fd number may be reused at once).
 */
function closerOf(fd: number): (() => void) & { readonly closed: boolean } {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    poller.forget(fd);
    native().nsi_close(fd);
  };
  return Object.defineProperty(close, "closed", { get: () => closed }) as
    & (() => void)
    & { readonly closed: boolean };
}

/**
 * Puts `fd` in O_NONBLOCK mode, so it is read and written on the calling thread and
 * waited on through the one epoll of `native/poller.ts` (never a thread per stream).
 * Only for fds this process owns: the mode belongs to the open file, which a dup shares.
 */
function nonblocking(fd: number): void {
  native().nsi_set_nonblock(fd, 1);
}

/**
 * A ReadableStream over a raw fd (a pipe or pty master this process owns); closes the fd at
 * EOF or cancel.
 */
export function fdReadable(fd: number): ReadableStream<Uint8Array> {
  const lib = native();
  const close = closerOf(fd);
  nonblocking(fd);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = Number(lib.nsi_read_now(fd, buf, BigInt(buf.length)));
        if (n === -EAGAIN) {
          await poller.readable(fd);
          if (close.closed) return; // cancelled meanwhile
          continue;
        }
        if (n <= 0) {
          // EIO is how a pty master says the other side closed.
          close();
          controller.close();
          return;
        }
        controller.enqueue(buf.subarray(0, n));
        return;
      }
    },
    cancel() {
      close();
    },
  });
}

/** A WritableStream over a raw fd (a pipe or pty this process owns); closes it on close or abort. */
export function fdWritable(fd: number): WritableStream<Uint8Array> {
  const lib = native();
  const close = closerOf(fd);
  nonblocking(fd);
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) {
        if (close.closed) throw new Error(`write to fd ${fd}: the stream was closed`);
        const part = chunk.subarray(off);
        const n = Number(lib.nsi_write_now(fd, part, BigInt(part.length)));
        if (n === -EAGAIN) {
          await poller.writable(fd);
          continue;
        }
        off += check(n, "write", `fd ${fd}`);
      }
    },
    close,
    abort: close,
  });
}

/**
 * Prepares the fds for a child: returns the fds it gets (0, 1, 2) and, after
 * spawn, `parent()` turns the runtime's ends into streams; `closeChildEnds()`
 * must be called once the child has its copies.
 */
export function prepareStdio(opts: StdioOptions = {}): {
  fds: number[];
  closeChildEnds(): void;
  parent(): StdioParent;
  abort(): void;
} {
  const lib = native();
  const mine: number[] = [];
  const theirs: number[] = [];
  const parentEnds: (number | undefined)[] = [undefined, undefined, undefined];
  const modes = [opts.stdin ?? "inherit", opts.stdout ?? "inherit", opts.stderr ?? "inherit"];
  let devnull = -1;
  const fds = modes.map((mode, i) => {
    if (mode === "inherit") return i;
    if (typeof mode === "number") return mode;
    if (mode === "null") {
      if (devnull < 0) {
        devnull = check(lib.nsi_open(cstr("/dev/null"), O_RDWR, 0), "open", "/dev/null");
        theirs.push(devnull);
      }
      return devnull;
    }
    const p = new Int32Array(2);
    check(lib.nsi_pipe(new Uint8Array(p.buffer)), "pipe");
    const [r, w] = [p[0], p[1]];
    if (i === 0) {
      parentEnds[0] = w;
      mine.push(w);
      theirs.push(r);
      return r;
    }
    parentEnds[i] = r;
    mine.push(r);
    theirs.push(w);
    return w;
  });
  return {
    fds,
    closeChildEnds() {
      for (const fd of theirs.splice(0)) lib.nsi_close(fd);
    },
    parent() {
      const out: StdioParent = {};
      if (parentEnds[0] !== undefined) out.stdin = fdWritable(parentEnds[0]);
      if (parentEnds[1] !== undefined) out.stdout = fdReadable(parentEnds[1]);
      if (parentEnds[2] !== undefined) out.stderr = fdReadable(parentEnds[2]);
      mine.length = 0;
      return out;
    },
    abort() {
      for (const fd of [...theirs.splice(0), ...mine.splice(0)]) lib.nsi_close(fd);
    },
  };
}
