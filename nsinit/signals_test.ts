import assert from "node:assert/strict";
import { parseSignal } from "./signals.ts";
import { UsageError } from "./flags.ts";

Deno.test("parseSignal: names with or without SIG, any case, and numbers", () => {
  assert.equal(parseSignal("SIGTERM"), 15);
  assert.equal(parseSignal("term"), 15);
  assert.equal(parseSignal("Kill"), 9);
  assert.equal(parseSignal("USR1"), 10);
  assert.equal(parseSignal("9"), 9);
  assert.equal(parseSignal("0"), 0);
  assert.equal(parseSignal("64"), 64);
});

Deno.test("parseSignal: unknown names and numbers are usage errors", () => {
  for (const bad of ["FOO", "SIG", "", "65", "-1", "1.5"]) {
    assert.throws(() => parseSignal(bad), UsageError, bad);
  }
  assert.throws(() => parseSignal("FOO"), /unknown signal "FOO"/);
});
