import assert from "node:assert/strict";
import { dirname, isAbsolute, join, normalize, relative, resolve } from "./path.ts";

Deno.test("path: the node:path behaviours the runtime relies on", () => {
  assert.equal(normalize("/a/b/../../.."), "/");
  assert.equal(normalize("./a/./b/"), "a/b");
  assert.equal(
    join("/sys/fs/cgroup/cpu", "/", "nsinit-test/c1"),
    "/sys/fs/cgroup/cpu/nsinit-test/c1",
  );
  assert.equal(join("", "a"), "a");
  assert.equal(resolve("/bundle", "rootfs"), "/bundle/rootfs");
  assert.equal(resolve("/bundle", "/abs/rootfs"), "/abs/rootfs");
  assert.equal(resolve("rel"), `${Deno.cwd()}/rel`.replace(/\/+/g, "/"));
  assert.equal(dirname("/a/b/"), "/a");
  assert.equal(relative("/sys/fs/cgroup", "/sys/fs/cgroup/x/y"), "x/y");
  assert.equal(relative("/a/b/c", "/a"), "../..");
  assert.ok(isAbsolute("/") && !isAbsolute(""));
});
