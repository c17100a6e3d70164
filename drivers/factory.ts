/**
 * Makes the cgroup manager for a container. The only module that knows the
 * implementations: it detects the host (v1, hybrid, v2) and picks one.
 *
 * @module
 */

import type { CgroupConfig, CgroupManager } from "./driver.ts";
import {
  type CgroupHost,
  type CgroupMode,
  describeCgroupRoot,
  readCgroupHost,
  resolveCgroupPaths,
} from "../cgroups/paths.ts";
import type { DirOps } from "../cgroups/fs.ts";
import { CgroupfsV1Manager } from "./cgroupfs_v1.ts";
import { CgroupfsV2Manager } from "./cgroupfs_v2.ts";
import { NoCgroupManager } from "./none.ts";
import { SystemdManager } from "./systemd.ts";
import type { SystemdClient } from "./systemd_dbus.ts";
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
  /** Directories an earlier `apply()` created, from saved state. */
  created?: string[];
  /** Paths saved in state by the manager that created the cgroup (they depend on that runtime's own cgroup). */
  paths?: Record<string, string>;
  /** mkdir/rmdir seam for tests on temp trees. */
  dirOps?: DirOps;
  /** The runtime's uid, for the rootless delegation check; default `Deno.uid()`. */
  uid?: number;
  /** The systemd driver's D-Bus client (tests pass a fake); default the shared connection. */
  systemdClient?: SystemdClient;
  /** PID 1's cgroups for the systemd driver (tests); default `/proc/1/cgroup`. */
  systemdCgroups?: Record<string, string>;
  /** Receives warnings (the systemd driver's, when systemd does not answer a stop). */
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

/**
 * Makes the manager for one container's cgroups. Nothing is created until `apply()`.
 *
 * - `systemd: true`: a transient scope unit per container (`drivers/systemd.ts`); a
 *   `CgroupError` naming `--systemd-cgroup` when systemd is not running.
 * - rootless with no `cgroupsPath` and no delegated cgroup: a manager without
 *   cgroups, which refuses resource limits.
 * - otherwise cgroupfs: v1/hybrid or v2 by the host's (or the forced) mode.
 *
 * @example A v2 manager on a fake root
 * ```ts
 * import { createCgroupManager } from "./factory.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/cgroup.controllers`, "cpu memory\n");
 * const m = createCgroupManager({ id: "c1" }, { root });
 * console.assert(m.kind === "cgroupfs-v2" && m.paths()[""] === `${root}/c1`);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function createCgroupManager(
  config: CgroupConfig,
  opts: CreateCgroupManagerOptions = {},
): CgroupManager {
  let host = opts.host ??
    (opts.root !== undefined ? describeCgroupRoot(opts.root) : readCgroupHost());
  if (opts.mode) host = forceMode(host, opts.mode);
  if (config.systemd) {
    if (!opts.systemdClient && !systemdBooted()) {
      throw new CgroupError(
        "--systemd-cgroup",
        "systemd is not running on this host (no /run/systemd/system): cannot use the systemd cgroup driver",
      );
    }
    return new SystemdManager({
      config,
      host,
      ...(config.annotations ? { annotations: config.annotations } : {}),
      ...(opts.systemdClient ? { client: opts.systemdClient } : {}),
      ...(opts.systemdCgroups ? { systemdCgroups: opts.systemdCgroups } : {}),
      ...(opts.paths ? { paths: opts.paths } : {}),
      ...(opts.created ? { created: opts.created } : {}),
      ...(opts.dirOps ? { dirOps: opts.dirOps } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    });
  }
  if (
    config.rootless && !config.cgroupsPath &&
    !delegated(resolveCgroupPaths(host, config), opts.uid ?? Deno.uid())
  ) {
    return new NoCgroupManager();
  }
  const common = {
    config,
    host,
    ...(opts.created ? { created: opts.created } : {}),
    ...(opts.paths ? { paths: opts.paths } : {}),
    ...(opts.dirOps ? { dirOps: opts.dirOps } : {}),
  };
  return host.mode === "v2" ? new CgroupfsV2Manager(common) : new CgroupfsV1Manager(common);
}
