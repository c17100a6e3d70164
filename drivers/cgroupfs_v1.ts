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
import { signalThroughFreezer } from "./signal_all.ts";
import { CgroupError, errnoName, SyscallError } from "../errors.ts";
import { type CgroupHost, resolveCgroupPaths } from "../cgroups/paths.ts";
import type { CgroupHostFiles } from "../cgroups/resources.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import {
  applyWrites,
  type CgroupFileOp,
  cgroupFiles,
  type DirOps,
  enableControllers,
  errorCode,
  levelsAbove,
  listCgroupOnce,
  listDir,
  makeDirs,
  pathExists,
  readCgroupFile,
  readPidsRecursive,
  realDirOps,
  removeCgroupDirs,
  writeCgroupFile,
  writeError,
} from "../cgroups/fs.ts";
import {
  DEFAULT_FREEZE_TIMEOUT_MS,
  isFrozenV1,
  isFrozenV2,
  setFreezerV1,
  setFreezerV2,
} from "../cgroups/freezer.ts";

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
interface Hierarchy {
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
    // Every hierarchy at once: each mkdir may sleep in the kernel.
    const results = this.#ops === realDirOps
      ? await this.#createBatched()
      : await Promise.allSettled(this.#hierarchies.map((h) => this.#prepare(h)));
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

  /**
   * {@link create}'s usual case in one batch off the event loop ({@link cgroupFiles}): each
   * hierarchy's directory made (or found) with one mkdir, and cpuset's filled from its
   * parent. A hierarchy whose directory needs more (missing parents) or fails goes
   * {@link #prepare}'s way, level by level, which also gives its error.
   */
  async #createBatched(): Promise<PromiseSettledResult<void>[]> {
    const hs = this.#hierarchies;
    const ops: CgroupFileOp[] = hs.map((h) => ({ op: "mkdir", path: h.dir }));
    const cpuset = hs.find((h) => h.version === 1 && h.controllers.includes("cpuset"));
    if (cpuset) {
      const parent = cpuset.dir.slice(0, cpuset.dir.lastIndexOf("/"));
      for (const file of CPUSET_FILES) {
        ops.push({ op: "fill", path: `${cpuset.dir}/${file}`, from: `${parent}/${file}` });
      }
    }
    const res = await cgroupFiles(ops);
    return await Promise.allSettled(hs.map(async (h, i) => {
      const code = errnoName(res[i].errno);
      if (h.dir === h.mountPoint || (res[i].errno !== 0 && code !== "EEXIST")) {
        return await this.#prepare(h);
      }
      if (res[i].errno === 0) this.#created.push(h.dir);
      try {
        if (h === cpuset) {
          for (const [j, file] of CPUSET_FILES.entries()) {
            const r = res[hs.length + j];
            if (r.stage === "") continue;
            const path = `${h.dir}/${file}`;
            if (r.stage === "read") {
              throw new SyscallError({ syscall: "read", errno: r.errno, path });
            }
            if (r.stage === "read from") {
              const from = (ops[hs.length + j] as { from: string }).from;
              throw new SyscallError({ syscall: "read", errno: r.errno, path: from });
            }
            throw writeError(r, path, "");
          }
        }
        if (h.version === 2) {
          for (const level of levelsAbove(h.mountPoint, h.dir)) await enableControllers(level);
        }
      } catch (e) {
        throw new CgroupError(h.dir, `cannot create the cgroup: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }));
  }

  /** Creates the cgroups and moves `pid` into each. After a failure, call `destroy()`. */
  async apply(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    await this.create();
    // Every hierarchy in one batch, off the event loop: the first write may wait for an
    // RCU grace period, the others then find the lock's fast path.
    const hs = this.#hierarchies;
    const joined = await cgroupFiles(
      hs.map((h) => ({ op: "write", path: `${h.dir}/cgroup.procs`, value: String(pid) })),
    );
    const results = joined.map((r, i): PromiseSettledResult<void> =>
      r.stage === "" ? { status: "fulfilled", value: undefined } : {
        status: "rejected",
        // As joinCgroup says it.
        reason: new SyscallError({
          syscall: "write",
          errno: r.errno,
          path: `${hs[i].dir}/cgroup.procs`,
        }),
      }
    );
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

  async #prepare(h: Hierarchy): Promise<void> {
    const isCpuset = h.version === 1 && h.controllers.includes("cpuset");
    try {
      const made = await makeDirs(h.mountPoint, h.dir, async (dir) => {
        this.#created.push(dir);
        if (isCpuset) await copyCpusetFromParent(dir);
      }, this.#ops);
      if (isCpuset && made.length === 0) await copyCpusetFromParent(h.dir);
      // Hybrid: enable the unified tree's controllers (hugetlb here) on the way down.
      if (h.version === 2) {
        for (const level of levelsAbove(h.mountPoint, h.dir)) await enableControllers(level);
      }
    } catch (e) {
      throw new CgroupError(h.dir, `cannot create the cgroup: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /** Writes resource limits, after checking the host can honour all of them. */
  async set(resources: LinuxResources): Promise<void> {
    // A hierarchy whose directory is missing (a rootless apply() skipped it) makes
    // its controllers unavailable; none at all means apply() never ran.
    // Right after create() the directories exist, and their files are those of every cgroup
    // of their kind: listed once per process (10 directories took 0.4 ms of the event loop).
    const listings = new Map<string, Set<string>>();
    for (const h of this.#hierarchies) {
      listings.set(
        h.dir,
        this.#fresh ? await listCgroupOnce(h.dir, kindOf(h)) : await listDir(h.dir),
      );
    }
    if ([...listings.values()].every((names) => names.size === 0)) {
      throw new CgroupError(this.#procsDir(), "the cgroup does not exist (apply() first)");
    }
    const dirOf = (controller: string): string | undefined => {
      let dir: string | undefined;
      if (this.#host.v1.some((m) => m.controllers.includes(controller))) {
        dir = this.#paths[controller];
      } else if (controller === "cgroup" || this.#host.unifiedControllers.includes(controller)) {
        dir = this.#paths[""];
      }
      return dir !== undefined && (listings.get(dir)?.size ?? 0) > 0 ? dir : undefined;
    };
    const files: CgroupHostFiles = {
      versionOf: (c) => {
        const dir = dirOf(c);
        if (dir === undefined) return undefined;
        return dir === this.#paths[""] && !this.#host.v1.some((m) => m.controllers.includes(c))
          ? 2
          : 1;
      },
      has: (c, file) => listings.get(dirOf(c) ?? "")?.has(file) ?? false,
    };
    const m = resources.memory;
    let currentMemoryLimit: number | undefined;
    if (m?.limit && m.swap && this.#paths.memory) {
      const cur = await readCgroupFile(this.#paths.memory, "memory.limit_in_bytes");
      if (cur !== undefined) currentMemoryLimit = Number(cur);
    }
    // Imported here: only the verbs that set limits (create, run, update) load it.
    const { translateResources } = await import("../cgroups/resources.ts");
    const writes = translateResources(
      resources,
      files,
      currentMemoryLimit === undefined ? {} : { currentMemoryLimit },
    );
    await applyWrites(writes, (c) => dirOf(c)!);
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

/**
 * What decides which control files a hierarchy's cgroup directory has: for a v1 hierarchy
 * its controllers, and whether the directory is the root; for the unified tree its parent
 * (whose `cgroup.subtree_control` enables them).
 */
function kindOf(h: Hierarchy): string {
  if (h.version === 2) return `v2 ${h.dir.slice(0, h.dir.lastIndexOf("/"))}`;
  return `v1 ${h.mountPoint}${h.dir === h.mountPoint ? " (root)" : ""}`;
}

/** What a new v1 cpuset cgroup gets from its parent when empty. */
const CPUSET_FILES = ["cpuset.cpus", "cpuset.mems"] as const;

/** Fills an empty `cpuset.cpus` / `cpuset.mems` from the parent, as runc does. */
async function copyCpusetFromParent(dir: string): Promise<void> {
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  for (const file of CPUSET_FILES) {
    const own = await readCgroupFile(dir, file);
    if (own === undefined || own !== "") continue;
    const value = await readCgroupFile(parent, file);
    if (value) await writeCgroupFile(dir, file, value);
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
