/**
 * The systemd cgroup driver, as runc's `systemd` managers: each container is a
 * transient scope unit (`<prefix>-<name>.scope` in a slice, from runc's
 * `slice:prefix:name` cgroupsPath) that systemd starts with the container's first pid
 * (`StartTransientUnit` over D-Bus, waiting for the job), with `Delegate=yes`.
 *
 * systemd owns the scope's cgroups; everything it does not do is the cgroupfs code's,
 * on the scope's directories: on cgroup v1 the pid also joins the hierarchies systemd
 * leaves alone (cpuset, freezer, blkio, cpuacct ...); resources go first to systemd as
 * unit properties (`SetUnitProperties`, from the same cgroup writes, so systemd keeps
 * them) and then to the files; freeze, pids, kill-all, stats and events read the
 * scope's directories. `destroy()` stops the unit, waits for the job, and removes any
 * directory left.
 *
 * A scope cannot exist before its first pid (`capabilities.limitsBeforePid` is false):
 * `apply(pid)` starts it with the spec's resources and annotations as properties, and
 * core's `set()` follows with the effective resources. `create()` does nothing; resources
 * given to `set()` before `apply()` wait for it.
 *
 * Rootless, the scope is the user's own manager's (`systemd --user`, option
 * `userManager`), as rootless runc and podman do on systemd hosts: cgroup v2 only, the
 * slice `user.slice` of that manager by default, its cgroup below the manager's own
 * (`/user.slice/user-<uid>.slice/user@<uid>.service/user.slice/nsinit-<id>.scope`).
 * systemd delegates that subtree to the user, so the files are written directly too.
 * Device rules are not sent (a user manager cannot enforce them; the cgroupfs code
 * skips them rootless). The manager's address and cgroup go into the state.
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
import { type CgroupEvent, oomKills, type PressureLevel } from "../cgroups/events.ts";
import { CgroupError, DbusError, SyscallError } from "../errors.ts";
import { type CgroupHost, parseProcCgroup } from "../cgroups/paths.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import { type CgroupHostFiles, translateResources } from "../cgroups/resources.ts";
import { type DirOps, pathExists } from "../cgroups/fs.ts";
import { CgroupfsV1Manager } from "./cgroupfs_v1.ts";
import { CgroupfsV2Manager } from "./cgroupfs_v2.ts";
import { sharedSystemdBus, type SystemdClient } from "./systemd_dbus.ts";
import {
  annotationProperties,
  deviceProperties,
  resourceProperties,
  type SystemdUnit,
  systemdUnit,
  type UnitProperty,
} from "./systemd_unit.ts";
import { Variant } from "../native/sdbus.ts";

/** Options for {@link SystemdManager}. */
export interface SystemdManagerOptions {
  /** The container's cgroup configuration (`cgroupsPath` in `slice:prefix:name` form). */
  config: CgroupConfig;
  /** The host's cgroup layout (mounts), from `readCgroupHost()`. */
  host: CgroupHost;
  /** Talks to systemd; default the process's shared D-Bus connection. */
  client?: SystemdClient;
  /**
   * systemd's own cgroup per hierarchy (PID 1's `/proc/1/cgroup`), under which its
   * slices live; default read from `/proc/1/cgroup`.
   */
  systemdCgroups?: Record<string, string>;
  /** What the manager that made the container saved (a later command re-creates it from this). */
  saved?: DriverState;
  /** mkdir/rmdir seam for tests. */
  dirOps?: DirOps;
  /** Receives what `destroy()` could not do while systemd did not answer. */
  onWarning?: (msg: string) => void;
  /**
   * A user's own manager instead of the system's (rootless): where it answers and its
   * own cgroup (e.g. `/user.slice/user-1000.slice/user@1000.service`).
   */
  userManager?: UserManager;
}

/** A user's systemd manager (`systemd --user`), for rootless containers. */
export interface UserManager {
  /** Its D-Bus address (`unix:path=$XDG_RUNTIME_DIR/systemd/private`, or the user bus). */
  address: string;
  /** Its own cgroup v2 path, below which its slices live. */
  cgroup: string;
}

/** The errors that mean systemd cannot be reached at all (so it holds no unit of ours). */
function unreachable(e: unknown): boolean {
  return e instanceof DbusError &&
    /\.(NoServer|Disconnected|Timeout|NoReply|NotSupported)$/.test(e.dbusName);
}

/**
 * The cgroup directories of a unit: PID 1's cgroup in each hierarchy (its
 * `init.scope` trimmed, as runc), joined with the unit's slice path.
 */
function unitPaths(
  host: CgroupHost,
  unit: SystemdUnit,
  systemdCgroups: Record<string, string>,
): Record<string, string> {
  const base = (key: string, root: string) => {
    let p = systemdCgroups[key] ?? "/";
    p = p.replace(/\/init\.scope$/, "") || "/";
    if (root !== "/" && (p === root || p.startsWith(`${root}/`))) p = p.slice(root.length) || "/";
    return p === "/" ? "" : p;
  };
  const paths: Record<string, string> = {};
  if (host.mode !== "v2") {
    for (const m of host.v1) {
      const dir = `${m.mountPoint}${base(m.controllers[0]!, m.root)}${unit.cgroup}`;
      for (const c of m.controllers) paths[c] = dir;
    }
  }
  if (host.unified && host.mode !== "v1") {
    paths[""] = `${host.unified.mountPoint}${base("", host.unified.root)}${unit.cgroup}`;
  }
  return paths;
}

/**
 * One container's scope unit and its cgroups.
 *
 * @example The unit and paths of a container (nothing is asked of systemd yet)
 * ```ts
 * import assert from "node:assert/strict";
 * import { SystemdManager } from "./systemd.ts";
 * const m = new SystemdManager({
 *   config: { id: "c1", cgroupsPath: "machine.slice:nsinit:c1", driver: "systemd" },
 *   host: {
 *     mode: "v2", v1: [], unifiedControllers: ["memory"], own: { "": "/" },
 *     unified: { version: 2, mountPoint: "/sys/fs/cgroup", root: "/", controllers: [] },
 *   },
 *   systemdCgroups: { "": "/init.scope" },
 * });
 * assert.equal(m.unit, "nsinit-c1.scope");
 * assert.equal(m.paths()[""], "/sys/fs/cgroup/machine.slice/nsinit-c1.scope");
 * ```
 */
export class SystemdManager implements CgroupManager {
  /** The driver's name in the state. */
  readonly driver = "systemd" as const;
  readonly #unit: SystemdUnit;
  readonly #host: CgroupHost;
  readonly #client: SystemdClient | undefined;
  readonly #annotations: UnitProperty[];
  readonly #fs: CgroupfsV1Manager | CgroupfsV2Manager;
  /** The unit was started by this manager (or the one whose state it was made from). */
  #started: boolean;
  #pending: LinuxResources | undefined;
  readonly #resources: LinuxResources | undefined;
  readonly #warn: (msg: string) => void;
  readonly #user: UserManager | undefined;

  /** Makes a manager; nothing is asked of systemd until `apply()`. */
  constructor(opts: SystemdManagerOptions) {
    const extra = opts.saved?.extra as
      | { unit?: string; slice?: string; cgroup?: string; user?: UserManager }
      | undefined;
    this.#user = extra?.user ?? opts.userManager;
    if (opts.config.rootless && !this.#user) {
      throw new CgroupError(
        "--systemd-cgroup",
        "a rootless container needs the user's own systemd manager (systemd --user), and none was given",
      );
    }
    if (this.#user && opts.host.mode !== "v2") {
      throw new CgroupError(
        "--systemd-cgroup",
        `a systemd user manager delegates cgroups on cgroup v2 only (this host is ${opts.host.mode})`,
      );
    }
    this.#unit = extra?.unit && extra.slice && extra.cgroup
      ? { unit: extra.unit, slice: extra.slice, cgroup: extra.cgroup }
      : systemdUnit(opts.config.id, opts.config.cgroupsPath, this.#user ? "user.slice" : undefined);
    this.#resources = opts.config.resources;
    this.#host = opts.host;
    this.#client = opts.client;
    this.#annotations = annotationProperties(opts.config.annotations);
    this.#warn = opts.onWarning ?? (() => {});
    // A saved state means the unit was started by the manager that saved it.
    this.#started = opts.saved !== undefined;
    const paths = opts.saved?.paths ??
      unitPaths(
        opts.host,
        this.#unit,
        this.#user ? { "": this.#user.cgroup } : (opts.systemdCgroups ?? readSystemdCgroups()),
      );
    const common = {
      config: { id: opts.config.id, ...(this.#user ? { rootless: true } : {}) },
      host: opts.host,
      paths,
      ...(opts.saved?.created ? { created: opts.saved.created } : {}),
      ...(opts.dirOps ? { dirOps: opts.dirOps } : {}),
    };
    this.#fs = opts.host.mode === "v2"
      ? new CgroupfsV2Manager(common)
      : new CgroupfsV1Manager(common);
  }

  /** The unit's name, e.g. `nsinit-c1.scope`. */
  get unit(): string {
    return this.#unit.unit;
  }

  /** The unit's slice, e.g. `system.slice`. */
  get slice(): string {
    return this.#unit.slice;
  }

  /** The user manager this container's scope belongs to, or undefined for the system's. */
  get userManager(): UserManager | undefined {
    return this.#user;
  }

  get #sd(): SystemdClient {
    return this.#client ?? sharedSystemdBus(this.#user?.address);
  }

  /** A scope exists only with its first pid; the rest is the cgroupfs code's. */
  get capabilities(): DriverCapabilities {
    return { ...this.#fs.capabilities, limitsBeforePid: false };
  }

  /** The scope's directories, as the container sees them (as cgroupfs would). */
  view(): CgroupView {
    return this.#fs.view();
  }

  paths(): Record<string, string> {
    return this.#fs.paths();
  }

  /** The paths, the directories made in hierarchies systemd leaves alone, and the unit. */
  saved(): DriverState {
    const fs = this.#fs.saved();
    return {
      driver: this.driver,
      paths: fs.paths,
      ...(fs.created && fs.created.length > 0 ? { created: fs.created } : {}),
      extra: {
        unit: this.#unit.unit,
        slice: this.#unit.slice,
        cgroup: this.#unit.cgroup,
        ...(this.#user ? { user: this.#user } : {}),
      },
    };
  }

  /** A scope cannot exist without a pid: nothing to do until `apply()`. */
  create(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * The first pid starts the scope (with the resources given to `set()` so far, as
   * properties) and waits for systemd's job; on v1 the pid then joins the hierarchies
   * systemd leaves alone. Later pids (exec) join the scope's directories.
   */
  async apply(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    // systemd removes a scope once its last process is gone: a pid joining then starts it again.
    if (this.#started && !(await pathExists(this.#systemdDir()))) this.#started = false;
    try {
      await this.#apply(pid);
    } catch (e) {
      // ... or is removing it right now: the join found a directory that died under it.
      const code = e instanceof CgroupError && e.cause instanceof SyscallError
        ? e.cause.code
        : undefined;
      if (!this.#started || (code !== "ENODEV" && code !== "ENOENT")) throw e;
      if (await pathExists(this.#systemdDir())) throw e;
      this.#started = false;
      await this.#apply(pid);
    }
  }

  async #apply(pid: number): Promise<void> {
    if (!this.#started) {
      const version = await this.#sd.version();
      const props: UnitProperty[] = [
        ["Description", new Variant("s", `nsinit container ${this.#unit.unit}`)],
        ["Slice", new Variant("s", this.#unit.slice)],
        ["PIDs", new Variant("au", [pid])],
        ["Delegate", new Variant("b", true)],
        ["MemoryAccounting", new Variant("b", true)],
        ["CPUAccounting", new Variant("b", true)],
        [
          this.#host.mode === "v1" || this.#host.mode === "hybrid"
            ? "BlockIOAccounting"
            : "IOAccounting",
          new Variant("b", true),
        ],
        ["TasksAccounting", new Variant("b", true)],
        ["DefaultDependencies", new Variant("b", false)],
        // Device rules come with core's set(), before the init runs anything.
        ...this.#properties({ ...(this.#pending ?? this.#resources ?? {}), devices: [] }, version),
        ...this.#annotations,
      ];
      await this.#start(props);
      this.#started = true;
    }
    try {
      await this.#fs.apply(pid);
    } catch (e) {
      if (
        !this.#user || !(e instanceof CgroupError && e.cause instanceof SyscallError) ||
        e.cause.code !== "EACCES"
      ) {
        throw e;
      }
      // A later pid (exec) outside the user manager's subtree: the user may not move it
      // itself; its manager asks PID 1 to (as `systemd-run --user --scope` from a login session).
      await this.#sd.attachProcessesToUnit(this.#unit.unit, "", [pid]);
    }
    if (this.#pending) {
      const r = this.#pending;
      this.#pending = undefined;
      await this.#fs.set(r);
    }
  }

  /** The scope's directory in a hierarchy systemd itself manages (name=systemd on v1). */
  #systemdDir(): string {
    const p = this.#fs.paths();
    return p["name=systemd"] ?? p[""] ?? Object.values(p)[0] ?? "";
  }

  /**
   * StartTransientUnit. A leftover of the same name (failed, or going away) is reset and
   * tried again a few times; one that stays is another container's: refused.
   */
  async #start(props: UnitProperty[]): Promise<void> {
    for (let attempt = 0;; attempt++) {
      try {
        await this.#sd.startTransientUnit(this.#unit.unit, props);
        return;
      } catch (e) {
        if (!(e instanceof DbusError) || e.dbusName !== "org.freedesktop.systemd1.UnitExists") {
          throw e;
        }
        if (attempt === 3) {
          throw new CgroupError(
            "linux.cgroupsPath",
            `systemd unit ${this.#unit.unit} already exists (another container uses it)`,
            { cause: e },
          );
        }
        await this.#sd.resetFailedUnit(this.#unit.unit);
        if (attempt > 0) await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  /** The unit properties for `resources`, on this host's cgroup version. */
  #properties(resources: LinuxResources, sdVersion: number): UnitProperty[] {
    const v1 = new Set(this.#host.v1.flatMap((m) => m.controllers));
    const v2 = new Set(
      this.#host.mode === "v1" ? [] : [...this.#host.unifiedControllers, "cgroup"],
    );
    const files: CgroupHostFiles = {
      versionOf: (c) => (v1.has(c) ? 1 : v2.has(c) ? 2 : undefined),
      has: () => true,
    };
    const { devices, ...rest } = resources;
    return [
      // A user manager cannot enforce device rules (nor may it try: BPF needs privileges).
      ...(this.#user ? [] : deviceProperties(devices, sdVersion)),
      ...resourceProperties(translateResources(rest, files), sdVersion),
    ];
  }

  /**
   * Sends the resources to systemd as unit properties, then writes the files (so
   * what systemd cannot express is set too). Before the scope exists they wait for
   * `apply()`. On v1 the container is frozen around a device policy change, as runc
   * does, since systemd rewrites device rules disruptively.
   */
  async set(resources: LinuxResources): Promise<void> {
    if (!this.#started) {
      this.#pending = resources;
      return;
    }
    const props = this.#properties(resources, await this.#sd.version());
    const devicesChange = props.some(([n]) => n === "DevicePolicy");
    const freeze = devicesChange && this.#host.mode !== "v2" && !(await this.#fs.frozen());
    if (freeze) await this.#fs.freeze(true).catch(() => {});
    try {
      await this.#sd.setUnitProperties(this.#unit.unit, props);
    } finally {
      if (freeze) await this.#fs.freeze(false).catch(() => {});
    }
    await this.#fs.set(resources);
  }

  freeze(frozen: boolean): Promise<void> {
    return this.#fs.freeze(frozen);
  }

  frozen(): Promise<boolean> {
    return this.#fs.frozen();
  }

  pids(): Promise<number[]> {
    return this.#fs.pids();
  }

  /**
   * Signals every process of the scope; nothing when this manager never started it.
   * systemd removes a scope as soon as its last process is gone, which can be before the
   * thaw after the signal (a fatal signal ends a frozen task at once on cgroup v2): a
   * scope gone by then had every process ended, which is what was asked.
   */
  async killAll(signal: number): Promise<void> {
    if (!this.#started) return;
    try {
      await this.#fs.killAll(signal);
    } catch (e) {
      if (await pathExists(this.#systemdDir())) throw e;
    }
  }

  stats(): Promise<CgroupStats> {
    return this.#fs.stats();
  }

  /**
   * The cgroupfs notifications of the scope. On cgroup v2 systemd removes the scope as soon
   * as an OOM kill ends its last process, which can be before the watcher reads the scope's
   * `memory.events`; when the scope goes, the parent slice's hierarchical `oom_kill` count
   * tells whether that happened (another container of the same slice OOM-killed in that
   * same moment would be reported too).
   */
  events(opts?: { pressure?: PressureLevel; signal?: AbortSignal }): AsyncIterable<CgroupEvent> {
    const inner = this.#fs.events(opts);
    const dir = this.#fs.paths()[""];
    if (this.#host.mode !== "v2" || dir === undefined) return inner;
    const parent = `${dir.slice(0, dir.lastIndexOf("/"))}/memory.events`;
    const kills = () => {
      try {
        return oomKills(Deno.readTextFileSync(parent));
      } catch {
        return undefined;
      }
    };
    return (async function* () {
      const before = kills();
      let seen = false;
      for await (const e of inner) {
        if (e.type === "oom") seen = true;
        yield e;
      }
      if (seen || opts?.signal?.aborted || before === undefined) return;
      if ((kills() ?? before) > before) yield { type: "oom" } as CgroupEvent;
    })();
  }

  exists(): Promise<boolean> {
    if (!this.#started) return Promise.resolve(false);
    return this.#fs.exists();
  }

  /**
   * Stops the unit and waits for its job, then removes every directory left (those
   * systemd did not make, and any it could not remove). When systemd cannot be reached
   * at all (not running, not answering) the directories are still removed and that
   * counts as done, with a warning naming the unit, so `delete --force` cleans up; any other D-Bus error is thrown
   * after the directories are removed. A manager that never started its unit (refused,
   * or another container's) touches nothing.
   */
  async destroy(): Promise<void> {
    // A unit this manager never started (refused, or another container's) is not ours.
    if (!this.#started) return;
    let stopError: unknown;
    try {
      await this.#sd.stopUnit(this.#unit.unit);
    } catch (e) {
      stopError = e;
    }
    this.#started = false;
    await this.#fs.destroy();
    if (stopError === undefined) return;
    if (!unreachable(stopError)) throw stopError;
    this.#warn(
      `${(stopError as Error).message}; the container's processes and cgroups are gone, ` +
        `but systemd may still list ${this.#unit.unit} (systemctl stop ${this.#unit.unit})`,
    );
  }
}

/** PID 1's cgroups, when it is systemd. */
function readSystemdCgroups(): Record<string, string> {
  try {
    return parseProcCgroup(Deno.readTextFileSync("/proc/1/cgroup"));
  } catch {
    return {};
  }
}
