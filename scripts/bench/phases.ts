/**
 * Where the time of a CLI command or a library run goes: the phase marks nsinit makes
 * (`util/trace.ts`: `NSINIT_TRACE=1` on the CLI's stderr, or a trace sink in-process),
 * turned into per-phase durations and summarized over many runs.
 *
 * @module
 */

import type { MemoryUse, TraceSink } from "../../util/trace.ts";
import { summarize, type Summary } from "./stats.ts";

/** One phase, in the order it happens, with its duration over the runs. */
export interface PhaseRow {
  /** What ended at the mark (e.g. `create: helper spawned, child cloned`). */
  phase: string;
  /** Its duration, ms. */
  summary: Summary;
}

/** The label of the first phase of a CLI command: from Deno's clock start to main.js running. */
export const BEFORE_MAIN = "cli: main.js loaded (from Deno's clock start)";
/**
 * The label of what the marks do not see: the caller's wall time minus the last mark, that
 * is Deno's own start before its clock starts (an empty `deno run` spends nearly all its
 * time there) and the process's exit.
 */
export const OUTSIDE = "outside the marks: Deno's start before its clock, and the exit";

/**
 * The `nsinit-trace <ms> <label>` lines of a CLI's stderr as phase durations, in order: the
 * first from the process's time origin, each next from the mark before; with `totalMs` (the
 * wall time the caller measured), a last phase from the last mark to the exit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cliPhases } from "./phases.ts";
 * const err = "nsinit-trace 3.000 cli: main module loaded\nnsinit-trace 5.500 cli: exit\n";
 * assert.deepEqual(cliPhases(err, 7), [
 *   ["cli: main.js loaded (from Deno's clock start)", 3],
 *   ["cli: exit", 2.5],
 *   ["outside the marks: Deno's start before its clock, and the exit", 1.5],
 * ]);
 * ```
 */
export function cliPhases(stderr: string, totalMs?: number): [string, number][] {
  const out: [string, number][] = [];
  let last = 0;
  for (const line of stderr.split("\n")) {
    const m = /^nsinit-trace (\d+(?:\.\d+)?) (.*?)(?: \[[^\]]*\])?$/.exec(line);
    if (!m) continue;
    const ms = Number(m[1]);
    const label = out.length === 0 && m[2] === "cli: main module loaded" ? BEFORE_MAIN : m[2];
    out.push([label, ms - last]);
    last = ms;
  }
  if (totalMs !== undefined && out.length > 0) out.push([OUTSIDE, Math.max(0, totalMs - last)]);
  return out;
}

/**
 * The `nsinit-memory <anon KiB> <file KiB> <threads>` line a traced CLI writes at its exit
 * (`util/trace.ts`), if any.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cliMemory } from "./phases.ts";
 * const err = "nsinit-trace 5.500 cli: exit\nnsinit-memory 13672 34312 14\n";
 * assert.deepEqual(cliMemory(err), { anonKiB: 13672, fileKiB: 34312, threads: 14 });
 * assert.equal(cliMemory("nsinit-trace 5.500 cli: exit\n"), undefined);
 * ```
 */
export function cliMemory(stderr: string): MemoryUse | undefined {
  const m = /^nsinit-memory (\d+) (\d+) (\d+)$/m.exec(stderr);
  return m ? { anonKiB: Number(m[1]), fileKiB: Number(m[2]), threads: Number(m[3]) } : undefined;
}

/**
 * Collects the phases of many runs (each a list from {@link cliPhases} or a
 * {@link LibraryPhases}) and summarizes each phase, in the order phases first appeared.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PhaseSamples } from "./phases.ts";
 * const s = new PhaseSamples();
 * s.add([["a", 1], ["b", 2]]);
 * s.add([["a", 3], ["b", 4]]);
 * assert.deepEqual(s.rows().map((r) => [r.phase, r.summary.median]), [["a", 2], ["b", 3]]);
 * ```
 */
export class PhaseSamples {
  #samples = new Map<string, number[]>();

  /** Adds one run's phases. */
  add(phases: [string, number][]): void {
    for (const [phase, ms] of phases) {
      const a = this.#samples.get(phase) ?? [];
      a.push(ms);
      this.#samples.set(phase, a);
    }
  }

  /** Whether anything was added. */
  get empty(): boolean {
    return this.#samples.size === 0;
  }

  /** Each phase summarized. */
  rows(): PhaseRow[] {
    return [...this.#samples].map(([phase, v]) => ({ phase, summary: summarize(v) }));
  }
}

/**
 * A trace sink for library runs in this process: it follows each container's marks by id
 * (runs may interleave), so every phase is measured from the container's previous mark.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LibraryPhases } from "./phases.ts";
 * const p = new LibraryPhases();
 * p.begin("c1", 10);
 * p.sink("create: spec read and validated", 12, "c1");
 * p.end("c1", "run: destroyed", 15);
 * assert.deepEqual(p.samples.rows().map((r) => [r.phase, r.summary.median]), [
 *   ["create: spec read and validated", 2],
 *   ["run: destroyed", 3],
 * ]);
 * ```
 */
export class LibraryPhases {
  /** The phases of every finished run. */
  readonly samples: PhaseSamples = new PhaseSamples();
  #runs = new Map<string, { last: number; phases: [string, number][] }>();

  /** Starts following container `id` at `ms`. */
  begin(id: string, ms: number = performance.now()): void {
    this.#runs.set(id, { last: ms, phases: [] });
  }

  /** Receives nsinit's marks (pass to `setTraceSink`). */
  readonly sink: TraceSink = (label, ms, id) => {
    if (id !== undefined) this.mark(id, label, ms);
  };

  /** Records a phase of `id` that the caller timed itself (e.g. the wait for its exit). */
  mark(id: string, label: string, ms: number = performance.now()): void {
    const run = this.#runs.get(id);
    if (!run) return;
    run.phases.push([label, ms - run.last]);
    run.last = ms;
  }

  /** Records the last phase of `id` and adds its run to {@link samples}. */
  end(id: string, label: string, ms: number = performance.now()): void {
    this.mark(id, label, ms);
    const run = this.#runs.get(id);
    if (run) this.samples.add(run.phases);
    this.#runs.delete(id);
  }
}
