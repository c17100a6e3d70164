/**
 * Policy: a developer sandbox as an OCI spec. The host's root filesystem
 * read-only (recursively), the working directory and `allowWrite` paths
 * read-write, a private `/tmp`, a minimal `/dev`, a fresh `/proc`, no network
 * (a private one with loopback) unless `net`, secrets hidden, the caller's
 * identity kept (its uid and gid map to themselves in a user namespace), no
 * capabilities, no new privileges, a seccomp filter, limits through cgroups.
 *
 * @module
 */

import type { LinuxResources, LinuxSeccomp, Mount, Spec } from "../spec/config.ts";
import { cgroupMount, devMounts } from "../spec/default.ts";
import type { LandlockRule } from "./landlock.ts";
import { sandboxEnv } from "./env.ts";
import { normalize } from "../util/path.ts";

/** Secrets under the home directory, hidden unless allowed. */
export const HOME_SECRETS: readonly string[] = [
  ".ssh",
  ".gnupg",
  ".aws",
  ".azure",
  ".config/gcloud",
  ".kube",
  ".docker/config.json",
  ".netrc",
  ".npmrc",
  ".pypirc",
  ".git-credentials",
  ".config/gh",
  ".password-store",
  ".local/share/keyrings",
];

/** Host directories a sandboxed command may read (and execute from). */
export const SYSTEM_READ: readonly string[] = [
  "/bin",
  "/sbin",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/usr",
  "/etc",
  "/opt",
  "/var",
  "/run",
  "/sys",
];

/** Everything {@linkcode sandboxSpec} needs, resolved (absolute paths, numbers). */
export interface ResolvedSandbox {
  /** The command and its arguments. */
  args: string[];
  /** Working directory (absolute); read-write. */
  cwd: string;
  /** Extra read-write paths (absolute). */
  allowWrite: string[];
  /** Extra readable paths (absolute). */
  allowRead: string[];
  /** Hidden paths (absolute). */
  denyRead: string[];
  /** Host network. */
  net: boolean;
  /** Limits. */
  memory?: number;
  cpus?: number;
  pids?: number;
  /** Environment entries passed explicitly. */
  env: string[];
  /** Apply the default seccomp filter. */
  seccomp: boolean;
  /** A terminal for the command. */
  terminal: boolean;
}

/** The caller's facts the spec depends on (tests pass their own). */
export interface SandboxHost {
  uid: number;
  gid: number;
  home?: string;
  env: Record<string, string>;
  /** Whether `path` exists on the host. */
  exists(path: string): boolean;
}

function beneath(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === "/" ? "/" : dir + "/");
}

function bind(src: string, dst: string, options: string[]): Mount {
  return { destination: dst, type: "bind", source: src, options: ["rbind", ...options] };
}

/**
 * The sandbox's default seccomp filter: everything allowed but what a developer
 * command has no business doing and what has a history of kernel exploits
 * (module loading, kexec, bpf, perf, keyrings, userfaultfd, clock setting,
 * nested user namespaces, terminal injection with TIOCSTI).
 */
export function sandboxSeccomp(): LinuxSeccomp {
  const EPERM = 1;
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [
      {
        names: [
          "acct",
          "add_key",
          "bpf",
          "clock_adjtime",
          "clock_settime",
          "create_module",
          "delete_module",
          "finit_module",
          "fsconfig",
          "fsmount",
          "fsopen",
          "fspick",
          "get_kernel_syms",
          "init_module",
          "ioperm",
          "iopl",
          "kexec_file_load",
          "kexec_load",
          "keyctl",
          "lookup_dcookie",
          "mount",
          "mount_setattr",
          "move_mount",
          "nfsservctl",
          "open_by_handle_at",
          "open_tree",
          "perf_event_open",
          "pivot_root",
          "quotactl",
          "reboot",
          "request_key",
          "setns",
          "settimeofday",
          "swapoff",
          "swapon",
          "sysfs",
          "umount2",
          "unshare",
          "uselib",
          "userfaultfd",
          "vhangup",
        ],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
      },
      {
        // clone with CLONE_NEWUSER (0x10000000): no nested user namespaces.
        names: ["clone"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
        args: [{ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: "SCMP_CMP_MASKED_EQ" }],
      },
      {
        // clone3 passes its flags in memory seccomp cannot read: make callers fall back to clone.
        names: ["clone3"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 38,
      },
      {
        // TIOCSTI: pushing input into a terminal (CVE-2017-5226 in bubblewrap).
        names: ["ioctl"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: EPERM,
        args: [{ index: 1, value: 0x5412, valueTwo: 0, op: "SCMP_CMP_EQ" }],
      },
    ],
  };
}

/**
 * The OCI spec of a sandbox and the Landlock rules that go with it.
 *
 * @example
 * ```ts
 * import { sandboxSpec } from "./spec.ts";
 * import assert from "node:assert/strict";
 * const { spec, landlock } = sandboxSpec({
 *   args: ["true"], cwd: "/home/a/proj", allowWrite: [], allowRead: [], denyRead: [],
 *   net: false, env: [], seccomp: true, terminal: false,
 * }, { uid: 1000, gid: 1000, home: "/home/a", env: { PATH: "/bin", GH_TOKEN: "x" },
 *      exists: (p) => p === "/home/a/.ssh" });
 * assert.deepEqual(spec.linux?.maskedPaths?.includes("/home/a/.ssh"), true);
 * assert.deepEqual(spec.process?.env, ["PATH=/bin"]);
 * assert.ok(landlock.some((r) => r.path === "/home/a/proj" && r.access === "write"));
 * ```
 */
export function sandboxSpec(
  o: ResolvedSandbox,
  host: SandboxHost,
): { spec: Spec; landlock: LandlockRule[] } {
  const writable = [o.cwd, ...o.allowWrite].map(normalize);
  const readable = o.allowRead.map(normalize);
  const allowed = [...writable, ...readable];
  const mounts: Mount[] = [
    // The host's root, recursively read-only, no setuid, as the new root.
    bind("/", "/", ["rro", "rnosuid"]),
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    // As runc's rootless default: the sandbox's group may not be mapped (no gid=5).
    ...devMounts(true),
    {
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=1777"],
    },
  ];
  // The sandbox's own cgroup (when it has one) at /sys/fs/cgroup, read-only: over a tmpfs,
  // since the kernel refuses cgroup2 right on top of the host's cgroup2 mount (EBUSY), and
  // the host's tree is none of the sandbox's business anyway.
  mounts.push({
    destination: "/sys/fs/cgroup",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "noexec", "nodev", "mode=755", "size=64k"],
  });
  mounts.push(cgroupMount());
  for (const p of writable) mounts.push(bind(p, p, ["rw", "nosuid"]));

  const masked: string[] = [];
  if (host.home) {
    for (const s of HOME_SECRETS) {
      const p = `${host.home}/${s}`;
      // Allowing the secret itself (or something inside it) un-hides it.
      if (allowed.some((a) => beneath(a, p))) continue;
      if (host.exists(p)) masked.push(p);
    }
  }
  for (const p of o.denyRead.map(normalize)) masked.push(p);
  // As runc's default: kernel files a process has no business reading.
  masked.push(
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/sys/firmware",
  );

  const resources: LinuxResources = {};
  if (o.memory !== undefined) resources.memory = { limit: o.memory, swap: o.memory };
  if (o.cpus !== undefined) {
    resources.cpu = { quota: Math.round(o.cpus * 100000), period: 100000 };
  }
  if (o.pids !== undefined) resources.pids = { limit: o.pids };

  const namespaces: NonNullable<Spec["linux"]>["namespaces"] = [
    { type: "user" },
    { type: "mount" },
    { type: "pid" },
    { type: "ipc" },
    { type: "uts" },
    { type: "cgroup" },
  ];
  if (!o.net) namespaces.push({ type: "network" });

  const spec: Spec = {
    ociVersion: "1.2.0",
    process: {
      terminal: o.terminal,
      user: { uid: host.uid, gid: host.gid },
      args: o.args,
      env: sandboxEnv(host.env, o.env),
      cwd: o.cwd,
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: false },
    mounts,
    linux: {
      uidMappings: [{ containerID: host.uid, hostID: host.uid, size: 1 }],
      gidMappings: [{ containerID: host.gid, hostID: host.gid, size: 1 }],
      namespaces,
      maskedPaths: masked,
      ...(Object.keys(resources).length ? { resources } : {}),
      ...(o.seccomp ? { seccomp: sandboxSeccomp() } : {}),
    },
  };

  const landlock: LandlockRule[] = [
    ...SYSTEM_READ.map((path) => ({ path, access: "read" as const })),
    { path: "/proc", access: "write" },
    { path: "/dev", access: "write" },
    { path: "/tmp", access: "write" },
    ...writable.map((path) => ({ path, access: "write" as const })),
    ...readable.map((path) => ({ path, access: "read" as const })),
  ];
  return { spec, landlock };
}
