/**
 * Byte-array helpers.
 *
 * @module
 */

/**
 * The arrays one after another in a new array.
 *
 * @example Joining two arrays
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./bytes.ts";
 * assert.deepEqual(concatBytes([new Uint8Array([1, 2]), new Uint8Array([3])]), new Uint8Array([1, 2, 3]));
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

let encoder: TextEncoder | undefined;

/**
 * The UTF-8 bytes of `s`, with `extra` zero bytes after them (1 for a C string). An ASCII
 * string (every path, id and JSON document the CLI's verbs write) is copied byte by byte:
 * a process's first TextEncoder costs ~0.1 ms (made and first used, measured with the
 * launcher's flags), which every verb paid for a few short strings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8 } from "./bytes.ts";
 * assert.deepEqual(utf8("ab"), new Uint8Array([0x61, 0x62]));
 * assert.deepEqual(utf8("é", 1), new Uint8Array([0xc3, 0xa9, 0]));
 * ```
 */
export function utf8(s: string, extra = 0): Uint8Array<ArrayBuffer> {
  const n = s.length;
  // A long string (a plan's JSON, a config): the native encoder, whose one-time cost the
  // byte-by-byte copy of a few kilobytes exceeds.
  if (n > LONG) return withExtra((encoder ??= new TextEncoder()).encode(s), extra);
  const out = new Uint8Array(n + extra);
  if (asciiInto(s, out) === n) return out;
  return withExtra((encoder ??= new TextEncoder()).encode(s), extra);
}

/** Copies `s` into `buf` while it is ASCII (buf long enough); how many units it copied. */
function asciiInto(s: string, buf: Uint8Array): number {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) break;
    buf[i] = c;
  }
  return i;
}

/** Strings longer than this (UTF-16 units) are encoded by TextEncoder. */
const LONG = 512;

function withExtra(b: Uint8Array<ArrayBuffer>, extra: number): Uint8Array<ArrayBuffer> {
  if (extra === 0) return b;
  const out = new Uint8Array(b.length + extra);
  out.set(b);
  return out;
}

/**
 * Writes the UTF-8 bytes of `s` into `buf` (as `TextEncoder.encodeInto`, ASCII copied byte by
 * byte, see {@link utf8}) and returns how many it wrote; throws if `buf` is too small.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8Into } from "./bytes.ts";
 * const buf = new Uint8Array(8);
 * assert.equal(utf8Into("a\u00e9", buf), 3);
 * assert.deepEqual(buf.subarray(0, 3), new Uint8Array([0x61, 0xc3, 0xa9]));
 * ```
 */
export function utf8Into(s: string, buf: Uint8Array): number {
  const n = s.length;
  // ASCII straight into buf (no array made); anything else the long way.
  if (n <= LONG && n <= buf.length && asciiInto(s, buf) === n) return n;
  const b = utf8(s);
  if (b.length > buf.length) throw new RangeError(`${b.length} bytes do not fit in ${buf.length}`);
  buf.set(b);
  return b.length;
}
