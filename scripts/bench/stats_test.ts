import { strict as assert } from "node:assert";
import { percentile, ratio, round, summarize } from "./stats.ts";

Deno.test("percentile interpolates between ranks and ignores input order", () => {
  assert.equal(percentile([5], 90), 5);
  assert.equal(percentile([4, 1, 3, 2], 50), 2.5);
  assert.equal(percentile([1, 2, 3, 4], 0), 1);
  assert.equal(percentile([1, 2, 3, 4], 100), 4);
  assert.ok(Math.abs(percentile([10, 20], 90) - 19) < 1e-9);
});

Deno.test("percentile and summarize refuse bad input", () => {
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
  assert.throws(() => summarize([]), RangeError);
  assert.throws(() => summarize([1, NaN]), RangeError);
});

Deno.test("summarize gives every figure rounded to 3 decimals", () => {
  const s = summarize([1.00004, 2, 3, 4, 10]);
  assert.deepEqual(s, { n: 5, median: 3, p90: 7.6, min: 1, max: 10, mean: 4 });
});

Deno.test("round and ratio", () => {
  assert.equal(round(1.23456), 1.23);
  assert.equal(round(1.23456, 4), 1.2346);
  assert.equal(ratio(1, 3), 0.333);
  assert.equal(ratio(1, 0), null);
  assert.equal(ratio(null, 2), null);
});
