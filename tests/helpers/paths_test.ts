import assert from "node:assert/strict";
import {
  createTestDir,
  makeTempDir,
  mountsUnder,
  removeTestDir,
  REPO_ROOT,
  RUN_MARKER_FILE,
  TEST_DIR_PREFIX,
  testRun,
} from "./paths.ts";
import { isRoot, skipUnless } from "./skip.ts";

Deno.test("REPO_ROOT is the repository root", () => {
  assert.ok(Deno.statSync(`${REPO_ROOT}/deno.json`).isFile);
  assert.ok(!REPO_ROOT.endsWith("/"));
});

Deno.test("testRun: stable within a process and exported to children", async () => {
  const run = testRun();
  assert.equal(testRun(), run);
  const out = await new Deno.Command("sh", { args: ["-c", "echo $NSINIT_TEST_RUN"] }).output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), run);
});

Deno.test("makeTempDir: a 0755 directory under the test prefix, removed on dispose", async () => {
  let path: string;
  {
    await using dir = await makeTempDir("unit");
    path = dir.path;
    assert.ok(path.startsWith(`${TEST_DIR_PREFIX}unit-`));
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o755);
    assert.equal(Deno.readTextFileSync(`${path}/${RUN_MARKER_FILE}`), testRun());
    await Deno.mkdir(`${path}/a/b`, { recursive: true });
    await Deno.writeTextFile(`${path}/a/b/f`, "x");
  }
  assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
});

Deno.test("createTestDir: only under the test prefix", async () => {
  await assert.rejects(createTestDir("/tmp/elsewhere"), RangeError);
});

Deno.test("removeTestDir: refuses paths outside /tmp and tolerates missing ones", async () => {
  await assert.rejects(removeTestDir("/etc"), RangeError);
  await assert.rejects(removeTestDir("/tmp/../etc"), RangeError);
  await removeTestDir(`${TEST_DIR_PREFIX}does-not-exist-${Deno.pid}`);
});

Deno.test({
  name: "removeTestDir: refuses while something is mounted below",
  ignore: skipUnless(isRoot(), "mounting a tmpfs needs root"),
  async fn() {
    await using dir = await makeTempDir("mnt");
    const mnt = `${dir.path}/m`;
    await Deno.mkdir(mnt);
    const mount = await new Deno.Command("mount", { args: ["-t", "tmpfs", "none", mnt] }).output();
    assert.ok(mount.success);
    try {
      assert.deepEqual(mountsUnder(dir.path), [mnt]);
      await assert.rejects(removeTestDir(dir.path), /still mounted/);
      assert.ok(Deno.statSync(mnt).isDirectory);
    } finally {
      await new Deno.Command("umount", { args: [mnt] }).output();
    }
    assert.deepEqual(mountsUnder(dir.path), []);
  },
});
