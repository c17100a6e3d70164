/**
 * The factory: a state root directory holding containers. It creates (or runs)
 * containers from OCI bundles, loads them back, and lists them.
 *
 * @module
 */

import { isAbsolute, join, resolve } from "../util/path.ts";
import { isDirectory } from "../util/fs.ts";
import type { LinuxSeccomp, NamespaceType, Spec } from "../spec/config.ts";
import type { CompiledSeccomp } from "../seccomp/compile.ts";
import { seccompAgentSender } from "./seccomp_notify.ts";
import { createCgroupManager, loadCgroupManager } from "../drivers/factory.ts";
import type { CgroupConfig, CgroupManager, DriverName, DriverState } from "../drivers/driver.ts";
import {
  CgroupError,
  ConfigError,
  ContainerIdError,
  NotFoundError,
  SyscallError,
} from "../errors.ts";
import { mark } from "../util/trace.ts";
import type { InitHooks, LandlockPlan } from "./init_plan.ts";
import { hookBase, runHooks, runHooksWarn, splitStateJson } from "./hooks.ts";
import type { ResctrlGroup } from "./host_features.ts";
import {
  type ContainerState,
  lockDir,
  newState,
  readState,
  validateId,
  writeAtomic,
} from "./state.ts";
import { Container } from "./container.ts";
import {
  defaultRoot,
  rootlessMaps,
  stateRootError,
  SYSTEM_ROOT,
  userNamespacesRefusal,
} from "./rootless.ts";
import { effectiveResources, pidsAsVersioned } from "./devices.ts";
import { ContainerProcess } from "./process.ts";
import type { StdioOptions } from "./stdio.ts";
import { type PreparedStdio, realSyscalls, type Syscalls } from "./syscalls.ts";
import type { RestoreOptions } from "../criu/options.ts";

/**
 * What only creating a container needs (the spec validator, the plan builder, host
 * features), loaded on first create: a CLI `state` or `kill` never pays
 * for it. The bundled CLI keeps it in its own chunk.
 */
function createDeps() {
  return Promise.all([
    import("../spec/validate.ts"),
    import("./init_plan.ts"),
    import("./host_features.ts"),
  ]);
}

/**
 * Where state lives by default for root: runc uses /run/runc; we use /run/nsinit.
 * An unprivileged caller with `XDG_RUNTIME_DIR` gets `$XDG_RUNTIME_DIR/nsinit`
 * (see {@linkcode defaultRoot}).
 */
export const DEFAULT_ROOT: string = SYSTEM_ROOT;

/** Options for {@link Factory.create} and {@link Factory.run}. */
export interface CreateOptions {
  /** The bundle directory (config.json and, usually, rootfs/). */
  bundle: string;
  /** The spec; read from `<bundle>/config.json` when absent. */
  spec?: Spec;
  /** Standard streams of the init. Default: inherit this process's. */
  stdio?: StdioOptions;
  /** Extra fds the init gets as 3, 4, ... (runc's --preserve-fds passes the runtime's own). */
  preserveFds?: number[];
  /** MS_MOVE + chroot instead of pivot_root (for a rootfs on ramfs). */
  noPivot?: boolean;
  /** Keep the caller's session keyring. */
  noNewKeyring?: boolean;
  /** Use the systemd cgroup driver. */
  systemdCgroup?: boolean;
  /** Receives the pty master of a `process.terminal` init (else the init process keeps it). */
  onPty?: (fd: number) => void;
  /**
   * Called with a pidfd of the init once it exists, before create returns (runc's
   * `--pidfd-socket`). The fd stays the container's: the callback sends or dups it, never
   * closes it. A throw fails the create, which then leaves nothing behind.
   */
  onPidfd?: (pidfd: number) => void;
  /** A Landlock ruleset the init applies just before exec (see sandbox/landlock.ts). */
  landlock?: LandlockPlan;
  /**
   * The cgroup driver, instead of the automatic choice (`--systemd-cgroup` or the host's):
   * a sandbox with no limits asks for `none`, since its pid namespace already holds every
   * process it starts.
   */
  cgroupDriver?: DriverName;
  /** A minimal signal-forwarding, reaping pid 1 in front of the process (sandboxes). */
  reaperInit?: boolean;
  /** Bring up `lo` in a new network namespace (sandboxes). */
  loopback?: boolean;
}

/** What the factory hands a cgroup driver besides the config. */
export interface CgroupDriverOptions {
  /** Receives the driver's warnings (e.g. a systemd unit systemd could not be told to stop). */
  onWarning?: (msg: string) => void;
}

/** How a {@link Factory} makes cgroup managers (`drivers/factory.ts` unless replaced). */
export interface CgroupDrivers {
  /** A manager for a new container (`onWarning` gets what the driver cannot do but survives). */
  create(
    config: CgroupConfig,
    opts?: CgroupDriverOptions,
  ): CgroupManager | Promise<CgroupManager>;
  /** The manager a container's state names. */
  load(
    config: CgroupConfig,
    saved: DriverState,
    opts?: CgroupDriverOptions,
  ): CgroupManager | Promise<CgroupManager>;
}

/** Options for {@link Factory}. */
export interface FactoryOptions {
  /** The state root; default /run/nsinit. */
  root?: string;
  /** Receives what runc logs as warnings (a failing poststart or poststop hook). */
  onWarning?: (msg: string) => void;
  /** The native calls (default: the real ones); unit tests pass a recording fake. */
  syscalls?: Syscalls;
  /** The cgroup drivers (default: `drivers/factory.ts`); unit tests pass fakes. */
  cgroupDrivers?: CgroupDrivers;
}

/**
 * Creates, loads and lists containers under a state root.
 *
 * @example Run a container and wait for it
 * ```ts ignore
 * import { Factory } from "./factory.ts";
 * const factory = new Factory({ root: "/run/nsinit" });
 * await using c = await factory.run("demo", { bundle: "/path/to/bundle" });
 * console.log(await c.wait());
 * ```
 */
export class Factory {
  /** The state root directory. */
  readonly root: string;

  #warn: (msg: string) => void;
  #sys: Syscalls;
  #cgroups: CgroupDrivers;

  /**
   * A factory over `root` (default /run/nsinit, or `$XDG_RUNTIME_DIR/nsinit` for an
   * unprivileged caller). `onWarning` receives what runc
   * logs as warnings (a failing poststart or poststop hook); default: ignored.
   */
  constructor(opts: FactoryOptions = {}) {
    this.root = resolve(opts.root ?? defaultRoot());
    this.#warn = opts.onWarning ?? (() => {});
    this.#sys = opts.syscalls ?? realSyscalls;
    this.#cgroups = opts.cgroupDrivers ?? { create: createCgroupManager, load: loadCgroupManager };
  }

  /**
   * Creates a container whose init is set up and waits for {@link Container.start}
   * (status "created"), as `runc create`.
   */
  create(id: string, opts: CreateOptions): Promise<Container> {
    return this.#create(id, opts, true);
  }

  /** Creates and starts a container in one step, as `runc run --detach`. */
  run(id: string, opts: CreateOptions): Promise<Container> {
    return this.#create(id, opts, false);
  }

  async #create(id: string, opts: CreateOptions, waitForStart: boolean): Promise<Container> {
    validateId(id);
    const [
      { validateSpec },
      { buildInitPlan, nestsUserNamespace, rootfsPath },
      {
        checkHostFeatures,
        execLabelWrite,
        hostFeaturesMatter,
        NO_HOST_FEATURES,
        probeHostFeatures,
        resctrlGroup,
      },
    ] = await createDeps();
    await this.#sys.ready();
    mark("create: native library loaded", id);
    const bundle = resolve(opts.bundle);
    const spec = opts.spec
      ? validateSpec(structuredClone(opts.spec))
      : await readBundleSpec(bundle);
    mark("create: spec read and validated", id);
    const rootfs = rootfsPath(spec, bundle);
    checkRootfs(rootfs, spec);
    // Probed only for a spec they matter to (a few failing reads: 0.06 ms a container).
    const host = hostFeaturesMatter(spec) ? probeHostFeatures() : NO_HOST_FEATURES;
    for (const warning of checkHostFeatures(spec, host)) this.#warn(warning);
    const seccomp = spec.linux?.seccomp ? await compiledSeccomp(spec.linux.seccomp) : undefined;

    const rootless = Deno.uid() !== 0;
    // Before anything is created: a user namespace the host refuses, or a rootless
    // spec whose maps cannot be written, is refused here with what to change.
    const newUserns = spec.linux?.namespaces?.some((n) => n.type === "user" && !n.path) ?? false;
    const refusal = newUserns ? userNamespacesRefusal() : undefined;
    if (refusal) throw new ConfigError("config.json", "linux.namespaces", refusal);
    const maps = rootless && newUserns ? rootlessMaps(spec) : undefined;
    const dir = join(this.root, id);
    // Synchronous: a directory in the state root is a short local call (a trip to Deno's
    // thread pool costs more). The root exists but for the first container: one mkdir.
    if (!mkdirNew(id, dir)) {
      // No root yet, or something else: the full way, whose errors name it.
      try {
        Deno.mkdirSync(this.root, { recursive: true, mode: 0o700 });
      } catch (e) {
        throw stateRootError(this.root, e);
      }
      try {
        if (!mkdirNew(id, dir)) Deno.mkdirSync(dir, { mode: 0o711 });
      } catch (e) {
        throw stateRootError(this.root, e);
      }
    }
    const lock = await lockDir(dir);
    mark("create: host checked, state directory made and locked", id);
    let cgroup: CgroupManager | undefined;
    let stdio: PreparedStdio | undefined;
    let initProc: ContainerProcess | undefined;
    let spawnedPid = 0;
    let prepared: Promise<void> | undefined;
    let rdt: ResctrlGroup | undefined;
    try {
      cgroup = await this.#cgroups.create({
        ...cgroupConfig(id, spec, rootless),
        ...(opts.cgroupDriver
          ? { driver: opts.cgroupDriver }
          : opts.systemdCgroup
          ? { driver: "systemd" as const }
          : {}),
      }, { onWarning: this.#warn });
      if (rootless && cgroup.driver === "none" && !opts.cgroupDriver) this.#warnNoCgroups();
      const state = newState({
        id,
        bundle,
        rootfs,
        config: spec,
        namespaces: [
          ...new Set((spec.linux?.namespaces ?? []).map((n) => n.type)),
        ] as NamespaceType[],
        cgroup: cgroup.saved(),
        rootless,
      });
      const hooks = spec.hooks;
      const base = hookBase(spec, id, bundle);
      const initHooks: InitHooks | undefined = hooks
        ? {
          barrier: (hooks.prestart?.length ?? 0) + (hooks.createRuntime?.length ?? 0) > 0,
          createContainer: hooks.createContainer ?? [],
          startContainer: hooks.startContainer ?? [],
          creatingState: splitStateJson({ ...base, status: "creating" }),
          createdState: splitStateJson({ ...base, status: "created" }),
        }
        : undefined;
      const execLabel = spec.process ? execLabelWrite(spec.process, host) : undefined;
      if (spec.linux?.intelRdt && host.resctrl) {
        rdt = resctrlGroup(host.resctrl, id, spec.linux.intelRdt);
      }
      const fifo = join(dir, "exec.fifo");
      // The fifo exists from the start: a crash before the state is complete leaves
      // a "creating" container that `delete --force` cleans up.
      this.#sys.mkfifo(fifo, 0o622);
      // The umask trimmed it: an init that switched to another user must still open it.
      Deno.chmodSync(fifo, 0o622);

      const { limitsBeforePid, deviceRules } = cgroup.capabilities;
      // On cgroup v2 the init is born in its cgroup (made and limited before the spawn).
      const cloneInto = limitsBeforePid ? cgroup.cloneTarget?.() : undefined;
      const plan = buildInitPlan(spec, {
        bundle,
        id,
        ...(cloneInto ? { cloneInto } : {}),
        ...(waitForStart ? { fifoPath: fifo } : {}),
        noPivot: opts.noPivot === true,
        noNewKeyring: opts.noNewKeyring === true,
        preserveFds: opts.preserveFds?.length ?? 0,
        cgroupView: cgroup.view(),
        ...(seccomp ? { seccomp } : {}),
        ...(initHooks ? { hooks: initHooks } : {}),
        ...(execLabel ? { execLabel } : {}),
        ...(spec.linux?.mountLabel && host.selinux ? { mountLabel: spec.linux.mountLabel } : {}),
        ...(maps ? { rootless: maps } : {}),
        ...(opts.landlock ? { landlock: opts.landlock } : {}),
        ...(opts.reaperInit ? { reaperInit: true } : {}),
        ...(opts.loopback ? { loopback: true } : {}),
      });
      if (nestsUserNamespace(spec, { bundle, noPivot: opts.noPivot === true, rootless: maps })) {
        state.nestedUserns = true;
      }
      mark("create: cgroup manager made, plan built", id);
      stdio = this.#sys.prepareStdio(opts.stdio);
      const resources = pidsAsVersioned(
        spec.ociVersion,
        deviceRules ? effectiveResources(spec) : spec.linux?.resources,
      );
      const manager = cgroup;
      // The helper starts on another thread; meanwhile this one writes the first
      // state and (when the driver can do it before a pid exists) creates and limits
      // the cgroup. The child waits for GO, which comes only after both (so a crash
      // after GO always leaves state to delete). A driver whose cgroup cannot exist
      // before its first pid (a systemd scope) gets apply(pid), then set().
      // place() may run before spawnPlan returns: it waits for `prepared` to exist.
      // A cgroup to clone into must exist before the spawn: then all of it comes first.
      const prepare = async () => {
        if (rdt) {
          rdt.create();
          state.resctrl = {
            dir: rdt.dir,
            created: rdt.created,
            ...(rdt.monitor ? { monitor: rdt.monitor } : {}),
          };
        }
        await writeAtomic(join(dir, "state.json"), JSON.stringify(state));
        if (limitsBeforePid) {
          await manager.create();
          if (resources) await manager.set(resources);
        }
      };
      if (cloneInto) {
        prepared = prepare();
        await prepared;
      }
      const preparing = Promise.withResolvers<Promise<void>>();
      // Resolved with `prepared`, it rejects with it: observed through place(), or by the
      // catch below when the spawn fails first (an unhandled rejection would end Deno).
      preparing.promise.catch(() => {});
      const spawning = this.#sys.spawnPlan(plan, {
        fds: [...stdio.fds, ...(opts.preserveFds ?? [])],
        place: async (pid) => {
          spawnedPid = pid;
          mark("create: helper spawned, child cloned", id);
          await (await preparing.promise);
          mark("create: first state written, cgroup made and limited", id);
          await manager.apply(pid);
          if (!limitsBeforePid && resources) await manager.set(resources);
          rdt?.apply(pid);
          mark("create: child placed in its cgroup", id);
        },
        until: waitForStart ? "ready" : "exec",
        ...(opts.onPty ? { onPty: opts.onPty } : {}),
        ...(seccomp?.listenerPath
          ? {
            onSeccomp: seccompAgentSender(seccomp.listenerPath, base, this.#sys, {
              metadata: spec.linux?.seccomp?.listenerMetadata,
            }),
          }
          : {}),
        onBarrier: async (pid) => {
          await runHooks("prestart", hooks, { ...base, status: "creating", pid }, this.#sys);
          await runHooks("createRuntime", hooks, { ...base, status: "creating", pid }, this.#sys);
        },
      });
      prepared ??= prepare();
      prepared.catch(() => {}); // observed through place(); never an unhandled rejection
      preparing.resolve(prepared);
      const spawned = await spawning;
      mark(
        waitForStart
          ? "create: child set up, waiting on the fifo"
          : "create: child set up and exec'd",
        id,
      );
      stdio.closeChildEnds();
      initProc = new ContainerProcess(
        spawned.pid,
        spawned.pidfd,
        stdio.parent(),
        opts.onPty ? undefined : spawned.ptyFd,
        this.#sys,
      );
      opts.onPidfd?.(spawned.pidfd);
      const st = this.#sys.procStat(spawned.pid);
      state.initPid = spawned.pid;
      state.cgroup = cgroup.saved();
      state.initStartTime = st?.startTime ?? 0;
      await writeAtomic(join(dir, "state.json"), JSON.stringify(state));
      mark("create: state written", id);
      if (!waitForStart) {
        try {
          Deno.removeSync(fifo);
        } catch { /* gone */ }
        await runHooksWarn(
          "poststart",
          hooks,
          { ...base, status: "running", pid: spawned.pid },
          this.#warn,
          this.#sys,
        );
      }
      return new Container(state, dir, cgroup, {
        init: initProc,
        onWarning: this.#warn,
        syscalls: this.#sys,
      });
    } catch (e) {
      // Leave nothing behind: process, cgroup, state directory, fds.
      await prepared?.catch(() => {});
      if (initProc) await initProc[Symbol.asyncDispose]().catch(() => {});
      stdio?.abort();
      const error = cgroup && spawnedPid > 0 ? await explainOom(e, cgroup, spec) : e;
      if (cgroup) {
        await cgroup.killAll(9).catch(() => {});
        await cgroup.destroy().catch(() => {});
      }
      rdt?.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      // A failed create continues at delete: poststop hooks run (their failures are warnings).
      if (spawnedPid > 0 && spec.hooks?.poststop) {
        const s = { ociVersion: spec.ociVersion, id, bundle, status: "stopped" };
        await runHooksWarn("poststop", spec.hooks, s, this.#warn, this.#sys);
      }
      throw error;
    } finally {
      lock.release();
    }
  }

  #warnedNoCgroups = false;

  /** Says once per factory that rootless containers run without cgroups here, and why. */
  #warnNoCgroups(): void {
    if (this.#warnedNoCgroups) return;
    this.#warnedNoCgroups = true;
    this.#warn(
      `running without cgroups: no cgroup delegated to uid ${Deno.uid()} is writable ` +
        "and no systemd user manager answers (resource limits are refused; pause, ps and " +
        "kill --all are unavailable). Start one (loginctl enable-linger) on a cgroup v2 " +
        "host, or chown a cgroup v2 subtree to this user and run from inside it",
    );
  }

  /**
   * Restores a container from CRIU images (runc's `restore`), under `id` (the
   * checkpointed container's or a new one). The bundle and spec default to those
   * saved beside the images. Its cgroups are made by the active driver; pipes its
   * init had are reconnected to `opts.stdio`; a terminal comes back through
   * `opts.onPty` (else `container.init.terminal`). The restored init is this
   * process's child. On failure nothing is left: no state, cgroup, mount or process.
   *
   * @example
   * ```ts ignore
   * const c = await factory.restore("c1", { imagePath: "/var/lib/ckpt/c1" });
   * console.log(await c.status()); // "running"
   * ```
   */
  async restore(id: string, opts: RestoreOptions): Promise<Container> {
    validateId(id);
    await this.#sys.ready();
    const { restoreContainer } = await import("../criu/restore.ts");
    const r = await restoreContainer(this.root, id, opts);
    return new Container(r.state, r.dir, r.cgroup, {
      init: r.init,
      onWarning: this.#warn,
      syscalls: this.#sys,
    });
  }

  /** Loads a container from its state, after a restart of this process too. */
  async load(id: string): Promise<Container> {
    validateId(id);
    // No native library yet: `state` needs none; the verbs that do load it (Container).
    const dir = join(this.root, id);
    let state: ContainerState;
    try {
      state = await readState(join(dir, "state.json"));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        if (isDirectory(dir)) return this.#orphan(id, dir);
        throw new NotFoundError(id);
      }
      // Unreadable (e.g. emptied by a machine crash before it reached the disk): only deletable.
      if (e instanceof SyntaxError) return this.#orphan(id, dir);
      throw e;
    }
    const cgroup = await this.#cgroups.load(
      cgroupConfig(state.id, state.config, state.rootless),
      state.cgroup,
      { onWarning: this.#warn },
    );
    return new Container(state, dir, cgroup, { onWarning: this.#warn, syscalls: this.#sys });
  }

  /** A directory with no state.json (a create that crashed early): only deletable. */
  async #orphan(id: string, dir: string): Promise<Container> {
    const state: ContainerState = {
      id,
      bundle: "",
      rootfs: "",
      initPid: 0,
      initStartTime: 0,
      created: (Deno.statSync(dir).mtime ?? new Date(0)).toISOString(),
      config: { ociVersion: "1.0.2" },
      namespaces: [],
      cgroup: { driver: "none", paths: {} },
      rootless: Deno.uid() !== 0,
      owner: "",
    };
    return new Container(
      state,
      dir,
      await this.#cgroups.load({ id }, state.cgroup, { onWarning: this.#warn }),
      {
        onWarning: this.#warn,
        syscalls: this.#sys,
      },
    );
  }

  /** Ids of every container under the root. */
  async list(): Promise<string[]> {
    const ids: string[] = [];
    try {
      for await (const e of Deno.readDir(this.root)) if (e.isDirectory) ids.push(e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return ids.sort();
  }
}

/**
 * Makes a container's state directory: true when made, false when that failed otherwise than
 * because it exists (a `ContainerIdError`, as runc says it).
 */
function mkdirNew(id: string, dir: string): boolean {
  try {
    Deno.mkdirSync(dir, { mode: 0o711 });
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new ContainerIdError(id, "container with given ID already exists");
    }
    return false;
  }
}

/** What the cgroup driver learns about a container from its spec. */
function cgroupConfig(id: string, spec: Spec, rootless: boolean): CgroupConfig {
  return {
    id,
    rootless,
    ...(spec.linux?.cgroupsPath !== undefined ? { cgroupsPath: spec.linux.cgroupsPath } : {}),
    ...(spec.linux?.resources
      ? { resources: pidsAsVersioned(spec.ociVersion, spec.linux.resources) }
      : {}),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
}

const seccompCache = new Map<string, CompiledSeccomp>();

/**
 * A spec's seccomp filter compiled, remembered per process: a program that starts many
 * containers with one profile (a sandbox per command) compiles it once.
 */
async function compiledSeccomp(seccomp: LinuxSeccomp): Promise<CompiledSeccomp> {
  const key = JSON.stringify(seccomp);
  const hit = seccompCache.get(key);
  if (hit) return hit;
  // Loaded only when needed: `nsinit state` and friends never pay for libseccomp.
  const compiled = (await import("../seccomp/compile.ts")).compileSeccomp(seccomp, {
    requireExecve: true,
  });
  if (seccompCache.size >= 16) seccompCache.delete(seccompCache.keys().next().value!);
  seccompCache.set(key, compiled);
  return compiled;
}

/** Reads and validates `<bundle>/config.json`, with errors naming the file. */
export async function readBundleSpec(bundle: string): Promise<Spec> {
  const file = join(bundle, "config.json");
  let text: string;
  try {
    const st = await Deno.stat(bundle);
    if (!st.isDirectory) throw new ConfigError(bundle, "", "bundle is not a directory");
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new ConfigError(
        isDirectory(bundle) ? file : bundle,
        "",
        isDirectory(bundle) ? "no such file" : "bundle directory does not exist",
      );
    }
    throw e;
  }
  const { parseSpec } = await import("../spec/validate.ts");
  return parseSpec(text, file);
}

function checkRootfs(rootfs: string, spec: Spec): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(rootfs);
  } catch {
    throw new ConfigError("config.json", "root.path", `rootfs "${rootfs}" does not exist`);
  }
  if (!st.isDirectory) {
    throw new ConfigError("config.json", "root.path", `rootfs "${rootfs}" is not a directory`);
  }
  const cwd = spec.process?.cwd;
  if (cwd && !isAbsolute(cwd)) {
    throw new ConfigError("config.json", "process.cwd", `must be absolute, got "${cwd}"`);
  }
}

/**
 * An init killed during setup in a cgroup whose memory limit was hit died of that limit:
 * say so, naming the field (runc: `unable to set memory limit to 1`), instead of "exited
 * during setup without a report".
 */
async function explainOom(e: unknown, cgroup: CgroupManager, spec: Spec): Promise<unknown> {
  const limit = spec.linux?.resources?.memory?.limit;
  if (limit === undefined || limit <= 0 || !(e instanceof SyscallError)) return e;
  try {
    const stats = await cgroup.stats();
    if ((stats.memory?.usage.failcnt ?? 0) === 0) return e;
  } catch {
    return e;
  }
  return new CgroupError(
    "linux.resources.memory.limit",
    `unable to set memory limit to ${limit}: the container's init was killed by the OOM ` +
      `killer during setup (${e.message})`,
    { cause: e },
  );
}
