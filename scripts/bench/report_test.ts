import { strict as assert } from "node:assert";
import { chartFooter, chartPanels, renderReport } from "./report.ts";
import { sampleResults } from "./fixture.ts";

Deno.test("renderReport has the machine, the targets, the tables and the crun note", () => {
  const md = renderReport(sampleResults());
  for (
    const needle of [
      "| kernel (`uname -r`) | 6.18.0 |",
      "| runc | runc version 1.1.5 |",
      "| CLI `nsinit run` no slower than `runc run` | **not met** |",
      "| library per-container latency <= 0.25x `crun run` | **met** |",
      "crun refused this host: `cgroups in hybrid mode not supported`",
      "| `runc run` | 22.4 | 26.9 |",
      "| `crun* run` | 9.40 |",
      "| **total** | 20.0 / 24.0 | 10.0 / 12.0 | 40.0 / 48.0 |",
      "| nsinit library, concurrent (`Promise.all`) | 100 | 1000.0 |",
      "| crun* | 2.9 MiB |",
      "1.10 ms by median",
    ]
  ) {
    assert.ok(md.includes(needle), `missing: ${needle}`);
  }
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
