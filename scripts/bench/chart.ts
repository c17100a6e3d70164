/**
 * A plain SVG bar chart of benchmark results: panels of horizontal bars, each with its own
 * linear scale, drawn from the numbers given (nothing is hand-placed).
 *
 * @module
 */

/** One bar. */
export interface Bar {
  /** Label left of the bar. */
  label: string;
  /** Length of the bar. */
  value: number;
  /** An optional tick at a second value (e.g. the 90th percentile). */
  tick?: number;
  /** Which colour: the runtime or kind it belongs to. */
  kind: "nsinit" | "runc" | "crun" | "floor" | "other";
}

/** A panel: a title, a unit, and bars. */
export interface Panel {
  /** Panel title. */
  title: string;
  /** Unit printed after each value. */
  unit: string;
  /** The bars, top to bottom. */
  bars: Bar[];
}

const COLORS: Record<Bar["kind"], string> = {
  nsinit: "#2b6cb0",
  runc: "#c05621",
  crun: "#2f855a",
  floor: "#718096",
  other: "#805ad5",
};

/** Escapes text for SVG. */
function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function num(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/**
 * Renders panels as one SVG document (plain text, no scripts, no external resources), with
 * `footer` lines below them.
 *
 * @example Two bars in one panel
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderChart } from "./chart.ts";
 * const svg = renderChart("Demo", [{
 *   title: "run /bin/true",
 *   unit: "ms",
 *   bars: [{ label: "runc run", value: 22.4, kind: "runc" }, { label: "library", value: 5, kind: "nsinit" }],
 * }]);
 * assert.ok(svg.startsWith("<svg"));
 * assert.ok(svg.includes("22.4 ms"));
 * ```
 */
export function renderChart(title: string, panels: Panel[], footer: string[] = []): string {
  const width = 760;
  const labelW = 250;
  const valueW = 90;
  const barH = 18;
  const gap = 6;
  const plotW = width - labelW - valueW - 20;
  const parts: string[] = [];
  let y = 34;
  parts.push(
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${
      esc(title)
    }</text>`,
  );
  for (const panel of panels) {
    y += 14;
    parts.push(
      `<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`,
    );
    y += 8;
    const max = Math.max(...panel.bars.map((b) => Math.max(b.value, b.tick ?? 0)), 1e-9);
    const scale = plotW / max;
    for (const b of panel.bars) {
      const w = Math.max(1, b.value * scale);
      const cy = y + barH / 2 + 4;
      parts.push(
        `<text x="${labelW - 8}" y="${cy}" text-anchor="end" font-size="12">${esc(b.label)}</text>`,
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${
          COLORS[b.kind]
        }"/>`,
      );
      if (b.tick !== undefined && b.tick > b.value) {
        const tx = labelW + b.tick * scale;
        parts.push(
          `<line x1="${labelW + w}" y1="${cy - 4}" x2="${tx.toFixed(1)}" y2="${
            cy - 4
          }" stroke="#4a5568"/>`,
          `<line x1="${tx.toFixed(1)}" y1="${y + 3}" x2="${tx.toFixed(1)}" y2="${
            y + barH - 3
          }" stroke="#4a5568"/>`,
        );
      }
      const labelX = labelW + Math.max(w, b.tick !== undefined ? b.tick * scale : 0) + 6;
      parts.push(
        `<text x="${labelX.toFixed(1)}" y="${cy}" font-size="12">${
          esc(`${num(b.value)} ${panel.unit}`)
        }</text>`,
      );
      y += barH + gap;
    }
    y += 6;
  }
  for (const line of footer) {
    y += 15;
    parts.push(`<text x="10" y="${y}" font-size="11" fill="#4a5568">${esc(line)}</text>`);
  }
  const height = y + 14;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>\n` +
    parts.join("\n") + "\n</svg>\n";
}
