/**
 * Memory sizes as runc (go-units `RAMInBytes`) reads them: a decimal number, an
 * optional space, then an optional binary unit `k`, `m`, `g`, `t` or `p` (any
 * case, optionally followed by `b` or `ib`), or a bare `b`; `-1` means unlimited.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
};

/**
 * Parses a memory size; fractions are truncated to whole bytes. Throws a
 * `RangeError` saying why, for the caller to name its flag or field.
 *
 * @example
 * ```ts
 * import { parseSize } from "./size.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseSize("32m"), 32 * 1024 * 1024);
 * assert.equal(parseSize("1.5GiB"), 1610612736);
 * assert.throws(() => parseSize("lots"), RangeError);
 * ```
 */
export function parseSize(value: string): number {
  if (value === "-1") return -1;
  const m = /^(\d+(?:\.\d+)?|\.\d+) ?([A-Za-z]{0,3})$/.exec(value);
  if (!m) throw new RangeError("not a size (e.g. 512m, 1g, 1048576)");
  let size = Number(m[1]);
  const suffix = m[2]!.toLowerCase();
  if (suffix !== "" && suffix !== "b") {
    const mul = UNITS[suffix[0]!];
    const rest = suffix.slice(1);
    if (mul === undefined || (rest !== "" && rest !== "b" && rest !== "ib")) {
      throw new RangeError(`invalid suffix "${m[2]}" (k, m, g, t or p, optionally with b or ib)`);
    }
    size *= mul;
  }
  size = Math.trunc(size);
  if (!Number.isSafeInteger(size)) throw new RangeError("too large");
  return size;
}
