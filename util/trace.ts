/**
 * Phase marks for profiling: where a command or a container start spends its time.
 * Off (one comparison per mark) unless a sink is set: the CLI sets one when
 * `NSINIT_TRACE` is in its environment (a line `nsinit-trace <ms> <label>` on stderr per
 * mark, ms since the process's time origin), and a library user or the benchmark may set
 * its own with {@link setTraceSink}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mark, setTraceSink } from "./trace.ts";
 * const seen: string[] = [];
 * setTraceSink((label) => seen.push(label));
 * mark("spec read");
 * setTraceSink(undefined);
 * mark("not recorded");
 * assert.deepEqual(seen, ["spec read"]);
 * ```
 *
 * @module
 */

import { utf8 } from "./bytes.ts";

/**
 * Receives each mark: its label, `performance.now()` when it was made, and the container
 * id it is about, if any (containers set up concurrently interleave their marks).
 */
export type TraceSink = (label: string, ms: number, id?: string) => void;

let sink: TraceSink | undefined;

/** Sets (or with `undefined`, clears) where marks go. */
export function setTraceSink(fn: TraceSink | undefined): void {
  sink = fn;
}

let crashAt: string | undefined | null = null;

/**
 * The mark at which to SIGKILL this process, from `NSINIT_CRASH_AT` (a debug knob for
 * crash tests: every mark is a step a runtime may die after; `helper:<N>` names a step of
 * the native helper instead). Read once; unset (or no env permission) means never.
 */
function crashPoint(): string | undefined {
  if (crashAt === null) {
    try {
      crashAt = Deno.env.get("NSINIT_CRASH_AT") || undefined;
    } catch {
      crashAt = undefined;
    }
  }
  return crashAt;
}

/**
 * Records that the phase named `label` (of container `id`, if given) has just ended. With
 * `NSINIT_CRASH_AT=<label>` in the environment, the process SIGKILLs itself here.
 */
export function mark(label: string, id?: string): void {
  if (sink) sink(label, performance.now(), id);
  if (crashPoint() === label) Deno.kill(Deno.pid, "SIGKILL");
}

/** Resident memory of this process from `/proc/self/status`, KiB, and its thread count. */
export interface MemoryUse {
  /** `RssAnon`: heap, stacks, V8's heap and code: this process's own. */
  anonKiB: number;
  /** `RssFile`: pages of mapped files (the deno executable's code), shared and clean. */
  fileKiB: number;
  /** `Threads`. */
  threads: number;
}

/**
 * Parses the `RssAnon`, `RssFile` and `Threads` lines of a `/proc/<pid>/status` text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoryUse } from "./trace.ts";
 * const status = "RssAnon:\t   13672 kB\nRssFile:\t   34312 kB\nThreads:\t14\n";
 * assert.deepEqual(memoryUse(status), { anonKiB: 13672, fileKiB: 34312, threads: 14 });
 * ```
 */
export function memoryUse(status: string): MemoryUse {
  const field = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, "m").exec(status)?.[1]);
  return { anonKiB: field("RssAnon"), fileKiB: field("RssFile"), threads: field("Threads") };
}

/**
 * Writes `nsinit-memory <RssAnon KiB> <RssFile KiB> <threads>` of this process to stderr:
 * the CLI's last trace line (with `NSINIT_TRACE`), so that the benchmark can say what its
 * resident memory is made of.
 */
export function traceMemory(): void {
  try {
    const m = memoryUse(Deno.readTextFileSync("/proc/self/status"));
    const line = `nsinit-memory ${m.anonKiB} ${m.fileKiB} ${m.threads}\n`;
    Deno.stderr.writeSync(utf8(line));
  } catch { /* no /proc: nothing to say */ }
}

/** A sink that writes `nsinit-trace <ms> <label>` lines to stderr (the CLI's). */
export function stderrTraceSink(): TraceSink {
  // No TextEncoder: its first use (~0.1 ms) would land in the phase after the first mark.
  return (label, ms, id) => {
    const line = `nsinit-trace ${ms.toFixed(3)} ${label}${id === undefined ? "" : ` [${id}]`}\n`;
    Deno.stderr.writeSync(utf8(line));
  };
}
