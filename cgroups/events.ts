/**
 * cgroup notifications (OOM and memory pressure) as async iterables, shared by
 * the cgroupfs drivers. The waiting is done by the native helper in
 * `native/src/lib_events.c` with `nonblocking: true` calls, so the event loop
 * stays free; every wait also watches an eventfd that an `AbortSignal` signals,
 * so aborting ends the iteration at once.
 *
 * cgroup v1 (and the v1 memory controller of hybrid hosts):
 * - OOM: an eventfd registered on `memory.oom_control` through
 *   `cgroup.event_control`; one event per notification.
 * - Pressure: one eventfd per level at or above the requested one, registered on
 *   `memory.pressure_level` (mode `default`). The kernel signals every listener
 *   whose level is at or below the current pressure, so a wake reports only the
 *   highest level that fired.
 * - The kernel also signals every eventfd when the cgroup is removed: a wake
 *   after which `cgroup.event_control` is gone ends the iteration.
 *
 * cgroup v2:
 * - OOM: inotify (`IN_MODIFY`) on `memory.events`; an event when its `oom_kill`
 *   counter grows (kills close together may arrive as one event).
 * - Pressure: PSI triggers on `memory.pressure`, see {@linkcode PSI_TRIGGERS}.
 * - `POLLERR` on a trigger, or the directory gone, ends the iteration.
 *
 * Both check every `checkIntervalMs` (default 1 s) whether the cgroup still
 * exists. Registration happens synchronously inside the first `next()` call, so
 * once that call has been made no later event is missed.
 *
 * @module
 */

import { CgroupError, SyscallError } from "../errors.ts";
import { check, cstr, native } from "../native/ffi.ts";
import { parseKeyedFile } from "./stats.ts";
import { exists } from "../util/fs.ts";

/** A cgroup notification event. */
export interface CgroupEvent {
  /** `oom` when the OOM killer fired; `memory-pressure` with `level` otherwise. */
  type: "oom" | "memory-pressure";
  /** The pressure level for `memory-pressure` events. */
  level?: PressureLevel;
}

/** Memory pressure levels, as cgroup v1's memory.pressure_level names them. */
export type PressureLevel = "low" | "medium" | "critical";

/**
 * Pressure levels from lowest to highest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PRESSURE_LEVELS } from "./events.ts";
 * assert.equal(PRESSURE_LEVELS.indexOf("medium"), 1);
 * ```
 */
export const PRESSURE_LEVELS: readonly PressureLevel[] = ["low", "medium", "critical"];

/**
 * The PSI triggers (`<some|full> <stall µs> <window µs>`) written to a cgroup v2
 * `memory.pressure` for each level. They follow Android lmkd's defaults (low:
 * some tasks stalled 7% of the time, medium: some stalled 10%, critical: all
 * tasks stalled 7%) over a 2 s window: without CAP_SYS_RESOURCE (which a
 * runtime in a container, or this project's test VMs, may lack) the kernel
 * accepts only windows that are multiples of 2 s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PSI_TRIGGERS } from "./events.ts";
 * assert.ok(PSI_TRIGGERS.critical.startsWith("full "));
 * ```
 */
export const PSI_TRIGGERS: Readonly<Record<PressureLevel, string>> = {
  low: "some 140000 2000000",
  medium: "some 200000 2000000",
  critical: "full 140000 2000000",
};

/** Options for {@linkcode watchEventsV1} and {@linkcode watchEventsV2}. */
export interface WatchOptions {
  /** Report memory pressure at this level or higher (no pressure events without it). */
  pressure?: PressureLevel;
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
  /** How often to check that the cgroup still exists, in ms; default 1000. */
  checkIntervalMs?: number;
}

const POLLIN = 0x1;
const POLLPRI = 0x2;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const IN_MODIFY = 0x2;
const IN_DELETE_SELF = 0x400;
const IN_IGNORED = 0x8000;

/**
 * The levels to listen for when the caller asks for `from` and higher.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { levelsFrom } from "./events.ts";
 * assert.equal(levelsFrom("medium").join(), "medium,critical");
 * assert.equal(levelsFrom(undefined).length, 0);
 * ```
 */
export function levelsFrom(from: PressureLevel | undefined): PressureLevel[] {
  if (from === undefined) return [];
  const i = PRESSURE_LEVELS.indexOf(from);
  if (i < 0) {
    throw new RangeError(`unknown memory pressure level "${from}" (low, medium or critical)`);
  }
  return PRESSURE_LEVELS.slice(i);
}

/**
 * The `oom_kill` counter of a cgroup v2 `memory.events` text (0 when absent).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { oomKills } from "./events.ts";
 * assert.equal(oomKills("low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n"), 2);
 * ```
 */
export function oomKills(memoryEvents: string | undefined): number {
  return parseKeyedFile(memoryEvents).oom_kill ?? 0;
}

/** fds to wait on together with a cancel eventfd; owns (and closes) every fd. */
class Poller {
  readonly #cancel: number;
  readonly #fds: { fd: number; events: number }[] = [];
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => void native().nsi_eventfd_signal(this.#cancel);
  #closed = false;

  constructor(signal: AbortSignal | undefined) {
    this.#cancel = check(native().nsi_eventfd(), "eventfd");
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Adds an fd (now owned by the poller); returns its index in `wait()`'s result. */
  add(fd: number, events: number): number {
    this.#fds.push({ fd, events });
    return this.#fds.length - 1;
  }

  fd(i: number): number {
    return this.#fds[i]!.fd;
  }

  /** revents per added fd; `"cancelled"` once aborted; `"timeout"` after `timeoutMs`. */
  async wait(timeoutMs: number): Promise<number[] | "cancelled" | "timeout"> {
    if (this.#signal?.aborted) return "cancelled";
    const all = [{ fd: this.#cancel, events: POLLIN }, ...this.#fds];
    const buf = new Int32Array(all.length * 3);
    all.forEach((f, i) => {
      buf[3 * i] = f.fd;
      buf[3 * i + 1] = f.events;
    });
    const n = check(await native().nsi_ev_poll(buf, all.length, timeoutMs), "poll");
    // Events that arrived together with the abort are still reported; the next wait ends.
    const revents = this.#fds.map((_, i) => buf[3 * (i + 1) + 2]!);
    if (revents.some((r) => r !== 0)) return revents;
    if (buf[2] !== 0 || this.#signal?.aborted) return "cancelled";
    return n === 0 ? "timeout" : revents;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const lib = native();
    for (const f of this.#fds) lib.nsi_close(f.fd);
    lib.nsi_close(this.#cancel);
  }
}

function readTextOrUndefined(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** A native failure on a cgroup file, as a CgroupError naming the file. */
function failed(ret: number, syscall: string, path: string, what: string): never {
  const cause = new SyscallError({ syscall, errno: -ret, path });
  throw new CgroupError(path, `cannot watch ${what}: ${cause.message}`, { cause });
}

function registerV1(poller: Poller, dir: string, file: string, args: string): number {
  const efd = native().nsi_cg_event_register(cstr(dir), cstr(file), cstr(args));
  if (efd < 0) failed(efd, "cgroup.event_control", `${dir}/${file}`, args || "OOM notifications");
  return poller.add(efd, POLLIN);
}

/**
 * OOM and memory pressure notifications of a cgroup v1 memory cgroup, until
 * `opts.signal` aborts or the cgroup is removed. Throws a `CgroupError` naming
 * the file when the cgroup (or its memory controller files) does not exist.
 *
 * @example Stop watching with an AbortSignal
 * ```ts ignore
 * import { watchEventsV1 } from "./events.ts";
 * const ac = new AbortController();
 * setTimeout(() => ac.abort(), 10_000);
 * for await (const ev of watchEventsV1("/sys/fs/cgroup/memory/c1", { signal: ac.signal })) {
 *   console.log(ev.type);
 * }
 * ```
 */
export async function* watchEventsV1(
  memoryDir: string,
  opts: WatchOptions = {},
): AsyncGenerator<CgroupEvent, void, undefined> {
  const levels = levelsFrom(opts.pressure);
  if (opts.signal?.aborted) return;
  const interval = opts.checkIntervalMs ?? 1000;
  const lib = native();
  const poller = new Poller(opts.signal);
  try {
    const oom = registerV1(poller, memoryDir, "memory.oom_control", "");
    const watched = levels.map((level) => ({
      level,
      i: registerV1(poller, memoryDir, "memory.pressure_level", level),
    }));
    const alive = () => exists(`${memoryDir}/cgroup.event_control`);
    for (;;) {
      const r = await poller.wait(interval);
      if (r === "cancelled") return;
      if (r === "timeout") {
        if (!alive()) return;
        continue;
      }
      // Read (reset) every counter that is set, then decide.
      const fired = (i: number) => r[i] !== 0 && Number(lib.nsi_ev_counter(poller.fd(i))) > 0;
      const oomFired = fired(oom);
      let level: PressureLevel | undefined;
      for (const w of watched) if (fired(w.i)) level = w.level;
      // Removal signals every listener: report nothing then, just end.
      if (!alive()) return;
      if (oomFired) yield { type: "oom" };
      if (level) yield { type: "memory-pressure", level };
    }
  } finally {
    poller.close();
  }
}

/**
 * OOM and memory pressure notifications of a cgroup v2 cgroup, until
 * `opts.signal` aborts or the cgroup is removed. Throws a `CgroupError` naming
 * the file when `memory.events` (the memory controller) or, with
 * `opts.pressure`, `memory.pressure` (PSI) is missing.
 *
 * @example Watching a fake cgroup directory
 * ```ts
 * import assert from "node:assert/strict";
 * import { watchEventsV2 } from "./events.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/memory.events`, "oom 0\noom_kill 0\n");
 * const ac = new AbortController();
 * const it = watchEventsV2(dir, { signal: ac.signal });
 * const next = it.next(); // watching from here on
 * await Deno.writeTextFile(`${dir}/memory.events`, "oom 1\noom_kill 1\n");
 * assert.equal((await next).value?.type, "oom");
 * ac.abort();
 * assert.ok((await it.next()).done);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function* watchEventsV2(
  dir: string,
  opts: WatchOptions = {},
): AsyncGenerator<CgroupEvent, void, undefined> {
  const levels = levelsFrom(opts.pressure);
  if (opts.signal?.aborted) return;
  const interval = opts.checkIntervalMs ?? 1000;
  const lib = native();
  const eventsFile = `${dir}/memory.events`;
  const poller = new Poller(opts.signal);
  try {
    const ino = check(lib.nsi_inotify_init(), "inotify_init1");
    const inotify = poller.add(ino, POLLIN);
    const watch = () => {
      const wd = lib.nsi_inotify_add(ino, cstr(eventsFile), IN_MODIFY | IN_DELETE_SELF);
      if (wd < 0) failed(wd, "inotify_add_watch", eventsFile, "OOM kills");
    };
    watch();
    let kills = oomKills(readTextOrUndefined(eventsFile));
    const watched = levels.map((level) => {
      const path = `${dir}/memory.pressure`;
      const fd = lib.nsi_psi_trigger(cstr(path), cstr(PSI_TRIGGERS[level]));
      if (fd < 0) failed(fd, "write", path, `memory pressure (${PSI_TRIGGERS[level]})`);
      return { level, i: poller.add(fd, POLLPRI) };
    });
    const masks = new Uint32Array(2 * 64);
    for (;;) {
      const r = await poller.wait(interval);
      if (r === "cancelled") return;
      if (r === "timeout") {
        if (!exists(dir)) return;
        continue;
      }
      let oomFired = false;
      if (r[inotify] !== 0) {
        const n = check(lib.nsi_inotify_read(ino, masks, 64), "read inotify");
        let mask = 0;
        for (let i = 0; i < n; i++) mask |= masks[2 * i + 1]!;
        if (mask & (IN_IGNORED | IN_DELETE_SELF)) {
          // The file went away: the cgroup is gone (or a fake tree replaced it).
          if (!exists(eventsFile)) return;
          watch();
        }
        const now = oomKills(readTextOrUndefined(eventsFile));
        if (now > kills) oomFired = true;
        kills = Math.max(kills, now);
      }
      let level: PressureLevel | undefined;
      for (const w of watched) {
        const rev = r[w.i]!;
        if (rev & (POLLERR | POLLHUP | POLLNVAL)) return;
        if (rev & POLLPRI) level = w.level;
      }
      if (!exists(dir)) return;
      if (oomFired) yield { type: "oom" };
      if (level) yield { type: "memory-pressure", level };
    }
  } finally {
    poller.close();
  }
}
