import { strict as assert } from "node:assert";
import { evaluateTargets, fmt } from "./results.ts";
import { sampleResults } from "./fixture.ts";

Deno.test("evaluateTargets marks each goal met or not from the numbers", () => {
  const [crun, floor, cli, batch] = evaluateTargets(sampleResults());
  // library 2 ms vs crun 9.4 ms = 0.213x: met
  assert.equal(crun.met, true);
  assert.match(crun.value, /0\.213x/);
  assert.match(crun.value, /cgroup v1 view/);
  // 2 ms vs floor 1.6 ms = 1.25x: met
  assert.equal(floor.met, true);
  // nsinit 30 ms vs runc 22.4 ms: not met
  assert.equal(cli.met, false);
  assert.match(cli.value, /1\.339x/);
  // 100 concurrent in 100 ms vs 100 runc runs in 2240 ms: 22.4x
  assert.equal(batch.met, true);
  assert.match(batch.value, /22\.4x faster/);
});

Deno.test("evaluateTargets says what it could not evaluate", () => {
  const r = sampleResults({
    crun: { mode: "refused", refusal: "no" },
    cliRun: { runc: sampleResults().cliRun.runc!, nsinit: sampleResults().cliRun.nsinit! },
  });
  const [crun] = evaluateTargets(r);
  assert.equal(crun.met, null);
  assert.match(crun.value, /crun did not run \(refused\)/);
});

Deno.test("evaluateTargets compares batches of different sizes per container", () => {
  const base = sampleResults();
  const r = sampleResults({
    batch: { ...base.batch, libraryConcurrent: { n: 10, totalMs: 30, perSecond: 333 } },
  });
  const batch = evaluateTargets(r)[3];
  // 22.4 ms per runc run vs 3 ms per concurrent container: 7.47x
  assert.equal(batch.met, false);
  assert.match(batch.goal, /^10 concurrent/);
  assert.match(batch.value, /7\.47x/);
});

Deno.test("fmt keeps three significant digits", () => {
  assert.equal(fmt(1234.5), "1235");
  assert.equal(fmt(22.44), "22.4");
  assert.equal(fmt(1.234), "1.23");
});
