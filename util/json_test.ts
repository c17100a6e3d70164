import assert from "node:assert/strict";
import { cloneJson } from "./json.ts";

Deno.test("cloneJson copies JSON data deeply, equal and unshared", () => {
  const spec = JSON.parse(
    '{"ociVersion":"1.3.0","process":{"args":["sh","-c","true"],"env":["A=1"],"user":{"uid":0,"gid":0}},' +
      '"linux":{"namespaces":[{"type":"pid"}],"resources":{"memory":{"limit":1048576}}},"n":null,"b":false}',
  );
  const copy = cloneJson(spec);
  assert.deepEqual(copy, spec);
  copy.process.args.push("x");
  copy.linux.resources.memory.limit = 1;
  assert.deepEqual(spec.process.args, ["sh", "-c", "true"]);
  assert.equal(spec.linux.resources.memory.limit, 1048576);
});

Deno.test("cloneJson keeps an own __proto__ key a property, never the prototype", () => {
  const v = JSON.parse('{"__proto__":{"polluted":true},"a":1}');
  const copy = cloneJson(v) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  assert.equal((copy as { polluted?: boolean }).polluted, undefined);
  assert.deepEqual(Object.keys(copy), ["__proto__", "a"]);
  assert.deepEqual(copy["__proto__"], { polluted: true });
});

Deno.test("cloneJson refuses a cycle with a TypeError", () => {
  const a: Record<string, unknown> = {};
  a.self = a;
  assert.throws(() => cloneJson(a), TypeError);
});

Deno.test("cloneJson keeps non-JSON objects as they are", () => {
  const d = new Date(0);
  const copy = cloneJson({ d });
  assert.equal(copy.d, d);
});
