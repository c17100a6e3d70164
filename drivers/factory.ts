/**
 * Makes the cgroup manager for a container. The only module that knows the
 * implementations (with `factory_create.ts`, its part for new containers): {@link DRIVERS} maps each driver name to its constructor, and
 * {@link createCgroupManager} picks one for a new container (from the config and the
 * host: v1, hybrid, v2), {@link loadCgroupManager} re-creates the one a container's
 * state names. What only a new container needs (the driver's choice for a rootless one,
 * the paths' ownership check, the user's systemd manager) is in `factory_create.ts`,
 * imported when a container is created.
 *
 * The systemd driver (with sd-bus and the unit translation) is imported when it is
 * asked for, so a command on a cgroupfs container never loads it: making a manager is
 * asynchronous for that reason, whichever the driver. So is the host's cgroup layout
 * (`DriverContext.host()`, which imports `cgroups/paths.ts`): a manager made from saved
 * state reads it only for a verb that needs it (`kill --all`, `delete --force`).
 *
 * To add a driver: add its name to `DriverName` in `driver.ts`, its constructor to
 * `DRIVERS` here, and run the contract suite on it (`tests/helpers/driver_contract.ts`).
 *
 * @module
 */

import type { CgroupConfig, CgroupManager, DriverName, DriverState } from "./driver.ts";
import type { CgroupHost, CgroupMode } from "../cgroups/paths.ts";
import type { DirOps } from "../cgroups/fs_base.ts";
import { CgroupfsV1Manager } from "./cgroupfs_v1.ts";
import { CgroupfsV2Manager } from "./cgroupfs_v2.ts";
import { NoCgroupManager } from "./none.ts";
import type { UserManager } from "./systemd.ts";

/**
 * What only a new container's manager needs (`factory_create.ts`: picking the driver, the
 * paths and the ownership check, the user's systemd manager), imported when one is made:
 * the commands on an existing container never load it.
 */
let createModule: Promise<typeof import("./factory_create.ts")> | undefined;

/** {@link createModule}, imported on first use. */
function factoryCreate(): Promise<typeof import("./factory_create.ts")> {
  return createModule ??= import("./factory_create.ts");
}

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

/** What a driver constructor gets besides the container's {@link CgroupConfig}. */
export interface DriverContext {
  /**
   * The host's cgroup layout (read on first call, or the one the options gave). Reading it
   * imports `cgroups/paths.ts`, which the commands on an existing container never load.
   */
  host(): Promise<CgroupHost>;
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
      const common = {
        config,
        host: ctx.host,
        ...(saved.created ? { created: saved.created } : {}),
        paths: saved.paths,
        ...(ctx.dirOps ? { dirOps: ctx.dirOps } : {}),
      };
      const keys = Object.keys(saved.paths);
      if (keys.length > 0) {
        return keys.every((k) => k === "")
          ? new CgroupfsV2Manager(common)
          : new CgroupfsV1Manager(common);
      }
      // No paths saved: the host's mode says which, a v2 manager's directory is resolved.
      return ctx.host().then(async (host) => {
        if (host.mode !== "v2") return new CgroupfsV1Manager(common);
        const { resolveCgroupPaths } = await import("../cgroups/paths.ts");
        return new CgroupfsV2Manager({ ...common, paths: resolveCgroupPaths(host, config) });
      });
    }
    return factoryCreate().then((m) => m.newCgroupfs(config, ctx));
  },
  none: async (_config, ctx) =>
    new NoCgroupManager({
      layout: ctx.saved ? "none" : await (await factoryCreate()).hostLayout(ctx),
    }),
  systemd: async (config, ctx) => {
    let userManager: UserManager | undefined;
    if (!ctx.saved) {
      ({ config, userManager } = await (await factoryCreate()).systemdFor(config, ctx));
    }
    const { SystemdManager } = await import("./systemd.ts");
    return new SystemdManager({
      config,
      host: await ctx.host(),
      ...(ctx.saved ? { saved: ctx.saved } : {}),
      ...(ctx.dirOps ? { dirOps: ctx.dirOps } : {}),
      ...(ctx.warn ? { onWarning: ctx.warn } : {}),
      ...(userManager ? { userManager } : {}),
    });
  },
});

/** The host's layout as `opts` say (imports `cgroups/paths.ts`). */
async function readHost(opts: CreateCgroupManagerOptions): Promise<CgroupHost> {
  const { describeCgroupRoot, forceCgroupMode, readCgroupHost } = await import(
    "../cgroups/paths.ts"
  );
  const host = opts.host ??
    (opts.root !== undefined ? describeCgroupRoot(opts.root) : readCgroupHost());
  return opts.mode ? forceCgroupMode(host, opts.mode) : host;
}

function context(opts: CreateCgroupManagerOptions, saved?: DriverState): DriverContext {
  let host: Promise<CgroupHost> | undefined;
  return {
    // Read again after a failure, as on the first call.
    host: () =>
      host ??= readHost(opts).catch((e) => {
        host = undefined;
        throw e;
      }),
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
  const { createManager } = await factoryCreate();
  return await createManager(config, context(opts), DRIVERS);
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
