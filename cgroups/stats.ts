/**
 * Cgroup resource usage, in the shape of runc's `events --stats` JSON
 * (`types/events.go` in runc: the same property names), and readers for the v1
 * and v2 files. Readers take directories, so tests point them at temp trees.
 *
 * A file that does not exist (a controller that is not mounted, swap accounting
 * off) leaves its numbers at 0. "max" (unlimited) reads as 2^64-1 for limits,
 * as runc reports it, except `pids.limit` where runc reports 0. Numbers are
 * JavaScript numbers: exact up to 2^53, approximate above (only "unlimited"
 * values get that large).
 *
 * @module
 */

/** CPU time, in nanoseconds. */
export interface CpuUsage {
  /** Total CPU time. */
  total: number;
  /** Per-CPU total (v1 only). */
  percpu: number[];
  /** Per-CPU kernel time (v1 only). */
  percpu_kernel: number[];
  /** Per-CPU user time (v1 only). */
  percpu_user: number[];
  /** Time in kernel mode. */
  kernel: number;
  /** Time in user mode. */
  user: number;
}

/** CFS throttling counters. */
export interface Throttling {
  /** Enforcement periods elapsed. */
  periods: number;
  /** Periods in which the group was throttled. */
  throttledPeriods: number;
  /** Total time throttled, nanoseconds. */
  throttledTime: number;
}

/** One memory counter family (usage, swap, kernel, kernel TCP). */
export interface MemoryEntry {
  /** The limit (2^64-1 when unlimited on v2; v1's own "unlimited" value on v1). */
  limit: number;
  /** Current usage, bytes. */
  usage: number;
  /** Peak usage, bytes (0 when the host does not track it). */
  max: number;
  /** Times the limit was hit. */
  failcnt: number;
}

/** Memory statistics. */
export interface MemoryStats {
  /** Page cache, bytes (`cache` on v1, `file` on v2). */
  cache: number;
  /** Memory usage. */
  usage: MemoryEntry;
  /** Memory+swap, as v1 reports it (v2 figures are converted to match). */
  swap: MemoryEntry;
  /** Kernel memory (v1). */
  kernel: MemoryEntry;
  /** Kernel TCP buffers (v1). */
  kernelTCP: MemoryEntry;
  /** Every key of `memory.stat`. */
  raw: Record<string, number>;
}

/** Process counts. */
export interface PidsStats {
  /** Processes now. */
  current: number;
  /** The limit; 0 when unlimited. */
  limit: number;
}

/** One block I/O counter for one device. */
export interface BlkioEntry {
  /** Device major number. */
  major: number;
  /** Device minor number. */
  minor: number;
  /** `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`, or "" for single-value files. */
  op: string;
  /** The counter. */
  value: number;
}

/** Block I/O statistics (runc's names; the CFQ-only lists stay empty elsewhere). */
export interface BlkioStats {
  /** Bytes transferred. */
  ioServiceBytesRecursive: BlkioEntry[];
  /** I/O operations. */
  ioServicedRecursive: BlkioEntry[];
  /** Queued operations (CFQ). */
  ioQueueRecursive: BlkioEntry[];
  /** Service time (CFQ). */
  ioServiceTimeRecursive: BlkioEntry[];
  /** Wait time (CFQ). */
  ioWaitTimeRecursive: BlkioEntry[];
  /** Merged operations (CFQ). */
  ioMergedRecursive: BlkioEntry[];
  /** Device time (CFQ). */
  ioTimeRecursive: BlkioEntry[];
  /** Sectors transferred (CFQ). */
  sectorsRecursive: BlkioEntry[];
}

/** Hugetlb usage for one page size. */
export interface HugetlbStats {
  /** Current usage, bytes. */
  usage: number;
  /** Peak usage, bytes (v1 only). */
  max: number;
  /** Times the limit was hit. */
  failcnt: number;
}

/** Resource usage of one container's cgroup(s). */
export interface CgroupStats {
  /** CPU. */
  cpu: { usage: CpuUsage; throttling: Throttling };
  /** Memory. */
  memory: MemoryStats;
  /** pids. */
  pids: PidsStats;
  /** Block I/O. */
  blkio: BlkioStats;
  /** Hugetlb, keyed by page size (`2MB`). */
  hugetlb: Record<string, HugetlbStats>;
}

/** 2^64-1, what runc reports for "max". */
const MAX_U64 = 18446744073709551615;
/** USER_HZ, the unit of `cpuacct.stat`. */
const CLOCK_TICKS = 100;
const NS_PER_TICK = 1e9 / CLOCK_TICKS;

function emptyMemoryEntry(): MemoryEntry {
  return { limit: 0, usage: 0, max: 0, failcnt: 0 };
}

/**
 * Stats with every number 0 and every list empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyStats } from "./stats.ts";
 * assert.equal(emptyStats().memory.usage.usage, 0);
 * ```
 */
export function emptyStats(): CgroupStats {
  return {
    cpu: {
      usage: { total: 0, percpu: [], percpu_kernel: [], percpu_user: [], kernel: 0, user: 0 },
      throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 },
    },
    memory: {
      cache: 0,
      usage: emptyMemoryEntry(),
      swap: emptyMemoryEntry(),
      kernel: emptyMemoryEntry(),
      kernelTCP: emptyMemoryEntry(),
      raw: {},
    },
    pids: { current: 0, limit: 0 },
    blkio: {
      ioServiceBytesRecursive: [],
      ioServicedRecursive: [],
      ioQueueRecursive: [],
      ioServiceTimeRecursive: [],
      ioWaitTimeRecursive: [],
      ioMergedRecursive: [],
      ioTimeRecursive: [],
      sectorsRecursive: [],
    },
    hugetlb: {},
  };
}

/** Reads `dir/file`, or undefined when it does not exist. */
async function readOpt(dir: string, file: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(`${dir}/${file}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Parses one number; `max` is 2^64-1; missing or garbage is 0. */
function num(text: string | undefined): number {
  if (text === undefined) return 0;
  const t = text.trim();
  if (t === "max") return MAX_U64;
  const n = Number(t);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Parses a flat keyed file (`key value` per line), as `memory.stat` and `cpu.stat`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseKeyedFile } from "./stats.ts";
 * assert.equal(parseKeyedFile("nr_periods 3\nnr_throttled 1\n").nr_throttled, 1);
 * ```
 */
export function parseKeyedFile(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = num(v);
  }
  return out;
}

/**
 * Parses a v1 blkio file (`8:0 Read 123` lines, or `8:0 123`; the `Total` line is skipped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBlkioFile } from "./stats.ts";
 * const [e] = parseBlkioFile("8:0 Read 4096\nTotal 4096\n");
 * assert.equal(e.major, 8);
 * assert.equal(e.op, "Read");
 * assert.equal(e.value, 4096);
 * ```
 */
export function parseBlkioFile(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(f[0] ?? "");
    if (!m) continue;
    const [op, value] = f.length >= 3 ? [f[1]!, f[2]] : ["", f[1]];
    out.push({ major: Number(m[1]), minor: Number(m[2]), op, value: num(value) });
  }
  return out;
}

/**
 * Parses v2 `io.stat` into runc's two lists: bytes (`rbytes`/`wbytes`/`dbytes`)
 * and operations (`rios`/`wios`/`dios`) as `Read`/`Write`/`Discard` entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIoStat } from "./stats.ts";
 * const { bytes, ios } = parseIoStat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
 * assert.equal(bytes[1].op, "Write");
 * assert.equal(bytes[1].value, 20);
 * assert.equal(ios[0].value, 1);
 * ```
 */
export function parseIoStat(text: string | undefined): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  const ops: Record<string, [BlkioEntry[], string]> = {
    rbytes: [bytes, "Read"],
    wbytes: [bytes, "Write"],
    dbytes: [bytes, "Discard"],
    rios: [ios, "Read"],
    wios: [ios, "Write"],
    dios: [ios, "Discard"],
  };
  for (const line of (text ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(f[0] ?? "");
    if (!m) continue;
    for (const kv of f.slice(1)) {
      const [k, v] = kv.split("=");
      const target = ops[k ?? ""];
      if (target) {
        target[0].push({ major: Number(m[1]), minor: Number(m[2]), op: target[1], value: num(v) });
      }
    }
  }
  return { bytes, ios };
}

async function memoryEntryV1(dir: string, prefix: string): Promise<MemoryEntry> {
  const [usage, max, failcnt, limit] = await Promise.all(
    ["usage_in_bytes", "max_usage_in_bytes", "failcnt", "limit_in_bytes"].map((s) =>
      readOpt(dir, `${prefix}.${s}`)
    ),
  );
  return { usage: num(usage), max: num(max), failcnt: num(failcnt), limit: num(limit) };
}

/** Hugetlb page sizes for which `dir` has files ending in one of `suffixes`. */
async function hugetlbSizes(dir: string, suffix: string): Promise<string[]> {
  const sizes: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^hugetlb\.([0-9]+[KMGT]B)\.(.+)$/.exec(e.name);
      if (m && m[2] === suffix) sizes.push(m[1]!);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return sizes.sort();
}

async function hugetlbV1(dir: string, stats: CgroupStats): Promise<void> {
  for (const size of await hugetlbSizes(dir, "usage_in_bytes")) {
    const p = `hugetlb.${size}`;
    stats.hugetlb[size] = {
      usage: num(await readOpt(dir, `${p}.usage_in_bytes`)),
      max: num(await readOpt(dir, `${p}.max_usage_in_bytes`)),
      failcnt: num(await readOpt(dir, `${p}.failcnt`)),
    };
  }
}

async function hugetlbV2(dir: string, stats: CgroupStats): Promise<void> {
  for (const size of await hugetlbSizes(dir, "current")) {
    const p = `hugetlb.${size}`;
    stats.hugetlb[size] = {
      usage: num(await readOpt(dir, `${p}.current`)),
      max: 0,
      failcnt: parseKeyedFile(await readOpt(dir, `${p}.events`)).max ?? 0,
    };
  }
}

async function pidsStats(dir: string, stats: CgroupStats): Promise<void> {
  const max = await readOpt(dir, "pids.max");
  stats.pids = {
    current: num(await readOpt(dir, "pids.current")),
    limit: max === undefined || max.trim() === "max" ? 0 : num(max),
  };
}

/** Options for {@link readStatsV1}. */
export interface StatsV1Options {
  /**
   * The container's directory in the unified tree of a hybrid host: controllers
   * that are on v2 there and not on v1 (hugetlb on some hosts) are read from it.
   */
  unified?: string;
}

/**
 * Reads stats from v1 directories, keyed by controller (as `CgroupManager.paths()`).
 *
 * @example Reading a fake pids directory
 * ```ts
 * import assert from "node:assert/strict";
 * import { readStatsV1 } from "./stats.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/pids.current`, "3\n");
 * await Deno.writeTextFile(`${dir}/pids.max`, "max\n");
 * const stats = await readStatsV1({ pids: dir });
 * assert.equal(stats.pids.current, 3);
 * assert.equal(stats.pids.limit, 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readStatsV1(
  paths: Record<string, string>,
  opts: StatsV1Options = {},
): Promise<CgroupStats> {
  const stats = emptyStats();
  const cpuacct = paths.cpuacct;
  if (cpuacct) {
    const u = stats.cpu.usage;
    u.total = num(await readOpt(cpuacct, "cpuacct.usage"));
    u.percpu = ((await readOpt(cpuacct, "cpuacct.usage_percpu")) ?? "").trim().split(/\s+/)
      .filter((s) => s !== "").map(num);
    const all = ((await readOpt(cpuacct, "cpuacct.usage_all")) ?? "").trim().split("\n").slice(1);
    for (const line of all) {
      const [, user, sys] = line.trim().split(/\s+/);
      if (user === undefined || sys === undefined) continue;
      u.percpu_user.push(num(user));
      u.percpu_kernel.push(num(sys));
    }
    const st = parseKeyedFile(await readOpt(cpuacct, "cpuacct.stat"));
    u.user = (st.user ?? 0) * NS_PER_TICK;
    u.kernel = (st.system ?? 0) * NS_PER_TICK;
  }
  if (paths.cpu) {
    const st = parseKeyedFile(await readOpt(paths.cpu, "cpu.stat"));
    stats.cpu.throttling = {
      periods: st.nr_periods ?? 0,
      throttledPeriods: st.nr_throttled ?? 0,
      throttledTime: st.throttled_time ?? 0,
    };
  }
  const mem = paths.memory;
  if (mem) {
    const raw = parseKeyedFile(await readOpt(mem, "memory.stat"));
    stats.memory = {
      cache: raw.cache ?? 0,
      usage: await memoryEntryV1(mem, "memory"),
      swap: await memoryEntryV1(mem, "memory.memsw"),
      kernel: await memoryEntryV1(mem, "memory.kmem"),
      kernelTCP: await memoryEntryV1(mem, "memory.kmem.tcp"),
      raw,
    };
  }
  if (paths.pids) await pidsStats(paths.pids, stats);
  const blk = paths.blkio;
  if (blk) {
    const b = stats.blkio;
    const first = async (...files: string[]) => {
      for (const f of files) {
        const entries = parseBlkioFile(await readOpt(blk, f));
        if (entries.length > 0) return entries;
      }
      return [];
    };
    b.ioServiceBytesRecursive = await first(
      "blkio.io_service_bytes_recursive",
      "blkio.bfq.io_service_bytes_recursive",
      "blkio.throttle.io_service_bytes_recursive",
    );
    b.ioServicedRecursive = await first(
      "blkio.io_serviced_recursive",
      "blkio.bfq.io_serviced_recursive",
      "blkio.throttle.io_serviced_recursive",
    );
    b.ioQueueRecursive = await first("blkio.io_queued_recursive");
    b.ioServiceTimeRecursive = await first("blkio.io_service_time_recursive");
    b.ioWaitTimeRecursive = await first("blkio.io_wait_time_recursive");
    b.ioMergedRecursive = await first("blkio.io_merged_recursive");
    b.ioTimeRecursive = await first("blkio.time_recursive");
    b.sectorsRecursive = await first("blkio.sectors_recursive");
  }
  if (paths.hugetlb) await hugetlbV1(paths.hugetlb, stats);
  else if (opts.unified) await hugetlbV2(opts.unified, stats);
  return stats;
}

/**
 * Reads stats from one cgroup v2 directory.
 *
 * @example Reading a fake cpu.stat
 * ```ts
 * import assert from "node:assert/strict";
 * import { readStatsV2 } from "./stats.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/cpu.stat`, "usage_usec 5\nuser_usec 3\nsystem_usec 2\n");
 * const stats = await readStatsV2(dir);
 * assert.equal(stats.cpu.usage.total, 5000);
 * assert.equal(stats.cpu.usage.kernel, 2000);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readStatsV2(dir: string): Promise<CgroupStats> {
  const stats = emptyStats();
  const cpu = parseKeyedFile(await readOpt(dir, "cpu.stat"));
  const u = stats.cpu.usage;
  u.total = (cpu.usage_usec ?? 0) * 1000;
  u.user = (cpu.user_usec ?? 0) * 1000;
  u.kernel = (cpu.system_usec ?? 0) * 1000;
  stats.cpu.throttling = {
    periods: cpu.nr_periods ?? 0,
    throttledPeriods: cpu.nr_throttled ?? 0,
    throttledTime: (cpu.throttled_usec ?? 0) * 1000,
  };
  const raw = parseKeyedFile(await readOpt(dir, "memory.stat"));
  const events = parseKeyedFile(await readOpt(dir, "memory.events"));
  const usage: MemoryEntry = {
    usage: num(await readOpt(dir, "memory.current")),
    limit: num(await readOpt(dir, "memory.max")),
    max: num(await readOpt(dir, "memory.peak")),
    failcnt: events.max ?? 0,
  };
  const swapEvents = parseKeyedFile(await readOpt(dir, "memory.swap.events"));
  const swapCurrent = await readOpt(dir, "memory.swap.current");
  const swap: MemoryEntry = emptyMemoryEntry();
  if (swapCurrent !== undefined) {
    // v1 reports memory+swap; v2 counts swap alone: add memory for compatibility, as runc does.
    swap.usage = num(swapCurrent) + usage.usage;
    const swapMax = num(await readOpt(dir, "memory.swap.max"));
    swap.limit = swapMax === MAX_U64 || usage.limit === MAX_U64 ? MAX_U64 : swapMax + usage.limit;
    swap.max = num(await readOpt(dir, "memory.swap.peak"));
    swap.failcnt = swapEvents.max ?? 0;
  }
  stats.memory = {
    cache: raw.file ?? 0,
    usage,
    swap,
    kernel: emptyMemoryEntry(),
    kernelTCP: emptyMemoryEntry(),
    raw,
  };
  await pidsStats(dir, stats);
  const io = parseIoStat(await readOpt(dir, "io.stat"));
  stats.blkio.ioServiceBytesRecursive = io.bytes;
  stats.blkio.ioServicedRecursive = io.ios;
  await hugetlbV2(dir, stats);
  return stats;
}
