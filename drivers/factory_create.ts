/**
 * What `drivers/factory.ts` needs only to make the manager of a new container: the
 * choice of the driver for a rootless container (a delegated cgroup, the user's systemd
 * manager, or none), the cgroupfs paths and the check that the cgroup is the container's
 * own, and the systemd driver's checks. `factory.ts` imports it when a container is
 * created, so the commands on an existing container never load it.
 *
 * @module
 */

import type { CgroupConfig, CgroupManager, DriverName } from "./driver.ts";
import type { DriverConstructor, DriverContext } from "./factory.ts";
import type { CgroupHost } from "../cgroups/paths.ts";
import { CgroupfsV1Manager } from "./cgroupfs_v1.ts";
import { CgroupfsV2Manager } from "./cgroupfs_v2.ts";
import type { UserManager } from "./systemd.ts";
import { CgroupError } from "../errors.ts";
import { isDirectory } from "../util/fs.ts";

/**
 * `cgroups/paths.ts`, imported (not bundled into the create chunk: a `kill --all` or
 * `delete --force` reads the host's layout with it too, through `DriverContext.host`).
 */
function pathsModule(): Promise<typeof import("../cgroups/paths.ts")> {
  return import("../cgroups/paths.ts");
}

/** Whether the host was booted with systemd (`sd_booted(3)`: `/run/systemd/system` is a directory). */
function systemdBooted(): boolean {
  return isDirectory("/run/systemd/system");
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
 *
 * @example Root never uses a user manager
 * ```ts
 * import assert from "node:assert/strict";
 * import { findUserManager } from "./factory_create.ts";
 * const host = { mode: "v2" as const, v1: [], unifiedControllers: [], own: {} };
 * assert.deepEqual(await findUserManager(host, 0), { reason: "root uses the system's manager" });
 * ```
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

/** The layout a new container sees on the host's mode, when nothing is bound (the `none` driver). */
export async function hostLayout(ctx: DriverContext): Promise<"v1" | "v2" | "none"> {
  try {
    return (await ctx.host()).mode === "v2" ? "v2" : "v1";
  } catch {
    return "none"; // no cgroups mounted at all
  }
}

/** The cgroupfs manager of a new container: its paths, checked to be its own. */
export async function newCgroupfs(
  config: CgroupConfig,
  ctx: DriverContext,
): Promise<CgroupManager> {
  const host = await ctx.host();
  const { checkCgroupOwnership, resolveCgroupPaths } = await pathsModule();
  const paths = resolveCgroupPaths(host, config);
  // A new container's cgroup is one made for it (or handed over below the runtime's own).
  checkCgroupOwnership(host, config, undefined, paths);
  const common = { config, host, paths, ...(ctx.dirOps ? { dirOps: ctx.dirOps } : {}) };
  return host.mode === "v2" ? new CgroupfsV2Manager(common) : new CgroupfsV1Manager(common);
}

/**
 * The systemd driver's checks for a new container: unprivileged, as runc, the user's own
 * manager (the config then says rootless); otherwise systemd must be running.
 */
export async function systemdFor(
  config: CgroupConfig,
  ctx: DriverContext,
): Promise<{ config: CgroupConfig; userManager?: UserManager }> {
  if (config.rootless || (ctx.uid !== null && ctx.uid !== 0)) {
    const found = await findUserManager(await ctx.host(), ctx.uid, ctx.userRuntimeDir);
    if ("reason" in found) {
      throw new CgroupError(
        "--systemd-cgroup",
        `cannot use the systemd cgroup driver as uid ${ctx.uid}: ${found.reason}`,
      );
    }
    return { config: { ...config, rootless: true }, userManager: found.manager };
  }
  if (!systemdBooted()) {
    throw new CgroupError(
      "--systemd-cgroup",
      "systemd is not running on this host (no /run/systemd/system): cannot use the systemd cgroup driver",
    );
  }
  return { config };
}

/** `createCgroupManager` of `factory.ts` (see there), given its context and the drivers. */
export async function createManager(
  config: CgroupConfig,
  ctx: DriverContext,
  drivers: Readonly<Record<DriverName, DriverConstructor>>,
): Promise<CgroupManager> {
  let name = config.driver;
  if (name === undefined) {
    name = "cgroupfs";
    if (
      config.rootless && !config.cgroupsPath &&
      !delegated((await pathsModule()).resolveCgroupPaths(await ctx.host(), config), ctx.uid)
    ) {
      name = "none";
      const found = ctx.uid === 0
        ? undefined
        : await findUserManager(await ctx.host(), ctx.uid, ctx.userRuntimeDir);
      if (found && "manager" in found) {
        const m = await drivers.systemd({ ...config, driver: "systemd" }, ctx);
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
  return await drivers[name](config, ctx);
}
