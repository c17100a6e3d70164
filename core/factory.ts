/**
 * The factory: a state root directory holding containers. It creates (or runs)
 * containers from OCI bundles, loads them back, and lists them.
 *
 * @module
 */

import { join, resolve } from "../util/path.ts";
import { isDirectory } from "../util/fs.ts";
import type { Spec } from "../spec/config.ts";
import { createCgroupManager, loadCgroupManager } from "../drivers/factory.ts";
import type { CgroupConfig, CgroupManager, DriverName, DriverState } from "../drivers/driver.ts";
import { ConfigError, NotFoundError } from "../errors.ts";
import type { LandlockPlan } from "./init_plan.ts";
import { type ContainerState, readState, validateId } from "./state.ts";
import { Container } from "./container.ts";
import { defaultRoot, SYSTEM_ROOT } from "./state_root.ts";
import { pidsAsVersioned } from "./devices.ts";
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
      {
        root: this.root,
        sys: this.#sys,
        cgroups: this.#cgroups,
        warn: this.#warn,
        warnNoCgroups: () => this.#warnNoCgroups(),
      },
      id,
      opts,
      waitForStart,
    );
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
    await this.#sys.ready({ spawn: true });
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
