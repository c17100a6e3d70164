/**
 * Parsing and validation of `config.json` (and `exec --process` JSON) against the OCI
 * runtime spec 1.x (every field up to 1.3). Every error is a {@linkcode ConfigError} naming the file and
 * the JSON path of the offending field, e.g.
 * `config.json: linux.namespaces[3].type: unknown namespace "bogus"`.
 *
 * Unknown fields are ignored, as the spec requires. A `null` optional field is treated as
 * absent (as Go's encoding/json, and so runc, does) and removed from the object; nothing
 * else is changed and no defaults are added.
 *
 * @example Validating a config
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSpec } from "./validate.ts";
 * const spec = parseSpec(JSON.stringify({
 *   ociVersion: "1.2.0",
 *   root: { path: "rootfs" },
 *   process: { cwd: "/", args: ["sh"], user: { uid: 0, gid: 0 } },
 * }));
 * assert.equal(spec.root?.path, "rootfs");
 * ```
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { capabilityNumber } from "./caps.ts";
import type { LinuxResources, NamespaceType, Process, Spec } from "./config.ts";
import { rlimitNumber } from "./rlimits.ts";
import { sysctlRefusal } from "./sysctl.ts";

type Obj = Record<string, unknown>;

/** A semantic version, with an optional -rc/-dev/+meta suffix: the major number is captured. */
const OCI_VERSION = /^(\d+)\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/;

/**
 * The newest runtime-spec version whose fields nsinit knows. Every 1.x config is
 * accepted (a minor version only adds optional fields, which the spec says to ignore
 * when unknown); another major version is refused.
 */
export const OCI_VERSION_MAX = "1.3.0";

const UINT16 = 0xffff;
const UINT32 = 0xffffffff;
/** The largest uid or gid a process may be given (runc: `math.MaxInt32`). */
export const MAX_ID = 0x7fffffff;

/** The namespace types `linux.namespaces[].type` may name. */
export const NAMESPACE_TYPES: readonly NamespaceType[] = Object.freeze([
  "pid",
  "network",
  "mount",
  "ipc",
  "uts",
  "user",
  "cgroup",
  "time",
]);
const NAMESPACES = new Set<string>(NAMESPACE_TYPES);
/** The hook kinds of `hooks`, in the order the spec lists them. */
export const HOOK_KINDS = Object.freeze(
  [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
  ] as const,
);
const CAP_SETS = ["bounding", "effective", "inheritable", "permitted", "ambient"] as const;
const DEVICE_TYPES = new Set(["c", "b", "u", "p"]);
const DEVICE_CGROUP_TYPES = new Set(["a", "b", "c"]);
const PROPAGATIONS = new Set([
  "private",
  "shared",
  "slave",
  "unbindable",
  "rprivate",
  "rshared",
  "rslave",
  "runbindable",
]);
const CLOCKS = new Set(["monotonic", "boottime"]);
const SECCOMP_ACTIONS = new Set([
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
]);
const SECCOMP_OPS = new Set([
  "SCMP_CMP_NE",
  "SCMP_CMP_LT",
  "SCMP_CMP_LE",
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_MASKED_EQ",
]);
/** The `linux.seccomp.architectures` names (libseccomp's, as runc spells them). */
export const SECCOMP_ARCHITECTURES: readonly string[] = Object.freeze([
  "SCMP_ARCH_NATIVE",
  "SCMP_ARCH_X86",
  "SCMP_ARCH_X86_64",
  "SCMP_ARCH_X32",
  "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
]);
const SECCOMP_ARCHES = new Set(SECCOMP_ARCHITECTURES);
/** The `linux.seccomp.flags` names a config may give (seccomp/compile.ts says which work). */
export const SECCOMP_FLAG_NAMES: readonly string[] = Object.freeze([
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_LOG",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
]);
const SECCOMP_FLAGS = new Set(SECCOMP_FLAG_NAMES);
const SCHED_POLICIES = new Set([
  "SCHED_OTHER",
  "SCHED_FIFO",
  "SCHED_RR",
  "SCHED_BATCH",
  "SCHED_ISO",
  "SCHED_IDLE",
  "SCHED_DEADLINE",
]);
const SCHED_FLAGS = new Set([
  "SCHED_FLAG_RESET_ON_FORK",
  "SCHED_FLAG_RECLAIM",
  "SCHED_FLAG_DL_OVERRUN",
  "SCHED_FLAG_KEEP_POLICY",
  "SCHED_FLAG_KEEP_PARAMS",
  "SCHED_FLAG_UTIL_CLAMP_MIN",
  "SCHED_FLAG_UTIL_CLAMP_MAX",
]);
const IOPRIO_CLASSES = new Set(["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"]);
const PERSONALITY_DOMAINS = new Set(["LINUX", "LINUX32"]);
/** `linux.memoryPolicy.mode` values (set_mempolicy(2)), since 1.3. */
export const MEMORY_POLICY_MODES: readonly string[] = [
  "MPOL_DEFAULT",
  "MPOL_BIND",
  "MPOL_INTERLEAVE",
  "MPOL_WEIGHTED_INTERLEAVE",
  "MPOL_PREFERRED",
  "MPOL_PREFERRED_MANY",
  "MPOL_LOCAL",
];
/** `linux.memoryPolicy.flags` values, since 1.3. */
export const MEMORY_POLICY_FLAGS: readonly string[] = [
  "MPOL_F_NUMA_BALANCING",
  "MPOL_F_RELATIVE_NODES",
  "MPOL_F_STATIC_NODES",
];
/** A network interface name as the kernel accepts it (dev_valid_name). */
const IFNAME = /^[^\s/:]{1,15}$/;
const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
const PAGE_SIZE = /^\d+[KMGTP]?B$/;

/**
 * A JSON integer that does not fit in 64 bits (above 18446744073709551615 or below
 * -9223372036854775808). `JSON.parse` would round it to a nearby double, and 2^64 would then
 * wrap to 0 on its way to the kernel (an rlimit of 18446744073709551616 became 0).
 */
class OutOfRange {
  constructor(readonly source: string) {}
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

/** JSON.parse reviver: integers beyond 64 bits become {@linkcode OutOfRange}. */
function markOutOfRange(
  this: unknown,
  _key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  if (typeof value !== "number" || Number.isSafeInteger(value)) return value;
  const source = context?.source;
  if (source === undefined || !/^-?\d+$/.test(source)) return value;
  const n = BigInt(source);
  return n > U64_MAX || n < I64_MIN ? new OutOfRange(source) : value;
}

/**
 * `JSON.parse` for configuration documents: an integer that does not fit in 64 bits is kept
 * as a marker that validation then refuses naming its field, instead of a rounded double.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseJson64, validateProcess } from "./validate.ts";
 * const raw = parseJson64('{"cwd":"/","args":["true"],"user":{"uid":0,"gid":0},' +
 *   '"rlimits":[{"type":"RLIMIT_NOFILE","soft":18446744073709551616,"hard":1}]}');
 * assert.throws(() => validateProcess(raw), /rlimits\[0\]\.soft: 18446744073709551616 does not fit/);
 * ```
 */
export function parseJson64(text: string): unknown {
  return JSON.parse(text, markOutOfRange as Parameters<typeof JSON.parse>[1]);
}

/** Appends an object key to a JSON path: `a.b`, or `a["net.ipv4.ip_forward"]`. */
function join(path: string, key: string): string {
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/** Describes a set of allowed values for an error message. */
function oneOf(set: Set<string>): string {
  return [...set].join(", ");
}

/** Field checks bound to one file; every failure throws a ConfigError naming file and path. */
class Checker {
  constructor(readonly file: string) {}

  fail(path: string, problem: string): never {
    throw new ConfigError(this.file, path, problem);
  }

  /** Asserts `v` is a JSON object (not null, not an array). */
  object(v: unknown, path: string): Obj {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(path, path ? "must be an object" : "must be a JSON object");
    }
    return v as Obj;
  }

  /** Reads `o[key]`; a null value counts as absent and is deleted. */
  get(o: Obj, key: string): unknown {
    const v = o[key];
    if (v === null) {
      delete o[key];
      return undefined;
    }
    return v;
  }

  /** Reads a required field. */
  need(o: Obj, key: string, path: string): unknown {
    const v = this.get(o, key);
    if (v === undefined) this.fail(join(path, key), "missing required field");
    return v;
  }

  string(v: unknown, path: string): string {
    if (typeof v !== "string") this.fail(path, "must be a string");
    return v;
  }

  optString(o: Obj, key: string, path: string): string | undefined {
    const v = this.get(o, key);
    return v === undefined ? undefined : this.string(v, join(path, key));
  }

  reqString(o: Obj, key: string, path: string): string {
    return this.string(this.need(o, key, path), join(path, key));
  }

  optBool(o: Obj, key: string, path: string): void {
    const v = this.get(o, key);
    if (v !== undefined && typeof v !== "boolean") this.fail(join(path, key), "must be a boolean");
  }

  int(v: unknown, path: string, min = -Infinity, max = Infinity): number {
    if (v instanceof OutOfRange) {
      this.fail(path, `${v.source} does not fit in 64 bits`);
    }
    // Beyond 2^64 no OCI field (u64 at most) can hold it; writing it would wrap or be
    // printed in exponent form ("1e+21").
    if (typeof v === "number" && Number.isFinite(v) && Math.abs(v) > 2 ** 64) {
      this.fail(path, `${v} does not fit in 64 bits`);
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      const range = min > -Infinity && max < Infinity
        ? ` from ${min} to ${max}`
        : min > -Infinity
        ? ` >= ${min}`
        : max < Infinity
        ? ` <= ${max}`
        : "";
      this.fail(path, `must be an integer${range}`);
    }
    return v;
  }

  optInt(o: Obj, key: string, path: string, min?: number, max?: number): number | undefined {
    const v = this.get(o, key);
    return v === undefined ? undefined : this.int(v, join(path, key), min, max);
  }

  reqInt(o: Obj, key: string, path: string, min?: number, max?: number): number {
    return this.int(this.need(o, key, path), join(path, key), min, max);
  }

  /** A string that must be one of `set`. */
  enumString(v: unknown, path: string, set: Set<string>, what: string): string {
    const s = this.string(v, path);
    if (!set.has(s)) this.fail(path, `unknown ${what} "${s}" (expected one of ${oneOf(set)})`);
    return s;
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, "must be an array");
    return v;
  }

  /** Checks each element of an optional array field. */
  optArray(
    o: Obj,
    key: string,
    path: string,
    each: (item: unknown, path: string) => void,
  ): unknown[] | undefined {
    const v = this.get(o, key);
    if (v === undefined) return undefined;
    const p = join(path, key);
    const a = this.array(v, p);
    a.forEach((item, i) => each(item, `${p}[${i}]`));
    return a;
  }

  /** An optional array of strings. */
  optStrings(o: Obj, key: string, path: string): string[] | undefined {
    const v = this.get(o, key);
    if (v === undefined) return undefined;
    const p = join(path, key);
    if (!Array.isArray(v)) this.fail(p, "must be an array of strings");
    v.forEach((s, i) => this.string(s, `${p}[${i}]`));
    return v as string[];
  }

  /** Checks an optional object field with `fn`. */
  optObject(
    o: Obj,
    key: string,
    path: string,
    fn: (o: Obj, path: string) => void,
  ): Obj | undefined {
    const v = this.get(o, key);
    if (v === undefined) return undefined;
    const p = join(path, key);
    const obj = this.object(v, p);
    fn(obj, p);
    return obj;
  }

  /** Checks each value of an optional string-keyed map field. */
  optMap(
    o: Obj,
    key: string,
    path: string,
    each: (v: unknown, path: string, key: string) => void,
  ): Obj | undefined {
    const v = this.get(o, key);
    if (v === undefined) return undefined;
    const p = join(path, key);
    const m = this.object(v, p);
    for (const [k, val] of Object.entries(m)) each(val, join(p, k), k);
    return m;
  }

  /** An optional map of strings to strings, with non-empty keys. */
  optStringMap(o: Obj, key: string, path: string): void {
    this.optMap(o, key, path, (v, p, k) => {
      if (k === "") this.fail(p, "key must not be empty");
      this.string(v, p);
    });
  }

  absolute(v: unknown, path: string): string {
    const s = this.string(v, path);
    if (!s.startsWith("/")) this.fail(path, `must be an absolute path, not "${s}"`);
    return s;
  }

  noNul(s: string | undefined, path: string): void {
    if (s !== undefined && s.includes("\0")) this.fail(path, "must not contain a NUL byte");
  }
}

function checkIdMappings(c: Checker, o: Obj, key: string, path: string): void {
  c.optArray(o, key, path, (item, p) => {
    const m = c.object(item, p);
    c.reqInt(m, "containerID", p, 0, UINT32);
    c.reqInt(m, "hostID", p, 0, UINT32);
    c.reqInt(m, "size", p, 1, UINT32);
  });
}

function checkProcess(c: Checker, o: Obj, path: string): void {
  c.optBool(o, "terminal", path);
  c.optObject(o, "consoleSize", path, (b, p) => {
    c.reqInt(b, "height", p, 0);
    c.reqInt(b, "width", p, 0);
  });
  const user = c.object(c.need(o, "user", path), join(path, "user"));
  const up = join(path, "user");
  // -1 (4294967295) means "unchanged" to setuid(2) and friends: the process would keep
  // running as root. runc refuses ids above 2^31-1 too.
  c.reqInt(user, "uid", up, 0, MAX_ID);
  c.reqInt(user, "gid", up, 0, MAX_ID);
  c.optInt(user, "umask", up, 0, UINT32);
  c.optArray(user, "additionalGids", up, (g, p) => c.int(g, p, 0, MAX_ID));
  c.optString(user, "username", up);

  const argsPath = join(path, "args");
  const args = c.get(o, "args");
  if (!Array.isArray(args) || args.length === 0) {
    c.fail(argsPath, "must be a non-empty array of strings");
  }
  args.forEach((a, i) => c.string(a, `${argsPath}[${i}]`));
  c.optString(o, "commandLine", path);
  c.optStrings(o, "env", path);
  c.absolute(c.need(o, "cwd", path), join(path, "cwd"));

  c.optObject(o, "capabilities", path, (caps, p) => {
    for (const set of CAP_SETS) {
      c.optArray(caps, set, p, (name, np) => {
        const s = c.string(name, np);
        if (capabilityNumber(s) === undefined) c.fail(np, `unknown capability "${s}"`);
      });
    }
  });

  const seen = new Set<string>();
  c.optArray(o, "rlimits", path, (item, p) => {
    const r = c.object(item, p);
    const type = c.reqString(r, "type", p);
    if (rlimitNumber(type) === undefined) c.fail(join(p, "type"), `unknown rlimit "${type}"`);
    if (seen.has(type)) c.fail(join(p, "type"), `duplicate rlimit "${type}"`);
    seen.add(type);
    c.reqInt(r, "soft", p, 0);
    c.reqInt(r, "hard", p, 0);
  });

  c.optBool(o, "noNewPrivileges", path);
  c.optString(o, "apparmorProfile", path);
  c.optInt(o, "oomScoreAdj", path, -1000, 1000);
  c.optString(o, "selinuxLabel", path);

  c.optObject(o, "scheduler", path, (s, p) => {
    c.enumString(c.need(s, "policy", p), join(p, "policy"), SCHED_POLICIES, "scheduler policy");
    c.optInt(s, "nice", p, -20, 19);
    c.optInt(s, "priority", p, 0, 99);
    c.optArray(s, "flags", p, (f, fp) => c.enumString(f, fp, SCHED_FLAGS, "scheduler flag"));
    c.optInt(s, "runtime", p, 0);
    c.optInt(s, "deadline", p, 0);
    c.optInt(s, "period", p, 0);
  });
  c.optObject(o, "ioPriority", path, (io, p) => {
    c.enumString(c.need(io, "class", p), join(p, "class"), IOPRIO_CLASSES, "I/O priority class");
    c.reqInt(io, "priority", p, 0, 7);
  });
  c.optObject(o, "execCPUAffinity", path, (a, p) => {
    for (const key of ["initial", "final"]) {
      const s = c.optString(a, key, p);
      if (s !== undefined && !CPU_LIST.test(s)) {
        c.fail(join(p, key), `invalid CPU list "${s}" (expected e.g. "0-3,7")`);
      }
    }
  });
}

function checkMount(c: Checker, item: unknown, p: string): void {
  const m = c.object(item, p);
  const dest = c.reqString(m, "destination", p);
  if (dest === "") c.fail(join(p, "destination"), "must not be empty");
  c.noNul(dest, join(p, "destination"));
  c.noNul(c.optString(m, "type", p), join(p, "type"));
  c.noNul(c.optString(m, "source", p), join(p, "source"));
  c.optStrings(m, "options", p);
  checkIdMappings(c, m, "uidMappings", p);
  checkIdMappings(c, m, "gidMappings", p);
}

/**
 * Idmapped mounts (1.2): mappings need the `idmap` or `ridmap` option (so that an older
 * runtime cannot silently ignore them), the option needs a bind mount and mappings: the
 * mount's own, or the container's user namespace's.
 */
function checkIdmapMounts(
  c: Checker,
  spec: Obj,
  linux: Obj | undefined,
  ns: Map<string, string>,
): void {
  const mounts = Array.isArray(spec.mounts) ? spec.mounts as Obj[] : [];
  mounts.forEach((m, i) => {
    const p = `mounts[${i}]`;
    const options = (m.options ?? []) as string[];
    const idmap = options.includes("idmap") || options.includes("ridmap");
    const uid = (m.uidMappings as unknown[] | undefined)?.length ?? 0;
    const gid = (m.gidMappings as unknown[] | undefined)?.length ?? 0;
    if (!idmap) {
      if (uid || gid) c.fail(`${p}.options`, "mappings need the idmap or ridmap option");
      return;
    }
    const bind = m.type === "bind" || options.includes("bind") || options.includes("rbind");
    if (!bind) c.fail(`${p}.options`, "idmap and ridmap need a bind mount");
    if (uid && !gid) c.fail(`${p}.gidMappings`, "an idmapped mount needs gid mappings too");
    if (gid && !uid) c.fail(`${p}.uidMappings`, "an idmapped mount needs uid mappings too");
    const userns = ns.get("user") === "" && Array.isArray(linux?.uidMappings) &&
      Array.isArray(linux?.gidMappings);
    if (!uid && !userns) {
      c.fail(
        `${p}.uidMappings`,
        "an idmapped mount needs mappings (its own, or a new user namespace's)",
      );
    }
  });
}

function checkHooks(c: Checker, hooks: Obj, path: string): void {
  for (const name of HOOK_KINDS) {
    c.optArray(hooks, name, path, (item, p) => {
      const h = c.object(item, p);
      c.absolute(c.need(h, "path", p), join(p, "path"));
      c.optStrings(h, "args", p);
      c.optStrings(h, "env", p);
      c.optInt(h, "timeout", p, 1);
    });
  }
}

function checkResources(c: Checker, r: Obj, path: string): void {
  c.optArray(r, "devices", path, (item, p) => {
    const d = c.object(item, p);
    if (typeof c.need(d, "allow", p) !== "boolean") c.fail(join(p, "allow"), "must be a boolean");
    const type = c.get(d, "type");
    if (type !== undefined) c.enumString(type, join(p, "type"), DEVICE_CGROUP_TYPES, "device type");
    c.optInt(d, "major", p, -1);
    c.optInt(d, "minor", p, -1);
    // runc refuses a rule without access ("device access at %d field cannot be empty").
    const access = c.reqString(d, "access", p);
    if (!/^[rwm]+$/.test(access)) {
      c.fail(join(p, "access"), `must be a non-empty combination of r, w and m, not "${access}"`);
    }
  });
  c.optObject(r, "memory", path, (m, p) => {
    for (const key of ["limit", "reservation", "swap", "kernel", "kernelTCP"]) {
      c.optInt(m, key, p, -1);
    }
    c.optInt(m, "swappiness", p, 0, 100);
    for (const key of ["disableOOMKiller", "useHierarchy", "checkBeforeUpdate"]) {
      c.optBool(m, key, p);
    }
  });
  c.optObject(r, "cpu", path, (cpu, p) => {
    c.optInt(cpu, "shares", p, 0);
    c.optInt(cpu, "quota", p, -1);
    c.optInt(cpu, "burst", p, 0);
    c.optInt(cpu, "period", p, 0);
    c.optInt(cpu, "realtimeRuntime", p, -1);
    c.optInt(cpu, "realtimePeriod", p, 0);
    for (const key of ["cpus", "mems"]) {
      const s = c.optString(cpu, key, p);
      if (s !== undefined && s !== "" && !CPU_LIST.test(s)) {
        c.fail(join(p, key), `invalid list "${s}" (expected e.g. "0-3,7")`);
      }
    }
    c.optInt(cpu, "idle", p, 0, 1); // 0: the default, 1: SCHED_IDLE
  });
  // 1.3: limit is optional (unset: leave pids.max alone), -1 is "max", 0 is 0.
  c.optObject(r, "pids", path, (pids, p) => c.optInt(pids, "limit", p, -1));
  c.optObject(r, "blockIO", path, (b, p) => {
    c.optInt(b, "weight", p, 0, UINT16);
    c.optInt(b, "leafWeight", p, 0, UINT16);
    c.optArray(b, "weightDevice", p, (item, dp) => {
      const d = c.object(item, dp);
      c.reqInt(d, "major", dp, 0);
      c.reqInt(d, "minor", dp, 0);
      c.optInt(d, "weight", dp, 0, UINT16);
      c.optInt(d, "leafWeight", dp, 0, UINT16);
    });
    for (
      const key of [
        "throttleReadBpsDevice",
        "throttleWriteBpsDevice",
        "throttleReadIOPSDevice",
        "throttleWriteIOPSDevice",
      ]
    ) {
      c.optArray(b, key, p, (item, dp) => {
        const d = c.object(item, dp);
        c.reqInt(d, "major", dp, 0);
        c.reqInt(d, "minor", dp, 0);
        c.reqInt(d, "rate", dp, 0);
      });
    }
  });
  c.optArray(r, "hugepageLimits", path, (item, p) => {
    const h = c.object(item, p);
    const size = c.reqString(h, "pageSize", p);
    if (!PAGE_SIZE.test(size)) {
      c.fail(join(p, "pageSize"), `invalid page size "${size}" (expected e.g. "2MB")`);
    }
    c.reqInt(h, "limit", p, 0);
  });
  c.optObject(r, "network", path, (n, p) => {
    c.optInt(n, "classID", p, 0, UINT32);
    c.optArray(n, "priorities", p, (item, pp) => {
      const prio = c.object(item, pp);
      c.reqString(prio, "name", pp);
      c.reqInt(prio, "priority", pp, 0, UINT32);
    });
  });
  c.optMap(r, "rdma", path, (v, p) => {
    const rdma = c.object(v, p);
    c.optInt(rdma, "hcaHandles", p, 0, UINT32);
    c.optInt(rdma, "hcaObjects", p, 0, UINT32);
  });
  c.optStringMap(r, "unified", path);
}

function checkSeccomp(c: Checker, s: Obj, path: string): void {
  const defaultAction = c.enumString(
    c.need(s, "defaultAction", path),
    join(path, "defaultAction"),
    SECCOMP_ACTIONS,
    "seccomp action",
  );
  if (defaultAction === "SCMP_ACT_NOTIFY") {
    c.fail(join(path, "defaultAction"), "SCMP_ACT_NOTIFY cannot be the default action");
  }
  c.optInt(s, "defaultErrnoRet", path, 0, UINT32);
  c.optArray(
    s,
    "architectures",
    path,
    (a, p) => c.enumString(a, p, SECCOMP_ARCHES, "architecture"),
  );
  c.optArray(s, "flags", path, (f, p) => c.enumString(f, p, SECCOMP_FLAGS, "seccomp flag"));
  const listenerPath = c.optString(s, "listenerPath", path);
  c.optString(s, "listenerMetadata", path);
  c.optArray(s, "syscalls", path, (item, p) => {
    const sc = c.object(item, p);
    const namesPath = join(p, "names");
    const names = c.get(sc, "names");
    if (!Array.isArray(names) || names.length === 0) {
      c.fail(namesPath, "must be a non-empty array of strings");
    }
    names.forEach((n, i) => c.string(n, `${namesPath}[${i}]`));
    const action = c.enumString(
      c.need(sc, "action", p),
      join(p, "action"),
      SECCOMP_ACTIONS,
      "seccomp action",
    );
    if (action === "SCMP_ACT_NOTIFY" && !listenerPath) {
      c.fail(join(p, "action"), "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath");
    }
    c.optInt(sc, "errnoRet", p, 0, UINT32);
    c.optArray(sc, "args", p, (argItem, ap) => {
      const arg = c.object(argItem, ap);
      c.reqInt(arg, "index", ap, 0, 5);
      c.reqInt(arg, "value", ap, 0);
      c.optInt(arg, "valueTwo", ap, 0);
      c.enumString(c.need(arg, "op", ap), join(ap, "op"), SECCOMP_OPS, "seccomp operator");
    });
  });
}

/** Checks `linux`; returns the namespaces listed, type to path ("" for a new one). */
function checkLinux(c: Checker, l: Obj, path: string): Map<string, string> {
  checkIdMappings(c, l, "uidMappings", path);
  checkIdMappings(c, l, "gidMappings", path);
  c.optMap(l, "timeOffsets", path, (v, p, clock) => {
    if (!CLOCKS.has(clock)) {
      c.fail(p, `unknown clock "${clock}" (expected one of ${oneOf(CLOCKS)})`);
    }
    const off = c.object(v, p);
    c.optInt(off, "secs", p);
    c.optInt(off, "nanosecs", p, 0, 999_999_999);
  });
  c.optStringMap(l, "sysctl", path);
  c.optObject(l, "resources", path, (r, p) => checkResources(c, r, p));
  c.optString(l, "cgroupsPath", path);

  const namespaces = new Map<string, string>();
  c.optArray(l, "namespaces", path, (item, p) => {
    const ns = c.object(item, p);
    const type = c.reqString(ns, "type", p);
    if (!NAMESPACES.has(type)) c.fail(join(p, "type"), `unknown namespace "${type}"`);
    if (namespaces.has(type)) c.fail(join(p, "type"), `duplicate namespace "${type}"`);
    const nsPath = c.optString(ns, "path", p);
    namespaces.set(type, nsPath ?? "");
  });

  c.optArray(l, "devices", path, (item, p) => {
    const d = c.object(item, p);
    c.absolute(c.need(d, "path", p), join(p, "path"));
    const type = c.enumString(c.need(d, "type", p), join(p, "type"), DEVICE_TYPES, "device type");
    if (type === "p") {
      c.optInt(d, "major", p);
      c.optInt(d, "minor", p);
    } else {
      c.reqInt(d, "major", p, 0);
      c.reqInt(d, "minor", p, 0);
    }
    c.optInt(d, "fileMode", p, 0, UINT32);
    c.optInt(d, "uid", p, 0, UINT32);
    c.optInt(d, "gid", p, 0, UINT32);
  });
  c.optObject(l, "seccomp", path, (s, p) => checkSeccomp(c, s, p));
  const prop = c.get(l, "rootfsPropagation");
  if (prop !== undefined) {
    c.enumString(prop, join(path, "rootfsPropagation"), PROPAGATIONS, "propagation");
  }
  for (const key of ["maskedPaths", "readonlyPaths"]) {
    c.optArray(l, key, path, (v, p) => c.absolute(v, p));
  }
  c.optString(l, "mountLabel", path);
  c.optObject(l, "intelRdt", path, (rdt, p) => {
    for (const key of ["closID", "schemata", "l3CacheSchema", "memBwSchema"]) {
      c.optString(rdt, key, p);
    }
    for (const key of ["enableCMT", "enableMBM", "enableMonitoring"]) c.optBool(rdt, key, p);
  });
  c.optObject(l, "memoryPolicy", path, (mp, p) => {
    const mode = c.enumString(
      c.need(mp, "mode", p),
      join(p, "mode"),
      new Set(MEMORY_POLICY_MODES),
      "memory policy mode",
    );
    const nodes = c.optString(mp, "nodes", p);
    if (nodes !== undefined && nodes !== "" && !CPU_LIST.test(nodes)) {
      c.fail(join(p, "nodes"), `invalid node list "${nodes}" (expected e.g. "0-3,7")`);
    }
    const flags = c.optArray(
      mp,
      "flags",
      p,
      (f, fp) => c.enumString(f, fp, new Set(MEMORY_POLICY_FLAGS), "memory policy flag"),
    ) as string[] | undefined;
    // set_mempolicy(2): DEFAULT and LOCAL take no nodes, the others need some
    // (PREFERRED without nodes means local allocation, as the kernel allows).
    const hasNodes = nodes !== undefined && nodes !== "";
    if ((mode === "MPOL_DEFAULT" || mode === "MPOL_LOCAL") && hasNodes) {
      c.fail(join(p, "nodes"), `must be empty for ${mode}`);
    }
    if (!hasNodes && !["MPOL_DEFAULT", "MPOL_LOCAL", "MPOL_PREFERRED"].includes(mode)) {
      c.fail(join(p, "nodes"), `${mode} needs a node list`);
    }
    if (mode === "MPOL_DEFAULT" && flags?.length) {
      c.fail(join(p, "flags"), "MPOL_DEFAULT takes no flags");
    }
    if (flags?.includes("MPOL_F_RELATIVE_NODES") && flags.includes("MPOL_F_STATIC_NODES")) {
      c.fail(join(p, "flags"), "MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other");
    }
  });
  c.optObject(l, "personality", path, (pers, p) => {
    c.enumString(
      c.need(pers, "domain", p),
      join(p, "domain"),
      PERSONALITY_DOMAINS,
      "personality domain",
    );
    c.optStrings(pers, "flags", p);
  });
  const renamed = new Map<string, string>();
  c.optMap(l, "netDevices", path, (v, p, key) => {
    if (!IFNAME.test(key) || key === "." || key === "..") {
      c.fail(p, `invalid network device name "${key}"`);
    }
    const name = c.optString(c.object(v, p), "name", p) ?? key;
    if (!IFNAME.test(name) || name === "." || name === "..") {
      c.fail(join(p, "name"), `invalid network device name "${name}"`);
    }
    const other = renamed.get(name);
    if (other !== undefined) {
      c.fail(join(p, "name"), `"${name}" is also the name of linux.netDevices.${other}`);
    }
    renamed.set(name, key);
  });
  return namespaces;
}

/** Checks that fields needing a namespace have one, as runc's validator does. */
function checkNamespaceUse(
  c: Checker,
  spec: Obj,
  linux: Obj | undefined,
  ns: Map<string, string>,
): void {
  // A uts namespace joined by path is the container's too: runc sets the names there.
  for (const key of ["hostname", "domainname"]) {
    if (spec[key] && !ns.has("uts")) {
      c.fail(key, 'needs a UTS namespace (a linux.namespaces entry of type "uts")');
    }
  }
  if (!ns.has("mount")) {
    // Without a mount namespace root.path is entered with chroot(2), and nothing may be
    // mounted: it would land in the host's mount table (runc does that; nsinit refuses).
    const needMountNs = (key: string, v: unknown) => {
      if (Array.isArray(v) ? v.length > 0 : v !== undefined && v !== false) {
        c.fail(key, 'needs a mount namespace (a linux.namespaces entry of type "mount")');
      }
    };
    needMountNs("mounts", spec.mounts);
    needMountNs("root.readonly", (spec.root as Obj | undefined)?.readonly);
    for (const key of ["devices", "maskedPaths", "readonlyPaths", "rootfsPropagation"]) {
      needMountNs(`linux.${key}`, linux?.[key]);
    }
  }
  const netDevices = linux?.netDevices as Obj | undefined;
  if (netDevices && Object.keys(netDevices).length > 0 && !ns.has("network")) {
    c.fail(
      "linux.netDevices",
      'needs a network namespace (a linux.namespaces entry of type "network")',
    );
  }
  const nonEmpty = (key: string) =>
    Array.isArray(linux?.[key]) && (linux[key] as unknown[]).length > 0;
  const user = ns.get("user");
  if (user === undefined) {
    for (const key of ["uidMappings", "gidMappings"]) {
      if (nonEmpty(key)) {
        c.fail(`linux.${key}`, "id mappings need a user namespace in linux.namespaces");
      }
    }
  } else if (user === "") {
    for (const key of ["uidMappings", "gidMappings"]) {
      if (!nonEmpty(key)) c.fail(`linux.${key}`, "a new user namespace needs uid and gid mappings");
    }
  }
  for (const key of Object.keys((linux?.sysctl ?? {}) as Obj)) {
    const refusal = sysctlRefusal(key, ns);
    if (refusal) c.fail(join("linux.sysctl", key), refusal);
  }
  const offsets = linux?.timeOffsets;
  if (offsets && Object.keys(offsets).length > 0) {
    if (ns.get("time") !== "") {
      c.fail(
        "linux.timeOffsets",
        'needs a new time namespace (a linux.namespaces entry of type "time" without a path)',
      );
    }
  }
}

/**
 * Validates a parsed `config.json` and returns it typed as a {@linkcode Spec}.
 *
 * Checks every field's type and every enumerated value, and requires `ociVersion`
 * (any 1.x), `root.path`, and a `process` with non-empty `args`, an absolute
 * `cwd` and a `user`. Unknown fields are ignored; null optional fields are removed.
 *
 * @throws {ConfigError} naming `file` and the JSON path of the first invalid field.
 *
 * @example An unknown namespace
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateSpec } from "./validate.ts";
 * const raw = {
 *   ociVersion: "1.0.2",
 *   root: { path: "rootfs" },
 *   process: { cwd: "/", args: ["true"], user: { uid: 0, gid: 0 } },
 *   linux: { namespaces: [{ type: "pid" }, { type: "bogus" }] },
 * };
 * try {
 *   validateSpec(raw);
 *   throw new Error("not reached");
 * } catch (e) {
 *   assert.equal((e as Error).message, 'config.json: linux.namespaces[1].type: unknown namespace "bogus"');
 * }
 * ```
 */
export function validateSpec(raw: unknown, file = "config.json"): Spec {
  const c = new Checker(file);
  const o = c.object(raw, "");
  const version = c.reqString(o, "ociVersion", "");
  const m = OCI_VERSION.exec(version);
  if (!m) c.fail("ociVersion", `"${version}" is not a version like "${OCI_VERSION_MAX}"`);
  if (m?.[1] !== "1") {
    c.fail(
      "ociVersion",
      `unsupported version "${version}" (nsinit supports runtime-spec 1.x, up to ${OCI_VERSION_MAX})`,
    );
  }
  const root = c.object(c.need(o, "root", ""), "root");
  const rootPath = c.reqString(root, "path", "root");
  if (rootPath === "") c.fail("root.path", "must not be empty");
  c.optBool(root, "readonly", "root");
  checkProcess(c, c.object(c.need(o, "process", ""), "process"), "process");
  c.optString(o, "hostname", "");
  c.optString(o, "domainname", "");
  c.optArray(o, "mounts", "", (m, p) => checkMount(c, m, p));
  c.optObject(o, "hooks", "", (h, p) => checkHooks(c, h, p));
  c.optStringMap(o, "annotations", "");
  let namespaces = new Map<string, string>();
  const linux = c.optObject(o, "linux", "", (l, p) => {
    namespaces = checkLinux(c, l, p);
  });
  checkNamespaceUse(c, o, linux, namespaces);
  checkIdmapMounts(c, o, linux, namespaces);
  return o as unknown as Spec;
}

/**
 * Validates the process JSON given to `exec --process` (the same object as a config's
 * `process`) and returns it typed as a {@linkcode Process}. Paths in errors are relative
 * to the document, e.g. `process.json: args: must be a non-empty array of strings`.
 *
 * @throws {ConfigError} naming `file` and the JSON path of the first invalid field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateProcess } from "./validate.ts";
 * const p = validateProcess({ cwd: "/", args: ["ls"], user: { uid: 1000, gid: 1000 } });
 * assert.equal(p.args?.[0], "ls");
 * ```
 */
export function validateProcess(raw: unknown, file = "process.json"): Process {
  const c = new Checker(file);
  checkProcess(c, c.object(raw, ""), "");
  return raw as Process;
}

/**
 * Validates a `linux.resources` object on its own (what `update -r FILE` reads) with the
 * same checks as a config's, and returns it typed. Paths in errors are relative to the
 * document, e.g. `resources.json: cpu.cpus: invalid list "x" (expected e.g. "0-3,7")`.
 * `null` fields count as absent and are removed.
 *
 * @throws {ConfigError} naming `file` and the JSON path of the first invalid field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateResources } from "./validate.ts";
 * assert.deepEqual(validateResources({ pids: { limit: 10 }, cpu: null }), { pids: { limit: 10 } });
 * assert.throws(() => validateResources({ cpu: { cpus: "0-" } }), /cpu\.cpus: invalid list "0-"/);
 * ```
 */
export function validateResources(raw: unknown, file = "resources.json"): LinuxResources {
  const c = new Checker(file);
  checkResources(c, c.object(raw, ""), "");
  return raw as LinuxResources;
}

/**
 * Parses the text of a `config.json` and validates it with {@linkcode validateSpec}.
 *
 * @throws {ConfigError} for broken JSON (with what JSON.parse said, and the line and
 * column when it gives a position) or an invalid config.
 *
 * @example Broken JSON
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSpec } from "./validate.ts";
 * try {
 *   parseSpec('{"ociVersion": "1.2.0"} x', "bundle/config.json");
 *   throw new Error("not reached");
 * } catch (e) {
 *   assert.ok((e as Error).message.startsWith("bundle/config.json: invalid JSON: "));
 * }
 * ```
 */
export function parseSpec(text: string, file = "config.json"): Spec {
  let raw: unknown;
  try {
    raw = parseJson64(text);
  } catch (e) {
    throw new ConfigError(file, "", `invalid JSON: ${describeJsonError(text, e)}`);
  }
  return validateSpec(raw, file);
}

/** JSON.parse's message, with a line and column added when it names only a position. */
function describeJsonError(text: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /at position (\d+)(?! \(line)/.exec(msg);
  if (!m) return msg;
  const before = text.slice(0, Number(m[1]));
  const line = before.split("\n").length;
  const column = before.length - before.lastIndexOf("\n");
  return `${msg} (line ${line} column ${column})`;
}
