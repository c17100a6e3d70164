import assert from "node:assert/strict";
import { formatLine, Logger, rfc3339 } from "./log.ts";

const T = new Date("2026-11-22T09:25:39.123Z");

Deno.test("formatLine: logrus text and JSON, RFC 3339 to the second", () => {
  assert.equal(rfc3339(T), "2026-11-22T09:25:39Z");
  assert.equal(
    formatLine("json", "error", "a\nb", T),
    '{"level":"error","msg":"a\\nb","time":"2026-11-22T09:25:39Z"}\n',
  );
  assert.equal(
    formatLine("text", "debug", "x", T),
    'time="2026-11-22T09:25:39Z" level=debug msg="x"\n',
  );
});

Deno.test("Logger: appends to the file; debug only with debug", () => {
  const file = Deno.makeTempFileSync({ prefix: "nsinit-test-log-" });
  try {
    Deno.writeTextFileSync(file, "earlier\n");
    new Logger({ file, format: "json", now: () => T }).debug("hidden");
    const log = new Logger({ file, format: "json", debug: true, now: () => T });
    log.debug("shown");
    log.error("boom");
    const lines = Deno.readTextFileSync(file).trim().split("\n");
    assert.equal(lines[0], "earlier");
    assert.deepEqual(lines.slice(1).map((l) => JSON.parse(l)), [
      { level: "debug", msg: "shown", time: "2026-11-22T09:25:39Z" },
      { level: "error", msg: "boom", time: "2026-11-22T09:25:39Z" },
    ]);
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("Logger: an unwritable log file does not throw", () => {
  new Logger({ file: "/nonexistent-dir/x/log" }).error("lost");
});
