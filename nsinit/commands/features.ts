/**
 * `nsinit features`: the OCI runtime features structure (runtime-spec
 * `features.md` and `features-linux.md`) as indented JSON, as `runc features`
 * prints it. It lists what nsinit itself implements, not what this host
 * offers: the hooks, every mount option the mount-option parser knows, the
 * namespaces and capabilities it recognizes, its cgroup drivers (cgroupfs v1
 * and v2; the systemd driver is not there yet), the seccomp actions,
 * operators and flags the seccomp compiler accepts, and the architectures the
 * system libseccomp resolves. AppArmor, SELinux, Intel RDT and idmapped mounts
 * are not implemented, so they are reported disabled.
 *
 * @module
 */

import { KNOWN_MOUNT_OPTIONS } from "../../spec/mount_options.ts";
import { CAPABILITIES } from "../../spec/caps.ts";
import { checkArgs, parseFlags } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { print } from "../log.ts";
import { resolveArchName } from "../../seccomp/libseccomp.ts";

/** The features structure, as far as nsinit fills it in. */
export interface Features {
  /** The oldest `ociVersion` accepted in config.json. */
  ociVersionMin: string;
  /** The newest `ociVersion` accepted in config.json. */
  ociVersionMax: string;
  /** Hook kinds run. */
  hooks: string[];
  /** Mount options recognized in `mounts[].options`. */
  mountOptions: string[];
  /** Linux-specific features. */
  linux: {
    namespaces: string[];
    capabilities: string[];
    cgroup: { v1: boolean; v2: boolean; systemd: boolean; systemdUser: boolean; rdma: boolean };
    seccomp: {
      enabled: boolean;
      actions?: string[];
      operators?: string[];
      archs?: string[];
      knownFlags?: string[];
      supportedFlags?: string[];
    };
    apparmor: { enabled: boolean };
    selinux: { enabled: boolean };
    intelRdt: { enabled: boolean };
    mountExtensions: { idmap: { enabled: boolean } };
  };
  /** Metadata of the runtime. */
  annotations?: Record<string, string>;
}

/** Hook kinds, in the order the spec lists them. */
const HOOKS = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
  "poststart",
  "poststop",
];

/** Namespace types `linux.namespaces[].type` may name. */
const NAMESPACES = ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"];

/** Seccomp actions the compiler accepts (`SCMP_ACT_NOTIFY` is refused: no seccomp agent yet). */
const SECCOMP_ACTIONS = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_LOG",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_TRAP",
];

const SECCOMP_OPERATORS = [
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_LE",
  "SCMP_CMP_LT",
  "SCMP_CMP_MASKED_EQ",
  "SCMP_CMP_NE",
];

const SECCOMP_FLAGS = [
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_LOG",
];

/** libseccomp's architecture names; only those the system library resolves are reported. */
const SECCOMP_ARCH_CANDIDATES = [
  "aarch64",
  "arm",
  "loongarch64",
  "m68k",
  "mips",
  "mips64",
  "mips64n32",
  "mipsel",
  "mipsel64",
  "mipsel64n32",
  "parisc",
  "parisc64",
  "ppc",
  "ppc64",
  "ppc64le",
  "riscv64",
  "s390",
  "s390x",
  "sh",
  "sheb",
  "x32",
  "x86",
  "x86_64",
];

/** What {@linkcode features} needs from libseccomp; injectable for tests. */
export interface SeccompProbe {
  /** Whether `name` (e.g. `x86_64`) is an architecture libseccomp knows; throws if it cannot load. */
  knowsArch(name: string): boolean;
  /** The library's version (`2.5.4`), if known. */
  version(): string | undefined;
}

/**
 * The features structure. Seccomp is reported enabled only when libseccomp
 * loads (nsinit compiles filters with it).
 *
 * @example Without libseccomp
 * ```ts
 * import assert from "node:assert/strict";
 * import { features } from "./features.ts";
 * const f = features({ knowsArch() { throw new Error("no libseccomp"); }, version: () => undefined });
 * assert.equal(f.ociVersionMax, "1.2.0");
 * assert.equal(f.hooks.length, 6);
 * assert.equal(f.linux.seccomp.enabled, false);
 * assert.equal(f.linux.cgroup.systemd, false);
 * ```
 */
export function features(seccomp: SeccompProbe): Features {
  let archs: string[] | undefined;
  try {
    archs = SECCOMP_ARCH_CANDIDATES.filter((a) => seccomp.knowsArch(a))
      .map((a) => `SCMP_ARCH_${a.toUpperCase()}`);
  } catch {
    archs = undefined;
  }
  const f: Features = {
    ociVersionMin: "1.0.0",
    ociVersionMax: "1.2.0",
    hooks: [...HOOKS],
    mountOptions: [...KNOWN_MOUNT_OPTIONS],
    linux: {
      namespaces: [...NAMESPACES],
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: true },
      seccomp: archs
        ? {
          enabled: true,
          actions: [...SECCOMP_ACTIONS],
          operators: [...SECCOMP_OPERATORS],
          archs,
          knownFlags: [...SECCOMP_FLAGS],
          supportedFlags: [...SECCOMP_FLAGS],
        }
        : { enabled: false },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
  };
  const version = archs ? seccomp.version() : undefined;
  if (version) f.annotations = { "io.github.seccomp.libseccomp.version": version };
  return f;
}

/**
 * The system libseccomp (loaded on first use, so `nsinit features` works on a host
 * without it: seccomp is then reported disabled).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { features, systemLibseccomp } from "./features.ts";
 * const f = features(systemLibseccomp());
 * if (f.linux.seccomp.enabled && Deno.build.arch === "x86_64") {
 *   assert.ok(f.linux.seccomp.archs?.includes("SCMP_ARCH_X86_64"));
 * }
 * ```
 */
export function systemLibseccomp(): SeccompProbe {
  return {
    knowsArch: (name) => resolveArchName(name) !== undefined,
    version: libseccompVersion,
  };
}

/** The version of the system's libseccomp, from the name its soname link points to. */
function libseccompVersion(): string | undefined {
  for (
    const dir of ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]
  ) {
    try {
      const m = /libseccomp\.so\.(\d+\.\d+\.\d+)$/.exec(
        Deno.realPathSync(`${dir}/libseccomp.so.2`),
      );
      if (m) return m[1];
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs `nsinit features`; resolves to the exit code. */
export function run(args: string[], _g: GlobalOptions): Promise<number> {
  const { positionals } = parseFlags(args, {});
  checkArgs("features", positionals, 0, "exact");
  print(JSON.stringify(features(systemLibseccomp()), null, "    ") + "\n");
  return Promise.resolve(0);
}
