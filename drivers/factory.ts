/**
 * Makes the cgroup manager for a container. The only module that knows the
 * implementations: {@link DRIVERS} maps each driver name to its constructor, and
 * {@link createCgroupManager} picks one for a new container (from the config and the
 * host: v1, hybrid, v2), {@link loadCgroupManager} re-creates the one a container's
 * state names.
 *
 * The systemd driver (with sd-bus and the unit translation) is imported when it is
 * asked for, so a command on a cgroupfs container never loads it: making a manager is
 * asynchronous for that reason, whichever the driver.
 *
 * To add a driver: add its name to `DriverName` in `driver.ts`, its constructor to
 * `DRIVERS` here, and run the contract suite on it (`tests/helpers/driver_contract.ts`).
 *
 * @module
 */

import type { CgroupConfig, CgroupManager, DriverName, DriverState } from "./driver.ts";
import {
  type CgroupHost,
  type CgroupMode,
  checkCgroupOwnership,
  describeCgroupRoot,
  readCgroupHost,
  resolveCgroupPaths,
} from "../cgroups/paths.ts";
import type { DirOps } from "../cgroups/fs.ts";
import { CgroupfsV1Manager } from "./cgroupfs_v1.ts";
import { CgroupfsV2Manager } from "./cgroupfs_v2.ts";
import { NoCgroupManager } from "./none.ts";
import type { UserManager } from "./systemd.ts";
import { CgroupError } from "../errors.ts";
import { isDirectory } from "../util/fs.ts";

/** Options for {@link createCgroupManager}. */
export interface CreateCgroupManagerOptions {
  /**
   * A directory laid out like `/sys/fs/cgroup` to use instead of the host's mounts
   * (see `describeCgroupRoot`); the runtime's own cgroup is then its root.
   */
  root?: string;
  /** Use this mode instead of the detected one (`v1` on a hybrid host ignores the unified tree). */
  mode?: CgroupMode;
  /** A complete host description (tests); wins over `root`. */
  host?: CgroupHost;
  /** mkdir/rmdir seam for tests on temp trees. */
  dirOps?: DirOps;
  /** The runtime's uid, for the rootless delegation check; default `Deno.uid()`. */
  uid?: number;
  /** Receives a driver's warnings (the systemd driver's, when systemd cannot be told). */
  onWarning?: (msg: string) => void;
  /** Where to look for the user's systemd manager instead of `$XDG_RUNTIME_DIR` (tests). */
  userRuntimeDir?: string;
}

/** Whether the host was booted with systemd (`sd_booted(3)`: `/run/systemd/system` is a directory). */
function systemdBooted(): boolean {
  return isDirectory("/run/systemd/system");
}

/** Adjusts `host` to a forced mode. */
function forceMode(host: CgroupHost, mode: CgroupMode): CgroupHost {
  if (mode === host.mode) return host;
  if (mode === "v1") {
    if (host.v1.length === 0) {
      throw new Error("cgroup mode v1 requested, but no v1 hierarchy is mounted");
    }
    const { unified: _, ...rest } = host;
    return { ...rest, mode: "v1", unifiedControllers: [] };
  }
  if (!host.unified) {
    throw new Error(`cgroup mode ${mode} requested, but no cgroup2 tree is mounted`);
  }
  if (mode === "v2") return { ...host, mode: "v2", v1: [] };
  if (host.v1.length === 0) {
    throw new Error("cgroup mode hybrid requested, but no v1 hierarchy is mounted");
  }
  return { ...host, mode: "hybrid" };
}

/**
 * Whether an unprivileged runtime may create the container's cgroup: the nearest
 * existing ancestor of its directory must belong to this user (cgroup delegation).
 */
function delegated(paths: Record<string, string>, uid: number | null): boolean {
  if (uid === null || uid === 0) return true;
  const dir = paths[""] ?? paths.memory ?? Object.values(paths)[0];
  if (dir === undefined) return false;
  for (let d = dir; d !== "" && d !== "/"; d = d.slice(0, d.lastIndexOf("/"))) {
    try {
      return Deno.statSync(d).uid === uid;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) return false;
    }
  }
  return false;
}

/**
 * The calling user's own systemd manager (`systemd --user`), when one can hold this
 * user's containers: a cgroup v2 host, the manager's socket (see `userManagerAddress`)
 * and its cgroup `/user.slice/user-<uid>.slice/user@<uid>.service` owned by the user
 * (systemd delegates it). Otherwise the reason there is none.
 */
export async function findUserManager(
  host: CgroupHost,
  uid: number | null,
  runtimeDir?: string,
): Promise<{ manager: UserManager } | { reason: string }> {
  if (uid === null || uid === 0) return { reason: "root uses the system's manager" };
  if (host.mode !== "v2" || !host.unified) {
    return {
      reason: `systemd user managers get cgroups on cgroup v2 only (this host is ${host.mode})`,
    };
  }
  if (host.unified.root !== "/") {
    return { reason: "this cgroup2 mount is not the host's root (a cgroup namespace)" };
  }
  const { userManagerAddress } = await import("./systemd_dbus.ts");
  const at = userManagerAddress({ uid, ...(runtimeDir !== undefined ? { runtimeDir } : {}) });
  if (!at) {
    return {
      reason: `no systemd user manager for uid ${uid} (no $XDG_RUNTIME_DIR/systemd/private, ` +
        "user bus or $DBUS_SESSION_BUS_ADDRESS; loginctl enable-linger starts one)",
    };
  }
  const cgroup = `/user.slice/user-${uid}.slice/user@${uid}.service`;
  try {
    if (Deno.statSync(`${host.unified.mountPoint}${cgroup}`).uid !== uid) {
      return { reason: `${cgroup} is not delegated to uid ${uid}` };
    }
  } catch {
    return { reason: `the user manager's cgroup ${cgroup} does not exist` };
  }
  return { manager: { address: at.address, cgroup } };
}

let saidUserManager = false;

/** What a driver constructor gets besides the container's {@link CgroupConfig}. */
export interface DriverContext {
  /** The host's cgroup layout (read on first call, or the one the options gave). */
  host(): CgroupHost;
  /** The state a manager saved (`CgroupManager.saved()`), when re-creating it for a later command. */
  saved?: DriverState;
  /** mkdir/rmdir seam for tests on temp trees. */
  dirOps?: DirOps;
  /** The runtime's uid (`null` where the platform has none). */
  uid: number | null;
  /** Receives the driver's warnings. */
  warn?: (msg: string) => void;
  /** Where to look for the user's systemd manager instead of `$XDG_RUNTIME_DIR` (tests). */
  userRuntimeDir?: string;
}

/**
 * Makes a manager of one driver. Nothing may be created before `create()`/`apply()`. A
 * driver whose code is large and rarely used may import it here (hence the promise).
 */
export type DriverConstructor = (
  config: CgroupConfig,
  ctx: DriverContext,
) => CgroupManager | Promise<CgroupManager>;

/** The layout a container sees on a host mode, when nothing is bound. */
function hostLayout(ctx: DriverContext): "v1" | "v2" | "none" {
  try {
    return ctx.host().mode === "v2" ? "v2" : "v1";
  } catch {
    return "none"; // no cgroups mounted at all
  }
}

/**
 * The registered drivers: the one place that knows the implementations. A driver
 * registers by adding its constructor here (and its name to `DriverName`).
 */
export const DRIVERS: Readonly<Record<DriverName, DriverConstructor>> = Object.freeze({
  cgroupfs: (config, ctx) => {
    // A later command's manager has its paths: the host's layout (mountinfo, the process's
    // own cgroups) is read only if a verb needs it; the paths say v2 (the unified tree
    // alone) or v1/hybrid (a directory per hierarchy).
    if (ctx.saved) {
      const saved = ctx.saved;
      const keys = Object.keys(saved.paths);
      const v2 = keys.length > 0 ? keys.every((k) => k === "") : ctx.host().mode === "v2";
      const common = {
        config,
        host: ctx.host,
        ...(saved.created ? { created: saved.created } : {}),
        paths: saved.paths,
        ...(ctx.dirOps ? { dirOps: ctx.dirOps } : {}),
      };
      return v2 ? new CgroupfsV2Manager(common) : new CgroupfsV1Manager(common);
    }
    const host = ctx.host();
    const paths = resolveCgroupPaths(host, config);
    // A new container's cgroup is one made for it (or handed over below the runtime's own).
    checkCgroupOwnership(host, config, undefined, paths);
    const common = { config, host, paths, ...(ctx.dirOps ? { dirOps: ctx.dirOps } : {}) };
    return host.mode === "v2" ? new CgroupfsV2Manager(common) : new CgroupfsV1Manager(common);
  },
  none: (_config, ctx) => new NoCgroupManager({ layout: ctx.saved ? "none" : hostLayout(ctx) }),
  systemd: async (config, ctx) => {
    let userManager: UserManager | undefined;
    if (!ctx.saved && (config.rootless || (ctx.uid !== null && ctx.uid !== 0))) {
      // Unprivileged, as runc: the user's own manager.
      const found = await findUserManager(ctx.host(), ctx.uid, ctx.userRuntimeDir);
      if ("reason" in found) {
        throw new CgroupError(
          "--systemd-cgroup",
          `cannot use the systemd cgroup driver as uid ${ctx.uid}: ${found.reason}`,
        );
      }
      userManager = found.manager;
      config = { ...config, rootless: true };
    } else if (!ctx.saved && !systemdBooted()) {
      throw new CgroupError(
        "--systemd-cgroup",
        "systemd is not running on this host (no /run/systemd/system): cannot use the systemd cgroup driver",
      );
    }
    const { SystemdManager } = await import("./systemd.ts");
    return new SystemdManager({
      config,
      host: ctx.host(),
      ...(ctx.saved ? { saved: ctx.saved } : {}),
      ...(ctx.dirOps ? { dirOps: ctx.dirOps } : {}),
      ...(ctx.warn ? { onWarning: ctx.warn } : {}),
      ...(userManager ? { userManager } : {}),
    });
  },
});

function context(opts: CreateCgroupManagerOptions, saved?: DriverState): DriverContext {
  let host: CgroupHost | undefined;
  return {
    host: () => {
      if (host === undefined) {
        host = opts.host ??
          (opts.root !== undefined ? describeCgroupRoot(opts.root) : readCgroupHost());
        if (opts.mode) host = forceMode(host, opts.mode);
      }
      return host;
    },
    ...(saved ? { saved } : {}),
    ...(opts.dirOps ? { dirOps: opts.dirOps } : {}),
    uid: opts.uid ?? Deno.uid(),
    ...(opts.onWarning ? { warn: opts.onWarning } : {}),
    ...(opts.userRuntimeDir !== undefined ? { userRuntimeDir: opts.userRuntimeDir } : {}),
  };
}

/**
 * Makes the manager for a new container's cgroups. Nothing is created until
 * `create()`/`apply()`.
 *
 * - `driver` given: that driver (`systemd`: a transient scope per container; a
 *   `CgroupError` naming `--systemd-cgroup` when systemd is not running).
 * - `driver: "systemd"` unprivileged: a scope of the user's own manager
 *   (`systemd --user`, see {@link findUserManager}), as runc's `--systemd-cgroup` rootless.
 * - rootless with no `cgroupsPath`: a delegated cgroup directory (the one the runtime
 *   runs in, owned by the user) when there is one (`cgroupfs`); else the user's systemd
 *   manager when it is there (`systemd`; said once per process through `onWarning`);
 *   else `none`, a manager without cgroups, which refuses resource limits.
 * - otherwise `cgroupfs`: v1/hybrid or v2 by the host's (or the forced) mode.
 *
 * @example A v2 manager on a fake root
 * ```ts
 * import assert from "node:assert/strict";
 * import { createCgroupManager } from "./factory.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/cgroup.controllers`, "cpu memory\n");
 * const m = await createCgroupManager({ id: "c1" }, { root });
 * assert.equal(m.driver, "cgroupfs");
 * assert.deepEqual(m.view(), { layout: "v2", mounts: { "": `${root}/c1` } });
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function createCgroupManager(
  config: CgroupConfig,
  opts: CreateCgroupManagerOptions = {},
): Promise<CgroupManager> {
  const ctx = context(opts);
  let name = config.driver;
  if (name === undefined) {
    name = "cgroupfs";
    if (
      config.rootless && !config.cgroupsPath &&
      !delegated(resolveCgroupPaths(ctx.host(), config), ctx.uid)
    ) {
      name = "none";
      const found = ctx.uid === 0
        ? undefined
        : await findUserManager(ctx.host(), ctx.uid, ctx.userRuntimeDir);
      if (found && "manager" in found) {
        const m = await DRIVERS.systemd({ ...config, driver: "systemd" }, ctx);
        if (!saidUserManager && ctx.warn) {
          saidUserManager = true;
          ctx.warn(
            `cgroups: no delegated cgroup directory is writable by uid ${ctx.uid}; using the ` +
              `systemd user manager at ${found.manager.address} (a transient scope in user.slice)`,
          );
        }
        return m;
      }
    }
  }
  return await DRIVERS[name](config, ctx);
}

/**
 * Re-creates the manager a container's state names (`CgroupManager.saved()` of the
 * manager that created it), for every command after `create`: it sees the same
 * paths and removes what the first one created.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCgroupManager } from "./factory.ts";
 * const m = await loadCgroupManager({ id: "c1" }, { driver: "none", paths: {} });
 * assert.equal(m.driver, "none");
 * await assert.rejects(loadCgroupManager({ id: "c1" }, { driver: "zzz" as "none", paths: {} }), /unknown cgroup driver "zzz"/);
 * ```
 */
export async function loadCgroupManager(
  config: CgroupConfig,
  saved: DriverState,
  opts: CreateCgroupManagerOptions = {},
): Promise<CgroupManager> {
  const make = Object.hasOwn(DRIVERS, saved.driver) ? DRIVERS[saved.driver] : undefined;
  if (!make) {
    throw new Error(
      `container "${config.id}": the state names an unknown cgroup driver "${saved.driver}"`,
    );
  }
  return await make({ ...config, driver: saved.driver }, context(opts, saved));
}
