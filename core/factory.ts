/**
 * The factory: a state root directory holding containers. It creates (or runs)
 * containers from OCI bundles, loads them back, and lists them.
 *
 * @module
 */

import { join, resolve } from "../util/path.ts";
import { isDirectory } from "../util/fs.ts";
import type { LinuxResources, Spec } from "../spec/config.ts";
import { createCgroupManager, loadCgroupManager } from "../drivers/factory.ts";
import type { CgroupConfig, CgroupManager, DriverName, DriverState } from "../drivers/driver.ts";
import { NotFoundError } from "../errors.ts";
import type { LandlockPlan } from "./init_plan.ts";
import { type ContainerState, parseState, readStateText, validateId } from "./state.ts";
import { Container } from "./container.ts";
import { defaultRoot, SYSTEM_ROOT } from "./state_root.ts";
import type { StdioOptions } from "./stdio.ts";
import { realSyscalls, type Syscalls } from "./syscalls.ts";
import type { RestoreOptions } from "../criu/options.ts";

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

/** core/create.ts, loaded by the first create of the process. */
let createModule: Promise<typeof import("./create.ts")> | undefined;

/**
 * core/factory_ops.ts: what a {@link Factory} does that the verbs a shim runs per container
 * (`state`, `kill`, `start`, `delete`) never do (restore, list, load a state-less directory),
 * imported when it runs: the bundled CLI's main.js (its core) does not hold it.
 */
function ops(): Promise<typeof import("./factory_ops.ts")> {
  return import("./factory_ops.ts");
}

/** What factory_ops.ts's and create.ts's functions take from their {@link Factory}. */
export interface FactoryContext {
  /** The state root. */
  root: string;
  /** The native calls. */
  sys: Syscalls;
  /** The cgroup drivers. */
  cgroups: CgroupDrivers;
  /** Receives warnings. */
  warn: (msg: string) => void;
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
    // The module's promise is kept: later creates skip the module loader's round trip.
    const { createContainer } = await (createModule ??= import("./create.ts"));
    return await createContainer(
      { ...this.#context(), warned: this.#warned ??= new Set() },
      id,
      opts,
      waitForStart,
    );
  }

  /** The warnings this factory's creates said already (said once per factory). */
  #warned?: Set<string>;

  #context(): FactoryContext {
    return { root: this.root, sys: this.#sys, cgroups: this.#cgroups, warn: this.#warn };
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
    return await (await ops()).restore(this.#context(), id, opts);
  }

  /** Loads a container from its state, after a restart of this process too. */
  async load(id: string): Promise<Container> {
    validateId(id);
    // No native library yet: `state` needs none; the verbs that do load it (Container).
    const dir = join(this.root, id);
    let state: ContainerState;
    let stateText: string;
    try {
      stateText = readStateText(join(dir, "state.json"));
      state = parseState(stateText);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        if (isDirectory(dir)) return (await ops()).orphan(this.#context(), id, dir);
        throw new NotFoundError(id);
      }
      // Unreadable (e.g. emptied by a machine crash before it reached the disk): only deletable.
      if (e instanceof SyntaxError) return (await ops()).orphan(this.#context(), id, dir);
      throw e;
    }
    const cgroup = await this.#cgroups.load(
      cgroupConfig(state.id, state.config, state.rootless),
      state.cgroup,
      { onWarning: this.#warn },
    );
    return new Container(state, dir, cgroup, {
      onWarning: this.#warn,
      syscalls: this.#sys,
      stateText,
    });
  }

  /** Ids of every container under the root. */
  async list(): Promise<string[]> {
    return await (await ops()).list(this.root);
  }
}

/** What the cgroup driver learns about a container from its spec. */
export function cgroupConfig(id: string, spec: Spec, rootless: boolean): CgroupConfig {
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

/**
 * `pids.limit` 0 as the config's version means it: since runtime-spec 1.3 it is 0; before,
 * it meant unlimited (as crun and runc's systemd driver took it, and configs of older tools
 * use it so), which is -1 ("max") now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pidsAsVersioned } from "./factory.ts";
 * assert.equal(pidsAsVersioned("1.2.0", { pids: { limit: 0 } })?.pids?.limit, -1);
 * assert.equal(pidsAsVersioned("1.3.0", { pids: { limit: 0 } })?.pids?.limit, 0);
 * assert.equal(pidsAsVersioned("1.0.2-dev", { pids: { limit: 5 } })?.pids?.limit, 5);
 * ```
 */
export function pidsAsVersioned(
  ociVersion: string,
  resources: LinuxResources | undefined,
): LinuxResources | undefined {
  const m = /^1\.(\d+)\./.exec(ociVersion);
  if (resources?.pids?.limit !== 0 || !m || Number(m[1]) >= 3) return resources;
  return { ...resources, pids: { ...resources.pids, limit: -1 } };
}
