import { strict as assert } from "node:assert";
import { renderChart } from "./chart.ts";

Deno.test("renderChart scales bars within each panel and escapes text", () => {
  const svg = renderChart("A <title> & more", [
    {
      title: "ms",
      unit: "ms",
      bars: [{ label: "a", value: 10, kind: "runc" }, {
        label: "b",
        value: 5,
        tick: 6,
        kind: "nsinit",
      }],
    },
    { title: "MiB", unit: "MiB", bars: [{ label: "c", value: 1000, kind: "crun" }] },
  ], ["footer & note"]);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.ok(svg.includes("A &lt;title&gt; &amp; more"));
  assert.ok(svg.includes("footer &amp; note"));
  const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="([\d.]+)"/g)].map((m) =>
    Number(m[1])
  );
  // The longest bar of each panel spans the plot; b is half of a.
  assert.equal(widths.length, 3);
  assert.equal(widths[0], widths[2]);
  assert.ok(Math.abs(widths[1] - widths[0] / 2) < 0.2);
  assert.ok(svg.includes("10.0 ms") && svg.includes("5.00 ms") && svg.includes("1000 MiB"));
  assert.ok(!svg.includes("<script"));
});

Deno.test("renderChart draws a p90 tick only when it lies beyond the bar", () => {
  const withTick = renderChart("t", [{
    title: "p",
    unit: "ms",
    bars: [{ label: "a", value: 1, tick: 2, kind: "floor" }],
  }]);
  const noTick = renderChart("t", [{
    title: "p",
    unit: "ms",
    bars: [{ label: "a", value: 2, tick: 1, kind: "floor" }],
  }]);
  assert.equal((withTick.match(/<line /g) ?? []).length, 2);
  assert.equal((noTick.match(/<line /g) ?? []).length, 0);
});
