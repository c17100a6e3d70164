/**
 * The cgroup driver interface. Every way of placing and limiting a container
 * (cgroupfs v1/hybrid, cgroupfs v2, systemd transient units, rootless without
 * cgroups) implements this, and only `drivers/factory.ts` knows the implementations.
 *
 * @module
 */

import type { LinuxResources } from "../spec/config.ts";
import type { CgroupStats } from "../cgroups/stats.ts";

/** Which kind of driver this is. */
export type DriverKind = "cgroupfs-v1" | "cgroupfs-v2" | "systemd" | "none";

/** A cgroup notification event. */
export interface CgroupEvent {
  /** `oom` when the OOM killer fired; `memory-pressure` with `level` otherwise. */
  type: "oom" | "memory-pressure";
  /** The pressure level for `memory-pressure` events. */
  level?: PressureLevel;
}

/** Memory pressure levels, as cgroup v1's memory.pressure_level names them. */
export type PressureLevel = "low" | "medium" | "critical";

/**
 * One container's cgroup(s), as a driver manages them.
 *
 * Lifecycle: the factory makes a manager for a container (nothing is created yet);
 * `apply(pid)` creates the cgroup(s) and moves the pid in; `set()` writes resources;
 * `destroy()` removes every directory the manager created.
 */
export interface CgroupManager {
  /** The driver kind. */
  readonly kind: DriverKind;
  /**
   * The cgroup path per hierarchy: for v1, controller name to absolute directory;
   * for v2, `{ "": dir }`. Empty when the driver uses no cgroups.
   */
  paths(): Record<string, string>;
  /**
   * Creates the cgroup(s) without moving any process in, so limits can be set
   * before the first process joins (and while it is being spawned). Idempotent.
   */
  create(): Promise<void>;
  /** Creates the cgroup(s) if needed and moves `pid` into them. */
  apply(pid: number): Promise<void>;
  /** Writes resource limits. Throws `CgroupError` naming the field the host cannot honour. */
  set(resources: LinuxResources): Promise<void>;
  /** Freezes (`true`) or thaws (`false`) every process, waiting until the state is reached. */
  freeze(frozen: boolean): Promise<void>;
  /** Whether the cgroup is currently frozen. */
  frozen(): Promise<boolean>;
  /** Pids of every process in the cgroup (recursively). */
  pids(): Promise<number[]>;
  /** Sends `signal` to every process in the cgroup; with v2 SIGKILL uses cgroup.kill. */
  killAll(signal: number): Promise<void>;
  /** Resource usage in the shape runc reports. */
  stats(): Promise<CgroupStats>;
  /** OOM and memory pressure notifications until `signal` aborts or the cgroup is removed. */
  events(opts?: { pressure?: PressureLevel; signal?: AbortSignal }): AsyncIterable<CgroupEvent>;
  /** Whether the cgroup(s) exist. */
  exists(): Promise<boolean>;
  /**
   * Directories `apply()` created, for the container's state: a manager made later
   * (another process) with them removes them on `destroy()`. Drivers that create no
   * directories return [].
   */
  createdDirs(): string[];
  /** Removes every cgroup directory this manager created. Idempotent. */
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
  /** Use the systemd driver (runc's `--systemd-cgroup`). */
  systemd?: boolean;
  /** The spec's annotations (the systemd driver reads `org.systemd.property.*`). */
  annotations?: Record<string, string>;
}
