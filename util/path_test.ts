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

Deno.test("path: relative agrees with node:path's posix.relative on absolute paths, below, beside and above", async () => {
  const { posix } = await import("node:path");
  const paths = [
    "/",
    "/a",
    "/a/",
    "/a/b",
    "/ab",
    "/a/b/c",
    "/a//b/./c/..",
    "/x/a/b",
    "/a/bc",
    "/a/b/c/d/e",
  ];
  for (const from of paths) {
    for (const to of paths) {
      assert.equal(relative(from, to), posix.relative(from, to), `relative(${from}, ${to})`);
    }
  }
});
