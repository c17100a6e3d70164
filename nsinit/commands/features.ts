/**
 * `nsinit features`: the OCI runtime features structure (runtime-spec
 * `features.md` and `features-linux.md`) as indented JSON, as `runc features`
 * prints it. It lists what nsinit itself implements, not what this host
 * offers, each list taken from the table the code that does the work holds:
 * the hook kinds, namespace types and seccomp architecture and flag names the
 * config validator knows (spec/validate.ts), the mount options of the
 * mount-option parser, the capabilities of spec/caps.ts, the seccomp actions,
 * operators and flags the seccomp compiler accepts (seccomp/compile.ts) and,
 * of the architectures, those the system libseccomp resolves; its cgroup
 * drivers (cgroupfs v1 and v2, and systemd transient scopes for root).
 * AppArmor profiles, SELinux labels and Intel
 * RDT are implemented (core/host_features.ts applies them where the host has
 * them and refuses them where it has not), so they are reported enabled, as
 * runc does; idmapped mounts (runtime-spec 1.2) are implemented too.
 *
 * @module
 */

import { KNOWN_MOUNT_OPTIONS } from "../../spec/mount_options.ts";
import { CAPABILITIES } from "../../spec/caps.ts";
import { checkArgs, parseFlags } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { print } from "../log.ts";
import { resolveArchName } from "../../seccomp/libseccomp.ts";
import { SECCOMP_ACTIONS, SECCOMP_FILTER_FLAGS, SECCOMP_OPERATORS } from "../../seccomp/compile.ts";
import {
  HOOK_KINDS,
  MEMORY_POLICY_FLAGS,
  MEMORY_POLICY_MODES,
  NAMESPACE_TYPES,
  OCI_VERSION_MAX,
  SECCOMP_ARCHITECTURES,
  SECCOMP_FLAG_NAMES,
} from "../../spec/validate.ts";

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
    /** set_mempolicy modes and flags accepted in `linux.memoryPolicy` (1.3). */
    memoryPolicy: { modes: string[]; flags: string[] };
    /** `linux.netDevices` is implemented (1.3). */
    netDevices: { enabled: boolean };
  };
  /** Metadata of the runtime. */
  annotations?: Record<string, string>;
}

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
 * assert.equal(f.ociVersionMax, "1.3.0");
 * assert.equal(f.hooks.length, 6);
 * assert.equal(f.linux.seccomp.enabled, false);
 * assert.equal(f.linux.cgroup.systemd, true);
 * ```
 */
export function features(seccomp: SeccompProbe): Features {
  let archs: string[] | undefined;
  try {
    archs = SECCOMP_ARCHITECTURES.filter((a) =>
      a !== "SCMP_ARCH_NATIVE" && seccomp.knowsArch(a.slice("SCMP_ARCH_".length).toLowerCase())
    ).sort();
  } catch {
    archs = undefined;
  }
  const f: Features = {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION_MAX,
    hooks: [...HOOK_KINDS],
    mountOptions: [...KNOWN_MOUNT_OPTIONS],
    linux: {
      namespaces: [...NAMESPACE_TYPES].sort(),
      capabilities: [...CAPABILITIES],
      cgroup: { v1: true, v2: true, systemd: true, systemdUser: true, rdma: true },
      seccomp: archs
        ? {
          enabled: true,
          actions: Object.keys(SECCOMP_ACTIONS).sort(),
          operators: Object.keys(SECCOMP_OPERATORS).sort(),
          archs,
          knownFlags: [...SECCOMP_FLAG_NAMES],
          supportedFlags: Object.keys(SECCOMP_FILTER_FLAGS),
        }
        : { enabled: false },
      apparmor: { enabled: true },
      selinux: { enabled: true },
      intelRdt: { enabled: true },
      mountExtensions: { idmap: { enabled: true } },
      memoryPolicy: { modes: [...MEMORY_POLICY_MODES], flags: [...MEMORY_POLICY_FLAGS] },
      netDevices: { enabled: true },
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
