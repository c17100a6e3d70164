/**
 * Mechanism for the OCI runtime client: starting a runtime binary with
 * chosen fds (stdio plus `--preserve-fds` files), a pidfd taken at clone time,
 * an optional process group and parent-death signal; waiting for it through
 * the process-wide pidfd reaper (one epoll over every child, so no exit is
 * lost or given to the wrong caller); and raw fds (pipes, pty masters) as
 * cancellable web streams.
 *
 * `Deno.Command` cannot pass extra fds nor give a pidfd, hence the native
 * helper (`nsi_proc_spawn` in native/src/lib_proc.c).
 *
 * @module
 */

import { check, cstr, cstrList, native } from "../native/ffi.ts";
import { type ExitStatus, reaper } from "../native/reaper.ts";
import { poller } from "../native/poller.ts";

/** O_* flags for {@link openFd}. */
export const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, TRUNC: 0o1000, APPEND: 0o2000 };

/** Opens a path and returns the raw fd (close-on-exec); the caller closes it. */
export function openFd(path: string, flags: number, mode = 0o600): number {
  return check(native().nsi_open(cstr(path), flags, mode), "open", path);
}

/** Closes a raw fd (ignores errors: it is gone either way). */
export function closeFd(fd: number): void {
  if (fd >= 0) native().nsi_close(fd);
}

/** A pipe as `[read end, write end]`, both close-on-exec. */
export function makePipe(): [number, number] {
  const out = new Int32Array(2);
  check(native().nsi_pipe(new Uint8Array(out.buffer)), "pipe");
  return [out[0], out[1]];
}

/** Finds `command` like execvp: a name without `/` is searched in PATH. */
export function lookPath(command: string, path = Deno.env.get("PATH") ?? ""): string {
  if (command.includes("/")) {
    return command.startsWith("/") ? command : `${Deno.cwd()}/${command}`;
  }
  for (const dir of path.split(":")) {
    const candidate = `${dir || "."}/${command}`;
    try {
      const st = Deno.statSync(candidate);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return candidate;
    } catch { /* not here */ }
  }
  throw new Deno.errors.NotFound(`executable file not found in $PATH: ${command}`);
}

/** How to start a process with {@link spawnProcess}. */
export interface SpawnOptions {
  /** argv[0] onwards (argv[0] is the path by default). */
  args: string[];
  /** The environment, complete. */
  env: Record<string, string>;
  /** Working directory; default the caller's. */
  cwd?: string;
  /** fds[i] becomes fd i of the process (at least stdin, stdout, stderr). */
  fds: number[];
  /** Put it in a new process group. */
  setpgid?: boolean;
  /** Signal it receives when this (main) thread ends. */
  pdeathSignal?: number;
}

/** A process started by {@link spawnProcess}. */
export class ChildProcess {
  /** Its pid. */
  readonly pid: number;
  #pidfd: number;
  #status: Promise<ExitStatus>;
  #exited = false;

  constructor(pid: number, pidfd: number) {
    this.pid = pid;
    this.#pidfd = pidfd;
    this.#status = reaper.wait(pidfd).finally(() => {
      this.#exited = true;
      native().nsi_close(pidfd);
    });
  }

  /** Resolves (once) when it has exited and been reaped. */
  get status(): Promise<ExitStatus> {
    return this.#status;
  }

  /** Whether it has been reaped. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Signals it through its pidfd (never by pid, so never a recycled pid); no-op once reaped. */
  kill(signal: number): void {
    if (this.#exited) return;
    const r = native().nsi_pidfd_signal(this.#pidfd, signal);
    if (r < 0 && r !== -3 /* ESRCH: exited, not yet reaped */) check(r, "pidfd_send_signal");
  }
}

/**
 * Starts `path` with exactly the fds given. Throws a SyscallError naming the
 * program if it cannot be executed.
 */
export function spawnProcess(path: string, opts: SpawnOptions): ChildProcess {
  const env = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
  const fds = new Int32Array(opts.fds);
  const out = new Int32Array(2);
  const argv = cstrList(opts.args);
  const envp = cstrList(env);
  check(
    native().nsi_proc_spawn(
      cstr(path),
      argv,
      argv.length,
      envp,
      envp.length,
      cstr(opts.cwd ?? ""),
      new Uint8Array(fds.buffer),
      fds.length,
      opts.setpgid ? 1 : 0,
      opts.pdeathSignal ?? 0,
      new Uint8Array(out.buffer),
    ),
    "execve",
    path,
  );
  return new ChildProcess(out[0], out[1]);
}

const POLLIN = 0x1, POLLOUT = 0x4;
const EAGAIN = 11, EIO = 5;

/**
 * A raw fd (pipe end, pty master) this module owns: non-blocking, read and
 * written on the calling thread, waited on in the one epoll of `native/poller.ts`
 * (a poll per waiting fd would hold one of Deno's ~30 blocking-pool threads each,
 * and ~30 idle streams would stall every other native call), and closeable while
 * a read is pending, so nothing keeps Deno's event loop alive after `close()`.
 */
export class RawFd {
  /** The fd number (valid until {@link RawFd.close}). */
  readonly fd: number;
  #closed = false;
  #pending = new Set<Promise<unknown>>();

  constructor(fd: number) {
    this.fd = fd;
    check(native().nsi_set_nonblock(fd, 1), "fcntl O_NONBLOCK");
  }

  /** Whether {@link RawFd.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Waits until the fd is ready for `events`; false once closed. */
  async #wait(events: number): Promise<boolean> {
    if (this.#closed) return false;
    await this.#track(events === POLLIN ? poller.readable(this.fd) : poller.writable(this.fd));
    return !this.#closed;
  }

  /** Keeps close() from closing the fd while a call on it runs on another thread. */
  async #track<T>(p: Promise<T>): Promise<T> {
    this.#pending.add(p);
    try {
      return await p;
    } finally {
      this.#pending.delete(p);
    }
  }

  /** Reads up to `buf.length` bytes; null at EOF (a pty whose other side closed reads as EOF). */
  async read(buf: Uint8Array<ArrayBuffer>): Promise<number | null> {
    for (;;) {
      if (this.#closed) return null;
      const n = Number(native().nsi_read_now(this.fd, buf, BigInt(buf.length)));
      if (n > 0) return n;
      if (n === 0 || n === -EIO) return null;
      if (n !== -EAGAIN) check(n, "read");
      if (!(await this.#wait(POLLIN))) return null;
    }
  }

  /** Writes all of `data`. */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      if (this.#closed) throw new Deno.errors.BadResource("write to a closed fd");
      const chunk = data.slice(off);
      const n = Number(native().nsi_write_now(this.fd, chunk, BigInt(chunk.length)));
      if (n > 0) {
        off += n;
        continue;
      }
      if (n !== -EAGAIN) check(n, "write");
      if (!(await this.#wait(POLLOUT))) throw new Deno.errors.BadResource("write to a closed fd");
    }
  }

  /** A stream of what is read, ending at EOF or close. */
  readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return new ReadableStream({
      pull: async (c) => {
        const buf = new Uint8Array(65536);
        const n = await this.read(buf);
        if (n === null) {
          c.close();
          await this.close();
        } else c.enqueue(buf.slice(0, n));
      },
      cancel: () => this.close(),
    });
  }

  /** A stream whose chunks are written; closing it closes the fd. */
  writable(): WritableStream<Uint8Array> {
    return new WritableStream({
      write: (chunk) => this.write(chunk),
      close: () => this.close(),
      abort: () => this.close(),
    });
  }

  /** Wakes pending waits, then closes the fd. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    poller.forget(this.fd);
    await Promise.allSettled([...this.#pending]);
    native().nsi_close(this.fd);
  }
}

/** The pids whose parent is `pid`, from /proc (empty if it has none or is gone). */
function childrenOf(pid: number): number[] {
  // Each thread has its own list (a Go runtime forks from any thread).
  const out: number[] = [];
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const text = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/children`);
        out.push(...text.split(/\s+/).filter(Boolean).map(Number).filter((n) => n > 0));
      } catch { /* thread gone */ }
    }
  } catch { /* process gone */ }
  return out;
}

/**
 * Stops `root` and every descendant (SIGSTOP, top down, so none can fork
 * meanwhile), then SIGKILLs them all, each through a pidfd. Returns the pids
 * killed. Used when a runtime command is cancelled, so neither the runtime nor
 * what it had started (`runc init`, the container, an exec'd process) stays.
 */
export function killTree(root: number): number[] {
  if (!Number.isInteger(root) || root <= 0) throw new RangeError(`invalid pid ${root}`);
  const lib = native();
  const seen = new Map<number, number>(); // pid -> pidfd
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (seen.has(pid) || pid <= 0) continue;
    const fd = lib.nsi_pidfd_open(pid);
    if (fd < 0) continue;
    seen.set(pid, fd);
    lib.nsi_pidfd_signal(fd, 19 /* SIGSTOP */);
    queue.push(...childrenOf(pid));
  }
  for (const fd of seen.values()) {
    lib.nsi_pidfd_signal(fd, 9);
    lib.nsi_close(fd);
  }
  return [...seen.keys()];
}
