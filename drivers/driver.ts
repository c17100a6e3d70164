/**
 * The cgroup driver interface. Every way of placing and limiting a container
 * (cgroupfs v1/hybrid, cgroupfs v2, systemd transient units, rootless without
 * cgroups) implements {@link CgroupManager}, and only `drivers/factory.ts` knows the
 * implementations (its `DRIVERS` table is where a driver registers).
 *
 * Core (`core/*.ts`) never asks which driver it has. It asks the manager what it
 * needs instead:
 * - {@link CgroupManager.view}: what the container sees at `/sys/fs/cgroup`;
 * - {@link DriverCapabilities.limitsBeforePid}: in which order to create, apply and set;
 * - {@link DriverCapabilities.processes}: whether "every process of the container"
 *   (`kill --all`, `ps`) is known, or only the init can be signalled;
 * - {@link DriverCapabilities.deviceRules}: whether runc's default device rules are
 *   added to the spec's (a driver that cannot enforce device rules gets only the
 *   spec's own resources, and refuses what it cannot apply);
 * - {@link CgroupManager.saved}: what the state records, so that every later command
 *   re-creates the same driver's manager through `loadCgroupManager`.
 *
 * What lives once, outside the drivers: status checks before `set()` (core's
 * transition table), the handling of a paused container in `signal --all` (core),
 * and freeze-signal-thaw (`signalThroughFreezer` in `drivers/signal_all.ts`, which
 * every driver's `killAll` uses when the kernel has no faster way).
 *
 * The driver contract suite (`tests/helpers/driver_contract.ts`) runs the same cases
 * against every implementation; a new driver calls it from its own test file.
 *
 * @module
 */

import type { LinuxResources } from "../spec/config.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import type { CgroupEvent, PressureLevel } from "../cgroups/events.ts";

export type { CgroupEvent, PressureLevel } from "../cgroups/events.ts";

/**
 * The registered drivers, as the state records them (`state.json`'s
 * `cgroup.driver`). A new driver adds its name here and its constructor to
 * `DRIVERS` in `drivers/factory.ts`.
 */
export type DriverName = "cgroupfs" | "systemd" | "none";

/**
 * How the container sees `/sys/fs/cgroup`:
 * - `v1`: a tmpfs holding one directory per entry of `mounts` (`memory`, `cpu`,
 *   `systemd`, `unified` ...), each a bind mount of the container's own cgroup in
 *   that hierarchy. An empty `mounts` gives an empty tmpfs.
 * - `v2`: one cgroup2 tree. With a cgroup namespace a fresh `cgroup2` is mounted;
 *   without one, `mounts[""]` (the container's cgroup directory) is bound there, and
 *   nothing is mounted when it is absent.
 * - `none`: nothing is mounted at the `cgroup` mount's destination.
 *
 * @example The view of a v2 container
 * ```ts
 * import type { CgroupView } from "./driver.ts";
 * const view: CgroupView = { layout: "v2", mounts: { "": "/sys/fs/cgroup/c1" } };
 * if (view.layout !== "v2") throw new Error("unreachable");
 * ```
 */
export interface CgroupView {
  /** The hierarchy layout the container gets. */
  layout: "v1" | "v2" | "none";
  /** Name under `/sys/fs/cgroup` (`""` for the v2 root) to host directory to bind there. */
  mounts: Record<string, string>;
}

/**
 * What a manager can do. Core picks its behaviour from these answers, never from
 * the driver's name; the contract suite checks that each answer is true.
 */
export interface DriverCapabilities {
  /**
   * `true`: `create()` and `set()` work before any process exists, so core creates
   * the cgroup and writes the limits while the init is being spawned, then
   * `apply(pid)` only moves the init in (cgroupfs).
   *
   * `false`: nothing exists before the first pid (a systemd transient scope is
   * started with its first pid), so core calls `apply(pid)` first, which creates
   * the cgroup with the pid (and may apply what it can from
   * {@link CgroupConfig.resources} and {@link CgroupConfig.annotations} at once),
   * then `set(resources)` with everything. Both run before the init is let go.
   * `create()` is then never called by core.
   */
  limitsBeforePid: boolean;
  /**
   * `true`: the container's processes are tracked (a cgroup): `pids()` lists them
   * and `killAll()` reaches each. `false`: nothing is tracked: `pids()` is empty,
   * `killAll()` refuses, and core signals the init itself for `signal --all`.
   */
  processes: boolean;
  /** `freeze()`/`frozen()` work (`pause`/`resume`); otherwise `freeze()` refuses with a `CgroupError`. */
  freezer: boolean;
  /**
   * Device rules (`linux.resources.devices`) are enforced, so core adds runc's
   * always-allowed devices and the spec's `linux.devices` to them
   * (`core/devices.ts`). `false`: the spec's resources are passed as they are.
   */
  deviceRules: boolean;
  /** `events()` reports OOM (and pressure) events; otherwise it ends at once or throws. */
  events: boolean;
}

/**
 * What the state records about a container's cgroup: enough for
 * `loadCgroupManager` (in another process, after a crash too) to re-create a
 * manager that sees and removes what the first one created. JSON only.
 */
export interface DriverState {
  /** The driver that made the container. */
  driver: DriverName;
  /** The cgroup directory per hierarchy (`""` for the unified tree), as {@link CgroupManager.paths}. */
  paths: Record<string, string>;
  /** Directories the manager created (intermediate ones too), for `destroy()`. */
  created?: string[];
  /** Anything else the driver needs (e.g. a systemd unit name and slice). */
  extra?: Record<string, unknown>;
}

/**
 * One container's cgroup(s), as a driver manages them.
 *
 * Lifecycle: the factory makes a manager (nothing is created yet); then, as
 * {@link DriverCapabilities.limitsBeforePid} says, either `create()`, `set()`,
 * `apply(pid)`, or `apply(pid)`, `set()`; `destroy()` removes everything the manager
 * (or the one whose {@link saved} state it was made from) created.
 *
 * A method the driver cannot honour rejects with a `CgroupError` naming the field
 * or feature, before it changes anything.
 */
export interface CgroupManager {
  /** The driver's name, recorded in the state (also for logs). Core never branches on it. */
  readonly driver: DriverName;
  /** What this manager can do (may depend on the host: e.g. no freezer mounted). */
  readonly capabilities: DriverCapabilities;
  /** What the container sees at `/sys/fs/cgroup`. */
  view(): CgroupView;
  /**
   * The cgroup path per hierarchy: for v1, controller name to absolute directory;
   * for v2, `{ "": dir }`. Empty when the driver uses no cgroups.
   */
  paths(): Record<string, string>;
  /**
   * Creates the cgroup(s) without moving any process in, so limits can be set
   * before the first process joins (and while it is being spawned). Idempotent.
   * Only meaningful when `capabilities.limitsBeforePid`; otherwise a no-op.
   */
  create(): Promise<void>;
  /**
   * A single cgroup v2 directory that a process can be cloned straight into once
   * `create()` has run (`clone3` with `CLONE_INTO_CGROUP`): it never waits for the RCU
   * grace period that moving a process pays. Undefined when the driver's cgroups are
   * not that (v1 and hybrid hierarchies, a systemd scope, none). Core still calls
   * `apply(pid)` afterwards, which must then find the pid in place and succeed; with
   * `{ clonedInto: true }` when the spawn reported the kernel took the flag (the pid was
   * born there: nothing to check or move).
   */
  cloneTarget?(): string | undefined;
  /**
   * Creates the cgroup(s) if needed and moves `pid` into them. `RangeError` for a pid <= 0.
   * `clonedInto`: the pid was cloned into {@link CgroupManager.cloneTarget}'s directory, as
   * the spawn reported.
   */
  apply(pid: number, opts?: { clonedInto?: boolean }): Promise<void>;
  /**
   * Writes resource limits (all, or nothing when one is refused). Throws
   * `CgroupError` naming the field the driver or host cannot honour. The caller has
   * checked the container's status.
   */
  set(resources: LinuxResources): Promise<void>;
  /** Freezes (`true`) or thaws (`false`) every process, waiting until the state is reached. */
  freeze(frozen: boolean): Promise<void>;
  /** Whether the cgroup is currently frozen. */
  frozen(): Promise<boolean>;
  /** Pids of every process in the cgroup (recursively); empty without process tracking. */
  pids(): Promise<number[]>;
  /**
   * Sends `signal` to every process in the cgroup (a fast kernel path such as
   * `cgroup.kill`, or `signalThroughFreezer`). A cgroup that does not exist is a
   * no-op. Thaws what it froze, but not a cgroup that was frozen before.
   */
  killAll(signal: number): Promise<void>;
  /** Resource usage in the shape runc reports. */
  stats(): Promise<CgroupStats>;
  /** OOM and memory pressure notifications until `signal` aborts or the cgroup is removed. */
  events(opts?: { pressure?: PressureLevel; signal?: AbortSignal }): AsyncIterable<CgroupEvent>;
  /** Whether the cgroup(s) exist. */
  exists(): Promise<boolean>;
  /** What the container's state records (see {@link DriverState}); call after `apply()`. */
  saved(): DriverState;
  /** Removes every cgroup (directory, unit) this manager created. Idempotent. */
  destroy(): Promise<void>;
}

/** What a driver needs to know to make a manager for one container. */
export interface CgroupConfig {
  /** The container id. */
  id: string;
  /** `linux.cgroupsPath` from the spec, if any (absolute, relative, or systemd `slice:prefix:name`). */
  cgroupsPath?: string;
  /** Whether the container is rootless (unprivileged runtime). */
  rootless?: boolean;
  /**
   * The driver to use. Absent: cgroupfs, or `none` for a rootless runtime
   * without cgroup delegation and without an explicit `cgroupsPath`.
   * `systemd` is runc's `--systemd-cgroup`.
   */
  driver?: DriverName;
  /**
   * The spec's `linux.resources`, for drivers that must pass limits when the
   * cgroup is made (a systemd unit's properties). Core also calls `set()` with the
   * effective resources, so a driver may ignore this.
   */
  resources?: LinuxResources;
  /** The spec's annotations (`org.systemd.property.*` for the systemd driver). */
  annotations?: Record<string, string>;
}
