/**
 * Checkpoint and restore options (libcontainer's `CriuOpts`, go-runc's
 * `CheckpointOpts`/`RestoreOpts`), progress events, and the pure translation of
 * a container's spec into what CRIU must treat as external (bind mounts, masked
 * files, device nodes, cgroup binds, namespaces joined by path).
 *
 * @module
 */

import type { Spec } from "../spec/config.ts";
import { DEFAULT_DEVICES } from "../core/init_plan.ts";
import { join } from "../util/path.ts";
import type { CgroupView } from "../drivers/driver.ts";
import { ConfigError } from "../errors.ts";

/** runc's `--manage-cgroups-mode` values. */
export type ManageCgroupsMode = "soft" | "full" | "strict" | "ignore";

/** Where CRIU is and how it logs: shared by checkpoint and restore. */
export interface CriuCommonOptions {
  /** The images directory (created by a checkpoint; read by a restore). */
  imagePath: string;
  /** Where CRIU writes its log and work files (default: the images directory). */
  workPath?: string;
  /** The criu binary (runc's `--criu`); default `$NSINIT_CRIU`, then `criu` on PATH. */
  criu?: string;
  /** Keep established TCP connections (`--tcp-established`). */
  tcpEstablished?: boolean;
  /** Allow external unix sockets (`--ext-unix-sk`). */
  extUnixSk?: boolean;
  /** The container runs from a shell with a job-controlled terminal (`--shell-job`). */
  shellJob?: boolean;
  /** Dump and restore file locks (`--file-locks`). */
  fileLocks?: boolean;
  /** How CRIU treats cgroups (`--manage-cgroups-mode`); default CRIU's (soft). */
  manageCgroupsMode?: ManageCgroupsMode;
  /** Namespaces CRIU must not dump or restore, only create empty (`--empty-ns network`). */
  emptyNs?: string[];
  /** Deduplicate pages against the parent images (`--auto-dedup`). */
  autoDedup?: boolean;
  /**
   * Lazy migration (`--lazy-pages`). A checkpoint dumps everything but the memory, then serves
   * the pages from `pageServer` (which it listens on) until a restore has fetched them all, and
   * only then resolves (the container is stopped then). A restore takes its pages from a
   * `criu lazy-pages` daemon whose work directory is the images directory.
   */
  lazyPages?: boolean;
  /**
   * How CRIU locks the network during the operation: CRIU's default is `iptables` (it runs
   * iptables-restore); `nftables`, or `skip` for containers without a network to protect.
   * (Through the RPC: CRIU 4.1.1 crashes on `network-lock` in a configuration file.)
   */
  networkLock?: "iptables" | "nftables" | "skip";
  /** Progress events (phase, pages, bytes, elapsed). */
  onProgress?: (p: CriuProgress) => void;
}

/** Options for {@link Container.checkpoint}. */
export interface CheckpointOptions extends CriuCommonOptions {
  /** Leave the container running after the dump (`--leave-running`). */
  leaveRunning?: boolean;
  /** A pre-dump: memory only, the container keeps running (`--pre-dump`). */
  preDump?: boolean;
  /** Images of an earlier pre-dump, relative to imagePath or absolute (`--parent-path`). */
  parentPath?: string;
  /**
   * `ADDRESS:PORT` (`--page-server`): without `lazyPages`, the page server (`criu page-server`)
   * the pages are sent to instead of `imagePath`; with `lazyPages`, where this checkpoint serves
   * them to `criu lazy-pages`.
   */
  pageServer?: string;
  /**
   * With `lazyPages`: a raw fd of this process (runc's `--status-fd`) that gets one `\0` byte
   * when the pages can be fetched, and is closed then (or when the checkpoint ends). It must be
   * open for writing: checked before any work.
   */
  statusFd?: number;
  /**
   * With `lazyPages`: called once when the pages can be fetched (CRIU's `status-ready`): the
   * moment to start `criu lazy-pages` and the restore, while this checkpoint still runs.
   */
  onLazyPagesReady?: () => void | Promise<void>;
}

/** Options for {@link Factory.restore}. */
export interface RestoreOptions extends CriuCommonOptions {
  /** The bundle; default the one saved beside the images. */
  bundle?: string;
  /** The spec; default `<bundle>/config.json`, else the one saved beside the images. */
  spec?: Spec;
  /** Standard streams of the restored process (pipes it had are reconnected to these). */
  stdio?: import("../core/stdio.ts").StdioOptions;
  /** Receives the new pty master of a container that had a terminal (`--console-socket`). */
  onPty?: (fd: number) => void;
  /** Accepted for runc compatibility; CRIU restores the mount namespace itself. */
  noPivot?: boolean;
  /**
   * The LSM profile the restored processes get instead of the one in the images
   * (`--lsm-profile`): `apparmor:PROFILE` or `selinux:LABEL`, CRIU's format. Refused up front
   * when the host does not run that LSM. CRIU replaces a dumped AppArmor profile: a process
   * dumped unconfined is restored unconfined.
   */
  lsmProfile?: string;
  /**
   * The SELinux context CRIU mounts the restored mounts with (`--lsm-mount-context`), e.g.
   * `system_u:object_r:container_file_t:s0:c82,c137`. Refused up front without SELinux.
   */
  lsmMountContext?: string;
  /** Use the systemd cgroup driver. */
  systemdCgroup?: boolean;
}

/** Progress of a dump or restore, for a terminal line or a UI. */
export interface CriuProgress {
  /** `start`, a CRIU notification name (`pre-dump`, `post-dump`, `post-restore`, ...), or `done`. */
  phase: string;
  /** The request: `dump`, `pre-dump` or `restore`. */
  operation: "dump" | "pre-dump" | "restore";
  /** Pages (4 KiB) in the images' page files so far. */
  pages: number;
  /** Bytes of every image file so far. */
  bytes: number;
  /** Milliseconds since the operation started. */
  elapsedMs: number;
}

/** Files nsinit keeps beside CRIU's images. */
export const SAVED = {
  /** The container's spec at checkpoint time. */
  config: "nsinit-config.json",
  /** The container's nsinit state at checkpoint time. */
  state: "nsinit-state.json",
  /** What the init's fds 0-2 were (runc's descriptors.json). */
  descriptors: "descriptors.json",
} as const;

/** One `ext_mnt` entry for CRIU. */
export interface ExtMount {
  /** The mount point inside the container. */
  key: string;
  /** dump: the same path; restore: the source on the host. */
  val: string;
}

/**
 * What CRIU must treat as external mounts, as runc describes them: bind mounts,
 * the cgroup binds of a v1/hybrid `cgroup` mount without a cgroup namespace,
 * masked files (bound from /dev/null), and device nodes. For `dump` the value is
 * the mount point itself (a key); for `restore` the host source to bind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { externalMounts } from "./options.ts";
 * const spec = { ociVersion: "1.0.2", mounts: [{ destination: "/data", source: "/srv/d", type: "bind" }] };
 * const view = { layout: "v1" as const, mounts: {} };
 * const m = externalMounts(spec, { mode: "restore", bundle: "/b", cgroupView: view, devices: false });
 * assert.equal(m[0].key, "/data");
 * assert.equal(m[0].val, "/srv/d");
 * ```
 */
export function externalMounts(
  spec: Spec,
  opts: {
    mode: "dump" | "restore";
    bundle: string;
    /** The driver's view of the container's cgroup mount (layout, sub-directory to source). */
    cgroupView: CgroupView;
    /** Masked files that exist (dump: checked in the running container). */
    maskedFiles?: string[];
    /** Include the device nodes (default true). */
    devices?: boolean;
  },
): ExtMount[] {
  const out: ExtMount[] = [];
  const add = (key: string, source: string) => {
    if (out.some((m) => m.key === key)) return;
    out.push({ key, val: opts.mode === "dump" ? key : source });
  };
  const cgroupns = (spec.linux?.namespaces ?? []).some((n) => n.type === "cgroup");
  for (const m of spec.mounts ?? []) {
    const bind = m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
    if (bind) {
      const src = m.source ?? "";
      add(m.destination, src.startsWith("/") ? src : join(opts.bundle, src));
    } else if ((m.type === "cgroup" || m.type === "cgroup2") && !cgroupns) {
      const { layout, mounts } = opts.cgroupView;
      if (layout === "v1") {
        // v1 and hybrid: the container's cgroup of each hierarchy bound below a tmpfs.
        for (const [sub, dir] of Object.entries(mounts)) add(join(m.destination, sub), dir);
      } else if (layout === "v2" && mounts[""]) {
        // v2 without a cgroup namespace: the container's cgroup directory bound there.
        add(m.destination, mounts[""]);
      }
    }
  }
  if (opts.mode === "dump") {
    for (const p of opts.maskedFiles ?? []) out.push({ key: p, val: "/dev/null" });
  } else if ((spec.linux?.maskedPaths ?? []).length > 0) {
    add("/dev/null", "/dev/null");
  }
  if (opts.devices !== false) {
    for (const d of [...DEFAULT_DEVICES, ...(spec.linux?.devices ?? [])]) add(d.path, d.path);
  }
  return out;
}

/** CRIU's `--external` key for a namespace joined by path, as runc names it (`extRootNetNS`). */
export function externalNsKey(type: "network" | "pid"): string {
  return type === "network" ? "extRootNetNS" : "extRootPidNS";
}

/**
 * The clone-flag mask of `--empty-ns` names. As runc, only `network` is accepted: it is
 * the one namespace CRIU can create empty (a network set up again by the caller).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyNsMask } from "./options.ts";
 * assert.equal(emptyNsMask(["network"]), 0x40000000);
 * ```
 */
export function emptyNsMask(names: string[] = []): number {
  let mask = 0;
  for (const n of names) {
    if (n !== "network") {
      throw new RangeError(`empty-ns: namespace "${n}" is not supported (only "network")`);
    }
    mask |= 0x40000000;
  }
  return mask >>> 0;
}

/**
 * Checks `lsmProfile` and `lsmMountContext` of a restore against the host's LSMs before any
 * work: the profile must be `apparmor:PROFILE` or `selinux:LABEL` (a RangeError otherwise), and
 * the LSM it names must be enabled, as SELinux must be for a mount context (a ConfigError naming
 * the option otherwise: CRIU would fail later with a less clear error).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkLsmOptions } from "./options.ts";
 * const none = { apparmor: false, selinux: false };
 * checkLsmOptions({}, none);
 * assert.throws(() => checkLsmOptions({ lsmProfile: "unconfined" }, none), RangeError);
 * assert.throws(
 *   () => checkLsmOptions({ lsmProfile: "apparmor:p" }, none),
 *   { message: 'restore options: lsm-profile: "apparmor:p" needs AppArmor, which is not enabled on this host' },
 * );
 * checkLsmOptions({ lsmProfile: "apparmor:p" }, { apparmor: true, selinux: false });
 * ```
 */
export function checkLsmOptions(
  opts: { lsmProfile?: string; lsmMountContext?: string },
  host: { apparmor: boolean; selinux: boolean },
): void {
  const names = { apparmor: "AppArmor", selinux: "SELinux" } as const;
  if (opts.lsmProfile !== undefined && opts.lsmProfile !== "") {
    const m = /^(apparmor|selinux):(.+)$/.exec(opts.lsmProfile);
    if (!m) {
      throw new RangeError(
        `lsm-profile: "${opts.lsmProfile}" is not apparmor:PROFILE or selinux:LABEL`,
      );
    }
    const lsm = m[1] as "apparmor" | "selinux";
    if (!host[lsm]) {
      throw new ConfigError(
        "restore options",
        "lsm-profile",
        `"${opts.lsmProfile}" needs ${names[lsm]}, which is not enabled on this host`,
      );
    }
  }
  if (opts.lsmMountContext !== undefined && opts.lsmMountContext !== "" && !host.selinux) {
    throw new ConfigError(
      "restore options",
      "lsm-mount-context",
      `"${opts.lsmMountContext}" needs SELinux, which is not enabled on this host`,
    );
  }
}
