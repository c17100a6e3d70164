import assert from "node:assert/strict";
import {
  formatCounts,
  parseDenoFailures,
  parseDenoSummary,
  readResults,
  resultFromDenoLog,
  sumResults,
  validateResult,
} from "./summary.ts";
import { makeTempDir } from "../tests/helpers/paths.ts";
import { run } from "../tests/helpers/run.ts";

const SUMMARY = new URL("./summary.ts", import.meta.url).pathname;

Deno.test("parseDenoSummary: Deno's summary lines, with and without colours and steps", () => {
  assert.deepEqual(parseDenoSummary("ok | 12 passed (3 steps) | 0 failed | 2 ignored (1s)"), {
    status: "ok",
    passed: 12,
    failed: 0,
    ignored: 2,
    filteredOut: 0,
  });
  assert.deepEqual(
    parseDenoSummary(
      "\x1b[0m\x1b[31mFAILED\x1b[0m | 3 passed (2 steps) | 2 failed (1 step) | 1 ignored (1 step) " +
        "| 4 filtered out \x1b[0m\x1b[38;5;245m(133ms)\x1b[0m\n\nerror: Test failed\n",
    ),
    { status: "FAILED", passed: 3, failed: 2, ignored: 1, filteredOut: 4 },
  );
  assert.equal(parseDenoSummary("ok | 0 passed | 0 failed (0ms)")?.passed, 0);
  // The last summary wins; lines that merely look alike do not count.
  assert.equal(
    parseDenoSummary(
      "ok | 1 passed | 0 failed (1ms)\nprinted: ok | 9 passed\nok | 5 passed | 0 failed (2ms)",
    )
      ?.passed,
    5,
  );
  assert.equal(parseDenoSummary("error: No test modules found"), null);
  assert.equal(parseDenoSummary("ok | nothing here"), null);
});

Deno.test("resultFromDenoLog: no summary, or a bad exit code with no failure, is one failure", () => {
  assert.deepEqual(resultFromDenoLog("ok | 2 passed | 0 failed | 1 ignored (1ms)", 0), {
    source: "deno test",
    passed: 2,
    failed: 0,
    skipped: 1,
  });
  const missing = resultFromDenoLog("TS2322 [ERROR]: ...", 1, "doc");
  assert.equal(missing.failed, 1);
  assert.match(missing.failures![0], /^doc: no test summary \(exit code 1\)/);
  const timedOut = resultFromDenoLog("ok | 2 passed | 0 failed (1ms)", 124);
  assert.equal(timedOut.failed, 1);
  assert.match(timedOut.failures![0], /timed out/);
  assert.equal(resultFromDenoLog("FAILED | 2 passed | 3 failed (1ms)", 1).failed, 3);
});

Deno.test("formatCounts, sumResults, validateResult", () => {
  assert.equal(formatCounts({ passed: 0, failed: 0, skipped: 0 }), "0 passed, 0 failed");
  assert.equal(formatCounts({ passed: 1, failed: 2, skipped: 3 }), "1 passed, 2 failed, 3 skipped");
  const total = sumResults([
    { source: "a", passed: 1, failed: 0, skipped: 2 },
    { source: "b", passed: 3, failed: 1, skipped: 0, failures: ["b broke"] },
  ]);
  assert.deepEqual(total, {
    source: "total",
    passed: 4,
    failed: 1,
    skipped: 2,
    failures: ["b broke"],
  });
  assert.throws(() => validateResult([], "x.json"), TypeError);
  assert.throws(() => validateResult({ passed: -1 }, "x.json"), /"passed" is not a count/);
  assert.throws(() => validateResult({ failures: [1] }, "x.json"), /failures/);
  assert.deepEqual(validateResult({ passed: 2 }, "x.json"), {
    source: "x.json",
    passed: 2,
    failed: 0,
    skipped: 0,
    failures: [],
  });
});

Deno.test("readResults: a broken result file counts as a failure", async () => {
  await using dir = await makeTempDir("results");
  Deno.writeTextFileSync(`${dir.path}/a.json`, '{"source":"a","passed":2,"failed":0,"skipped":1}');
  Deno.writeTextFileSync(`${dir.path}/b.json`, "{not json");
  Deno.writeTextFileSync(`${dir.path}/notes.txt`, "ignored");
  const results = await readResults(dir.path);
  assert.equal(results.length, 2);
  assert.equal(results[1].source, "b.json");
  assert.equal(results[1].failed, 1);
});

/** Runs real `deno test` on throwaway tests and pipes its log through the CLI, as test.sh does. */
async function pipeline(
  tests: string,
  extra: string[] = [],
): Promise<{ last: string; code: number }> {
  await using dir = await makeTempDir("summary");
  Deno.writeTextFileSync(`${dir.path}/a_test.ts`, tests);
  const results = `${dir.path}/results`;
  Deno.mkdirSync(results);
  const test = await run(Deno.execPath(), ["test", "-A", "--no-config", `${dir.path}/a_test.ts`], {
    cwd: dir.path,
  });
  Deno.writeTextFileSync(`${dir.path}/log`, test.stdout + test.stderr);
  const parse = await run(Deno.execPath(), [
    "run",
    "-A",
    SUMMARY,
    "deno",
    `${dir.path}/log`,
    "--out",
    `${results}/deno-test.json`,
    "--exit-code",
    String(test.code),
  ]);
  assert.equal(parse.code, 0, parse.stderr);
  if (extra.length > 0) {
    const rec = await run(Deno.execPath(), [
      "run",
      "-A",
      SUMMARY,
      "record",
      "--out",
      `${results}/x.json`,
      ...extra,
    ]);
    assert.equal(rec.code, 0, rec.stderr);
  }
  const sum = await run(Deno.execPath(), ["run", "-A", SUMMARY, "sum", results]);
  return { last: sum.stdout.trimEnd().split("\n").at(-1)!, code: sum.code };
}

Deno.test("CLI: the last line for passing, failing and ignored tests of a real deno test run", async () => {
  assert.deepEqual(
    await pipeline(`Deno.test("a", () => {}); Deno.test("b", () => {});`),
    { last: "2 passed, 0 failed", code: 0 },
  );
  assert.deepEqual(
    await pipeline(`
      Deno.test("a", () => {});
      Deno.test("b", () => { throw new Error("no"); });
      Deno.test({ name: "c", ignore: true, fn() {} });
      Deno.test("d", async (t) => {
        await t.step("s1", () => {});
        await t.step({ name: "s2", ignore: true, fn() {} });
      });
    `),
    { last: "2 passed, 1 failed, 1 skipped", code: 1 },
  );
  assert.deepEqual(
    await pipeline(`Deno.test({ name: "c", ignore: true, fn() {} }); Deno.test("a", () => {});`),
    { last: "1 passed, 0 failed, 1 skipped", code: 0 },
  );
  // A module that does not type-check: no summary, one failure.
  assert.deepEqual(await pipeline(`const x: number = "s"; Deno.test("a", () => {});`), {
    last: "0 passed, 1 failed",
    code: 1,
  });
  // Another source (e.g. a VM suite) is summed in.
  assert.deepEqual(
    await pipeline(`Deno.test("a", () => {});`, [
      "--source",
      "vm",
      "--passed",
      "3",
      "--skipped",
      "1",
    ]),
    { last: "4 passed, 0 failed, 1 skipped", code: 0 },
  );
});

Deno.test("parseDenoFailures: the FAILURES list names failed tests and steps, not the ERRORS headers", () => {
  const log = [
    "\x1b[0m\x1b[1m\x1b[37m\x1b[41m ERRORS \x1b[0m",
    "",
    "contract ... killAll => ./tests/helpers/driver_contract.ts:256:15",
    "error: CgroupError: x => y",
    "",
    "\x1b[0m\x1b[1m\x1b[37m\x1b[41m FAILURES \x1b[0m",
    "",
    "contract ... killAll => ./tests/helpers/driver_contract.ts:256:15",
    "other test => ./b_test.ts:1:6",
    "",
    "\x1b[0m\x1b[31mFAILED\x1b[0m | 3 passed | 2 failed (40s)",
    "",
    "error: Test failed",
  ].join("\n");
  assert.deepEqual(parseDenoFailures(log), [
    "contract ... killAll => ./tests/helpers/driver_contract.ts:256:15",
    "other test => ./b_test.ts:1:6",
  ]);
  assert.deepEqual(resultFromDenoLog(log, 1, "vm").failures, [
    "vm: contract ... killAll => ./tests/helpers/driver_contract.ts:256:15",
    "vm: other test => ./b_test.ts:1:6",
  ]);
});
