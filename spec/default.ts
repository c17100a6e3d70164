/**
 * The default config that `runc spec` writes, as a {@linkcode Spec}.
 *
 * @example Writing a default config
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultSpec } from "./default.ts";
 * const spec = defaultSpec();
 * assert.equal(spec.process?.args?.[0], "sh");
 * assert.ok(JSON.stringify(spec, null, "\t").startsWith('{\n\t"ociVersion": "1.0.2-dev"'));
 * ```
 *
 * @module
 */

import type { Mount, Spec } from "./config.ts";

/** The `ociVersion` runc 1.1 writes in `runc spec`. */
export const DEFAULT_OCI_VERSION = "1.0.2-dev";

/** Options of {@linkcode defaultSpec}. */
export interface DefaultSpecOptions {
  /** Make the rootless variant, as `runc spec --rootless`. */
  rootless?: boolean;
  /** Host uid mapped to root in the rootless variant; defaults to the effective uid. */
  uid?: number;
  /** Host gid mapped to root in the rootless variant; defaults to the effective gid. */
  gid?: number;
}

const CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/**
 * runc's /dev, /dev/pts and /dev/shm mounts; the rootless variant's /dev/pts has no
 * gid= option, since the group may not be mapped. Fresh objects on every call.
 */
export function devMounts(rootless: boolean): Mount[] {
  return [
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      // The rootless variant drops uid=/gid= options: the group may not be mapped.
      options: [
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        ...(rootless ? [] : ["gid=5"]),
      ],
    },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
  ];
}

/** runc's read-only cgroup mount at /sys/fs/cgroup. */
export function cgroupMount(): Mount {
  return {
    destination: "/sys/fs/cgroup",
    type: "cgroup",
    source: "cgroup",
    options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
  };
}

function mounts(rootless: boolean): Mount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc" },
    ...devMounts(rootless),
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    rootless
      // A new sysfs cannot be mounted without a network namespace owned by the user namespace.
      ? {
        destination: "/sys",
        type: "none",
        source: "/sys",
        options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
      }
      : {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
    cgroupMount(),
  ];
}

/**
 * Returns the config `runc spec` writes (or `runc spec --rootless` with
 * `{ rootless: true }`), field for field and in the same key order, so
 * `JSON.stringify(spec, null, "\t")` is the same text as runc's config.json.
 *
 * The rootless variant maps the effective uid and gid (or `uid`/`gid` when given) to
 * root, so without them it needs `--allow-sys`.
 *
 * @example The rootless variant
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultSpec } from "./default.ts";
 * const spec = defaultSpec({ rootless: true, uid: 1000, gid: 1000 });
 * assert.equal(spec.linux?.uidMappings?.[0].hostID, 1000);
 * assert.ok(!spec.linux?.namespaces?.some((ns) => ns.type === "network"));
 * ```
 */
export function defaultSpec(opts: DefaultSpecOptions = {}): Spec {
  const rootless = opts.rootless ?? false;
  const spec: Spec = {
    ociVersion: DEFAULT_OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ["sh"],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: {
        bounding: [...CAPS],
        effective: [...CAPS],
        permitted: [...CAPS],
        ambient: [...CAPS],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "runc",
    mounts: mounts(rootless),
    linux: {},
  };
  const maskedPaths = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
  ];
  const readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
  if (rootless) {
    const uid = opts.uid ?? Deno.uid()!;
    const gid = opts.gid ?? Deno.gid()!;
    spec.linux = {
      uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }, {
        type: "user",
      }],
      maskedPaths,
      readonlyPaths,
    };
  } else {
    spec.linux = {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, {
        type: "mount",
      }],
      maskedPaths,
      readonlyPaths,
    };
  }
  return spec;
}
