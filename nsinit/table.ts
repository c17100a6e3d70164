/**
 * Column alignment as Go's `text/tabwriter` does it for `runc list`
 * (`tabwriter.NewWriter(w, 12, 1, 3, ' ', 0)`): every cell but a row's last is
 * padded to its column's width, which is the widest cell plus 3, at least 12.
 *
 * @module
 */

/**
 * Aligns rows of cells into text, one line per row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tabulate } from "./table.ts";
 * const text = tabulate([["ID", "PID", "OWNER"], ["c1", "42", "root"]]);
 * assert.equal(text, "ID          PID         OWNER\nc1          42          root\n");
 * ```
 */
export function tabulate(rows: string[][], minWidth = 12, padding = 3): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? minWidth, [...cell].length + padding);
    });
  }
  return rows.map((row) =>
    row.map((cell, i) =>
      i === row.length - 1 ? cell : cell + " ".repeat(widths[i] - [...cell].length)
    )
      .join("") + "\n"
  ).join("");
}
