/**
 * A container: the libcontainer model. Every verb loads and refreshes the
 * status, checks the transition, does one thing, and persists atomically.
 *
 * @module
 */

import { join } from "../util/path.ts";
import { exists, hasEntry, isDirectory } from "../util/fs.ts";
import type { LinuxResources, Process } from "../spec/config.ts";
import type { CgroupManager } from "../drivers/driver.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import { parseMountInfo } from "../cgroups/paths.ts";
import { ContainerIdError, type Status, SyscallError } from "../errors.ts";
import type { ExitStatus } from "../native/reaper.ts";
import { type ContainerState, lockDir, markedNotStarted, readState, writeAtomic } from "./state.ts";
import { mark } from "../util/trace.ts";
import type { ContainerProcess } from "./process.ts";
import { hookBase, type HookState, runHooksWarn } from "./hooks.ts";
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
 * A container created or loaded by a {@link Factory}.
 */
export class Container implements AsyncDisposable {
  #state: ContainerState;
  #dir: string;
  #cgroup: CgroupManager;
  #init?: ContainerProcess;
  #warn: (msg: string) => void;
  #sys: Syscalls;

  /** @internal Use Factory.create / Factory.load. */
  constructor(
    state: ContainerState,
    dir: string,
    cgroup: CgroupManager,
    opts: {
      init?: ContainerProcess;
      onWarning?: (msg: string) => void;
      syscalls?: Syscalls;
    } = {},
  ) {
    this.#state = state;
    this.#dir = dir;
    this.#cgroup = cgroup;
    if (opts.init) this.#init = opts.init;
    this.#warn = opts.onWarning ?? (() => {});
    this.#sys = opts.syscalls ?? realSyscalls;
  }

  #hookState(status: Status, pid?: number): HookState {
    const s: HookState = {
      ociVersion: this.#state.config.ociVersion,
      id: this.id,
      status,
      bundle: this.#state.bundle,
    };
    if (pid !== undefined) s.pid = pid;
    if (this.#state.config.annotations) s.annotations = this.#state.config.annotations;
    return s;
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
  async #refresh(): Promise<void> {
    let disk: ContainerState;
    try {
      disk = await readState(join(this.#dir, "state.json"));
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
      await runHooksWarn(
        "poststart",
        this.#state.config.hooks,
        this.#hookState("running", this.#state.initPid),
        this.#warn,
        this.#sys,
      );
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
  pause(): Promise<void> {
    return this.#locked(async () => {
      checkTransition(this.id, await this.#statusFor("pause"), "pause");
      mark("pause: locked", this.id);
      await this.#cgroup.freeze(true);
      mark("pause: frozen", this.id);
      // A kill that took the lock just before (or any SIGKILL) may not have been acted on
      // yet: the init was still alive, so the status above said running. Frozen with the
      // SIGKILL pending, a cgroup v1 process stays alive until thawed: a paused container
      // with a kill pending, for ever. It was killed: thaw it so it dies, and refuse the
      // pause as on a stopped container.
      if (this.#sys.killPending(this.#state.initPid)) {
        await this.#cgroup.freeze(false);
        mark("pause: killed, thawed", this.id);
        checkTransition(this.id, "stopped", "pause");
      }
    });
  }

  /** Thaws a paused container (`nsinit resume`). */
  resume(): Promise<void> {
    return this.#locked(async () => {
      checkTransition(this.id, await this.status(), "resume");
      mark("resume: locked", this.id);
      await this.#cgroup.freeze(false);
      mark("resume: thawed", this.id);
    });
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
  set(resources: LinuxResources): Promise<void> {
    return this.#locked(async () => {
      checkTransition(this.id, await this.#statusFor("update"), "update");
      mark("update: locked", this.id);
      await this.#cgroup.set(resources);
      mark("update: cgroup set", this.id);
      const linux = this.#state.config.linux ??= {};
      linux.resources = mergeResources(linux.resources ?? {}, resources);
      await this.#save();
      mark("update: state saved", this.id);
    });
  }

  /**
   * Runs an additional process in the container's namespaces and cgroup, with
   * its own user, capabilities, seccomp filter and environment.
   */
  exec(process: Process, opts: ExecOptions = {}): Promise<ContainerProcess> {
    return this.#locked(async () => {
      checkTransition(this.id, await this.#statusFor("exec"), "exec");
      mark("exec: locked", this.id);
      // Loaded here: the other verbs (a CLI `state`, `kill` ...) never pay for them.
      const [validate, plans, labels, { ContainerProcess }, { seccompAgentSender }] = await Promise
        .all([
          import("../spec/validate.ts"),
          import("./init_plan.ts"),
          import("./host_features.ts"),
          import("./process.ts"),
          import("./seccomp_notify.ts"),
        ]);
      const { validateProcess } = validate, { buildExecPlan, HOST_FACTS } = plans;
      const { execProcessLabel } = labels;
      const proc = validateProcess(process);
      // An exec'd process runs under the container's AppArmor profile (or SELinux label)
      // unless it names its own, as runc's do: exec must not leave the confinement.
      const execLabel = execProcessLabel(proc, this.#state.config.process);
      const seccomp = this.#state.config.linux?.seccomp;
      const compiled = seccomp
        ? (await import("../seccomp/compile.ts")).compileSeccomp(seccomp, { requireExecve: true })
        : undefined;
      const plan = buildExecPlan(proc, {
        initPid: this.#state.initPid,
        namespaces: this.#state.namespaces,
        preserveFds: opts.preserveFds?.length ?? 0,
        ...(compiled ? { seccomp: compiled } : {}),
        // As a config's joined user namespace is read (init_plan.ts's host facts).
        setgroupsDenied: this.#state.namespaces.includes("user") &&
          HOST_FACTS.setgroupsDenied?.(`/proc/${this.#state.initPid}/ns/user`) === true,
        ...(this.#state.nestedUserns ? { nestedUserns: true } : {}),
        ...(this.#state.namespaces.includes("mount") ? {} : { chroot: this.#state.rootfs }),
        ...(this.#state.config.linux?.memoryPolicy
          ? { memoryPolicy: this.#state.config.linux.memoryPolicy }
          : {}),
        ...(execLabel ? { execLabel } : {}),
      });
      await this.#sys.ready({ spawn: true });
      const stdio = this.#sys.prepareStdio(opts.stdio);
      let spawned;
      try {
        spawned = await this.#sys.spawnPlan(plan, {
          fds: [...stdio.fds, ...(opts.preserveFds ?? [])],
          place: (pid) => this.#cgroup.apply(pid),
          until: "exec",
          ...(opts.onPty ? { onPty: opts.onPty } : {}),
          ...(compiled?.listenerPath
            ? {
              onSeccomp: seccompAgentSender(
                compiled.listenerPath,
                hookBase(this.#state.config, this.id, this.#state.bundle),
                this.#sys,
                { initPid: this.#state.initPid, metadata: seccomp?.listenerMetadata },
              ),
            }
            : {}),
        });
      } catch (e) {
        stdio.abort();
        throw e;
      }
      stdio.closeChildEnds();
      mark("exec: process spawned", this.id);
      const p = new ContainerProcess(
        spawned.pid,
        spawned.pidfd,
        stdio.parent(),
        opts.onPty ? undefined : spawned.ptyFd,
        this.#sys,
      );
      try {
        opts.onPidfd?.(spawned.pidfd);
      } catch (e) {
        await p[Symbol.asyncDispose]();
        throw e;
      }
      return p;
    });
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
  checkpoint(opts: CheckpointOptions): Promise<void> {
    return this.#locked(async () => {
      checkTransition(this.id, await this.status(), "checkpoint");
      const { checkpointContainer } = await import("../criu/checkpoint.ts");
      await checkpointContainer({ state: this.#state, dir: this.#dir, cgroup: this.#cgroup }, opts);
      if (opts.leaveRunning || opts.preDump) return;
      // CRIU ended the processes; reap the init when it is ours, else wait until it is gone.
      if (this.#init) await this.#init.status.catch(() => {});
      for (let i = 0; i < 500 && this.#initAlive(); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    });
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
  destroy(opts: { force?: boolean } = {}): Promise<void> {
    return this.#locked(async () => {
      const status = await this.status();
      checkTransition(this.id, status, opts.force ? "delete --force" : "delete");
      mark("delete: locked", this.id);
      if (status !== "stopped" || opts.force || this.#state.criuWorkDir) await this.#sys.ready();
      if (status !== "stopped" || opts.force) await this.#killEverything(status);
      if (this.#init) await this.#init.status.catch(() => {});
      mark("delete: processes ended", this.id);
      await this.#cgroup.destroy();
      mark("delete: cgroup removed", this.id);
      if (this.#state.criuWorkDir) {
        // A restore killed mid-way may have left the rootfs bound here: never recurse into it.
        // (A restore records its work directory in the state before it binds the rootfs.)
        this.#sys.umountDetach(join(this.#dir, "criu-root"));
        this.#detachCriuYards(this.#state.criuWorkDir);
      }
      const rdt = this.#state.resctrl;
      for (const d of [rdt?.monitor, rdt?.created ? rdt.dir : undefined]) {
        if (!d) continue;
        try {
          Deno.removeSync(d);
        } catch { /* already gone */ }
      }
      try {
        Deno.removeSync(this.#dir, { recursive: true }); // a few local files: no pool trip
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      mark("delete: state removed", this.id);
      await runHooksWarn(
        "poststop",
        this.#state.config.hooks,
        this.#hookState("stopped"),
        this.#warn,
        this.#sys,
      );
    }, { native: false });
  }

  /** Detaches the cgroup yards a CRIU killed mid-restore left mounted in its work dir. */
  #detachCriuYards(workDir: string): void {
    const yards = parseMountInfo(Deno.readTextFileSync("/proc/self/mountinfo"))
      .map((m) => m.mountPoint)
      .filter((p) =>
        p.startsWith(`${workDir}/.criu.cgyard.`) && !p.includes("/", workDir.length + 1)
      );
    for (const yard of new Set(yards)) {
      this.#sys.umountDetach(yard);
      try {
        Deno.removeSync(yard);
      } catch { /* CRIU removed it, or it is not empty: leave it */ }
    }
  }

  async #killEverything(status: Status): Promise<void> {
    if (await this.#cgroup.exists().catch(() => false)) {
      await this.#cgroup.killAll(SIGKILL).catch(() => {});
      if (status === "paused") await this.#cgroup.freeze(false).catch(() => {});
    }
    if (this.#state.initPid > 0 && this.#initAlive()) {
      // The same checked signal as a kill's: a pid reused meanwhile is refused, not signalled.
      await this.#sys.signalInit(this.#state.initPid, this.#state.initStartTime, SIGKILL)
        .catch(() => {/* gone meanwhile */});
    }
    // Wait until the init is gone (reaped by us, or by whoever is its parent).
    if (this.#init) {
      await this.#init.status.catch(() => {});
    } else {
      for (let i = 0; i < 500 && this.#state.initPid > 0 && this.#initAlive(); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  async #save(): Promise<void> {
    await writeAtomic(join(this.#dir, "state.json"), JSON.stringify(this.#state));
  }

  /** Destroys the container (force) if it still exists. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!exists(this.#dir)) return;
    await this.destroy({ force: true });
  }
}

function mergeResources(base: LinuxResources, update: LinuxResources): LinuxResources {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(update)) {
    const prev = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object"
      ? { ...prev as object, ...v as object }
      : v;
  }
  return out as LinuxResources;
}
