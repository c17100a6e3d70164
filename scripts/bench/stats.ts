/**
 * Summaries of timing samples: median, 90th percentile and friends, rounded for reports.
 *
 * @module
 */

/** A summary of timing samples, in milliseconds (or whatever unit the samples had). */
export interface Summary {
  /** Number of samples. */
  n: number;
  /** Median (the mean of the two middle samples when `n` is even). */
  median: number;
  /** 90th percentile (linear interpolation between the closest ranks). */
  p90: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
  /** Arithmetic mean. */
  mean: number;
}

/**
 * The `p`-th percentile (0..100) of samples, by linear interpolation between the closest ranks
 * (the method of numpy's default and of most spreadsheets).
 *
 * @example The median and p90 of ten samples
 * ```ts
 * import assert from "node:assert/strict";
 * import { percentile } from "./stats.ts";
 * const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
 * assert.equal(percentile(xs, 50), 5.5);
 * assert.ok(Math.abs(percentile(xs, 90) - 9.1) < 1e-9);
 * ```
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError("percentile: no samples");
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be in 0..100, got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** Rounds to `digits` decimals (default 2), for JSON and tables. */
export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Summarizes samples, each figure rounded to 3 decimals.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize } from "./stats.ts";
 * const s = summarize([3, 1, 2]);
 * assert.equal(s.n, 3);
 * assert.equal(s.median, 2);
 * assert.equal(s.min, 1);
 * assert.equal(s.max, 3);
 * assert.equal(s.mean, 2);
 * ```
 */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError("summarize: no samples");
  for (const x of samples) {
    if (!Number.isFinite(x)) throw new RangeError(`summarize: sample ${x} is not finite`);
  }
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    n: samples.length,
    median: round(percentile(samples, 50), 3),
    p90: round(percentile(samples, 90), 3),
    min: round(Math.min(...samples), 3),
    max: round(Math.max(...samples), 3),
    mean: round(sum / samples.length, 3),
  };
}

/**
 * A ratio rounded to 3 decimals, or `null` when either side is missing or the divisor is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ratio } from "./stats.ts";
 * assert.equal(ratio(5, 20), 0.25);
 * assert.equal(ratio(5, undefined), null);
 * ```
 */
export function ratio(a: number | undefined | null, b: number | undefined | null): number | null {
  if (a === undefined || a === null || b === undefined || b === null || b === 0) return null;
  return round(a / b, 3);
}
