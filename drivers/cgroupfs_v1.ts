/**
 * The cgroupfs driver for cgroup v1 and hybrid hosts, as runc's `fs` manager:
 * one directory per mounted v1 hierarchy (plus `name=systemd`), and on hybrid hosts
 * one in the unified tree too, where controllers that live only on v2 (hugetlb on
 * some hosts) are set.
 *
 * This module holds what the commands on an existing container run (`state`, `start`, a
 * plain `kill`, `delete` of a stopped container: the freezer's state, the usual removal);
 * the manager imports the rest when a method needs it: `cgroupfs_setup.ts` to make, join or
 * limit a cgroup, `cgroupfs_ops.ts` to freeze, list, signal every process, report usage or
 * events, and remove what one batch of rmdirs does not. Both work on the manager's
 * {@link CgroupfsV1State}.
 *
 * @module
 */

import type { LinuxResources } from "../spec/config.ts";
import type {
  CgroupConfig,
  CgroupManager,
  CgroupView,
  DriverCapabilities,
  DriverState,
} from "./driver.ts";
import type { CgroupEvent, PressureLevel } from "../cgroups/events.ts";
import { CgroupError } from "../errors.ts";
import type { CgroupHost } from "../cgroups/paths.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import { type DirOps, realDirOps, removeCgroupLeaves } from "../cgroups/fs_base.ts";
import { DEFAULT_FREEZE_TIMEOUT_MS, isFrozenV1, isFrozenV2 } from "../cgroups/freezer.ts";

/**
 * The create-time code of the cgroupfs managers (`cgroupfs_setup.ts`), imported when a
 * cgroup is made, joined or given limits: the commands on an existing container never load it.
 */
let setupModule: Promise<typeof import("./cgroupfs_setup.ts")> | undefined;

/** {@link setupModule}, imported on first use. */
export function cgroupfsSetup(): Promise<typeof import("./cgroupfs_setup.ts")> {
  return setupModule ??= import("./cgroupfs_setup.ts");
}

/**
 * What the cgroupfs managers do on an existing container besides reading the freezer's
 * state and removing their directories (`cgroupfs_ops.ts`: freeze and thaw, list and signal
 * every process, usage, events, the long way of removing), imported when one of those
 * methods runs: `state`, `start`, a plain `kill` and a `delete` never load it.
 */
let opsModule: Promise<typeof import("./cgroupfs_ops.ts")> | undefined;

/** {@link opsModule}, imported on first use. */
export function cgroupfsOps(): Promise<typeof import("./cgroupfs_ops.ts")> {
  return opsModule ??= import("./cgroupfs_ops.ts");
}

/** Options shared by the cgroupfs managers (v1/hybrid and v2). */
export interface CgroupfsOptions {
  /** The container's cgroup configuration. */
  config: CgroupConfig;
  /**
   * The host layout, from `readCgroupHost()` or `describeCgroupRoot()`; a function
   * (asynchronous or not) when it may not be needed: a manager reads it only when a verb
   * needs it (`state`, `start`, a plain `kill` and `delete` never do: the paths say where
   * the freezer is and what to remove).
   */
  host: CgroupHost | (() => CgroupHost | Promise<CgroupHost>);
  /** Directories an earlier `apply()` created (from saved state), so `destroy()` removes them too. */
  created?: string[];
  /**
   * The container's cgroup directory per hierarchy, keyed as `CgroupManager.paths()`: from
   * `resolveCgroupPaths` for a new container, or saved from an earlier manager (state).
   */
  paths: Record<string, string>;
  /** How long freeze and thaw may take; default 5 s. */
  freezeTimeoutMs?: number;
  /** How long `destroy()` retries a busy directory; default 2 s. */
  removeTimeoutMs?: number;
  /** mkdir/rmdir; tests on temp trees pass a fake kernel. */
  dirOps?: DirOps;
}

/** Options for {@link CgroupfsV1Manager} (host mode `v1` or `hybrid`). */
export type CgroupfsV1Options = CgroupfsOptions;

/** A hierarchy the container has a directory in. */
export interface Hierarchy {
  /** `1` for a v1 hierarchy, `2` for the hybrid unified tree. */
  version: 1 | 2;
  mountPoint: string;
  /** Controllers (v1) or the unified tree's controllers. */
  controllers: string[];
  /** The container's directory in it. */
  dir: string;
}

/**
 * A {@link CgroupfsV1Manager}'s state, which its methods and the code they import
 * (`cgroupfs_setup.ts`, `cgroupfs_ops.ts`) share.
 */
export interface CgroupfsV1State {
  /** The container's cgroup configuration. */
  readonly config: CgroupConfig;
  /** Reads the host's layout ({@link v1Host} calls it once). */
  readonly readHost: () => CgroupHost | Promise<CgroupHost>;
  /** The host's layout, once read. */
  host?: CgroupHost;
  /** Controller name (`""` for the unified tree) to directory. */
  paths: Record<string, string>;
  /** The hierarchies the container has a directory in, once known ({@link v1Hierarchies}). */
  hierarchies?: Hierarchy[];
  /** Directories `create()` made, top-down. */
  created: string[];
  /** create() has run. */
  ready: boolean;
  /** create() made (or found) every directory and destroy() has not run since. */
  fresh: boolean;
  readonly freezeTimeoutMs: number;
  readonly removeTimeoutMs: number;
  readonly ops: DirOps;
}

/** A v1/hybrid host's layout, checked; read on first use. */
function checkedV1Host(host: CgroupHost): CgroupHost {
  if (host.mode === "v2") throw new RangeError("CgroupfsV1Manager needs a v1 or hybrid host");
  return host;
}

/** The host's layout for `s` (read on first use). */
export async function v1Host(s: CgroupfsV1State): Promise<CgroupHost> {
  return s.host ??= checkedV1Host(await s.readHost());
}

/** The hierarchies the container has a directory in (from the host's layout, on first use). */
export async function v1Hierarchies(s: CgroupfsV1State): Promise<Hierarchy[]> {
  if (s.hierarchies === undefined) {
    const host = await v1Host(s);
    const made: Hierarchy[] = host.v1.map((m) => ({
      version: 1 as const,
      mountPoint: m.mountPoint,
      controllers: m.controllers,
      dir: s.paths[m.controllers[0]!]!,
    }));
    if (host.unified && s.paths[""] !== undefined) {
      made.push({
        version: 2,
        mountPoint: host.unified.mountPoint,
        controllers: host.unifiedControllers,
        dir: s.paths[""],
      });
    }
    s.hierarchies ??= made;
  }
  return s.hierarchies;
}

/** The directory whose `cgroup.procs` lists the container's processes. */
export function v1ProcsDir(paths: Record<string, string>): string {
  for (const k of ["devices", "freezer", "memory", "pids", "cpu", ""]) {
    if (paths[k] !== undefined) return paths[k];
  }
  const first = Object.values(paths)[0];
  if (first === undefined) throw new CgroupError("cgroup", "the container has no cgroup");
  return first;
}

/**
 * Manages one container's cgroups on a v1 or hybrid host.
 *
 * `apply(pid)` creates the container's directory in every hierarchy (recording the
 * directories it made, intermediate ones included), fills empty `cpuset.cpus` /
 * `cpuset.mems` from the parent as runc does, and writes the pid to each
 * `cgroup.procs`. `destroy()` removes the container's directories and the
 * intermediate ones it made, deepest first.
 *
 * @example The view of a container on a (described, not real) v1 host
 * ```ts
 * import assert from "node:assert/strict";
 * import { CgroupfsV1Manager } from "./cgroupfs_v1.ts";
 * import { resolveCgroupPaths, type CgroupHost } from "../cgroups/paths.ts";
 * const host: CgroupHost = {
 *   mode: "v1",
 *   v1: [{ version: 1, mountPoint: "/sys/fs/cgroup/cpu,cpuacct", root: "/", controllers: ["cpu", "cpuacct"] }],
 *   unifiedControllers: [],
 *   own: { cpu: "/user", cpuacct: "/user" },
 * };
 * const config = { id: "c1" };
 * const m = new CgroupfsV1Manager({ config, host, paths: resolveCgroupPaths(host, config) });
 * assert.equal(m.paths().cpuacct, "/sys/fs/cgroup/cpu,cpuacct/user/c1");
 * assert.equal(m.view().layout, "v1");
 * assert.equal(m.view().mounts.cpu, m.paths().cpu);
 * ```
 */
export class CgroupfsV1Manager implements CgroupManager {
  /** The driver's name in the state. */
  readonly driver = "cgroupfs" as const;
  readonly #s: CgroupfsV1State;

  /** Makes a manager; nothing is created until `apply()`. */
  constructor(opts: CgroupfsV1Options) {
    const host = opts.host;
    this.#s = {
      config: opts.config,
      readHost: typeof host === "function" ? host : () => host,
      paths: { ...opts.paths },
      created: [...(opts.created ?? [])],
      ready: false,
      fresh: false,
      freezeTimeoutMs: opts.freezeTimeoutMs ?? DEFAULT_FREEZE_TIMEOUT_MS,
      removeTimeoutMs: opts.removeTimeoutMs ?? 2000,
      ops: opts.dirOps ?? realDirOps,
    };
    // A layout given is checked at once.
    if (typeof host !== "function") this.#s.host = checkedV1Host(host);
  }

  /** Controller name (`""` for the unified tree) to directory. */
  paths(): Record<string, string> {
    return { ...this.#s.paths };
  }

  /** Limits before the pid; freezer and events when their hierarchies are there. */
  get capabilities(): DriverCapabilities {
    const paths = this.#s.paths;
    return {
      limitsBeforePid: true,
      processes: true,
      freezer: paths.freezer !== undefined || paths[""] !== undefined,
      deviceRules: true,
      events: paths.memory !== undefined,
    };
  }

  /**
   * A tmpfs with the container's directory of each hierarchy bound under the
   * controller's name (`systemd` for `name=systemd`, `unified` for the hybrid tree).
   */
  view(): CgroupView {
    const mounts: Record<string, string> = {};
    for (const [name, dir] of Object.entries(this.#s.paths)) {
      mounts[name === "" ? "unified" : name.replace(/^name=/, "")] = dir;
    }
    return { layout: "v1", mounts };
  }

  /** The paths and the directories `apply()` created. */
  saved(): DriverState {
    return { driver: this.driver, paths: this.paths(), created: this.createdDirs() };
  }

  /** Directories `apply()` created, top-down; save them to let a later manager `destroy()` them. */
  createdDirs(): string[] {
    return [...this.#s.created];
  }

  /**
   * Creates the directories in every hierarchy (copying cpuset from the parent,
   * enabling unified controllers on the way down) without moving a process in.
   * Idempotent; apply() calls it if needed.
   */
  async create(): Promise<void> {
    await (await cgroupfsSetup()).createCgroupV1(this.#s);
  }

  /** Creates the cgroups and moves `pid` into each. After a failure, call `destroy()`. */
  async apply(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    await (await cgroupfsSetup()).applyCgroupV1(this.#s, pid);
  }

  /** Writes resource limits, after checking the host can honour all of them. */
  async set(resources: LinuxResources): Promise<void> {
    await (await cgroupfsSetup()).setCgroupV1(this.#s, resources);
  }

  /** Freezes or thaws every process, waiting for FROZEN / THAWED. */
  async freeze(frozen: boolean): Promise<void> {
    await (await cgroupfsOps()).freezeV1(this.#s, frozen);
  }

  /** Whether the freezer says FROZEN. */
  async frozen(): Promise<boolean> {
    const paths = this.#s.paths;
    if (paths.freezer) return await isFrozenV1(paths.freezer);
    if (paths[""]) return await isFrozenV2(paths[""]);
    return false;
  }

  /** Pids in the container's cgroup and below it. */
  async pids(): Promise<number[]> {
    return await (await cgroupfsOps()).pidsV1(this.#s);
  }

  /** Freezes, signals every pid, thaws (`signalThroughFreezer`). */
  async killAll(signal: number): Promise<void> {
    await (await cgroupfsOps()).killAllV1(this, this.#s, signal);
  }

  /** Resource usage in runc's shape. */
  async stats(): Promise<CgroupStats> {
    return await (await cgroupfsOps()).statsV1(this.#s);
  }

  /**
   * OOM (`memory.oom_control`) and, with `pressure`, memory pressure
   * (`memory.pressure_level`) notifications through `cgroup.event_control`
   * eventfds, until `signal` aborts or the memory cgroup is removed. Iterating
   * throws a `CgroupError` when the memory controller is not mounted or the
   * cgroup does not exist.
   */
  events(
    opts: { pressure?: PressureLevel; signal?: AbortSignal } = {},
  ): AsyncIterable<CgroupEvent> {
    return eventsV1(this.#s.paths.memory, opts);
  }

  /** Whether any of the container's cgroup directories exists. */
  async exists(): Promise<boolean> {
    return await (await cgroupfsOps()).existsAny(Object.values(this.#s.paths));
  }

  /** Removes the container's directories and the intermediate ones `apply()` made. */
  async destroy(): Promise<void> {
    const s = this.#s;
    // A later command's saved paths name every directory: the host's layout (which of them
    // are mount points, never removed) is read only if one does not go with one rmdir.
    const leaves = s.hierarchies?.map((h) => h.dir) ?? Object.values(s.paths);
    if (s.ops !== realDirOps || !(await removeCgroupLeaves(leaves, s.created))) {
      await (await cgroupfsOps()).destroyV1(s, leaves);
    }
    s.created = [];
    s.fresh = false;
  }
}

/** `watchEventsV1` of the memory cgroup `dir`, imported on first iteration. */
async function* eventsV1(
  dir: string | undefined,
  opts: { pressure?: PressureLevel; signal?: AbortSignal },
): AsyncGenerator<CgroupEvent, void, undefined> {
  yield* (await cgroupfsOps()).watchV1(dir, opts);
}
