import assert from "node:assert/strict";
import { hasCgroup, hasCommand, isRoot, skipIf, skipUnless } from "./skip.ts";

Deno.test("skipUnless / skipIf return Deno.test's ignore flag", () => {
  assert.equal(skipUnless(true, "unused reason"), false);
  assert.equal(skipUnless(false, "skip_test: demonstrating a skip"), true);
  assert.equal(skipIf(true, "skip_test: demonstrating a skip"), true);
  assert.equal(skipIf(false, "unused reason"), false);
});

Deno.test("host probes", () => {
  assert.equal(isRoot(), Deno.uid() === 0);
  assert.ok(hasCommand("sh"));
  assert.ok(hasCommand("/bin/sh"));
  assert.ok(!hasCommand("/etc/passwd"), "not executable");
  assert.ok(!hasCommand("nsinit-no-such-command"));
  assert.equal(hasCgroup("no-such-controller"), false);
  const mounts = Deno.readTextFileSync("/proc/self/mounts");
  assert.equal(hasCgroup("unified"), / cgroup2 /.test(mounts));
});
