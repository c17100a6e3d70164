import { strict as assert } from "node:assert";
import { EMPTY_DENO_RUN, evaluateTargets, fmt, type TargetResult } from "./results.ts";
import { sampleResults } from "./fixture.ts";

/** A summary whose every figure is `median` (only medians decide the targets). */
function s(median: number) {
  return { n: 3, min: median, median, mean: median, p90: median, max: median };
}

/** The same summary for each lifecycle verb. */
function verbs(v: number) {
  return { start: s(v), state: s(v), kill: s(v), delete: s(v) };
}

function target(ts: TargetResult[], goal: RegExp): TargetResult {
  const t = ts.find((x) => goal.test(x.goal));
  assert.ok(t, `no target ${goal}`);
  return t;
}

Deno.test("evaluateTargets marks each goal met or not from the numbers", () => {
  const ts = evaluateTargets(sampleResults());
  // library create+start 2.5 ms vs crun 9.4 ms = 0.266x: not met
  const crun = target(ts, /0\.25x `crun run`/);
  assert.equal(crun.met, false);
  assert.match(crun.value, /0\.266x/);
  assert.match(crun.value, /cgroup v1 view/);
  // 2.5 ms vs floor 1.6 ms = 1.563x: met
  assert.equal(target(ts, /2x of the floor/).met, true);
  // nsinit 30 ms vs runc 22.4 ms: not met
  const cli = target(ts, /no slower than `runc run`/);
  assert.equal(cli.met, false);
  assert.match(cli.value, /1\.339x/);
  // 100 concurrent in 100 ms vs 100 runc runs in 2240 ms: 22.4x
  const batch = target(ts, /10x faster/);
  assert.equal(batch.met, true);
  assert.match(batch.value, /22\.4x faster/);
  // concurrent 100 ms vs sequential 200 ms: 2x
  assert.equal(target(ts, /1\.8x faster/).met, true);
  // state 4 ms vs an empty deno run 22 ms: met; start 6 ms: met
  assert.equal(target(ts, /`nsinit state` within 5 ms/).met, true);
  // RSS 50000 KiB vs 40000 KiB = 1.25x: not met
  const rss = target(ts, /peak RSS/);
  assert.equal(rss.met, false);
  assert.match(rss.value, /1\.25x/);
  // 600 KiB per container: met
  const mem = target(ts, /per tracked running container/);
  assert.equal(mem.met, true);
  assert.match(mem.value, /20\.0 KiB of JS heap retained per container/);
  assert.match(mem.value, /600 KiB by RSS/);
});

Deno.test("evaluateTargets counts the larger of RSS and the retained JS heap per container", () => {
  const base = sampleResults().libraryMemory!;
  // RSS did not grow (the collector's timing), the heap did: 2000 KiB each, not met.
  const r = sampleResults({
    libraryMemory: { ...base, perContainerKiB: 0, perContainerHeapKiB: 2000 },
  });
  assert.equal(target(evaluateTargets(r), /per tracked running container/).met, false);
  // Without the heap figure (no --expose-gc), RSS alone decides, as it said.
  const { heapBeforeKiB: _b, heapAfterKiB: _a, perContainerHeapKiB: _p, ...rssOnly } = base;
  const t = target(evaluateTargets(sampleResults({ libraryMemory: rssOnly })), /per tracked/);
  assert.equal(t.met, true);
  assert.match(t.value, /^600 KiB per container \(RSS/);
});

Deno.test("evaluateTargets says what it could not evaluate", () => {
  const r = sampleResults({
    crun: { mode: "refused", refusal: "no" },
    cliRun: { runc: sampleResults().cliRun.runc!, nsinit: sampleResults().cliRun.nsinit! },
    startup: {},
  });
  delete r.libraryMemory;
  const ts = evaluateTargets(r);
  const crun = target(ts, /0\.25x `crun run`/);
  assert.equal(crun.met, null);
  assert.match(crun.value, /crun did not run \(refused\)/);
  assert.equal(target(ts, /`nsinit kill` within 5 ms/).met, null);
  assert.equal(target(ts, /per tracked running container/).met, null);
});

Deno.test("evaluateTargets compares batches of different sizes per container", () => {
  const base = sampleResults();
  const r = sampleResults({
    batch: { ...base.batch, libraryConcurrent: { n: 10, totalMs: 30, perSecond: 333 } },
  });
  const batch = target(evaluateTargets(r), /10x faster/);
  // 22.4 ms per runc run vs 3 ms per concurrent container: 7.47x
  assert.equal(batch.met, false);
  assert.match(batch.goal, /^10 concurrent/);
  assert.match(batch.value, /7\.47x/);
});

Deno.test("the empty deno run the targets compare with is the one the benchmark measures", () => {
  assert.ok(Object.hasOwn(sampleResults().startup, EMPTY_DENO_RUN));
});

Deno.test("fmt keeps three significant digits", () => {
  assert.equal(fmt(1234.5), "1235");
  assert.equal(fmt(22.44), "22.4");
  assert.equal(fmt(1.234), "1.23");
});

Deno.test("evaluateTargets: a verb whose floor came out below the empty run is not evaluated (noise), never met", () => {
  const base = sampleResults();
  const empty = base.lifecycleEmptyDeno?.median ?? 20;
  const r = sampleResults({
    lifecycleEmptyDeno: s(empty),
    verbFloor: {
      start: s(empty - 5),
      state: s(empty + 1),
      kill: s(empty + 1),
      delete: s(empty + 1),
    },
    lifecycle: {
      ...base.lifecycle,
      nsinit: { ...base.lifecycle.nsinit!, start: s(empty - 1), state: s(empty + 2) },
    },
  });
  const ts = evaluateTargets(r);
  const start = ts.find((t) => t.goal.startsWith("CLI `nsinit start`"))!;
  assert.equal(start.met, null);
  assert.match(start.value, /^too noisy to compare/);
  const state = ts.find((t) => t.goal.startsWith("CLI `nsinit state`"))!;
  assert.equal(state.met, true);
});

Deno.test("evaluateTargets: with per-round differences the verb targets use them, not the medians' difference", () => {
  const base = sampleResults();
  // The medians say +7 ms (27 - 20); the rounds, paired, say +4.5 ms: the paired figure counts.
  const r = sampleResults({
    lifecycleEmptyDeno: s(20),
    verbFloor: verbs(22),
    lifecycle: { ...base.lifecycle, nsinit: { ...base.lifecycle.nsinit!, ...verbs(27) } },
    lifecycleOverEmpty: {
      nsinit: { ...verbs(4.5), delete: s(6) },
      floor: { ...verbs(1.5), kill: s(-0.5) },
    },
  });
  const ts = evaluateTargets(r);
  const get = (v: string) => ts.find((t) => t.goal.startsWith(`CLI \`nsinit ${v}\``))!;
  assert.equal(get("start").met, true);
  assert.equal(
    get("start").value,
    "27.0 ms vs 20.0 ms: +4.50 ms (median of the rounds' differences)",
  );
  assert.equal(get("delete").met, false);
  // A floor below the empty run of its rounds: noise, not evaluated.
  assert.equal(get("kill").met, null);
  assert.match(get("kill").value, /^too noisy to compare/);
});

Deno.test("evaluateTargets: a verb that came out below the empty run of its rounds is noise, never met", () => {
  const base = sampleResults();
  const r = sampleResults({
    lifecycleEmptyDeno: s(1190),
    verbFloor: verbs(1200),
    lifecycle: { ...base.lifecycle, nsinit: { ...base.lifecycle.nsinit!, ...verbs(1180) } },
    lifecycleOverEmpty: { nsinit: { ...verbs(-50), kill: s(3) }, floor: verbs(10) },
  });
  const ts = evaluateTargets(r);
  const get = (v: string) => ts.find((t) => t.goal.startsWith(`CLI \`nsinit ${v}\``))!;
  assert.equal(get("start").met, null);
  assert.match(
    get("start").value,
    /^too noisy to compare \(nsinit's `start`, .* came out 50\.0 ms below it\)/,
  );
  assert.equal(get("kill").met, true);
});
