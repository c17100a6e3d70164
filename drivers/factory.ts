/**
 * Makes the cgroup manager for a container. The only module that knows the
 * implementations: {@link DRIVERS} maps each driver name to its constructor, and
 * {@link createCgroupManager} picks one for a new container (from the config and the
 * host: v1, hybrid, v2), {@link loadCgroupManager} re-creates the one a container's
 * state names.
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
import { SystemdManager } from "./systemd.ts";
import { CgroupError } from "../errors.ts";

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
}

/** Whether the host was booted with systemd (`sd_booted(3)`: `/run/systemd/system` is a directory). */
function systemdBooted(): boolean {
  try {
    return Deno.statSync("/run/systemd/system").isDirectory;
  } catch {
    return false;
  }
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
}

/** Makes a manager of one driver. Nothing may be created before `create()`/`apply()`. */
export type DriverConstructor = (config: CgroupConfig, ctx: DriverContext) => CgroupManager;

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
    const host = ctx.host();
    // A new container's cgroup is one made for it (or handed over below the runtime's own).
    if (!ctx.saved) checkCgroupOwnership(host, config);
    const common = {
      config,
      host,
      ...(ctx.saved?.created ? { created: ctx.saved.created } : {}),
      ...(ctx.saved ? { paths: ctx.saved.paths } : {}),
      ...(ctx.dirOps ? { dirOps: ctx.dirOps } : {}),
    };
    return host.mode === "v2" ? new CgroupfsV2Manager(common) : new CgroupfsV1Manager(common);
  },
  none: (_config, ctx) => new NoCgroupManager({ layout: ctx.saved ? "none" : hostLayout(ctx) }),
  systemd: (config, ctx) => {
    if (!ctx.saved && !systemdBooted()) {
      throw new CgroupError(
        "--systemd-cgroup",
        "systemd is not running on this host (no /run/systemd/system): cannot use the systemd cgroup driver",
      );
    }
    return new SystemdManager({
      config,
      host: ctx.host(),
      ...(ctx.saved ? { saved: ctx.saved } : {}),
      ...(ctx.dirOps ? { dirOps: ctx.dirOps } : {}),
      ...(ctx.warn ? { onWarning: ctx.warn } : {}),
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
  };
}

/**
 * Makes the manager for a new container's cgroups. Nothing is created until
 * `create()`/`apply()`.
 *
 * - `driver` given: that driver (`systemd`: a transient scope per container; a
 *   `CgroupError` naming `--systemd-cgroup` when systemd is not running).
 * - rootless with no `cgroupsPath` and no delegated cgroup: `none`, a manager
 *   without cgroups, which refuses resource limits.
 * - otherwise `cgroupfs`: v1/hybrid or v2 by the host's (or the forced) mode.
 *
 * @example A v2 manager on a fake root
 * ```ts
 * import assert from "node:assert/strict";
 * import { createCgroupManager } from "./factory.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/cgroup.controllers`, "cpu memory\n");
 * const m = createCgroupManager({ id: "c1" }, { root });
 * assert.equal(m.driver, "cgroupfs");
 * assert.deepEqual(m.view(), { layout: "v2", mounts: { "": `${root}/c1` } });
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function createCgroupManager(
  config: CgroupConfig,
  opts: CreateCgroupManagerOptions = {},
): CgroupManager {
  const ctx = context(opts);
  let name = config.driver;
  if (name === undefined) {
    name = config.rootless && !config.cgroupsPath &&
        !delegated(resolveCgroupPaths(ctx.host(), config), ctx.uid)
      ? "none"
      : "cgroupfs";
  }
  return DRIVERS[name](config, ctx);
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
 * const m = loadCgroupManager({ id: "c1" }, { driver: "none", paths: {} });
 * assert.equal(m.driver, "none");
 * assert.throws(() => loadCgroupManager({ id: "c1" }, { driver: "zzz" as "none", paths: {} }), /unknown cgroup driver "zzz"/);
 * ```
 */
export function loadCgroupManager(
  config: CgroupConfig,
  saved: DriverState,
  opts: CreateCgroupManagerOptions = {},
): CgroupManager {
  const make = Object.hasOwn(DRIVERS, saved.driver) ? DRIVERS[saved.driver] : undefined;
  if (!make) {
    throw new Error(
      `container "${config.id}": the state names an unknown cgroup driver "${saved.driver}"`,
    );
  }
  return make({ ...config, driver: saved.driver }, context(opts, saved));
}
