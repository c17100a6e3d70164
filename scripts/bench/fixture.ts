/**
 * A complete, made-up {@link BenchResults} for tests of the report and the chart.
 *
 * @module
 */

import { type BenchResults, EMPTY_DENO_RUN } from "./results.ts";
import type { Summary } from "./stats.ts";

function s(median: number): Summary {
  return {
    n: 10,
    median,
    p90: median * 1.2,
    min: median * 0.9,
    max: median * 1.5,
    mean: median * 1.05,
  };
}

/**
 * Results with every section filled; `overrides` replaces top-level fields.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sampleResults } from "./fixture.ts";
 * const r = sampleResults({ quick: true });
 * assert.ok(r.quick);
 * assert.equal(r.cliRun.runc?.median, 22.4);
 * ```
 */
export function sampleResults(overrides: Partial<BenchResults> = {}): BenchResults {
  const lc = (k: number) => ({
    create: s(10 * k),
    start: s(3 * k),
    state: s(2 * k),
    kill: s(2 * k),
    delete: s(3 * k),
    total: s(20 * k),
    exitWait: s(0.1),
  });
  return {
    schema: 1,
    date: "2026-11-22T10:00:00.000Z",
    quick: false,
    durationS: 120,
    machine: {
      kernel: "6.18.0",
      cpu: "Test CPU",
      cores: 2,
      memoryGiB: 24,
      runFs: "ext4",
      cgroups: "hybrid",
      loadBefore: [0.5, 0.4, 0.3],
      loadAfter: [1, 0.8, 0.5],
    },
    versions: {
      deno: "deno 2.9.6",
      runc: "runc version 1.1.5",
      crun: "crun version 1.8.1",
      nsinit: "nsinit version 0.1.0",
    },
    crun: {
      mode: "v1-view",
      refusal: "cgroups in hybrid mode not supported",
      nsenterOverheadMs: 1.1,
    },
    iterations: { cliRun: 40, lifecycle: 20, library: 150, batch: 100, memory: 5, warmup: 3 },
    spawnOverhead: s(1.2),
    cliRun: { runc: s(22.4), crun: s(9.4), nsinit: s(30) },
    lifecycle: { runc: lc(1), crun: lc(0.5), nsinit: lc(2) },
    cliFloor: {
      exec: s(26),
      cgroups: s(29),
      emptyDeno: s(21),
      execKiB: 45000,
      cgroupsKiB: 46080,
    },
    library: { run: s(2), createStart: s(2.5) },
    floor: { helper: s(1.6), unshare: s(4) },
    batch: {
      librarySequential: { n: 100, totalMs: 200, perSecond: 500, loopCpuMs: 120 },
      libraryConcurrent: {
        n: 100,
        totalMs: 100,
        perSecond: 1000,
        loopCpuMs: 80,
        processCpuMs: 150,
      },
      cliSequential: {
        runc: { n: 100, totalMs: 2240, perSecond: 44.6 },
        crun: { n: 100, totalMs: 940, perSecond: 106.4 },
        nsinit: { n: 100, totalMs: 3000, perSecond: 33.3 },
      },
    },
    memoryKiB: { runc: 10000, crun: 3000, nsinit: 50000 },
    startup: { "`/bin/true`": s(1.2), [EMPTY_DENO_RUN]: s(22) },
    components: { "spec validation": s(0.1) },
    emptyDenoKiB: 40000,
    memoryMakeup: {
      run: { anonKiB: 13672, fileKiB: 34312, threads: 14 },
      denoRun: { anonKiB: 8676, fileKiB: 19960, threads: 6 },
    },
    libraryMemory: {
      running: 100,
      rssBeforeKiB: 60000,
      rssAfterKiB: 120000,
      perContainerKiB: 600,
      heapBeforeKiB: 20000,
      heapAfterKiB: 22000,
      perContainerHeapKiB: 20,
    },
    phases: {
      cliRun: [
        { phase: "cli: main.js loaded (from Deno's clock start)", summary: s(20) },
        { phase: "create: helper spawned, child cloned", summary: s(3) },
      ],
      lifecycle: { state: [{ phase: "cli: exit", summary: s(1) }] },
      library: [{ phase: "create: spec read and validated", summary: s(0.2) }],
      libraryConcurrent: [{ phase: "create: spec read and validated", summary: s(0.4) }],
    },
    ...overrides,
  };
}
