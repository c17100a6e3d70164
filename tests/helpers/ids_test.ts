import assert from "node:assert/strict";
import { uniqueId } from "./ids.ts";

Deno.test("uniqueId: distinct, prefixed, and a valid container id", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) ids.add(uniqueId("ctr"));
  assert.equal(ids.size, 1000);
  for (const id of ids) {
    assert.match(id, /^ctr-[0-9a-z]+-[0-9a-z]+-[0-9a-f]{4}$/);
    assert.ok(id.length < 40);
  }
  assert.match(uniqueId(), /^t-/);
});

Deno.test("uniqueId: rejects prefixes that are not name-safe", () => {
  for (const bad of ["", "a/b", "../x", "-x", "a b", "x".repeat(33)]) {
    assert.throws(() => uniqueId(bad), TypeError, bad);
  }
});
