/**
 * A container: the libcontainer model. Every verb loads and refreshes the
 * status, checks the transition, does one thing, and persists atomically.
 *
 * This module holds what the verbs a shim runs per container (`state`, `start`, `kill` of
 * the init, `delete` of a stopped container) run: the status, the lock, the start, the
 * init's signal, a delete. The rest (exec, pause, resume, update, checkpoint, the killing
 * of what a delete finds alive or is told to `--force`, a restored container's CRIU mounts)
 * is in `container_ops.ts`, imported when it runs; the hooks' code (`hooks.ts`) only for a
 * config that has hooks. The bundled CLI's main.js (its core), which each of those verbs loads whole
 * (~20 us per kB, whether its code runs or not), holds neither.
 *
 * @module
 */

import { join } from "../util/path.ts";
import { exists, hasEntry, isDirectory } from "../util/fs.ts";
import type { LinuxResources, Process } from "../spec/config.ts";
import type { CgroupManager } from "../drivers/driver.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import { ContainerIdError, type Status, SyscallError } from "../errors.ts";
import type { ExitStatus } from "../native/reaper.ts";
import {
  type ContainerState,
  lockDir,
  markedNotStarted,
  parseState,
  readStateText,
} from "./state.ts";
import { mark } from "../util/trace.ts";
import { alone, underWay } from "../util/busy.ts";
import type { ContainerProcess } from "./process.ts";
import type { StdioOptions } from "./stdio.ts";
import { realSyscalls, type Syscalls } from "./syscalls.ts";
import { checkTransition, TRANSITIONS, type Verb } from "./transitions.ts";
import type { CheckpointOptions } from "../criu/options.ts";

/** The OCI state of a container, with runc's extra fields (rootfs, created, owner). */
export interface OciState {
  /** The spec version the container was created with. */
  ociVersion: string;
  /** The container id. */
  id: string;
  /** The init's pid as the host sees it; 0 when stopped. */
  pid: number;
  /** creating, created, running, paused or stopped. */
  status: Status;
  /** Absolute bundle path. */
  bundle: string;
  /** Absolute rootfs path (runc's extra field). */
  rootfs: string;
  /** Creation time, RFC 3339 (runc's extra field). */
  created: string;
  /** Owner name (runc's extra field). */
  owner: string;
  /** The spec's annotations. */
  annotations?: Record<string, string>;
}

/** Options for {@link Container.exec}. */
export interface ExecOptions {
  /** Standard streams of the new process. */
  stdio?: StdioOptions;
  /** Extra fds the process gets as 3, 4, ... */
  preserveFds?: number[];
  /** Receives the pty master instead of the process keeping it (runc's --console-socket). */
  onPty?: (fd: number) => void;
  /**
   * Called with a pidfd of the new process before exec returns (runc's `--pidfd-socket`).
   * The fd stays the process's: send or dup it, never close it. A throw kills the process.
   */
  onPidfd?: (pidfd: number) => void;
}

const SIGKILL = 9;
const ESRCH = 3;

/**
 * What `container_ops.ts` reaches of a {@link Container}: its private state and steps.
 * Internal: not exported by mod.ts.
 */
export interface ContainerInternals {
  /** The container id. */
  readonly id: string;
  /** The state directory. */
  readonly dir: string;
  /** The cgroup manager. */
  readonly cgroup: CgroupManager;
  /** The init, when this process started it. */
  readonly init: ContainerProcess | undefined;
  /** The native calls. */
  readonly sys: Syscalls;
  /** The persisted state as this handle knows it (under the lock: as on disk). */
  state(): ContainerState;
  /** Records that `state` was written to state.json as `text` (a new object: never mutate state()). */
  saved(state: ContainerState, text: string): void;
  /** {@link Container.status}. */
  status(): Promise<Status>;
  /** The status as far as `verb` needs it. */
  statusFor(verb: Verb): Promise<Status>;
  /** Whether the recorded init is still the same live process. */
  initAlive(): boolean;
  /** Runs `fn` under the container's lock, the state refreshed (the native library loaded). */
  locked<T>(fn: () => Promise<T>, opts?: { native?: boolean }): Promise<T>;
}

/** core/container_ops.ts: the verbs the per-container CLI commands never run. */
function ops(): Promise<typeof import("./container_ops.ts")> {
  return import("./container_ops.ts");
}

/**
 * A container created or loaded by a {@link Factory}.
 */
export class Container implements AsyncDisposable {
  #state: ContainerState;
  /**
   * The text of state.json that {@link #state} was parsed from or written as, if known: a
   * refresh that reads the same text keeps the state without parsing it again (the config
   * in it makes it kilobytes). #state is replaced, never changed in place, so the two agree.
   */
  #stateText: string | undefined;
  #dir: string;
  #cgroup: CgroupManager;
  #init?: ContainerProcess;
  #warn: (msg: string) => void;
  #sys: Syscalls;
  #internalsMade?: ContainerInternals;

  /** @internal Use Factory.create / Factory.load. */
  constructor(
    state: ContainerState,
    dir: string,
    cgroup: CgroupManager,
    opts: {
      init?: ContainerProcess;
      onWarning?: (msg: string) => void;
      syscalls?: Syscalls;
      /** The text of state.json that `state` was parsed from or written as. */
      stateText?: string;
    } = {},
  ) {
    this.#state = state;
    this.#stateText = opts.stateText;
    this.#dir = dir;
    this.#cgroup = cgroup;
    if (opts.init) this.#init = opts.init;
    this.#warn = opts.onWarning ?? (() => {});
    this.#sys = opts.syscalls ?? realSyscalls;
  }

  /** What container_ops.ts's verbs reach of this container. */
  #internals(): ContainerInternals {
    return this.#internalsMade ??= {
      id: this.id,
      dir: this.#dir,
      cgroup: this.#cgroup,
      init: this.#init,
      sys: this.#sys,
      state: () => this.#state,
      saved: (state, text) => {
        this.#state = state;
        this.#stateText = text;
      },
      status: () => this.status(),
      statusFor: (verb) => this.#statusFor(verb),
      initAlive: () => this.#initAlive(),
      locked: (fn, opts) => this.#locked(fn, opts),
    };
  }

  /**
   * Runs the config's `kind` hooks, each failure a warning. hooks.ts is imported only when
   * there are some: most configs have none.
   */
  async #runHooks(kind: "poststart" | "poststop", status: Status, pid?: number): Promise<void> {
    const hooks = this.#state.config.hooks;
    if (!hooks?.[kind]?.length) return;
    const { containerHookState, runHooksWarn } = await import("./hooks.ts");
    const state = containerHookState(this.#state, status, pid);
    await runHooksWarn(kind, hooks, state, this.#warn, this.#sys);
  }

  /** The container id. */
  get id(): string {
    return this.#state.id;
  }

  /** The bundle directory. */
  get bundle(): string {
    return this.#state.bundle;
  }

  /** The persisted state (a copy). */
  get persisted(): ContainerState {
    return structuredClone(this.#state);
  }

  /** The init process, when this runtime process started it (else undefined). */
  get init(): ContainerProcess | undefined {
    return this.#init;
  }

  /** The cgroup manager of this container. */
  get cgroup(): CgroupManager {
    return this.#cgroup;
  }

  get #fifo(): string {
    return join(this.#dir, "exec.fifo");
  }

  /** Whether the recorded init is still the same live process (pid reuse is detected by start time). */
  #initAlive(): boolean {
    // This process reaped it: gone, without reading /proc (and throwing) to learn it.
    if (this.#init?.reaped && this.#init.pid === this.#state.initPid) return false;
    const st = this.#sys.procStat(this.#state.initPid);
    return st !== undefined && st.startTime === this.#state.initStartTime && st.state !== "Z" &&
      st.state !== "X";
  }

  /** Not started: an exec fifo (`create`) or the directory's mark (`run`, see NOT_STARTED_MODE). */
  #notStarted(): boolean {
    // The fifo first: a created container (what a shim's `start` finds) has one.
    return hasEntry(this.#dir, "exec.fifo") || markedNotStarted(this.#dir);
  }

  /** The current status, derived from the init process, the exec fifo and the freezer. */
  status(): Promise<Status> {
    return this.#status(true);
  }

  /**
   * The status as far as `verb` needs it. A verb allowed both from created and from running
   * (a signal, for one) never asks whether a live, unfrozen container has started: it gets
   * "running" for both, which its transition treats alike. That spares a CLI `kill` a failed
   * lstat of the fifo and a stat of the directory, ~0.7 ms in a fresh process (measured).
   */
  #statusFor(verb: Verb): Promise<Status> {
    const from: readonly Status[] = TRANSITIONS[verb].from;
    return this.#status(!(from.includes("created") && from.includes("running")));
  }

  async #status(exactStart: boolean): Promise<Status> {
    if (this.#state.initPid <= 0) return this.#notStarted() ? "creating" : "stopped";
    if (!this.#initAlive()) return "stopped";
    // Frozen first, as runc: a paused created container is paused, not created.
    if (await this.#cgroup.frozen().catch(() => false)) return "paused";
    if (exactStart && this.#notStarted()) return "created";
    return "running";
  }

  /** The OCI state, as `nsinit state` prints it. */
  async state(): Promise<OciState> {
    const status = await this.status();
    const s: OciState = {
      ociVersion: this.#state.config.ociVersion,
      id: this.#state.id,
      pid: status === "stopped" ? 0 : this.#state.initPid,
      status,
      bundle: this.#state.bundle,
      rootfs: this.#state.rootfs,
      created: this.#state.created,
      owner: this.#state.owner,
    };
    if (this.#state.config.annotations) s.annotations = this.#state.config.annotations;
    return s;
  }

  async #locked<T>(fn: () => Promise<T>, opts: { native?: boolean } = {}): Promise<T> {
    // Every verb that changes something may call the native library: loaded here, not
    // by Factory.load, so `state` and `list` never pay for it; `destroy` loads it only when
    // it signals or unmounts (a stopped container's cgroups go with plain rmdirs).
    if (opts.native !== false) await this.#sys.ready();
    let lock;
    try {
      lock = await lockDir(this.#dir);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new ContainerIdError(this.id, "container does not exist");
      }
      throw e;
    }
    try {
      await this.#refresh();
      return await fn();
    } finally {
      lock.release();
    }
  }

  /**
   * Under the lock: the state as the last command (of any process) left it. A handle whose
   * container was deleted meanwhile, or whose id now names another container (deleted and
   * created again), refuses to act: it must never signal, update or delete the new one.
   */
  // deno-lint-ignore require-await -- synchronous inside (see readStateText); callers await it
  async #refresh(): Promise<void> {
    let disk: ContainerState;
    let text: string;
    try {
      text = readStateText(join(this.#dir, "state.json"));
      if (text === this.#stateText) return; // as this handle knows it
      disk = parseState(text);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        if (!isDirectory(this.#dir)) {
          throw new ContainerIdError(this.id, "container does not exist");
        }
        return; // no state.json yet: a create that crashed (or is running) early
      }
      if (e instanceof SyntaxError) return; // unreadable: deletable as known
      throw e;
    }
    // A handle of a state-less directory (Factory.load's orphan) takes what is there now.
    const orphan = this.#state.bundle === "" && this.#state.initPid === 0;
    if (!orphan && disk.created !== this.#state.created) {
      throw new ContainerIdError(
        this.id,
        `container does not exist (the id now names another container, created ${disk.created})`,
      );
    }
    this.#state = disk;
    this.#stateText = text;
  }

  /** Starts a created container: its init execs the process. */
  start(): Promise<void> {
    return this.#locked(async () => {
      checkTransition(this.id, await this.status(), "start");
      mark("start: locked", this.id);
      // One native call: a pidfd of the init checked against its start time, the fifo opened
      // while the pidfd is watched, the fifo removed once the init is released.
      try {
        await this.#sys.startInit(
          this.#fifo,
          this.#state.initPid,
          this.#state.initStartTime,
          this.id,
        );
      } catch (e) {
        // Failed, released or not: the fifo goes all the same (it is never opened again).
        try {
          Deno.removeSync(this.#fifo);
        } catch { /* gone */ }
        throw e;
      }
      mark("start: init released", this.id);
      await this.#runHooks("poststart", "running", this.#state.initPid);
    });
  }

  /**
   * Sends a signal to the init, or with `all` to every process in the container.
   * Signals go through a pidfd (never to a pid <= 0, never to a recycled pid).
   */
  signal(signal: number, opts: { all?: boolean } = {}): Promise<void> {
    return this.#locked(async () => {
      const verb = opts.all ? "kill --all" : "signal";
      const status = await this.#statusFor(verb);
      checkTransition(this.id, status, verb);
      if (opts.all) {
        // Every process in the cgroup, the init included (as runc: nothing more).
        // Without process tracking there is no "all": the init's pid namespace dies with it.
        if (!this.#cgroup.capabilities.processes) {
          if (status !== "stopped") await this.#signalInit(signal);
          return;
        }
        await this.#cgroup.killAll(signal);
        // A paused container is thawed so that the signal is acted on (a frozen
        // process does not even die of SIGKILL on cgroup v1).
        if (status === "paused") await this.#cgroup.freeze(false);
        return;
      }
      await this.#signalInit(signal);
      // A frozen process dies of SIGKILL only once thawed (cgroup v1): thaw, as runc does,
      // so a kill of a paused container ends it rather than leaving it paused with a kill
      // pending.
      if (status === "paused" && signal === SIGKILL) await this.#cgroup.freeze(false);
    });
  }

  /** Signals the init through a pidfd checked against its start time (stopped if gone). */
  async #signalInit(signal: number): Promise<void> {
    try {
      await this.#sys.signalInit(this.#state.initPid, this.#state.initStartTime, signal);
    } catch (e) {
      if (e instanceof SyscallError && e.errno === ESRCH) {
        checkTransition(this.id, "stopped", "signal"); // it died meanwhile
      }
      throw e;
    }
  }

  /** Freezes every process (`nsinit pause`). */
  async pause(): Promise<void> {
    await (await ops()).pause(this.#internals());
  }

  /** Thaws a paused container (`nsinit resume`). */
  async resume(): Promise<void> {
    await (await ops()).resume(this.#internals());
  }

  /** Pids of every process in the container. */
  async processes(): Promise<number[]> {
    if (await this.status() === "stopped") return [];
    return await this.#cgroup.pids();
  }

  /** Resource usage from the cgroup driver. */
  stats(): Promise<CgroupStats> {
    return this.#cgroup.stats();
  }

  /** Updates resource limits of a live container and records them. */
  async set(resources: LinuxResources): Promise<void> {
    await (await ops()).set(this.#internals(), resources);
  }

  /**
   * Runs an additional process in the container's namespaces and cgroup, with
   * its own user, capabilities, seccomp filter and environment.
   */
  async exec(process: Process, opts: ExecOptions = {}): Promise<ContainerProcess> {
    return await (await ops()).exec(this.#internals(), process, opts);
  }

  /**
   * Checkpoints the container with CRIU into `opts.imagePath` (runc's `checkpoint`).
   * Without `leaveRunning` or `preDump` its processes end once they are in the images
   * (the container is then stopped; delete it, or restore it with {@link Factory.restore}).
   * Throws a `CriuError` (CRIU's errno, the request, its log) when CRIU fails; the
   * container then keeps running.
   *
   * @example
   * ```ts ignore
   * await container.checkpoint({ imagePath: "/var/lib/ckpt/c1", leaveRunning: true });
   * ```
   */
  async checkpoint(opts: CheckpointOptions): Promise<void> {
    await (await ops()).checkpoint(this.#internals(), opts);
  }

  /** Waits for the init to exit (only when this runtime process started it). */
  wait(): Promise<ExitStatus> {
    if (!this.#init) {
      return Promise.reject(
        new Error(`container "${this.id}": its init is not a child of this process`),
      );
    }
    return this.#init.status;
  }

  /**
   * Deletes the container: removes its cgroups and state. A container that is
   * not stopped is refused unless `force`, which kills every process first.
   */
  async destroy(opts: { force?: boolean } = {}): Promise<void> {
    const done = underWay();
    try {
      await this.#destroy(opts);
    } finally {
      done();
    }
  }

  #destroy(opts: { force?: boolean }): Promise<void> {
    return this.#locked(async () => {
      const status = await this.status();
      checkTransition(this.id, status, opts.force ? "delete --force" : "delete");
      mark("delete: locked", this.id);
      if (status !== "stopped" || opts.force || this.#state.criuWorkDir) await this.#sys.ready();
      if (status !== "stopped" || opts.force) {
        await (await ops()).killEverything(this.#internals(), status);
      }
      if (this.#init) await this.#init.status.catch(() => {});
      mark("delete: processes ended", this.id);
      await this.#cgroup.destroy();
      mark("delete: cgroup removed", this.id);
      if (this.#state.criuWorkDir) {
        await (await ops()).detachCriuMounts(this.#internals(), this.#state.criuWorkDir);
      }
      const rdt = this.#state.resctrl;
      for (const d of [rdt?.monitor, rdt?.created ? rdt.dir : undefined]) {
        if (!d) continue;
        try {
          Deno.removeSync(d);
        } catch { /* already gone */ }
      }
      try {
        // With other containers' work under way in this process (util/busy.ts), the removal
        // goes off the event loop, since on a file system mounted with `discard` (this
        // host's /run) each freed block waits for the device, which would stall that work
        // (measured in a batch of 100: ~120 us a container on the loop). Alone (a CLI
        // `delete`, or one container at a time), it removes a few local files here, sparing
        // the pool's trip.
        if (!alone()) await Deno.remove(this.#dir, { recursive: true });
        else Deno.removeSync(this.#dir, { recursive: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      mark("delete: state removed", this.id);
      await this.#runHooks("poststop", "stopped");
    }, { native: false });
  }

  /** Destroys the container (force) if it still exists. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!exists(this.#dir)) return;
    await this.destroy({ force: true });
  }
}
