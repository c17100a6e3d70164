/**
 * What the systemd driver asks systemd for, as pure functions: the unit a container
 * gets from runc's `slice:prefix:name` cgroupsPath, the slice's cgroup path
 * (`a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`), unit properties for resources
 * (from the cgroup writes `cgroups/resources.ts` computes, so nothing is translated
 * twice, chosen by cgroup and systemd version as runc chooses them), for device rules,
 * and from `org.systemd.property.<Name>` annotations (values in GVariant text form,
 * as runc reads them).
 *
 * @module
 */

import { CgroupError } from "../errors.ts";
import type { LinuxDeviceCgroup } from "../spec/config.ts";
import type { CgroupWrite } from "../cgroups/resources.ts";
import { emulateDeviceRules } from "../cgroups/devicefilter.ts";
import { type DbusValue, splitSignature, Variant } from "../native/sdbus.ts";

/** One unit property: its name and typed value. */
export type UnitProperty = readonly [name: string, value: Variant];

/** The unit a container gets. */
export interface SystemdUnit {
  /** The parent slice, e.g. `system.slice`. */
  slice: string;
  /** The unit name, e.g. `nsinit-c1.scope`. */
  unit: string;
  /** The unit's cgroup path below the root of each hierarchy, e.g. `/system.slice/nsinit-c1.scope`. */
  cgroup: string;
}

/** The scope prefix when `cgroupsPath` is empty (runc uses `runc`; a runtime names its own). */
const DEFAULT_SCOPE_PREFIX = "nsinit";
/** The slice when none is given. */
const DEFAULT_SLICE = "system.slice";

const FIELD = "linux.cgroupsPath";
const UNIT_CHARS = /^[A-Za-z0-9:_.\\@-]+$/;

/**
 * Expands a slice name into its cgroup path, as systemd nests slices:
 * `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root `/`.
 * Throws a `CgroupError` naming `field` for a malformed name.
 *
 * @example
 * ```ts
 * import { expandSlice } from "./systemd_unit.ts";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * assertEquals(expandSlice("system.slice"), "/system.slice");
 * assertEquals(expandSlice("a-b-c.slice"), "/a.slice/a-b.slice/a-b-c.slice");
 * assertEquals(expandSlice("-.slice"), "/");
 * ```
 */
export function expandSlice(slice: string, field = FIELD): string {
  const bad = (why: string): never => {
    throw new CgroupError(field, `invalid slice name ${JSON.stringify(slice)}: ${why}`);
  };
  if (!slice.endsWith(".slice") || slice.length <= ".slice".length) bad("must end in .slice");
  if (slice.includes("/")) bad("must not contain /");
  if (!UNIT_CHARS.test(slice)) bad("has characters systemd does not allow in a unit name");
  const name = slice.slice(0, -".slice".length);
  if (name === "-") return "/";
  let path = "";
  let prefix = "";
  for (const part of name.split("-")) {
    if (part === "") bad("has an empty component (a leading, trailing or double -)");
    path += `/${prefix}${part}.slice`;
    prefix += `${part}-`;
  }
  return path;
}

/**
 * The unit of a container under the systemd driver, from `linux.cgroupsPath` in runc's
 * form `slice:prefix:name` (e.g. `system.slice:nsinit:abc` → `nsinit-abc.scope` in
 * `system.slice`). Empty or absent: `defaultSlice` (`system.slice`; a user manager's
 * containers use `user.slice`, as rootless runc), prefix `nsinit`, the container id.
 * Empty parts take the same defaults (an empty prefix gives `<name>.scope`).
 * Throws a `CgroupError` naming `linux.cgroupsPath` for a malformed value.
 *
 * @example
 * ```ts
 * import { systemdUnit } from "./systemd_unit.ts";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * assertEquals(systemdUnit("c1", "machine-pod.slice:crio:c1"), {
 *   slice: "machine-pod.slice",
 *   unit: "crio-c1.scope",
 *   cgroup: "/machine.slice/machine-pod.slice/crio-c1.scope",
 * });
 * assertEquals(systemdUnit("c1").unit, "nsinit-c1.scope");
 * ```
 */
export function systemdUnit(
  id: string,
  cgroupsPath?: string,
  defaultSlice: string = DEFAULT_SLICE,
): SystemdUnit {
  let slice = defaultSlice;
  let prefix = DEFAULT_SCOPE_PREFIX;
  let name = id;
  if (cgroupsPath !== undefined && cgroupsPath !== "") {
    const parts = cgroupsPath.split(":");
    if (parts.length !== 3) {
      throw new CgroupError(
        FIELD,
        `expected "slice:prefix:name" for the systemd cgroup driver, got ${
          JSON.stringify(cgroupsPath)
        }`,
      );
    }
    slice = parts[0] || defaultSlice;
    prefix = parts[1]!;
    name = parts[2] || id;
  }
  if (name.endsWith(".slice")) {
    throw new CgroupError(
      FIELD,
      `name ${JSON.stringify(name)}: making slice units is not supported`,
    );
  }
  const unit = prefix === "" ? `${name}.scope` : `${prefix}-${name}.scope`;
  if (!UNIT_CHARS.test(unit) || unit.length > 255) {
    throw new CgroupError(FIELD, `${JSON.stringify(unit)} is not a valid systemd unit name`);
  }
  const parent = expandSlice(slice);
  return { slice, unit, cgroup: `${parent === "/" ? "" : parent}/${unit}` };
}

/** `USEC_INFINITY`/unlimited for systemd's uint64 properties. */
export const UINT64_MAX = 0xffffffffffffffffn;
/** The kernel's default CFS period, µs. */
const DEFAULT_PERIOD = 100000n;

/**
 * Converts a cpuset list (`0-3,7`) into the bit mask systemd's `AllowedCPUs` /
 * `AllowedMemoryNodes` take (byte i holds CPUs 8i..8i+7, lowest bit first).
 *
 * @example
 * ```ts
 * import { rangeToBits } from "./systemd_unit.ts";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * assertEquals([...rangeToBits("0-2,9")], [0b111, 0b10]);
 * ```
 */
export function rangeToBits(list: string, field = "linux.resources.cpu.cpus"): Uint8Array {
  const bits: number[] = [];
  const set = (n: number) => {
    while (bits.length <= n >> 3) bits.push(0);
    bits[n >> 3]! |= 1 << (n & 7);
  };
  for (const raw of list.split(",")) {
    const part = raw.trim();
    if (part === "") continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new CgroupError(field, `invalid cpu/node list ${JSON.stringify(list)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 8191) {
      throw new CgroupError(
        field,
        `invalid range ${JSON.stringify(part)} in ${JSON.stringify(list)}`,
      );
    }
    for (let n = lo; n <= hi; n++) set(n);
  }
  if (bits.length === 0) {
    throw new CgroupError(field, `empty cpu/node list ${JSON.stringify(list)}`);
  }
  return Uint8Array.from(bits);
}

function u64(value: string, w: CgroupWrite): bigint {
  if (value === "max" || value === "-1") return UINT64_MAX;
  if (!/^\d+$/.test(value)) {
    throw new CgroupError(w.field, `invalid value ${JSON.stringify(value)}`);
  }
  return BigInt(value);
}

const t = (v: bigint) => new Variant("t", v);

/** CPUQuotaPerSecUSec (and CPUQuotaPeriodUSec from v242) as runc computes them. */
function cpuQuota(
  quota: bigint | undefined,
  period: bigint | undefined,
  sdVersion: number,
): UnitProperty[] {
  const props: UnitProperty[] = [];
  if (period !== undefined && period !== 0n && sdVersion >= 242) {
    props.push(["CPUQuotaPeriodUSec", t(period)]);
  }
  let perSec = UINT64_MAX;
  if (quota !== undefined && quota > 0n) {
    const p = period && period > 0n ? period : DEFAULT_PERIOD;
    perSec = (quota * 1000000n) / p;
    // systemd keeps whole percent of a CPU: round up to 10 ms per second.
    if (perSec % 10000n !== 0n) perSec = (perSec / 10000n + 1n) * 10000n;
  }
  props.push(["CPUQuotaPerSecUSec", t(perSec)]);
  return props;
}

/**
 * The unit properties for a list of cgroup writes (from `translateResources`),
 * as runc sets them: on v1 `MemoryLimit`, `CPUShares`, `BlockIOWeight`; on v2
 * `MemoryMax`, `MemoryLow`, `MemoryHigh`, `MemoryMin`, `MemorySwapMax`, `CPUWeight`,
 * `IOWeight`; on both `CPUQuotaPerSecUSec` (+ `CPUQuotaPeriodUSec` from systemd 242),
 * `TasksMax`, and from systemd 244 `AllowedCPUs`/`AllowedMemoryNodes`. Writes systemd
 * has no property for are left to the files (the caller writes every write anyway).
 *
 * @example
 * ```ts
 * import { resourceProperties } from "./systemd_unit.ts";
 * import { permissiveHost, translateResources } from "../cgroups/resources.ts";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * const writes = translateResources({ memory: { limit: 33554432 }, pids: { limit: 10 } }, permissiveHost(2));
 * const props = resourceProperties(writes, 252);
 * assertEquals(props.map(([n, v]) => [n, v.value]), [["MemoryMax", 33554432n], ["TasksMax", 10n]]);
 * ```
 */
export function resourceProperties(
  writes: readonly CgroupWrite[],
  sdVersion: number,
): UnitProperty[] {
  const props: UnitProperty[] = [];
  let quota: bigint | undefined;
  let period: bigint | undefined;
  let quotaSeen = false;
  for (const w of writes) {
    const v = w.value.trim();
    switch (w.file) {
      case "memory.limit_in_bytes":
        props.push(["MemoryLimit", t(u64(v, w))]);
        break;
      case "memory.max":
        props.push(["MemoryMax", t(u64(v, w))]);
        break;
      case "memory.low":
        props.push(["MemoryLow", t(u64(v, w))]);
        break;
      case "memory.high":
        props.push(["MemoryHigh", t(u64(v, w))]);
        break;
      case "memory.min":
        props.push(["MemoryMin", t(u64(v, w))]);
        break;
      case "memory.swap.max":
        props.push(["MemorySwapMax", t(u64(v, w))]);
        break;
      case "cpu.shares":
        props.push(["CPUShares", t(u64(v, w))]);
        break;
      case "cpu.weight":
        props.push(["CPUWeight", t(u64(v, w))]);
        break;
      case "cpu.cfs_quota_us":
        quotaSeen = true;
        quota = v === "-1" ? 0n : u64(v, w);
        break;
      case "cpu.cfs_period_us":
        quotaSeen = true;
        period = u64(v, w);
        break;
      case "cpu.max": {
        const [q, p] = v.split(/\s+/);
        quotaSeen = true;
        quota = q === "max" || q === undefined ? 0n : u64(q, w);
        if (p !== undefined) period = u64(p, w);
        break;
      }
      case "pids.max":
        props.push(["TasksMax", t(u64(v, w))]);
        break;
      case "blkio.weight":
        props.push(["BlockIOWeight", t(u64(v, w))]);
        break;
      case "io.weight":
        if (!v.includes(":")) props.push(["IOWeight", t(u64(v.replace(/^default\s+/, ""), w))]);
        break;
      case "cpuset.cpus":
      case "cpuset.mems":
        if (sdVersion >= 244) {
          props.push([
            w.file === "cpuset.cpus" ? "AllowedCPUs" : "AllowedMemoryNodes",
            new Variant("ay", rangeToBits(v, w.field)),
          ]);
        }
        break;
    }
  }
  if (quotaSeen) props.push(...cpuQuota(quota, period, sdVersion));
  return props;
}

/** Reads `/proc/devices`: "c"/"b" + major → group name. */
function procDevices(): Map<string, string> {
  const groups = new Map<string, string>();
  let type = "";
  try {
    for (const line of Deno.readTextFileSync("/proc/devices").split("\n")) {
      const l = line.trim();
      if (l === "Character devices:") type = "c";
      else if (l === "Block devices:") type = "b";
      else {
        const m = /^(\d+)\s+(\S+)$/.exec(l);
        if (m && type && !groups.has(`${type}${m[1]}`)) groups.set(`${type}${m[1]}`, m[2]!);
      }
    }
  } catch {
    // no /proc/devices: wildcard-minor rules are left to the files
  }
  return groups;
}

/**
 * `DevicePolicy` and `DeviceAllow` for device rules, as runc makes them: an allow-all
 * list is `auto` with no entries; otherwise `strict` with one entry per allowed device
 * (`/dev/char/M:m`, `char-M` for any minor from systemd 240, else the group name from
 * `/proc/devices`, `char-*` for any device of a type). A deny list systemd cannot express
 * (allow by default, some devices denied) gives `strict` with no entries, replaced by
 * the exact rules the files (v1) or the eBPF filter (v2) then apply, as runc does.
 *
 * @example
 * ```ts
 * import { deviceProperties } from "./systemd_unit.ts";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * const props = deviceProperties([{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rw" }], 252);
 * assertEquals(props.map(([n, v]) => [n, v.value]), [["DevicePolicy", "strict"], ["DeviceAllow", [["/dev/char/1:3", "rw"]]]]);
 * ```
 */
export function deviceProperties(
  rules: readonly LinuxDeviceCgroup[] | undefined,
  sdVersion: number,
  groups: () => Map<string, string> = procDevices,
): UnitProperty[] {
  if (!rules || rules.length === 0) return [];
  // systemd's strict mode is a deny-all allow-list: emulate from "deny", as runc.
  const set = emulateDeviceRules(rules, { defaultAllow: false });
  const policy = (p: string, entries: DbusValue[]): UnitProperty[] => [
    ["DevicePolicy", new Variant("s", p)],
    ["DeviceAllow", new Variant("a(ss)", entries)],
  ];
  if (set.defaultAllow) return policy(set.exceptions.length === 0 ? "auto" : "strict", []);
  const entries: DbusValue[] = [];
  let known: Map<string, string> | undefined;
  for (const e of set.exceptions) {
    const kind = e.type === "c" ? "char" : "block";
    let path: string | undefined;
    if (e.major === -1) path = e.minor === -1 ? `${kind}-*` : undefined;
    else if (e.minor === -1) {
      if (sdVersion >= 240) path = `${kind}-${e.major}`;
      else {
        known ??= groups();
        const g = known.get(`${e.type}${e.major}`);
        path = g === undefined ? undefined : `${kind}-${g}`;
      }
    } else path = `/dev/${kind}/${e.major}:${e.minor}`;
    if (path !== undefined) entries.push([path, e.access]);
  }
  return policy("strict", entries);
}

// ---------------------------------------------------------------------------
// org.systemd.property.<Name> annotations

/** The annotation prefix runc reads unit properties from. */
const PROPERTY_ANNOTATION = "org.systemd.property.";

/**
 * Unit properties from `org.systemd.property.<Name>=<value>` annotations, as runc
 * reads them: `<Name>` is `[A-Z][A-Za-z0-9]*`, the value is GVariant text
 * (`true`, `'text'`, `uint64 1024`, `@t 5`, `[...]`, `(...)`); a `...Sec` name with a
 * lowercase letter before `Sec` takes seconds and becomes `...USec` in µs. Throws a
 * `CgroupError` naming `annotations["<key>"]` for a bad name or value.
 *
 * @example
 * ```ts
 * import { annotationProperties } from "./systemd_unit.ts";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * const props = annotationProperties({
 *   "org.systemd.property.CollectMode": "'inactive-or-failed'",
 *   "org.systemd.property.TimeoutStopSec": "uint64 3",
 *   "other": "x",
 * });
 * assertEquals(props.map(([n, v]) => [n, v.signature, v.value]), [
 *   ["CollectMode", "s", "inactive-or-failed"],
 *   ["TimeoutStopUSec", "t", 3000000n],
 * ]);
 * ```
 */
export function annotationProperties(
  annotations: Record<string, string> | undefined,
): UnitProperty[] {
  const props: UnitProperty[] = [];
  for (const [key, text] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(PROPERTY_ANNOTATION)) continue;
    const field = `annotations[${JSON.stringify(key)}]`;
    const name = key.slice(PROPERTY_ANNOTATION.length);
    if (!/^[A-Z][A-Za-z0-9]*$/.test(name)) {
      throw new CgroupError(field, `${JSON.stringify(name)} is not a systemd property name`);
    }
    let value: Variant;
    try {
      value = parseGVariant(text);
    } catch (e) {
      throw new CgroupError(field, `cannot parse ${JSON.stringify(text)}: ${(e as Error).message}`);
    }
    const base = name.slice(0, -3);
    if (name.endsWith("Sec") && /[a-z]$/.test(base)) {
      props.push([`${base}USec`, new Variant("t", secToUsec(value, field))]);
      continue;
    }
    props.push([name, value]);
  }
  return props;
}

function secToUsec(v: Variant, field: string): bigint {
  const x = v.value;
  if (typeof x === "bigint" && x >= 0n) return x * 1000000n;
  if (typeof x === "number" && x >= 0 && "ybnqiuxtd".includes(v.signature)) {
    return BigInt(Math.round(x * 1e6));
  }
  throw new CgroupError(field, "a ...Sec property takes a non-negative number of seconds");
}

const KEYWORDS: Record<string, string> = {
  boolean: "b",
  byte: "y",
  int16: "n",
  uint16: "q",
  int32: "i",
  uint32: "u",
  int64: "x",
  uint64: "t",
  handle: "h",
  double: "d",
  string: "s",
  objectpath: "o",
  signature: "g",
};

const INT_RANGES: Record<string, [bigint, bigint]> = {
  y: [0n, 0xffn],
  n: [-0x8000n, 0x7fffn],
  q: [0n, 0xffffn],
  i: [-0x80000000n, 0x7fffffffn],
  h: [-0x80000000n, 0x7fffffffn],
  u: [0n, 0xffffffffn],
  x: [-(1n << 63n), (1n << 63n) - 1n],
  t: [0n, UINT64_MAX],
};

/**
 * Parses the GVariant text format runc accepts in `org.systemd.property.*`
 * annotations (the subset units use): booleans, numbers (plain integers are `i`, or
 * `x` when too large; decimals `d`), quoted strings, `<type keyword> value`,
 * `@<signature> value`, arrays `[...]` and tuples `(...)`.
 *
 * @example
 * ```ts
 * import { parseGVariant } from "./systemd_unit.ts";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * assertEquals(parseGVariant("@as ['a', 'b']").signature, "as");
 * assertEquals(parseGVariant("uint64 5").value, 5n);
 * assertEquals(parseGVariant("[('/dev/null', 'rw')]").signature, "a(ss)");
 * ```
 */
export function parseGVariant(text: string): Variant {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const fail = (why: string): never => {
    throw new Error(`${why} at offset ${i}`);
  };
  // A value, typed by `want` when known. Returns [signature, value].
  const value = (want?: string): [string, DbusValue] => {
    ws();
    const c = text[i];
    if (c === undefined) return fail("unexpected end");
    if (c === "@") {
      i++;
      const start = i;
      while (i < text.length && !/\s/.test(text[i]!)) i++;
      const sig = text.slice(start, i);
      if (splitSignature(sig).length !== 1) fail(`bad type ${sig}`);
      return value(sig);
    }
    if (/[a-z]/.test(c)) {
      const start = i;
      while (i < text.length && /[a-z0-9]/.test(text[i]!)) i++;
      const word = text.slice(start, i);
      if (word === "true" || word === "false") return coerce(want ?? "b", ["b", word === "true"]);
      const sig = KEYWORDS[word];
      if (sig === undefined) return fail(`unknown word ${JSON.stringify(word)}`);
      return value(sig);
    }
    if (c === "'" || c === '"') {
      i++;
      let s = "";
      while (text[i] !== c) {
        if (i >= text.length) fail("unterminated string");
        if (text[i] === "\\") {
          i++;
          const e = text[i];
          s += e === "n" ? "\n" : e === "t" ? "\t" : e ?? "";
        } else s += text[i];
        i++;
      }
      i++;
      return coerce(want ?? "s", ["s", s]);
    }
    if (c === "[") {
      i++;
      const elem = want?.startsWith("a") ? want.slice(1) : undefined;
      const items: DbusValue[] = [];
      let sig = elem;
      ws();
      while (text[i] !== "]") {
        if (i >= text.length) fail("unterminated array");
        const [s, v] = value(sig);
        if (sig !== undefined && s !== sig) fail(`mixed array element types ${sig} and ${s}`);
        sig = s;
        items.push(v);
        ws();
        if (text[i] === ",") i++;
        ws();
      }
      i++;
      if (sig === undefined) return fail("the type of an empty array must be given (@as [])");
      return [`a${sig}`, sig === "y" ? Uint8Array.from(items as number[]) : items];
    }
    if (c === "(") {
      i++;
      const members = want?.startsWith("(") ? splitSignature(want.slice(1, -1)) : undefined;
      const sigs: string[] = [];
      const items: DbusValue[] = [];
      ws();
      while (text[i] !== ")") {
        if (i >= text.length) fail("unterminated tuple");
        const [s, v] = value(members?.[sigs.length]);
        sigs.push(s);
        items.push(v);
        ws();
        if (text[i] === ",") i++;
        ws();
      }
      i++;
      return [`(${sigs.join("")})`, items];
    }
    if (c === "<") {
      i++;
      const [s, v] = value();
      ws();
      if (text[i] !== ">") fail("unterminated variant");
      i++;
      return ["v", new Variant(s, v)];
    }
    const m = /^[-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|0x[0-9a-fA-F]+)/.exec(text.slice(i));
    if (!m) return fail(`unexpected ${JSON.stringify(c)}`);
    i += m[0].length;
    const isFloat = /[.eE]/.test(m[0]) && !m[0].includes("0x");
    if (isFloat) return coerce(want ?? "d", ["d", Number(m[0])]);
    const n = BigInt(m[0]);
    const sig = want ?? (n >= INT_RANGES.i![0] && n <= INT_RANGES.i![1] ? "i" : "x");
    return coerce(sig, ["x", n]);
  };
  const coerce = (want: string, [sig, v]: [string, DbusValue]): [string, DbusValue] => {
    if (want === sig) return [sig, v];
    if (want === "d" && (typeof v === "bigint" || typeof v === "number")) return ["d", Number(v)];
    if (want in INT_RANGES && typeof v === "bigint") {
      const [lo, hi] = INT_RANGES[want]!;
      if (v < lo || v > hi) fail(`${v} is out of range for ${want}`);
      return [want, want === "x" || want === "t" ? v : Number(v)];
    }
    if ((want === "o" || want === "g") && sig === "s") return [want, v];
    return fail(`a ${sig} value where ${want} is wanted`);
  };
  const [sig, v] = value();
  ws();
  if (i !== text.length) fail("trailing text");
  return new Variant(sig, v);
}
