/**
 * Test result counts from several sources, summed into the one line `scripts/test.sh` ends with.
 *
 * Every source of results (Deno's test run, the leftovers check, a suite run inside a VM, ...)
 * writes one JSON file into the results directory (`$NSINIT_RESULTS_DIR`):
 *
 * ```json
 * { "source": "deno test", "passed": 12, "failed": 0, "skipped": 2, "failures": [] }
 * ```
 *
 * `failures` is optional (short descriptions printed above the total). Counts are of top-level
 * tests: Deno's step counts (the "(3 steps)" in its summary) are not added, since a failing step
 * already fails its test. "skipped" is Deno's "ignored".
 *
 * Command line:
 *
 * ```sh
 * deno run -A scripts/summary.ts deno LOG --out FILE [--source NAME] [--exit-code N]
 * deno run -A scripts/summary.ts record --out FILE --source NAME [--passed N] [--failed N] [--skipped N] [--failure TEXT]...
 * deno run -A scripts/summary.ts sum DIR
 * ```
 *
 * `deno` parses a saved `deno test` log; `record` writes counts given on the command line;
 * `sum` prints one line per source (sources with nothing to count are left out), then `N passed, M failed[, K skipped]` as the last line,
 * and exits 1 if anything failed.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** Counts of one result source, as stored in the results directory. */
export interface Result {
  /** Who produced the counts, e.g. "deno test", "leftovers", "vm cgroup2". */
  source: string;
  /** Tests that passed. */
  passed: number;
  /** Tests (or checks) that failed. */
  failed: number;
  /** Tests that were ignored (skipped, with a reason printed by the test). */
  skipped: number;
  /** Optional short descriptions of what failed. */
  failures?: string[];
}

/** Top-level counts read from Deno's test summary line. */
export interface DenoCounts {
  /** `ok` or `FAILED`, as Deno printed it. */
  status: "ok" | "FAILED";
  /** Tests that passed (steps not included). */
  passed: number;
  /** Tests that failed (steps not included). */
  failed: number;
  /** Tests that were ignored (steps not included). */
  ignored: number;
  /** Tests that a `--filter` left out. */
  filteredOut: number;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

/**
 * Removes ANSI colour and cursor sequences from terminal output.
 *
 * @example Stripping colours
 * ```ts
 * import assert from "node:assert/strict";
 * import { stripAnsi } from "./summary.ts";
 * assert.equal(stripAnsi("\x1b[32mok\x1b[0m"), "ok");
 * ```
 */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/**
 * Finds Deno's final test summary line in `log` (colours allowed) and reads its counts.
 * Returns `null` when there is none (Deno failed before running tests, e.g. a type error).
 * The last such line wins, so test output that looks like a summary does not confuse it.
 *
 * @example Reading a summary
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDenoSummary } from "./summary.ts";
 * const c = parseDenoSummary("...\nFAILED | 12 passed (3 steps) | 1 failed | 2 ignored (1 step) (1s)\n");
 * assert.equal(c?.passed, 12);
 * assert.equal(c.failed, 1);
 * assert.equal(c.ignored, 2);
 * assert.equal(c.status, "FAILED");
 * assert.equal(parseDenoSummary("error: TS2322 ..."), null);
 * ```
 */
export function parseDenoSummary(log: string): DenoCounts | null {
  const lines = stripAnsi(log).split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(ok|FAILED) \| (.*)$/.exec(lines[i].trim());
    if (!m) continue;
    const counts: DenoCounts = {
      status: m[1] as "ok" | "FAILED",
      passed: 0,
      failed: 0,
      ignored: 0,
      filteredOut: 0,
    };
    let seen = 0;
    for (const part of m[2].split(" | ")) {
      const p = /^(\d+) (passed|failed|ignored|filtered out|measured)\b/.exec(part.trim());
      if (!p) continue;
      const n = Number(p[1]);
      seen++;
      if (p[2] === "passed") counts.passed = n;
      else if (p[2] === "failed") counts.failed = n;
      else if (p[2] === "ignored") counts.ignored = n;
      else if (p[2] === "filtered out") counts.filteredOut = n;
    }
    if (seen > 0) return counts;
  }
  return null;
}

/**
 * The failed tests that Deno lists in the ` FAILURES ` section of `log` (colours allowed), as
 * `name => file:line:col`, so the summary at the end of a long run names them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDenoFailures } from "./summary.ts";
 * const log = " FAILURES \n\nmy test => ./a_test.ts:3:6\n\nFAILED | 1 passed | 1 failed (2ms)\n";
 * assert.deepEqual(parseDenoFailures(log), ["my test => ./a_test.ts:3:6"]);
 * assert.deepEqual(parseDenoFailures("ok | 1 passed | 0 failed (1ms)"), []);
 * ```
 */
export function parseDenoFailures(log: string): string[] {
  const out: string[] = [];
  let inside = false;
  for (const raw of stripAnsi(log).split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "FAILURES") inside = true;
    else if (/^(ok|FAILED) \| /.test(line)) inside = false;
    else if (inside && line.includes(" => ")) out.push(line);
  }
  return out;
}

/**
 * Turns a `deno test` log and its exit code into a {@linkcode Result}. A missing summary, or a
 * non-zero exit code with no failed test (a crash, a timeout), counts as one failure.
 *
 * @example A run that crashed after its tests
 * ```ts
 * import assert from "node:assert/strict";
 * import { resultFromDenoLog } from "./summary.ts";
 * const r = resultFromDenoLog("ok | 3 passed | 0 failed (5ms)", 124);
 * assert.equal(r.passed, 3);
 * assert.equal(r.failed, 1);
 * ```
 */
export function resultFromDenoLog(log: string, exitCode: number, source = "deno test"): Result {
  const c = parseDenoSummary(log);
  if (c === null) {
    return {
      source,
      passed: 0,
      failed: 1,
      skipped: 0,
      failures: [`${source}: no test summary (exit code ${exitCode}); see its output above`],
    };
  }
  const result: Result = { source, passed: c.passed, failed: c.failed, skipped: c.ignored };
  const named = parseDenoFailures(log);
  if (named.length > 0) result.failures = named.map((f) => `${source}: ${f}`);
  if (exitCode !== 0 && c.failed === 0) {
    result.failed = 1;
    result.failures = [
      `${source}: exit code ${exitCode}${
        exitCode === 124 ? " (timed out)" : ""
      } with no failed test`,
    ];
  }
  return result;
}

/**
 * Checks that `value` (parsed JSON from `file`) is a {@linkcode Result}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateResult } from "./summary.ts";
 * const r = validateResult({ source: "vm", passed: 1, failed: 0, skipped: 0 }, "vm.json");
 * assert.equal(r.source, "vm");
 * ```
 */
export function validateResult(value: unknown, file: string): Result {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${file}: not a JSON object`);
  }
  const v = value as Record<string, unknown>;
  const count = (k: string): number => {
    const n = v[k] ?? 0;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
      throw new TypeError(`${file}: "${k}" is not a count`);
    }
    return n;
  };
  const failures = v.failures ?? [];
  if (!Array.isArray(failures) || failures.some((f) => typeof f !== "string")) {
    throw new TypeError(`${file}: "failures" is not a list of strings`);
  }
  return {
    source: typeof v.source === "string" ? v.source : file,
    passed: count("passed"),
    failed: count("failed"),
    skipped: count("skipped"),
    failures: failures as string[],
  };
}

/**
 * Adds up results.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sumResults } from "./summary.ts";
 * const t = sumResults([
 *   { source: "a", passed: 2, failed: 0, skipped: 1 },
 *   { source: "b", passed: 1, failed: 1, skipped: 0 },
 * ]);
 * assert.equal(t.passed, 3);
 * assert.equal(t.failed, 1);
 * assert.equal(t.skipped, 1);
 * ```
 */
export function sumResults(results: readonly Result[]): Result {
  const total: Result = { source: "total", passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const r of results) {
    total.passed += r.passed;
    total.failed += r.failed;
    total.skipped += r.skipped;
    total.failures!.push(...(r.failures ?? []));
  }
  return total;
}

/**
 * The summary line: `N passed, M failed`, with `, K skipped` only when K > 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCounts } from "./summary.ts";
 * assert.equal(formatCounts({ passed: 5, failed: 0, skipped: 0 }), "5 passed, 0 failed");
 * assert.equal(formatCounts({ passed: 5, failed: 1, skipped: 2 }), "5 passed, 1 failed, 2 skipped");
 * ```
 */
export function formatCounts(c: { passed: number; failed: number; skipped: number }): string {
  const line = `${c.passed} passed, ${c.failed} failed`;
  return c.skipped > 0 ? `${line}, ${c.skipped} skipped` : line;
}

/**
 * Reads every `*.json` result in `dir`, in name order. A file that is not a valid result
 * becomes one failure, so a broken source cannot pass silently.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readResults } from "./summary.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/a.json`, '{"source":"a","passed":1,"failed":0,"skipped":0}');
 * assert.equal((await readResults(dir))[0].passed, 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function readResults(dir: string): Promise<Result[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".json")) names.push(e.name);
  }
  names.sort();
  const results: Result[] = [];
  for (const name of names) {
    const file = `${dir}/${name}`;
    try {
      results.push(validateResult(JSON.parse(await Deno.readTextFile(file)), file));
    } catch (e) {
      const problem = e instanceof Error ? e.message : String(e);
      results.push({ source: name, passed: 0, failed: 1, skipped: 0, failures: [problem] });
    }
  }
  return results;
}

async function writeResult(file: string, r: Result): Promise<void> {
  const tmp = `${file}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(r) + "\n");
  await Deno.rename(tmp, file);
}

function count(value: string | undefined, flag: string): number {
  const n = Number(value ?? 0);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`--${flag}: not a count: ${value}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      source: { type: "string" },
      "exit-code": { type: "string" },
      passed: { type: "string" },
      failed: { type: "string" },
      skipped: { type: "string" },
      failure: { type: "string", multiple: true },
    },
  });
  const [command, arg] = positionals;
  if (command === "deno" && arg && values.out) {
    const r = resultFromDenoLog(
      await Deno.readTextFile(arg),
      count(values["exit-code"], "exit-code"),
      values.source ?? "deno test",
    );
    await writeResult(values.out, r);
    return 0;
  }
  if (command === "record" && values.out && values.source) {
    await writeResult(values.out, {
      source: values.source,
      passed: count(values.passed, "passed"),
      failed: count(values.failed, "failed"),
      skipped: count(values.skipped, "skipped"),
      failures: values.failure ?? [],
    });
    return 0;
  }
  if (command === "sum" && arg) {
    const results = await readResults(arg);
    for (const r of results) {
      if (r.passed + r.failed + r.skipped > 0) console.log(`  ${r.source}: ${formatCounts(r)}`);
    }
    const total = sumResults(results);
    for (const f of total.failures ?? []) console.log(`  failed: ${f}`);
    console.log(formatCounts(total));
    return total.failed > 0 ? 1 : 0;
  }
  console.error(
    "usage: summary.ts deno LOG --out FILE [--source NAME] [--exit-code N]\n" +
      "       summary.ts record --out FILE --source NAME [--passed N] [--failed N] [--skipped N] [--failure TEXT]...\n" +
      "       summary.ts sum DIR",
  );
  return 2;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
