/**
 * The cgroupfs driver for pure cgroup v2 hosts, as runc's `fs2` manager: one
 * directory in the unified tree; controllers enabled in `cgroup.subtree_control` on
 * the way down; `cgroup.freeze` / `cgroup.events` for freezing and `cgroup.kill`
 * for SIGKILL.
 *
 * Device rules become an eBPF program (`cgroups/devicefilter.ts`) attached to the
 * cgroup directory through the native helper, replacing the one attached before.
 *
 * @module
 */

import type { LinuxResources } from "../spec/config.ts";
import type { CgroupManager, CgroupView, DriverCapabilities, DriverState } from "./driver.ts";
import type { CgroupEvent, PressureLevel } from "../cgroups/events.ts";
import { CgroupError } from "../errors.ts";
import { type CgroupHost, resolveCgroupPaths } from "../cgroups/paths.ts";
import type { DeviceFilterProgram } from "../cgroups/devicefilter.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import {
  type DirOps,
  pathExists,
  realDirOps,
  removeCgroupDirs,
  writeCgroupFile,
} from "../cgroups/fs_base.ts";
import { DEFAULT_FREEZE_TIMEOUT_MS, isFrozenV2, setFreezerV2 } from "../cgroups/freezer.ts";
import { readPidsRecursive } from "../cgroups/pids.ts";
import { signalThroughFreezer } from "./signal_all.ts";
import { type CgroupfsOptions, cgroupfsSetup } from "./cgroupfs_v1.ts";

/** Options for {@link CgroupfsV2Manager} (host mode `v2`). */
export interface CgroupfsV2Options extends CgroupfsOptions {
  /**
   * Loads and attaches a device filter program to a cgroup directory; default
   * `attachDeviceFilter` (bpf(2) through the native helper). Tests on temp trees pass a fake.
   */
  attachDeviceFilter?: (dir: string, program: DeviceFilterProgram) => void;
}

const SIGKILL = 9;

/**
 * Manages one container's cgroup on a pure v2 host.
 *
 * @example The path of a container on a fake v2 root
 * ```ts
 * import assert from "node:assert/strict";
 * import { CgroupfsV2Manager } from "./cgroupfs_v2.ts";
 * import { describeCgroupRoot } from "../cgroups/paths.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/cgroup.controllers`, "cpu memory pids\n");
 * const m = new CgroupfsV2Manager({ config: { id: "c1", cgroupsPath: "/pod/c1" }, host: describeCgroupRoot(root) });
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
  readonly #readHost: () => CgroupHost;
  #mountPointRead?: string;
  readonly #dir: string;
  #created: string[];
  #ready = false;
  readonly #freezeTimeoutMs: number;
  readonly #removeTimeoutMs: number;
  readonly #ops: DirOps;
  readonly #attachDeviceFilter?: (dir: string, program: DeviceFilterProgram) => void;
  readonly #rootless: boolean;
  #cloneTarget = false;

  /** Makes a manager; nothing is created until `apply()`. */
  constructor(opts: CgroupfsV2Options) {
    const host = opts.host;
    this.#readHost = typeof host === "function" ? host : () => host;
    // Given the layout, or without saved paths (which need it now), it is checked at once.
    if (typeof host !== "function" || !opts.paths?.[""]) void this.#mountPoint;
    this.#dir = opts.paths?.[""] ?? resolveCgroupPaths(this.#readHost(), opts.config)[""]!;
    this.#created = [...(opts.created ?? [])];
    this.#freezeTimeoutMs = opts.freezeTimeoutMs ?? DEFAULT_FREEZE_TIMEOUT_MS;
    this.#removeTimeoutMs = opts.removeTimeoutMs ?? 2000;
    this.#ops = opts.dirOps ?? realDirOps;
    if (opts.attachDeviceFilter) this.#attachDeviceFilter = opts.attachDeviceFilter;
    this.#rootless = opts.config.rootless === true;
  }

  /** The cgroup2 mount point, from the host's layout (read on first use). */
  get #mountPoint(): string {
    if (this.#mountPointRead === undefined) {
      const host = this.#readHost();
      if (host.mode !== "v2" || !host.unified) {
        throw new RangeError("CgroupfsV2Manager needs a pure cgroup v2 host");
      }
      this.#mountPointRead = host.unified.mountPoint;
    }
    return this.#mountPointRead;
  }

  /** The container's directory: the init can be cloned straight into it. */
  cloneTarget(): string {
    this.#cloneTarget = true;
    return this.#dir;
  }

  /** `{ "": dir }`. */
  paths(): Record<string, string> {
    return { "": this.#dir };
  }

  /** The unified tree: the container's directory (or a fresh cgroup2 in a cgroup namespace). */
  view(): CgroupView {
    return { layout: "v2", mounts: { "": this.#dir } };
  }

  /** The path and the directories `create()` made. */
  saved(): DriverState {
    return { driver: this.driver, paths: this.paths(), created: this.createdDirs() };
  }

  /** Directories `apply()` created, top-down; save them to let a later manager `destroy()` them. */
  createdDirs(): string[] {
    return [...this.#created];
  }

  /** Creates the directory (enabling controllers on the way down) without moving a process in. */
  async create(): Promise<void> {
    if (this.#ready) return;
    const { createV2 } = await cgroupfsSetup();
    // As runc's fs2: enable the controllers in each level, then make the next one.
    await createV2(this.#mountPoint, this.#dir, this.#created, this.#ops);
    this.#ready = true;
  }

  /**
   * Creates the cgroup (enabling every available controller in each ancestor's
   * `cgroup.subtree_control`, best effort as runc) and moves `pid` in. After a
   * failure, call `destroy()`.
   */
  async apply(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    await this.create();
    const { joinV2 } = await cgroupfsSetup();
    await joinV2(this.#dir, pid, this.#cloneTarget);
  }

  /**
   * Writes resource limits, after checking the host can honour all of them. Device rules
   * are attached first, as an eBPF program; attaching one that allows every device may
   * fail silently (rootless, in a user namespace, or not a real cgroup2 directory), as runc.
   */
  async set(resources: LinuxResources): Promise<void> {
    const { setV2 } = await cgroupfsSetup();
    await setV2(this.#dir, resources, {
      attachDeviceFilter: this.#attachDeviceFilter,
      rootless: this.#rootless,
    });
  }

  /** Freezes or thaws, waiting for `frozen 1` / `frozen 0` in `cgroup.events`. */
  async freeze(frozen: boolean): Promise<void> {
    await setFreezerV2(this.#dir, frozen, this.#freezeTimeoutMs);
  }

  /** Whether `cgroup.events` says `frozen 1`. */
  async frozen(): Promise<boolean> {
    return await isFrozenV2(this.#dir);
  }

  /** Pids in the cgroup and below it. */
  async pids(): Promise<number[]> {
    return await readPidsRecursive(this.#dir);
  }

  /** SIGKILL through `cgroup.kill` when the kernel has it; otherwise freeze, signal, thaw. */
  async killAll(signal: number): Promise<void> {
    if (this.#dir === this.#mountPoint) {
      throw new CgroupError(this.#dir, "refusing to signal every process of the root cgroup");
    }
    if (!(await pathExists(this.#dir))) return;
    if (signal === SIGKILL && (await pathExists(`${this.#dir}/cgroup.kill`))) {
      await writeCgroupFile(this.#dir, "cgroup.kill", "1");
      return;
    }
    const canFreeze = await pathExists(`${this.#dir}/cgroup.freeze`);
    await signalThroughFreezer({
      capabilities: { freezer: canFreeze },
      frozen: () => this.frozen(),
      freeze: (f) => this.freeze(f),
      pids: () => this.pids(),
    }, signal);
  }

  /** Resource usage in runc's shape. */
  async stats(): Promise<CgroupStats> {
    const { readStatsV2 } = await import("../cgroups/stats.ts");
    return await readStatsV2(this.#dir);
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
    return watchV2(this.#dir, opts);
  }

  /** Whether the cgroup directory exists. */
  async exists(): Promise<boolean> {
    return await pathExists(this.#dir);
  }

  /** Removes the cgroup (and cgroups below it) and the intermediate directories `apply()` made. */
  async destroy(): Promise<void> {
    // As the v1 driver's: the host's layout (the mount point, never removed) is read only if
    // the directory does not go with one rmdir.
    await removeCgroupDirs(
      [this.#dir],
      this.#created,
      () => new Set([this.#mountPoint]),
      this.#removeTimeoutMs,
      this.#ops,
    );
    this.#created = [];
  }
}

/** `watchEventsV2`, imported on first iteration (only `events` uses it). */
async function* watchV2(
  dir: string,
  opts: { pressure?: PressureLevel; signal?: AbortSignal },
): AsyncGenerator<CgroupEvent, void, undefined> {
  const { watchEventsV2 } = await import("../cgroups/events.ts");
  yield* watchEventsV2(dir, opts);
}
