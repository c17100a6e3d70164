/**
 * The cgroupfs driver for pure cgroup v2 hosts, as runc's `fs2` manager: one
 * directory in the unified tree; controllers enabled in `cgroup.subtree_control` on
 * the way down; `cgroup.freeze` / `cgroup.events` for freezing and `cgroup.kill`
 * for SIGKILL.
 *
 * Device rules become an eBPF program (`cgroups/devicefilter.ts`) attached to the
 * cgroup directory through the native helper, replacing the one attached before.
 *
 * As `cgroupfs_v1.ts`, this module holds what the commands on an existing container run;
 * the manager imports `cgroupfs_setup.ts` and `cgroupfs_ops.ts` for the rest, which work on
 * its {@link CgroupfsV2State}.
 *
 * @module
 */

import type { LinuxResources } from "../spec/config.ts";
import type { CgroupManager, CgroupView, DriverCapabilities, DriverState } from "./driver.ts";
import type { CgroupEvent, PressureLevel } from "../cgroups/events.ts";
import type { CgroupHost } from "../cgroups/paths.ts";
import type { DeviceFilterProgram } from "../cgroups/devicefilter.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import { type DirOps, realDirOps, removeCgroupLeaves } from "../cgroups/fs_base.ts";
import { DEFAULT_FREEZE_TIMEOUT_MS, isFrozenV2 } from "../cgroups/freezer.ts";
import { cgroupfsOps, type CgroupfsOptions, cgroupfsSetup } from "./cgroupfs_v1.ts";

/** Options for {@link CgroupfsV2Manager} (host mode `v2`). */
export interface CgroupfsV2Options extends CgroupfsOptions {
  /**
   * Loads and attaches a device filter program to a cgroup directory; default
   * `attachDeviceFilter` (bpf(2) through the native helper). Tests on temp trees pass a fake.
   */
  attachDeviceFilter?: (dir: string, program: DeviceFilterProgram) => void;
}

/**
 * A {@link CgroupfsV2Manager}'s state, which its methods and the code they import
 * (`cgroupfs_setup.ts`, `cgroupfs_ops.ts`) share.
 */
export interface CgroupfsV2State {
  /** Reads the host's layout ({@link v2MountPoint} calls it once). */
  readonly readHost: () => CgroupHost | Promise<CgroupHost>;
  /** The cgroup2 mount point, once read. */
  mountPoint?: string;
  /** The container's directory. */
  readonly dir: string;
  /** Directories `create()` made, top-down. */
  created: string[];
  /** create() has run. */
  ready: boolean;
  readonly freezeTimeoutMs: number;
  readonly removeTimeoutMs: number;
  readonly ops: DirOps;
  readonly attachDeviceFilter: ((dir: string, program: DeviceFilterProgram) => void) | undefined;
  readonly rootless: boolean;
  /** `cloneTarget()` was asked for: the init may be in the directory already. */
  cloneTarget: boolean;
}

/** The cgroup2 mount point of a pure v2 host's layout. */
function v2MountOf(host: CgroupHost): string {
  if (host.mode !== "v2" || !host.unified) {
    throw new RangeError("CgroupfsV2Manager needs a pure cgroup v2 host");
  }
  return host.unified.mountPoint;
}

/** The cgroup2 mount point, from the host's layout (read on first use). */
export async function v2MountPoint(s: CgroupfsV2State): Promise<string> {
  return s.mountPoint ??= v2MountOf(await s.readHost());
}

/**
 * Manages one container's cgroup on a pure v2 host.
 *
 * @example The path of a container on a fake v2 root
 * ```ts
 * import assert from "node:assert/strict";
 * import { CgroupfsV2Manager } from "./cgroupfs_v2.ts";
 * import { describeCgroupRoot, resolveCgroupPaths } from "../cgroups/paths.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/cgroup.controllers`, "cpu memory pids\n");
 * const host = describeCgroupRoot(root);
 * const config = { id: "c1", cgroupsPath: "/pod/c1" };
 * const m = new CgroupfsV2Manager({ config, host, paths: resolveCgroupPaths(host, config) });
 * assert.equal(m.paths()[""], `${root}/pod/c1`);
 * assert.deepEqual(m.view(), { layout: "v2", mounts: { "": `${root}/pod/c1` } });
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class CgroupfsV2Manager implements CgroupManager {
  /** The driver's name in the state. */
  readonly driver = "cgroupfs" as const;
  /** Everything: one cgroup2 directory has every feature. */
  readonly capabilities: DriverCapabilities = Object.freeze({
    limitsBeforePid: true,
    processes: true,
    freezer: true,
    deviceRules: true,
    events: true,
  });
  readonly #s: CgroupfsV2State;

  /** Makes a manager; nothing is created until `apply()`. `paths[""]` is its directory. */
  constructor(opts: CgroupfsV2Options) {
    const host = opts.host;
    const dir = opts.paths[""];
    if (dir === undefined) throw new RangeError("CgroupfsV2Manager needs the unified tree's path");
    this.#s = {
      readHost: typeof host === "function" ? host : () => host,
      dir,
      created: [...(opts.created ?? [])],
      ready: false,
      freezeTimeoutMs: opts.freezeTimeoutMs ?? DEFAULT_FREEZE_TIMEOUT_MS,
      removeTimeoutMs: opts.removeTimeoutMs ?? 2000,
      ops: opts.dirOps ?? realDirOps,
      attachDeviceFilter: opts.attachDeviceFilter,
      rootless: opts.config.rootless === true,
      cloneTarget: false,
    };
    // A layout given is checked at once.
    if (typeof host !== "function") this.#s.mountPoint = v2MountOf(host);
  }

  /** The container's directory: the init can be cloned straight into it. */
  cloneTarget(): string {
    this.#s.cloneTarget = true;
    return this.#s.dir;
  }

  /** `{ "": dir }`. */
  paths(): Record<string, string> {
    return { "": this.#s.dir };
  }

  /** The unified tree: the container's directory (or a fresh cgroup2 in a cgroup namespace). */
  view(): CgroupView {
    return { layout: "v2", mounts: { "": this.#s.dir } };
  }

  /** The path and the directories `create()` made. */
  saved(): DriverState {
    return { driver: this.driver, paths: this.paths(), created: this.createdDirs() };
  }

  /** Directories `apply()` created, top-down; save them to let a later manager `destroy()` them. */
  createdDirs(): string[] {
    return [...this.#s.created];
  }

  /** Creates the directory (enabling controllers on the way down) without moving a process in. */
  async create(): Promise<void> {
    await (await cgroupfsSetup()).createCgroupV2(this.#s);
  }

  /**
   * Creates the cgroup (enabling every available controller in each ancestor's
   * `cgroup.subtree_control`, best effort as runc) and moves `pid` in. After a
   * failure, call `destroy()`.
   */
  async apply(pid: number, opts: { clonedInto?: boolean } = {}): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    await (await cgroupfsSetup()).applyCgroupV2(this.#s, pid, opts.clonedInto === true);
  }

  /**
   * Writes resource limits, after checking the host can honour all of them. Device rules
   * are attached first, as an eBPF program; attaching one that allows every device may
   * fail silently (rootless, in a user namespace, or not a real cgroup2 directory), as runc.
   */
  async set(resources: LinuxResources): Promise<void> {
    await (await cgroupfsSetup()).setCgroupV2(this.#s, resources);
  }

  /** Freezes or thaws, waiting for `frozen 1` / `frozen 0` in `cgroup.events`. */
  async freeze(frozen: boolean): Promise<void> {
    await (await cgroupfsOps()).freezeV2(this.#s, frozen);
  }

  /** Whether `cgroup.events` says `frozen 1`. */
  async frozen(): Promise<boolean> {
    return await isFrozenV2(this.#s.dir);
  }

  /** Pids in the cgroup and below it. */
  async pids(): Promise<number[]> {
    return await (await cgroupfsOps()).pidsV2(this.#s);
  }

  /** SIGKILL through `cgroup.kill` when the kernel has it; otherwise freeze, signal, thaw. */
  async killAll(signal: number): Promise<void> {
    await (await cgroupfsOps()).killAllV2(this, this.#s, signal);
  }

  /** Resource usage in runc's shape. */
  async stats(): Promise<CgroupStats> {
    return await (await cgroupfsOps()).statsV2(this.#s);
  }

  /**
   * OOM kills (inotify on `memory.events`) and, with `pressure`, memory pressure
   * (PSI triggers on `memory.pressure`, thresholds in `PSI_TRIGGERS` of
   * `cgroups/events.ts`), until `signal` aborts or the cgroup is removed.
   * Iterating throws a `CgroupError` when the memory controller is not enabled.
   */
  events(
    opts: { pressure?: PressureLevel; signal?: AbortSignal } = {},
  ): AsyncIterable<CgroupEvent> {
    return eventsV2(this.#s.dir, opts);
  }

  /** Whether the cgroup directory exists. */
  async exists(): Promise<boolean> {
    return await (await cgroupfsOps()).existsAny([this.#s.dir]);
  }

  /** Removes the cgroup (and cgroups below it) and the intermediate directories `apply()` made. */
  async destroy(): Promise<void> {
    const s = this.#s;
    // As the v1 driver's: the host's layout (the mount point, never removed) is read only if
    // the directory does not go with one rmdir.
    if (s.ops !== realDirOps || !(await removeCgroupLeaves([s.dir], s.created))) {
      await (await cgroupfsOps()).destroyV2(s);
    }
    s.created = [];
  }
}

/** `watchEventsV2` of `dir`, imported on first iteration. */
async function* eventsV2(
  dir: string,
  opts: { pressure?: PressureLevel; signal?: AbortSignal },
): AsyncGenerator<CgroupEvent, void, undefined> {
  yield* (await cgroupfsOps()).watchV2(dir, opts);
}
