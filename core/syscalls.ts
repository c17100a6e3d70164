/**
 * The native calls core makes, behind one small interface (as youki's syscall
 * trait): `Factory`, `Container` and `ContainerProcess` reach the kernel only
 * through a {@link Syscalls}, so the state machine can be unit-tested with a
 * recording fake (`tests/helpers/fake_syscalls.ts`) without root, and the real
 * one ({@link realSyscalls}) stays a thin layer over `native/`.
 *
 * Plain file work (state directory, state.json, the per-container lock) stays
 * `Deno.*`: it needs no privilege and a temp directory exercises it for real.
 *
 * @module
 */

import { check, cstr, ensureNative, native } from "../native/ffi.ts";
import type { EarlyHelper, Spawned, SpawnPlanOptions } from "../native/spawn.ts";
import type { PlanBuilder } from "../native/plan.ts";
import { nulList } from "../native/wire.ts";
import type { ExitStatus } from "../native/reaper.ts";
import { SyscallError } from "../errors.ts";
import { killPending, procStat } from "./state.ts";
import type { prepareStdio, StdioOptions } from "./stdio.ts";

/** Process facts from `/proc/<pid>/stat`. */
export interface ProcStat {
  /** The state letter (`R`, `S`, `Z` ...). */
  state: string;
  /** Start time in clock ticks since boot: with the pid, it names one process. */
  startTime: number;
}

/** The runtime's side of a child's standard streams (see `core/stdio.ts`). */
export type PreparedStdio = ReturnType<typeof prepareStdio>;

/** A pty master as streams, with its window size. */
export interface Terminal {
  /** What the process writes to its terminal. */
  readable: ReadableStream<Uint8Array>;
  /** Keystrokes for the process. */
  writable: WritableStream<Uint8Array>;
  /** Sets the window size (the process gets SIGWINCH). */
  resize(rows: number, cols: number): void;
}

/**
 * Every native call core makes. Failures throw `SyscallError` naming the call.
 */
export interface Syscalls {
  /**
   * Makes the native library ready (built and loaded); before any other call. With
   * `spawn`, also what starts processes, which {@link Syscalls.prepareStdio} and
   * {@link Syscalls.terminal} need: a create, an exec and a restore ask for it, the verbs
   * that only act on a container (state, kill, start, delete) do not load it.
   */
  ready(opts?: { spawn?: boolean }): Promise<void>;
  /** mkfifo(3) with `mode`. */
  mkfifo(path: string, mode: number): void;
  /** pidfd_open(2) for a live pid; `pid` <= 0 is refused. The caller closes the fd. */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2). */
  pidfdSignal(pidfd: number, signal: number): void;
  /** close(2). */
  close(fd: number): void;
  /** umount2(path, MNT_DETACH), best effort: errors (not a mount point) are ignored. */
  umountDetach(path: string): void;
  /**
   * Opens the exec fifo of a created container so its init execs (runc's design), through a
   * pidfd of the init that is checked to be the process `pid` that started at `startTime`
   * (`/proc/<pid>/stat` field 22), watched meanwhile. The fifo is removed once the init is
   * released. Throws `SyscallError` ESRCH when the init is gone (naming `id`), or with what
   * failed in it (a startContainer hook, exec).
   */
  startInit(fifo: string, pid: number, startTime: number, id: string): Promise<void>;
  /**
   * Sends `signal` to process `pid` through a pidfd, if it is still the process that started
   * at `startTime`; `SyscallError` ESRCH if it is gone (or its pid names another process).
   */
  signalInit(pid: number, startTime: number, signal: number): Promise<void>;
  /** `/proc/<pid>/stat` facts; undefined when there is no such process (or pid <= 0). */
  procStat(pid: number): ProcStat | undefined;
  /**
   * Whether process `pid` has a SIGKILL pending: it was killed and has not run since (a
   * process frozen by a cgroup v1 freezer stays so, alive, until thawed). False when gone.
   */
  killPending(pid: number): boolean;
  /** Runs a plan through the helper (see `native/spawn.ts`). */
  spawnPlan(plan: PlanBuilder, opts: SpawnPlanOptions): Promise<Spawned>;
  /**
   * Starts the helper ahead of its plan, off the event loop (after `ready({ spawn: true })`),
   * so that its exec overlaps the work before {@link Syscalls.spawnPlan}, which takes it as
   * `helper`; {@link Syscalls.stopHelper} ends one that was not taken. Optional: without it
   * spawnPlan starts the helper itself. With `cloneFlags` it clones those namespaces at once
   * (`startHelper` in native/spawn.ts).
   */
  startHelper?(cloneFlags?: number): EarlyHelper;
  /** Ends and reaps a helper from {@link Syscalls.startHelper} that spawnPlan did not take. */
  stopHelper?(helper: EarlyHelper): Promise<void>;
  /** Waits for a child (by pidfd) to exit. */
  waitExit(pidfd: number): Promise<ExitStatus>;
  /** fds for a child's stdio and the runtime's ends. */
  prepareStdio(opts?: StdioOptions): PreparedStdio;
  /** A pty master as streams; takes ownership of `ptyFd`. */
  terminal(ptyFd: number): Terminal;
  /**
   * Runs a hook program (`argv[0]` is what it sees as its name) with `input` on
   * stdin, killing it after `timeoutMs` (0: no limit). Resolves to its wait(2)
   * status, or a negative errno (`-ETIMEDOUT` when it timed out).
   */
  runHook(
    path: string,
    argv: string[],
    env: string[],
    input: Uint8Array,
    timeoutMs: number,
  ): Promise<number>;
  /**
   * Connects to the unix stream socket at `path`, sends `data` with `fd` in SCM_RIGHTS
   * in one message, and closes the connection (a seccomp agent's `listenerPath`).
   */
  sendFd(path: string, data: Uint8Array, fd: number): void;
}

const ESRCH = 3;

/** The spawn module, once a `ready({ spawn: true })` has loaded it. */
let spawnModule: typeof import("../native/spawn.ts") | undefined;

/** The stdio module, once a `ready({ spawn: true })` has loaded it. */
let stdioModule: typeof import("./stdio.ts") | undefined;

function stdio(call: string): typeof import("./stdio.ts") {
  if (!stdioModule) throw new Error(`${call}: call ready({ spawn: true }) first`);
  return stdioModule;
}

/**
 * The real calls, through `native/` (`Deno.dlopen` of libnsinit).
 *
 * @example
 * ```ts ignore
 * import { realSyscalls } from "./syscalls.ts";
 * await realSyscalls.ready();
 * const fd = realSyscalls.pidfdOpen(Deno.pid);
 * realSyscalls.close(fd);
 * ```
 */
export const realSyscalls: Syscalls = Object.freeze({
  async ready(opts?: { spawn?: boolean }): Promise<void> {
    await ensureNative();
    if (opts?.spawn) {
      stdioModule ??= await import("./stdio.ts");
      spawnModule ??= await import("../native/spawn.ts");
    }
  },
  mkfifo(path: string, mode: number): void {
    check(native().nsi_mkfifo(cstr(path), mode), "mkfifo", path);
  },
  pidfdOpen(pid: number): number {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    return check(native().nsi_pidfd_open(pid), "pidfd_open", String(pid));
  },
  pidfdSignal(pidfd: number, signal: number): void {
    check(native().nsi_pidfd_signal(pidfd, signal), "pidfd_send_signal", `pidfd ${pidfd}`);
  },
  close(fd: number): void {
    native().nsi_close(fd);
  },
  umountDetach(path: string): void {
    // Nothing is mounted where there is nothing: in the usual case (no criu-root at
    // delete) a look at the parent's entries (~0.1 ms) spares binding the symbol and
    // calling it (~0.5 ms the first time in a process), and an lstat's NotFound (the first
    // exception of a process costs ~0.45 ms, measured).
    const slash = path.lastIndexOf("/");
    const name = path.slice(slash + 1);
    let there = false;
    try {
      for (const e of Deno.readDirSync(path.slice(0, slash) || "/")) {
        if (e.name === name) {
          there = true;
          break;
        }
      }
    } catch {
      there = true; // cannot tell: try the unmount
    }
    if (there) native().nsi_umount_detach(cstr(path));
  },
  async signalInit(pid: number, startTime: number, signal: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    check(
      await native().nsi_init_signal(pid, BigInt(startTime), signal),
      "pidfd_send_signal",
      String(pid),
    );
  },
  async startInit(fifo: string, pid: number, startTime: number, id: string): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    const err = new Uint8Array(1024);
    const rc = await native().nsi_init_start(cstr(fifo), pid, BigInt(startTime), err, err.length);
    if (rc === -ESRCH) {
      throw new SyscallError({
        syscall: "start",
        errno: ESRCH,
        path: id,
        detail: "container init exited before it was started",
      });
    }
    check(rc, "open exec fifo", fifo);
    if (rc > 0) {
      // "E<errno> <what failed>": a startContainer hook or the exec itself.
      const text = new TextDecoder().decode(err.subarray(0, rc));
      const m = /^E(\d+) (.*)$/s.exec(text);
      throw new SyscallError({
        syscall: m ? m[2] : text,
        errno: m ? Number(m[1]) : 5,
        step: "start",
      });
    }
  },
  procStat,
  killPending,
  async spawnPlan(plan: PlanBuilder, opts: SpawnPlanOptions): Promise<Spawned> {
    return await (spawnModule ?? await import("../native/spawn.ts")).spawnPlan(plan, opts);
  },
  startHelper(cloneFlags?: number): EarlyHelper {
    if (!spawnModule) throw new Error("startHelper: call ready({ spawn: true }) first");
    return spawnModule.startHelper(cloneFlags);
  },
  async stopHelper(helper: EarlyHelper): Promise<void> {
    await (spawnModule ?? await import("../native/spawn.ts")).stopHelper(helper);
  },
  async waitExit(pidfd: number): Promise<ExitStatus> {
    return await (await import("../native/reaper.ts")).reaper.wait(pidfd);
  },
  prepareStdio: (opts?: StdioOptions): PreparedStdio => stdio("prepareStdio").prepareStdio(opts),
  async runHook(
    path: string,
    argv: string[],
    env: string[],
    input: Uint8Array,
    timeoutMs: number,
  ): Promise<number> {
    const a = nulList(argv), e = nulList(env);
    return await native().nsi_hook(
      cstr(path),
      a,
      a.length,
      e,
      e.length,
      input,
      input.length,
      timeoutMs,
    );
  },
  sendFd(path: string, data: Uint8Array, fd: number): void {
    const lib = native();
    const sock = check(lib.nsi_unix_connect(cstr(path), 0), "connect", path);
    try {
      check(lib.nsi_unix_send_fd(sock, data, data.length, fd), "sendmsg", path);
    } finally {
      lib.nsi_close(sock);
    }
  },
  terminal(ptyFd: number): Terminal {
    const { fdReadable, fdWritable } = stdio("terminal");
    const lib = native();
    const dup = lib.nsi_dup(ptyFd);
    return {
      readable: fdReadable(ptyFd),
      writable: fdWritable(dup),
      resize: (rows, cols) => {
        lib.nsi_set_winsize(dup, rows, cols);
      },
    };
  },
});
