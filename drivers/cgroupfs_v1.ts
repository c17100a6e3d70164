/**
 * The cgroupfs driver for cgroup v1 and hybrid hosts, as runc's `fs` manager:
 * one directory per mounted v1 hierarchy (plus `name=systemd`), and on hybrid hosts
 * one in the unified tree too, where controllers that live only on v2 (hugetlb on
 * some hosts) are set.
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
import { type CgroupHost, resolveCgroupPaths } from "../cgroups/paths.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import {
  type DirOps,
  errorCode,
  pathExists,
  realDirOps,
  removeCgroupDirs,
} from "../cgroups/fs_base.ts";
import {
  DEFAULT_FREEZE_TIMEOUT_MS,
  isFrozenV1,
  isFrozenV2,
  setFreezerV1,
  setFreezerV2,
} from "../cgroups/freezer.ts";
import { readPidsRecursive } from "../cgroups/pids.ts";
import { signalThroughFreezer } from "./signal_all.ts";

/**
 * The create-time code of the cgroupfs managers (`cgroupfs_setup.ts`), imported when a
 * cgroup is made, joined or given limits: the commands on an existing container never load it.
 */
let setupModule: Promise<typeof import("./cgroupfs_setup.ts")> | undefined;

/** {@link setupModule}, imported on first use. */
export function cgroupfsSetup(): Promise<typeof import("./cgroupfs_setup.ts")> {
  return setupModule ??= import("./cgroupfs_setup.ts");
}

/** Options shared by the cgroupfs managers (v1/hybrid and v2). */
export interface CgroupfsOptions {
  /** The container's cgroup configuration. */
  config: CgroupConfig;
  /**
   * The host layout, from `readCgroupHost()` or `describeCgroupRoot()`; a function when it
   * may not be needed: a manager with saved `paths` reads it only when a verb needs it
   * (`state`, `start` and a plain `kill` never do: the paths say where the freezer is).
   */
  host: CgroupHost | (() => CgroupHost);
  /** Directories an earlier `apply()` created (from saved state), so `destroy()` removes them too. */
  created?: string[];
  /** Paths saved from an earlier manager (state), instead of resolving them again from this process's own cgroup. */
  paths?: Record<string, string>;
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
 * Manages one container's cgroups on a v1 or hybrid host.
 *
 * `apply(pid)` creates the container's directory in every hierarchy (recording the
 * directories it made, intermediate ones included), fills empty `cpuset.cpus` /
 * `cpuset.mems` from the parent as runc does, and writes the pid to each
 * `cgroup.procs`. `destroy()` removes the container's directories and the
 * intermediate ones it made, deepest first.
 *
 * @example Paths of a container on a (described, not real) v1 host
 * ```ts
 * import assert from "node:assert/strict";
 * import { CgroupfsV1Manager } from "./cgroupfs_v1.ts";
 * const m = new CgroupfsV1Manager({
 *   config: { id: "c1" },
 *   host: {
 *     mode: "v1",
 *     v1: [{ version: 1, mountPoint: "/sys/fs/cgroup/cpu,cpuacct", root: "/", controllers: ["cpu", "cpuacct"] }],
 *     unifiedControllers: [],
 *     own: { cpu: "/user", cpuacct: "/user" },
 *   },
 * });
 * assert.equal(m.paths().cpuacct, "/sys/fs/cgroup/cpu,cpuacct/user/c1");
 * assert.equal(m.view().layout, "v1");
 * assert.equal(m.view().mounts.cpu, m.paths().cpu);
 * ```
 */
export class CgroupfsV1Manager implements CgroupManager {
  /** The driver's name in the state. */
  readonly driver = "cgroupfs" as const;
  readonly #config: CgroupConfig;
  readonly #readHost: () => CgroupHost;
  #hostRead?: CgroupHost;
  #paths: Record<string, string>;
  #hierarchiesMade?: Hierarchy[];
  #created: string[];
  #ready = false;
  /** create() made (or found) every directory and destroy() has not run since. */
  #fresh = false;
  readonly #freezeTimeoutMs: number;
  readonly #removeTimeoutMs: number;
  readonly #ops: DirOps;

  /** Makes a manager; nothing is created until `apply()`. */
  constructor(opts: CgroupfsV1Options) {
    const host = opts.host;
    this.#readHost = typeof host === "function" ? host : () => host;
    this.#config = opts.config;
    // Given the layout, or without saved paths (which need it now), it is checked at once.
    if (typeof host !== "function" || !opts.paths) void this.#host;
    this.#paths = opts.paths ?? resolveCgroupPaths(this.#host, opts.config);
    this.#created = [...(opts.created ?? [])];
    this.#freezeTimeoutMs = opts.freezeTimeoutMs ?? DEFAULT_FREEZE_TIMEOUT_MS;
    this.#removeTimeoutMs = opts.removeTimeoutMs ?? 2000;
    this.#ops = opts.dirOps ?? realDirOps;
  }

  /** The host's layout, read on first use. */
  get #host(): CgroupHost {
    if (this.#hostRead === undefined) {
      const host = this.#readHost();
      if (host.mode === "v2") throw new RangeError("CgroupfsV1Manager needs a v1 or hybrid host");
      this.#hostRead = host;
    }
    return this.#hostRead;
  }

  /** The hierarchies the container has a directory in (from the host's layout, on first use). */
  get #hierarchies(): Hierarchy[] {
    if (this.#hierarchiesMade === undefined) {
      const host = this.#host;
      const made: Hierarchy[] = host.v1.map((m) => ({
        version: 1 as const,
        mountPoint: m.mountPoint,
        controllers: m.controllers,
        dir: this.#paths[m.controllers[0]!]!,
      }));
      if (host.unified && this.#paths[""] !== undefined) {
        made.push({
          version: 2,
          mountPoint: host.unified.mountPoint,
          controllers: host.unifiedControllers,
          dir: this.#paths[""],
        });
      }
      this.#hierarchiesMade = made;
    }
    return this.#hierarchiesMade;
  }

  /** Controller name (`""` for the unified tree) to directory. */
  paths(): Record<string, string> {
    return { ...this.#paths };
  }

  /** Limits before the pid; freezer and events when their hierarchies are there. */
  get capabilities(): DriverCapabilities {
    return {
      limitsBeforePid: true,
      processes: true,
      freezer: this.#paths.freezer !== undefined || this.#paths[""] !== undefined,
      deviceRules: true,
      events: this.#paths.memory !== undefined,
    };
  }

  /**
   * A tmpfs with the container's directory of each hierarchy bound under the
   * controller's name (`systemd` for `name=systemd`, `unified` for the hybrid tree).
   */
  view(): CgroupView {
    const mounts: Record<string, string> = {};
    for (const [name, dir] of Object.entries(this.#paths)) {
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
    return [...this.#created];
  }

  /**
   * Creates the directories in every hierarchy (copying cpuset from the parent,
   * enabling unified controllers on the way down) without moving a process in.
   * Idempotent; apply() calls it if needed.
   */
  async create(): Promise<void> {
    if (this.#ready) return;
    const { createV1 } = await cgroupfsSetup();
    const results = await createV1(this.#hierarchies, this.#created, this.#ops);
    const skipped: Hierarchy[] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === "fulfilled") continue;
      if (!this.#tolerable(r.reason)) throw r.reason;
      skipped.push(this.#hierarchies[i]);
    }
    this.#skip(skipped);
    this.#ready = true;
    this.#fresh = true;
  }

  /** Creates the cgroups and moves `pid` into each. After a failure, call `destroy()`. */
  async apply(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    await this.create();
    const { joinV1 } = await cgroupfsSetup();
    const results = await joinV1(this.#hierarchies, pid);
    const skipped: Hierarchy[] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === "fulfilled") continue;
      const h = this.#hierarchies[i];
      if (this.#tolerable(r.reason)) {
        skipped.push(h);
        continue;
      }
      throw new CgroupError(h.dir, `cannot join pid ${pid}: ${(r.reason as Error).message}`, {
        cause: r.reason,
      });
    }
    this.#skip(skipped);
  }

  /** As runc: rootless with no explicit path tolerates hierarchies it may not use. */
  #tolerable(e: unknown): boolean {
    const code = errorCode((e as Error).cause ?? e);
    return this.#config.rootless === true && !this.#config.cgroupsPath &&
      (code === "EACCES" || code === "EPERM" || code === "EROFS");
  }

  #skip(skipped: Hierarchy[]): void {
    if (skipped.length === 0) return;
    this.#hierarchiesMade = this.#hierarchies.filter((h) => !skipped.includes(h));
    for (const [k, dir] of Object.entries(this.#paths)) {
      if (skipped.some((h) => h.dir === dir)) delete this.#paths[k];
    }
  }

  /** Writes resource limits, after checking the host can honour all of them. */
  async set(resources: LinuxResources): Promise<void> {
    const { setV1 } = await cgroupfsSetup();
    await setV1(resources, {
      hierarchies: this.#hierarchies,
      host: this.#host,
      paths: this.#paths,
      fresh: this.#fresh,
      procsDir: () => this.#procsDir(),
    });
  }

  /** The directory to freeze with, and how. */
  #freezer(): { dir: string; version: 1 | 2 } {
    if (this.#paths.freezer) return { dir: this.#paths.freezer, version: 1 };
    if (this.#paths[""]) return { dir: this.#paths[""], version: 2 };
    throw new CgroupError("freezer", "the freezer cgroup controller is not mounted");
  }

  /** Freezes or thaws every process, waiting for FROZEN / THAWED. */
  async freeze(frozen: boolean): Promise<void> {
    const f = this.#freezer();
    if (f.version === 1) await setFreezerV1(f.dir, frozen, this.#freezeTimeoutMs);
    else await setFreezerV2(f.dir, frozen, this.#freezeTimeoutMs);
  }

  /** Whether the freezer says FROZEN. */
  async frozen(): Promise<boolean> {
    if (this.#paths.freezer) return await isFrozenV1(this.#paths.freezer);
    if (this.#paths[""]) return await isFrozenV2(this.#paths[""]);
    return false;
  }

  /** The directory whose `cgroup.procs` lists the container's processes. */
  #procsDir(): string {
    for (const k of ["devices", "freezer", "memory", "pids", "cpu", ""]) {
      if (this.#paths[k] !== undefined) return this.#paths[k];
    }
    const first = Object.values(this.#paths)[0];
    if (first === undefined) throw new CgroupError("cgroup", "the container has no cgroup");
    return first;
  }

  /** Pids in the container's cgroup and below it. */
  async pids(): Promise<number[]> {
    return await readPidsRecursive(this.#procsDir());
  }

  /** Freezes, signals every pid, thaws (`signalThroughFreezer`). */
  async killAll(signal: number): Promise<void> {
    const dir = this.#procsDir();
    if (this.#hierarchies.some((h) => h.mountPoint === dir)) {
      throw new CgroupError(dir, "refusing to signal every process of a root cgroup");
    }
    if (!(await pathExists(dir))) return;
    await signalThroughFreezer(this, signal);
  }

  /** Resource usage in runc's shape. */
  async stats(): Promise<CgroupStats> {
    const paths = { ...this.#paths };
    delete paths[""];
    const { readStatsV1 } = await import("../cgroups/stats.ts");
    return await readStatsV1(paths, this.#paths[""] ? { unified: this.#paths[""] } : {});
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
    const dir = this.#paths.memory;
    if (dir === undefined) return noMemoryController();
    return watchV1(dir, opts);
  }

  /** Whether any of the container's cgroup directories exists. */
  async exists(): Promise<boolean> {
    for (const dir of new Set(Object.values(this.#paths))) {
      if (await pathExists(dir)) return true;
    }
    return false;
  }

  /** Removes the container's directories and the intermediate ones `apply()` made. */
  async destroy(): Promise<void> {
    // A later command's saved paths name every directory: the host's layout (which of them
    // are mount points, never removed) is read only if one does not go with one rmdir.
    const layoutKnown = this.#hostRead !== undefined;
    await removeCgroupDirs(
      layoutKnown ? this.#hierarchies.map((h) => h.dir) : [...new Set(Object.values(this.#paths))],
      this.#created,
      () => new Set(this.#hierarchies.map((h) => h.mountPoint)),
      this.#removeTimeoutMs,
      this.#ops,
    );
    this.#created = [];
    this.#fresh = false;
  }
}

/** `watchEventsV1`, imported on first iteration (only `events` uses it). */
async function* watchV1(
  dir: string,
  opts: { pressure?: PressureLevel; signal?: AbortSignal },
): AsyncGenerator<CgroupEvent, void, undefined> {
  const { watchEventsV1 } = await import("../cgroups/events.ts");
  yield* watchEventsV1(dir, opts);
}

// deno-lint-ignore require-yield
async function* noMemoryController(): AsyncGenerator<CgroupEvent, void, undefined> {
  throw new CgroupError(
    "memory",
    "the memory cgroup controller is not mounted: no OOM or pressure events",
  );
}
