import { strict as assert } from "node:assert";
import { chartFooter, chartPanels, renderReport } from "./report.ts";
import { sampleResults } from "./fixture.ts";

Deno.test("renderReport has the machine, the targets, the tables and the crun note", () => {
  const md = renderReport(sampleResults());
  for (
    const needle of [
      "| kernel (`uname -r`) | 6.18.0 |",
      "| runc | runc version 1.1.5 |",
      "| CLI `nsinit run` no slower than `runc run` | **not met**: nsinit 30.0 ms",
      "| library `create` + `start` + wait + destroy <= 0.25x `crun run` | **not met**",
      "### `dist/nsinit run` of /bin/true",
      "| cli: main.js loaded (from Deno's clock start) | 20.0 | 24.0 |",
      "| an empty `deno run` (the launcher's flags) | 39.1 MiB |",
      "held 100 running containers (`sleep`), 600 KiB each",
      "crun refused this host: `cgroups in hybrid mode not supported`",
      "| `runc run` | 22.4 | 26.9 |",
      "| `crun* run` | 9.40 |",
      "| **total** | 20.0 / 24.0 | 10.0 / 12.0 | 40.0 / 48.0 |",
      "| nsinit library, concurrent (`Promise.all`) | 100 | 1000.0 |",
      "| crun* | 2.9 MiB |",
      "1.10 ms by median",
      "14.0 MiB is pages of the deno executable itself (`RssFile` 33.5 MiB against 19.5 MiB)",
      "4.9 MiB is its own (`RssAnon` 13.4 MiB against 8.5 MiB)",
    ]
  ) {
    assert.ok(md.includes(needle), `missing: ${needle}`);
  }
});

Deno.test("an unmet concurrency target names the event loop's CPU time", () => {
  const base = sampleResults();
  const md = renderReport(sampleResults({
    batch: {
      ...base.batch,
      libraryConcurrent: { n: 100, totalMs: 180, perSecond: 555, loopCpuMs: 90, processCpuMs: 160 },
    },
  }));
  assert.ok(
    md.includes(
      "which was busy 90.0 ms of the batch's 180 ms (0.90 ms per container; 1.20 ms one after another)",
    ),
    md,
  );
});

Deno.test("an unmet concurrency target says whether the machine's cores were saturated", () => {
  const base = sampleResults();
  const batch = (busy: number) => ({
    ...base.batch,
    libraryConcurrent: {
      n: 100,
      totalMs: 200,
      perSecond: 500,
      loopCpuMs: 90,
      processCpuMs: 160,
      childrenCpuMs: 150,
      machineBusyMs: busy,
    },
  });
  const bound = renderReport(sampleResults({ batch: batch(380) }));
  assert.ok(
    bound.includes(
      "used 160 ms of CPU (1.60 ms per container), and the containers' own processes",
    ),
    bound,
  );
  assert.ok(bound.includes("were busy 380 ms of the 400 ms they had during the batch (95%)"));
  assert.ok(bound.includes("the batch is bound by CPU"), bound);
  assert.ok(bound.includes("70.0 ms went to the kernel's own threads"), bound);
  const waited = renderReport(sampleResults({ batch: batch(200) }));
  assert.ok(waited.includes("(50%): the cores were not saturated"), waited);
  assert.ok(waited.includes("`cgroup_mutex`"), waited);
});

Deno.test("renderReport without crun compares with runc only", () => {
  const base = sampleResults();
  const md = renderReport(sampleResults({
    crun: {
      mode: "refused",
      refusal: "cgroups in hybrid mode not supported",
      fallbackError: "no unshare",
    },
    cliRun: { runc: base.cliRun.runc!, nsinit: base.cliRun.nsinit! },
    lifecycle: { runc: base.lifecycle.runc!, nsinit: base.lifecycle.nsinit! },
    memoryKiB: { runc: 1, nsinit: 2 },
  }));
  assert.ok(md.includes("compared with runc only"));
  assert.ok(md.includes("| `crun run` | refused |"));
  assert.ok(!md.includes("crun*"));
});

Deno.test("chartPanels draw the same numbers as the report", () => {
  const r = sampleResults();
  const [one, batch, mem] = chartPanels(r);
  assert.equal(one.bars.find((b) => b.label === "runc run (CLI)")?.value, 22.4);
  assert.equal(one.bars.find((b) => b.label.startsWith("floor: nsinit"))?.value, 1.6);
  assert.equal(batch.bars[0].value, 100);
  assert.equal(mem.bars.find((b) => b.label === "crun*")!.value, 3000 / 1024);
  assert.match(chartFooter(r).join("\n"), /crun\*: crun refuses/);
});

Deno.test("renderReport of two machines: a target column each, and the other's own sections", () => {
  const vm = sampleResults({ label: "the cgroup v2 VM" });
  vm.machine = { ...vm.machine, cgroups: "v2", kernel: "6.1.0" };
  const md = renderReport(sampleResults({ label: "this host" }), [vm]);
  assert.ok(md.includes("| goal | this host | the cgroup v2 VM |"));
  assert.ok(md.includes("## the cgroup v2 VM"));
  assert.ok(md.includes("### Machine"));
  assert.ok(md.includes("| kernel (`uname -r`) | 6.1.0 |"));
});

/** The fixture with the v1 `cgroup.procs` move after an idle spell among the parts. */
function withIdleMove(overrides: Parameters<typeof sampleResults>[0] = {}) {
  const idle = { n: 10, median: 8.6, p90: 10, min: 8, max: 12, mean: 8.8 };
  return sampleResults({
    components: { "v1 `cgroup.procs` move of a new process, after 50 ms without one": idle },
    ...overrides,
  });
}

Deno.test("the CLI floor has rows in the run and memory tables, and bars in the chart", () => {
  const r = withIdleMove();
  const md = renderReport(r);
  for (
    const needle of [
      "| CLI floor: `deno run` of clone + exec | 26.0 | 31.2 | 1.154x | 0.077x |",
      "| CLI floor: `deno run` of clone + exec + cgroups | 29.0 | 34.8 | 1.034x | 0.069x |",
      "| an empty `deno run` (the launcher's flags), in the same rounds | 21.0 |",
      "| CLI floor: `deno run` of clone + exec | 43.9 MiB |",
      "| CLI floor: `deno run` of clone + exec + cgroups | 45.0 MiB |",
      "- The CLI floor: the least a runtime that Deno runs must do",
    ]
  ) {
    assert.ok(md.includes(needle), `missing: ${needle}`);
  }
  const [one, , mem] = chartPanels(r);
  assert.equal(one.bars.find((b) => b.label === "CLI floor: + cgroups")?.value, 29);
  assert.equal(mem.bars.find((b) => b.label === "CLI floor: clone+exec")?.value, 45000 / 1024);
});

Deno.test("the run target is explained by the measured CLI floor, part by part", () => {
  const md = renderReport(withIdleMove());
  for (
    const needle of [
      "takes 29.0 ms (26.0 ms without the cgroups): more than runc's whole `run` (22.4 ms, " +
      "the same rounds), so no CLI that Deno runs can be as fast here",
      "Of the floor's 29.0 ms, 21.0 ms is Deno's own start and exit",
      "5.00 ms is loading libnsinit through Deno's FFI and spawning the child",
      "take 1.60 ms in a warm process (the helper floor above), so 3.40 ms is a fresh " +
      "process's FFI set-up",
      "3.00 ms is the cgroups: made, the child placed, removed after the exit (a v1 " +
      "`cgroup.procs` move after an idle spell, timed alone in the parts of the work above, " +
      "waits 8.60 ms for the kernel's RCU grace period",
      "nsinit's `run` takes 30.0 ms, 1.00 ms above that floor",
      "loading its code (20.0 ms: main.js and the command's chunks",
    ]
  ) {
    assert.ok(md.includes(needle), `missing: ${needle}`);
  }
  assert.ok(!md.includes("An empty `deno run` takes"), "the estimate without a floor is gone");
});

Deno.test("the run target's floor text follows the machine and the figures", () => {
  const v2 = withIdleMove({
    cliRun: { runc: sampleResults().cliRun.runc!, nsinit: sampleResults().cliRun.nsinit! },
  });
  v2.machine = { ...v2.machine, cgroups: "v2" };
  const md = renderReport(v2);
  assert.ok(md.includes("(on cgroup v2 the child is cloned into its cgroup, with no move)"), md);
  assert.ok(!md.includes("RCU grace period, which runc pays"), md);
  const base = sampleResults();
  const fast = renderReport(
    withIdleMove({ cliRun: { ...base.cliRun, runc: { ...base.cliRun.runc!, median: 29.5 } } }),
  );
  assert.ok(
    fast.includes(
      "against runc's whole `run` of 29.5 ms (the same rounds): here the floor itself is not slower than runc",
    ),
    fast,
  );
  const old = renderReport(withIdleMove({ cliFloor: undefined }));
  assert.ok(old.includes("An empty `deno run` takes 22.0 ms against runc's whole `run`"), old);
  assert.ok(!old.includes("CLI floor"), old);
});

Deno.test("the peak RSS target is explained by the CLI floor's peak", () => {
  const within = renderReport(sampleResults());
  assert.ok(
    within.includes(
      "a Deno program that only runs the container (the CLI floor) peaks at 43.9 MiB (45.0 MiB " +
        "with the cgroups) against an empty `deno run`'s 39.1 MiB: 1.152x, within the 1.2x goal",
    ),
    within,
  );
  assert.ok(within.includes("nsinit's `run` is 3.8 MiB above that floor"), within);
  const over = renderReport(sampleResults({ emptyDenoKiB: 36000 }));
  assert.ok(
    over.includes("1.28x, over the 1.2x goal before any of nsinit's code runs"),
    over,
  );
  assert.ok(over.includes("In detail: an empty `deno run` peaks at 35.2 MiB"), over);
});
