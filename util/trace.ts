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

/** Records that the phase named `label` (of container `id`, if given) has just ended. */
export function mark(label: string, id?: string): void {
  if (sink) sink(label, performance.now(), id);
}

/** A sink that writes `nsinit-trace <ms> <label>` lines to stderr (the CLI's). */
export function stderrTraceSink(): TraceSink {
  const enc = new TextEncoder();
  return (label, ms, id) => {
    const line = `nsinit-trace ${ms.toFixed(3)} ${label}${id === undefined ? "" : ` [${id}]`}\n`;
    Deno.stderr.writeSync(enc.encode(line));
  };
}
