/**
 * Translation of OCI `linux.resources` into cgroup file writes, for v1, v2 and
 * hybrid hosts. Pure: no I/O. The caller describes the host with a
 * {@link CgroupHostFiles} (which version holds each controller, which files exist)
 * and gets back every write, already checked, so nothing is written unless all of it
 * can be. Both cgroupfs drivers and the systemd driver use it.
 *
 * Conversions follow runc 1.1:
 * - `cpu.shares` → v2 `cpu.weight = 1 + ((shares - 2) * 9999) / 262142` (integer);
 * - `blockIO.weight` → v2 `io.weight = 1 + ((weight - 10) * 9999) / 990`, or the raw
 *   weight in `io.bfq.weight` / `blkio.bfq.weight` when the BFQ files exist;
 * - `memory.swap` is memory+swap: v1 `memory.memsw.limit_in_bytes = swap`,
 *   v2 `memory.swap.max = swap - limit`; limit -1 with no swap means swap -1 too;
 * - `cpu.quota`/`cpu.period` → v2 `cpu.max` `"<quota|max> [period]"`;
 * - `pids.limit` -1 → `max`, 0 → 0, unset → untouched (runtime-spec 1.3);
 * - hugetlb → `hugetlb.<size>.limit_in_bytes` (v1) / `hugetlb.<size>.max` (v2), plus
 *   the `rsvd` files when the host has them.
 *
 * Zero means "unset" for the numeric fields where runc reads it so (limits, shares,
 * quota, period, weights); `burst` and `idle` are written when present.
 *
 * @module
 */

import type {
  LinuxBlockIO,
  LinuxCPU,
  LinuxDeviceCgroup,
  LinuxMemory,
  LinuxResources,
  LinuxThrottleDevice,
} from "../spec/config.ts";
import { CgroupError } from "../errors.ts";

/** One write of one value to one cgroup file. */
export interface CgroupWrite {
  /**
   * The controller whose directory the file is in (v1: `memory`, `cpu`, `blkio`, ...;
   * v2: `memory`, `cpu`, `io`, ..., or `cgroup` for core files).
   */
  controller: string;
  /** The file name, e.g. `memory.limit_in_bytes`. */
  file: string;
  /** The exact text to write. */
  value: string;
  /** The spec field this write comes from, e.g. `linux.resources.memory.limit`. */
  field: string;
}

/** What the translation needs to know about the host (and the container's cgroup). */
export interface CgroupHostFiles {
  /** The cgroup version that holds `controller` for this container, or undefined when absent. */
  versionOf(controller: string): 1 | 2 | undefined;
  /** Whether `file` exists in the container's directory for `controller`. */
  has(controller: string, file: string): boolean;
}

/** Options for {@link translateResources}. */
export interface TranslateOptions {
  /**
   * The current v1 `memory.limit_in_bytes`, used (as runc does) to order the memory
   * and memory+swap writes on an update. Absent means a fresh cgroup (unlimited).
   */
  currentMemoryLimit?: number;
}

/**
 * A host description that claims every controller at `version` and every file:
 * for tests, examples and dry runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { permissiveHost } from "./resources.ts";
 * assert.equal(permissiveHost(2).versionOf("memory"), 2);
 * ```
 */
export function permissiveHost(version: 1 | 2): CgroupHostFiles {
  const v1Only = new Set(["blkio", "net_cls", "net_prio", "devices", "freezer", "cpuacct"]);
  const v2Only = new Set(["io", "cgroup"]);
  return {
    versionOf: (
      c,
    ) => (version === 1 ? (v2Only.has(c) ? undefined : 1) : v1Only.has(c) ? undefined : 2),
    has: () => true,
  };
}

/** Shares range the kernel accepts for v1 `cpu.shares`. */
const MIN_SHARES = 2;
const MAX_SHARES = 262144;

/**
 * Converts v1 cpu shares to a v2 `cpu.weight`, as runc's `ConvertCPUSharesToCgroupV2Value`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sharesToWeight } from "./resources.ts";
 * assert.equal(sharesToWeight(1024), 39);
 * assert.equal(sharesToWeight(2), 1);
 * assert.equal(sharesToWeight(262144), 10000);
 * ```
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/**
 * Converts a blkio weight (10..1000) to a v2 `io.weight` (1..10000), as runc's
 * `ConvertBlkIOToIOWeightValue`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blkioWeightToIoWeight } from "./resources.ts";
 * assert.equal(blkioWeightToIoWeight(10), 1);
 * assert.equal(blkioWeightToIoWeight(1000), 10000);
 * ```
 */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * Converts OCI memory+swap to a v2 `memory.swap.max` value (swap alone), as runc's
 * `ConvertMemorySwapToCgroupV2Value`: -1 is unlimited, 0 unset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { swapToV2 } from "./resources.ts";
 * assert.equal(swapToV2(300, 100), 200);
 * assert.equal(swapToV2(0, -1), -1);
 * assert.equal(swapToV2(-1, 100), -1);
 * ```
 */
export function swapToV2(swap: number, limit: number): number {
  if (limit === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (limit === 0 || limit === -1) {
    throw new CgroupError(
      "linux.resources.memory.swap",
      "cannot set a swap limit without a memory limit",
    );
  }
  if (limit < 0) throw new CgroupError("linux.resources.memory.limit", `invalid value ${limit}`);
  if (swap < limit) {
    throw new CgroupError(
      "linux.resources.memory.swap",
      "memory+swap limit must be >= memory limit",
    );
  }
  return swap - limit;
}

/** Formats a v2 limit: -1 is `max`, 0 is unset (`undefined`). */
function v2Num(value: number | undefined): string | undefined {
  if (value === undefined || value === 0) return undefined;
  return value === -1 ? "max" : String(value);
}

/** Accumulates writes and checks them against the host. */
class Plan {
  readonly writes: CgroupWrite[] = [];
  constructor(readonly host: CgroupHostFiles) {}

  /** Adds a write; the file must exist. */
  add(controller: string, file: string, value: string, field: string): void {
    if (!this.host.has(controller, file)) {
      throw new CgroupError(field, `${file} is not available on this host`);
    }
    this.writes.push({ controller, file, value, field });
  }

  /** Adds a write only if the file exists (a no-op value when it does not). */
  addIfPresent(controller: string, file: string, value: string, field: string): void {
    if (this.host.has(controller, file)) this.writes.push({ controller, file, value, field });
  }

  /** The version of `controller`, or a CgroupError naming `field`. */
  need(controller: string, field: string): 1 | 2 {
    const v = this.host.versionOf(controller);
    if (v === undefined) {
      throw new CgroupError(
        field,
        `the ${controller} cgroup controller is not available on this host`,
      );
    }
    return v;
  }
}

function checkInt(value: number, field: string, min = -Infinity, max = Infinity): void {
  // Above 2^53 a JSON number is no longer the integer that was written, and above 1e21 it
  // would be written as "1e+21": applied exactly, or refused.
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw new CgroupError(
      field,
      `${value} cannot be applied exactly (at most ${Number.MAX_SAFE_INTEGER}; -1 is unlimited)`,
    );
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = min === -Infinity ? "" : max === Infinity ? ` (>= ${min})` : ` (${min}..${max})`;
    throw new CgroupError(field, `invalid value ${value}${range}`);
  }
}

function v1Only(field: string): never {
  throw new CgroupError(field, "is a cgroup v1 setting; this host uses cgroup v2 for it");
}

const R = "linux.resources";

function memory(plan: Plan, m: LinuxMemory, opts: TranslateOptions): void {
  const f = `${R}.memory`;
  const set = m.limit || m.reservation || m.swap || m.kernel || m.kernelTCP ||
    (m.swappiness !== undefined && m.swappiness !== -1) || m.disableOOMKiller ||
    m.useHierarchy !== undefined;
  if (!set) return;
  for (const k of ["limit", "reservation", "swap", "kernel", "kernelTCP"] as const) {
    if (m[k] !== undefined) checkInt(m[k], `${f}.${k}`, -1);
  }
  const version = plan.need("memory", f);
  const limit = m.limit ?? 0;
  let swap = m.swap ?? 0;
  if (version === 1) {
    const setMem = () => {
      if (limit !== 0) plan.add("memory", "memory.limit_in_bytes", String(limit), `${f}.limit`);
    };
    const setSwap = (optional: boolean) => {
      if (swap === 0) return;
      if (optional) {
        plan.addIfPresent("memory", "memory.memsw.limit_in_bytes", String(swap), `${f}.swap`);
      } else plan.add("memory", "memory.memsw.limit_in_bytes", String(swap), `${f}.swap`);
    };
    // Unlimited memory with no swap given means unlimited swap too (if swap accounting exists).
    const implicitSwap = limit === -1 && swap === 0;
    if (implicitSwap) swap = -1;
    if (limit > 0 && swap > 0 && swap < limit) {
      throw new CgroupError(`${f}.swap`, "memory+swap limit must be >= memory limit");
    }
    const current = opts.currentMemoryLimit ?? Number.MAX_SAFE_INTEGER;
    if (limit !== 0 && swap !== 0 && (swap === -1 || current < swap)) {
      setSwap(implicitSwap);
      setMem();
    } else {
      setMem();
      setSwap(implicitSwap);
    }
    if (m.reservation) {
      plan.add("memory", "memory.soft_limit_in_bytes", String(m.reservation), `${f}.reservation`);
    }
    if (m.kernel) plan.add("memory", "memory.kmem.limit_in_bytes", String(m.kernel), `${f}.kernel`);
    if (m.kernelTCP) {
      plan.add("memory", "memory.kmem.tcp.limit_in_bytes", String(m.kernelTCP), `${f}.kernelTCP`);
    }
    if (m.disableOOMKiller) plan.add("memory", "memory.oom_control", "1", `${f}.disableOOMKiller`);
    if (m.swappiness !== undefined && m.swappiness !== -1) {
      checkInt(m.swappiness, `${f}.swappiness`, 0, 100);
      plan.add("memory", "memory.swappiness", String(m.swappiness), `${f}.swappiness`);
    }
    if (m.useHierarchy !== undefined) {
      plan.add("memory", "memory.use_hierarchy", m.useHierarchy ? "1" : "0", `${f}.useHierarchy`);
    }
    return;
  }
  // cgroup v2
  if (m.kernel) v1Only(`${f}.kernel`);
  if (m.kernelTCP) v1Only(`${f}.kernelTCP`);
  if (m.disableOOMKiller) v1Only(`${f}.disableOOMKiller`);
  if (m.swappiness !== undefined && m.swappiness !== -1) v1Only(`${f}.swappiness`);
  if (m.useHierarchy === false) {
    throw new CgroupError(`${f}.useHierarchy`, "cgroup v2 accounting is always hierarchical");
  }
  const v2swap = swapToV2(swap, limit);
  let swapStr = v2Num(v2swap);
  // memory and memory+swap equal: no swap at all.
  if (swapStr === undefined && v2swap === 0 && swap > 0) swapStr = "0";
  if (swapStr !== undefined) {
    // No swap file means no swap accounting: "max" and "0" are then already true.
    if (swapStr === "max" || swapStr === "0") {
      plan.addIfPresent("memory", "memory.swap.max", swapStr, `${f}.swap`);
    } else plan.add("memory", "memory.swap.max", swapStr, `${f}.swap`);
  }
  const max = v2Num(limit);
  if (max !== undefined) plan.add("memory", "memory.max", max, `${f}.limit`);
  const low = v2Num(m.reservation);
  if (low !== undefined) plan.add("memory", "memory.low", low, `${f}.reservation`);
}

function cpu(plan: Plan, c: LinuxCPU): void {
  const f = `${R}.cpu`;
  const wantsCpu = c.shares || c.quota || c.period || c.burst !== undefined ||
    c.realtimePeriod || c.realtimeRuntime || c.idle !== undefined;
  if (wantsCpu) {
    for (
      const k of [
        "shares",
        "quota",
        "period",
        "burst",
        "realtimePeriod",
        "realtimeRuntime",
      ] as const
    ) {
      if (c[k] !== undefined) {
        checkInt(c[k], `${f}.${k}`, k === "quota" || k === "realtimeRuntime" ? -1 : 0);
      }
    }
    if (c.shares) checkInt(c.shares, `${f}.shares`, MIN_SHARES, MAX_SHARES);
    if (c.idle !== undefined) checkInt(c.idle, `${f}.idle`, 0, 1);
    const version = plan.need("cpu", f);
    if (version === 1) {
      if (c.shares) plan.add("cpu", "cpu.shares", String(c.shares), `${f}.shares`);
      if (c.period) plan.add("cpu", "cpu.cfs_period_us", String(c.period), `${f}.period`);
      if (c.quota) plan.add("cpu", "cpu.cfs_quota_us", String(c.quota), `${f}.quota`);
      if (c.burst !== undefined) plan.add("cpu", "cpu.cfs_burst_us", String(c.burst), `${f}.burst`);
      if (c.realtimePeriod) {
        plan.add("cpu", "cpu.rt_period_us", String(c.realtimePeriod), `${f}.realtimePeriod`);
      }
      if (c.realtimeRuntime) {
        plan.add("cpu", "cpu.rt_runtime_us", String(c.realtimeRuntime), `${f}.realtimeRuntime`);
      }
      if (c.idle !== undefined) plan.add("cpu", "cpu.idle", String(c.idle), `${f}.idle`);
    } else {
      if (c.realtimePeriod) v1Only(`${f}.realtimePeriod`);
      if (c.realtimeRuntime) v1Only(`${f}.realtimeRuntime`);
      if (c.idle !== undefined) plan.add("cpu", "cpu.idle", String(c.idle), `${f}.idle`);
      if (c.shares) {
        plan.add("cpu", "cpu.weight", String(sharesToWeight(c.shares)), `${f}.shares`);
      }
      if (c.quota || c.period) {
        let max = c.quota && c.quota > 0 ? String(c.quota) : "max";
        if (c.period) max += ` ${c.period}`;
        plan.add("cpu", "cpu.max", max, c.quota ? `${f}.quota` : `${f}.period`);
      }
      if (c.burst !== undefined) plan.add("cpu", "cpu.max.burst", String(c.burst), `${f}.burst`);
    }
  }
  if (c.cpus || c.mems) {
    plan.need("cpuset", c.cpus ? `${f}.cpus` : `${f}.mems`);
    if (c.cpus) plan.add("cpuset", "cpuset.cpus", c.cpus, `${f}.cpus`);
    if (c.mems) plan.add("cpuset", "cpuset.mems", c.mems, `${f}.mems`);
  }
}

/** Checks a throttle list and renders each entry with `fmt`, paired with its field. */
function throttleLines(
  list: LinuxThrottleDevice[] | undefined,
  field: string,
  fmt: (major: number, minor: number, rate: number) => string,
): [value: string, field: string][] {
  return (list ?? []).map((t, i) => {
    checkInt(t.major, `${field}[${i}].major`, 0);
    checkInt(t.minor, `${field}[${i}].minor`, 0);
    checkInt(t.rate, `${field}[${i}].rate`, 0);
    return [fmt(t.major, t.minor, t.rate), `${field}[${i}]`];
  });
}

const THROTTLES = [
  ["throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"],
  ["throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"],
  ["throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"],
  ["throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"],
] as const;

function blockIO(plan: Plan, b: LinuxBlockIO): void {
  const f = `${R}.blockIO`;
  const any = b.weight || b.leafWeight || (b.weightDevice?.length ?? 0) > 0 ||
    THROTTLES.some(([k]) => (b[k]?.length ?? 0) > 0);
  if (!any) return;
  if (b.weight) checkInt(b.weight, `${f}.weight`, 10, 1000);
  if (b.leafWeight) checkInt(b.leafWeight, `${f}.leafWeight`, 10, 1000);
  const version = plan.host.versionOf("blkio") === 1 ? 1 : plan.need("io", f);
  if (version === 1) {
    const bfq = plan.host.has("blkio", "blkio.bfq.weight");
    const weightFile = bfq ? "blkio.bfq.weight" : "blkio.weight";
    const weightDeviceFile = bfq ? "blkio.bfq.weight_device" : "blkio.weight_device";
    if (b.weight) plan.add("blkio", weightFile, String(b.weight), `${f}.weight`);
    if (b.leafWeight) {
      plan.add("blkio", "blkio.leaf_weight", String(b.leafWeight), `${f}.leafWeight`);
    }
    (b.weightDevice ?? []).forEach((d, i) => {
      const g = `${f}.weightDevice[${i}]`;
      checkInt(d.major, `${g}.major`, 0);
      checkInt(d.minor, `${g}.minor`, 0);
      if (d.weight) {
        checkInt(d.weight, `${g}.weight`, 10, 1000);
        plan.add("blkio", weightDeviceFile, `${d.major}:${d.minor} ${d.weight}`, `${g}.weight`);
      }
      if (d.leafWeight) {
        checkInt(d.leafWeight, `${g}.leafWeight`, 10, 1000);
        plan.add(
          "blkio",
          "blkio.leaf_weight_device",
          `${d.major}:${d.minor} ${d.leafWeight}`,
          `${g}.leafWeight`,
        );
      }
    });
    for (const [key, file] of THROTTLES) {
      for (
        const [value, field] of throttleLines(b[key], `${f}.${key}`, (a, c, r) => `${a}:${c} ${r}`)
      ) {
        plan.add("blkio", file, value, field);
      }
    }
    return;
  }
  // cgroup v2: io
  if (b.leafWeight) v1Only(`${f}.leafWeight`);
  const bfq = plan.host.has("io", "io.bfq.weight");
  if (b.weight) {
    if (bfq) plan.add("io", "io.bfq.weight", String(b.weight), `${f}.weight`);
    else plan.add("io", "io.weight", String(blkioWeightToIoWeight(b.weight)), `${f}.weight`);
  }
  (b.weightDevice ?? []).forEach((d, i) => {
    const g = `${f}.weightDevice[${i}]`;
    if (d.leafWeight) v1Only(`${g}.leafWeight`);
    if (!d.weight) return;
    checkInt(d.major, `${g}.major`, 0);
    checkInt(d.minor, `${g}.minor`, 0);
    checkInt(d.weight, `${g}.weight`, 10, 1000);
    if (!bfq) {
      throw new CgroupError(
        `${g}.weight`,
        "per-device weights on cgroup v2 need the BFQ scheduler (io.bfq.weight)",
      );
    }
    plan.add("io", "io.bfq.weight", `${d.major}:${d.minor} ${d.weight}`, `${g}.weight`);
  });
  for (const [key, , name] of THROTTLES) {
    const lines = throttleLines(
      b[key],
      `${f}.${key}`,
      (a, c, r) => `${a}:${c} ${name}=${r === 0 ? "max" : r}`,
    );
    for (const [value, field] of lines) plan.add("io", "io.max", value, field);
  }
}

const PAGE_SIZE = /^[1-9][0-9]*[KMGT]B$/;

function hugetlb(plan: Plan, limits: LinuxResources["hugepageLimits"]): void {
  if (!limits || limits.length === 0) return;
  const version = plan.need("hugetlb", `${R}.hugepageLimits`);
  limits.forEach((l, i) => {
    const f = `${R}.hugepageLimits[${i}]`;
    if (typeof l.pageSize !== "string" || !PAGE_SIZE.test(l.pageSize)) {
      throw new CgroupError(
        `${f}.pageSize`,
        `invalid hugetlb page size ${JSON.stringify(l.pageSize)}`,
      );
    }
    checkInt(l.limit, `${f}.limit`, 0);
    const [file, rsvd] = version === 1
      ? [`hugetlb.${l.pageSize}.limit_in_bytes`, `hugetlb.${l.pageSize}.rsvd.limit_in_bytes`]
      : [`hugetlb.${l.pageSize}.max`, `hugetlb.${l.pageSize}.rsvd.max`];
    if (!plan.host.has("hugetlb", file)) {
      throw new CgroupError(
        `${f}.pageSize`,
        `hugetlb page size ${
          JSON.stringify(l.pageSize)
        } is not supported on this host (no ${file})`,
      );
    }
    plan.add("hugetlb", file, String(l.limit), `${f}.limit`);
    plan.addIfPresent("hugetlb", rsvd, String(l.limit), `${f}.limit`);
  });
}

/**
 * Renders one OCI device rule as the v1 `devices.allow`/`devices.deny` text,
 * e.g. `c 1:3 rwm` or `a *:* rwm`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deviceRuleString } from "./resources.ts";
 * assert.equal(deviceRuleString({ allow: true, type: "c", major: 1, minor: 3, access: "rwm" }), "c 1:3 rwm");
 * assert.equal(deviceRuleString({ allow: false }), "a *:* rwm");
 * ```
 */
export function deviceRuleString(rule: LinuxDeviceCgroup, field = `${R}.devices`): string {
  const type = rule.type ?? "a";
  if (!["a", "b", "c"].includes(type)) {
    throw new CgroupError(`${field}.type`, `invalid device type ${JSON.stringify(type)}`);
  }
  const access = rule.access === undefined || rule.access === "" ? "rwm" : rule.access;
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) {
    throw new CgroupError(`${field}.access`, `invalid device access ${JSON.stringify(access)}`);
  }
  const num = (n: number | null | undefined, k: string) => {
    if (n === undefined || n === null || n === -1) return "*";
    checkInt(n, `${field}.${k}`, 0);
    return String(n);
  };
  return `${type} ${num(rule.major, "major")}:${num(rule.minor, "minor")} ${access}`;
}

/** A rule matching every device with every access. */
function isWildcard(rule: LinuxDeviceCgroup): boolean {
  const all = (n: number | null | undefined) => n === undefined || n === null || n === -1;
  const access = rule.access ?? "rwm";
  return (rule.type ?? "a") === "a" && all(rule.major) && all(rule.minor) &&
    (access === "" || (access.length === 3 && new Set(access).size === 3));
}

/**
 * Whether a device rule list leaves every device allowed (so a v2 host needs no
 * eBPF filter for it): no rules, or no deny rule after the last allow-all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isAllowAllDevices } from "./resources.ts";
 * assert.ok(isAllowAllDevices([]));
 * assert.ok(isAllowAllDevices([{ allow: true, access: "rwm" }]));
 * assert.ok(!isAllowAllDevices([{ allow: false, access: "rwm" }]));
 * ```
 */
export function isAllowAllDevices(rules: LinuxDeviceCgroup[] | undefined): boolean {
  if (!rules) return true;
  let last = -1;
  rules.forEach((r, i) => {
    if (isWildcard(r)) last = i;
  });
  if (last >= 0 && !rules[last]!.allow) return false;
  return rules.slice(last + 1).every((r) => r.allow);
}

function devices(plan: Plan, rules: LinuxDeviceCgroup[] | undefined): void {
  if (!rules || rules.length === 0) return;
  const f = `${R}.devices`;
  const version = plan.host.versionOf("devices");
  if (version === 1) {
    rules.forEach((r, i) => {
      const value = deviceRuleString(r, `${f}[${i}]`);
      plan.add("devices", r.allow ? "devices.allow" : "devices.deny", value, `${f}[${i}]`);
    });
    return;
  }
  rules.forEach((r, i) => deviceRuleString(r, `${f}[${i}]`)); // validate anyway
  if (isAllowAllDevices(rules)) return;
  if (plan.host.versionOf("cgroup") === 2) {
    throw new CgroupError(
      f,
      "device rules on cgroup v2 need the eBPF device filter, not available yet",
    );
  }
  throw new CgroupError(f, "the devices cgroup controller is not available on this host");
}

function network(plan: Plan, n: LinuxResources["network"]): void {
  if (!n) return;
  const f = `${R}.network`;
  if (n.classID !== undefined && n.classID !== 0) {
    checkInt(n.classID, `${f}.classID`, 0, 0xffffffff);
    if (plan.need("net_cls", `${f}.classID`) !== 1) v1Only(`${f}.classID`);
    plan.add("net_cls", "net_cls.classid", String(n.classID), `${f}.classID`);
  }
  (n.priorities ?? []).forEach((p, i) => {
    const g = `${f}.priorities[${i}]`;
    if (plan.need("net_prio", g) !== 1) v1Only(g);
    if (!/^[^\s/]+$/.test(p.name)) {
      throw new CgroupError(`${g}.name`, `invalid interface name ${JSON.stringify(p.name)}`);
    }
    checkInt(p.priority, `${g}.priority`, 0);
    plan.add("net_prio", "net_prio.ifpriomap", `${p.name} ${p.priority}`, g);
  });
}

function rdma(plan: Plan, r: LinuxResources["rdma"]): void {
  if (!r) return;
  for (const [dev, lim] of Object.entries(r)) {
    const f = `${R}.rdma[${JSON.stringify(dev)}]`;
    const parts: string[] = [];
    if (lim.hcaHandles !== undefined) {
      checkInt(lim.hcaHandles, `${f}.hcaHandles`, 0);
      parts.push(`hca_handle=${lim.hcaHandles}`);
    }
    if (lim.hcaObjects !== undefined) {
      checkInt(lim.hcaObjects, `${f}.hcaObjects`, 0);
      parts.push(`hca_object=${lim.hcaObjects}`);
    }
    if (parts.length === 0) continue;
    if (!/^[^\s/]+$/.test(dev)) throw new CgroupError(f, "invalid rdma device name");
    plan.need("rdma", f);
    plan.add("rdma", "rdma.max", `${dev} ${parts.join(" ")}`, f);
  }
}

function unified(plan: Plan, u: Record<string, string> | undefined): void {
  if (!u) return;
  for (const [key, value] of Object.entries(u)) {
    const f = `${R}.unified[${JSON.stringify(key)}]`;
    if (key === "" || key.includes("/") || key === "." || key === "..") {
      throw new CgroupError(f, "must be a cgroup file name");
    }
    const dot = key.indexOf(".");
    if (dot <= 0) throw new CgroupError(f, "must be a cgroup file name (controller.file)");
    const controller = key.slice(0, dot);
    if (plan.host.versionOf(controller) !== 2) {
      throw new CgroupError(
        f,
        plan.host.versionOf(controller) === 1
          ? `cgroup v2 files cannot be set: this host runs the ${controller} controller on cgroup v1`
          : `the ${controller} cgroup v2 controller is not available on this host`,
      );
    }
    plan.add(controller, key, value, f);
  }
}

/**
 * Translates OCI resources into the list of cgroup writes, in the order to apply
 * them. Each section goes to whatever version the host runs its controller on (so a
 * hybrid host can take hugetlb on v2 and memory on v1). Anything the host cannot
 * honour throws `CgroupError` naming the field, before any write is returned.
 *
 * @example Memory and CPU on cgroup v2
 * ```ts
 * import assert from "node:assert/strict";
 * import { permissiveHost, translateResources } from "./resources.ts";
 * const writes = translateResources(
 *   { memory: { limit: 100, swap: 300 }, cpu: { shares: 1024, quota: 50000, period: 100000 } },
 *   permissiveHost(2),
 * );
 * const files = Object.fromEntries(writes.map((w) => [w.file, w.value]));
 * assert.equal(files["memory.swap.max"], "200");
 * assert.equal(files["memory.max"], "100");
 * assert.equal(files["cpu.weight"], "39");
 * assert.equal(files["cpu.max"], "50000 100000");
 * ```
 */
export function translateResources(
  resources: LinuxResources,
  host: CgroupHostFiles,
  opts: TranslateOptions = {},
): CgroupWrite[] {
  const plan = new Plan(host);
  devices(plan, resources.devices);
  if (resources.memory) memory(plan, resources.memory, opts);
  if (resources.cpu) cpu(plan, resources.cpu);
  // runtime-spec 1.3: unset leaves pids.max alone, a negative limit is "max", 0 is 0.
  if (resources.pids?.limit !== undefined) {
    const limit = resources.pids.limit;
    const f = `${R}.pids.limit`;
    checkInt(limit, f);
    plan.need("pids", `${R}.pids`);
    plan.add("pids", "pids.max", limit < 0 ? "max" : String(limit), f);
  }
  if (resources.blockIO) blockIO(plan, resources.blockIO);
  hugetlb(plan, resources.hugepageLimits);
  network(plan, resources.network);
  rdma(plan, resources.rdma);
  unified(plan, resources.unified);
  return plan.writes;
}

/**
 * The first field of `resources` that asks for something, or undefined when the
 * resources ask for nothing (empty sections, zero "unset" values, allow-all devices).
 * The driver without cgroups uses it to refuse limits it cannot apply.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstResourceField } from "./resources.ts";
 * assert.equal(firstResourceField({ memory: {}, pids: { limit: 10 } }), "linux.resources.pids.limit");
 * assert.equal(firstResourceField({ devices: [{ allow: true, access: "rwm" }] }), undefined);
 * ```
 */
export function firstResourceField(resources: LinuxResources): string | undefined {
  try {
    const writes = translateResources(resources, {
      versionOf: (c) => (c === "io" ? undefined : 1),
      has: () => true,
    });
    const allowAll = isAllowAllDevices(resources.devices);
    return writes.find((w) => !(w.controller === "devices" && allowAll))?.field;
  } catch (e) {
    if (e instanceof CgroupError) return e.field;
    throw e;
  }
}
