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
