/**
 * `nsinit events [--stats] [--interval 5s] ID`: the container's events as JSON
 * lines, in runc's shape (`types.Event` of runc's `types/events.go`):
 * `{"type":"stats","id":ID,"data":{...}}` every interval, and
 * `{"type":"oom","id":ID}` when the OOM killer fires in the container, until the
 * container stops or its cgroup is removed. With `--stats`, one stats event and
 * exit.
 *
 * The stats data follows runc's `types.Stats` with Go's `omitempty` rules
 * applied; `cpuset` statistics are not reported, `intel_rdt` is `{}` and
 * `network_interfaces` is `null` (as runc reports them without Intel RDT or
 * network stats).
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import type { BlkioEntry, CgroupStats, MemoryEntry } from "../../cgroups/stats.ts";
import { bool, checkArgs, parseFlags, str, UsageError } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { print } from "../log.ts";

/** One line of `nsinit events` output. */
export interface RuncEvent {
  /** `stats` or `oom`. */
  type: "stats" | "oom";
  /** The container id. */
  id: string;
  /** The stats, for `stats` events. */
  data?: Record<string, unknown>;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration (`5s`, `500ms`, `1m30s`, `1.5h`) into milliseconds, as
 * runc's `--interval` takes it. Throws a `UsageError` naming `flag`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./events.ts";
 * assert.equal(parseDuration("1m30s", "interval"), 90_000);
 * assert.equal(parseDuration("250ms", "interval"), 250);
 * assert.equal(parseDuration("0", "interval"), 0);
 * ```
 */
export function parseDuration(value: string, flag: string): number {
  const bad = (why: string) =>
    new UsageError(`invalid value "${value}" for flag --${flag}: ${why}`);
  let s = value;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw bad("not a duration (e.g. 5s, 500ms, 1m30s)");
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = re.exec(s);
    if (!m) throw bad("not a duration (e.g. 5s, 500ms, 1m30s)");
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** Go's `omitempty`: drop zero numbers, empty strings, empty or absent lists. */
function omitEmpty(o: Record<string, unknown>, keep: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (keep.includes(k)) out[k] = v;
    else if (v === 0 || v === "" || v === undefined || v === null) continue;
    else if (Array.isArray(v) && v.length === 0) continue;
    else out[k] = v;
  }
  return out;
}

function memoryEntry(e: MemoryEntry): Record<string, unknown> {
  return omitEmpty({ limit: e.limit, usage: e.usage, max: e.max, failcnt: e.failcnt }, [
    "limit",
    "failcnt",
  ]);
}

function blkio(list: BlkioEntry[]): Record<string, unknown>[] {
  return list.map((e) => omitEmpty({ major: e.major, minor: e.minor, op: e.op, value: e.value }));
}

/**
 * Stats in runc's `events` JSON shape (`types.Stats`, `omitempty` applied).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runcStats } from "./events.ts";
 * import { emptyStats } from "../../cgroups/stats.ts";
 * const s = emptyStats();
 * s.pids.current = 3;
 * const data = runcStats(s);
 * assert.equal(JSON.stringify(data.pids), '{"current":3}');
 * assert.equal(JSON.stringify(data.cpu), '{"usage":{"kernel":0,"user":0},"throttling":{}}');
 * ```
 */
export function runcStats(s: CgroupStats): Record<string, unknown> {
  const u = s.cpu.usage;
  const t = s.cpu.throttling;
  const m = s.memory;
  const b = s.blkio;
  const hugetlb: Record<string, unknown> = {};
  for (const [size, h] of Object.entries(s.hugetlb)) {
    hugetlb[size] = omitEmpty({ usage: h.usage, max: h.max, failcnt: h.failcnt }, ["failcnt"]);
  }
  return {
    cpu: {
      usage: omitEmpty({
        total: u.total,
        percpu: u.percpu,
        percpu_kernel: u.percpu_kernel,
        percpu_user: u.percpu_user,
        kernel: u.kernel,
        user: u.user,
      }, ["kernel", "user"]),
      throttling: omitEmpty({
        periods: t.periods,
        throttledPeriods: t.throttledPeriods,
        throttledTime: t.throttledTime,
      }),
    },
    memory: omitEmpty({
      cache: m.cache,
      usage: memoryEntry(m.usage),
      swap: memoryEntry(m.swap),
      kernel: memoryEntry(m.kernel),
      kernelTCP: memoryEntry(m.kernelTCP),
      raw: Object.keys(m.raw).length > 0 ? m.raw : undefined,
    }),
    pids: omitEmpty({ current: s.pids.current, limit: s.pids.limit }),
    blkio: omitEmpty({
      ioServiceBytesRecursive: blkio(b.ioServiceBytesRecursive),
      ioServicedRecursive: blkio(b.ioServicedRecursive),
      ioQueueRecursive: blkio(b.ioQueueRecursive),
      ioServiceTimeRecursive: blkio(b.ioServiceTimeRecursive),
      ioWaitTimeRecursive: blkio(b.ioWaitTimeRecursive),
      ioMergedRecursive: blkio(b.ioMergedRecursive),
      ioTimeRecursive: blkio(b.ioTimeRecursive),
      sectorsRecursive: blkio(b.sectorsRecursive),
    }),
    hugetlb,
    intel_rdt: {},
    network_interfaces: null,
  };
}

function emit(e: RuncEvent): void {
  print(JSON.stringify(e) + "\n");
}

/** How often the status of the container is checked while streaming, ms. */
const STATUS_POLL_MS = 200;
/** How long an OOM notification may trail the death of the init it killed, ms. */
const OOM_GRACE_MS = 200;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Runs `nsinit events`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    interval: { type: "string" },
    stats: { type: "boolean" },
  });
  checkArgs("events", positionals, 1, "exact");
  const interval = parseDuration(str(values, "interval") ?? "5s", "interval");
  if (interval <= 0) throw new UsageError("duration interval must be greater than 0");
  const container = await new Factory({ root: g.root }).load(positionals[0]!);
  const id = container.id;
  if (await container.status() === "stopped") {
    throw new Error(`container with id ${id} is not running`);
  }
  if (bool(values, "stats")) {
    emit({ type: "stats", id, data: runcStats(await container.stats()) });
    return 0;
  }

  const stop = new AbortController();
  const events = new AbortController();
  // OOM notifications until the cgroup goes away or we stop.
  const oom = (async () => {
    try {
      for await (const ev of container.cgroup.events({ signal: events.signal })) {
        if (ev.type === "oom") emit({ type: "oom", id });
      }
      stop.abort(); // the cgroup was removed
    } catch (e) {
      g.logger.warn(`no OOM notifications for ${id}: ${(e as Error).message}`);
    }
  })();
  let next = Date.now() + interval;
  try {
    while (!stop.signal.aborted) {
      await sleep(Math.max(0, Math.min(STATUS_POLL_MS, next - Date.now())), stop.signal);
      if (stop.signal.aborted) break;
      if (await container.status() === "stopped") {
        // Let an OOM notification that raced the init's death be printed first.
        await sleep(OOM_GRACE_MS, stop.signal);
        break;
      }
      if (Date.now() >= next) {
        next += interval;
        try {
          emit({ type: "stats", id, data: runcStats(await container.stats()) });
        } catch (e) {
          g.logger.error(`stats of ${id}: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    events.abort();
    await oom;
  }
  return 0;
}
