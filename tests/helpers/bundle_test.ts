import assert from "node:assert/strict";
import { makeBundle } from "./bundle.ts";
import { TEST_DIR_PREFIX, testRun } from "./paths.ts";
import { rootfsPath } from "./rootfs.ts";
import { run } from "./run.ts";
import { hasCommand, isRoot, skipUnless } from "./skip.ts";

Deno.test("makeBundle: runc's default spec, adjusted for tests, with a private rootfs", async () => {
  let dir: string;
  {
    await using b = await makeBundle({ args: ["echo", "hi"], env: ["A=1"] });
    dir = b.dir;
    assert.ok(b.dir.startsWith(TEST_DIR_PREFIX));
    assert.equal(b.rootfs, `${b.dir}/rootfs`);
    assert.equal(b.stateRoot, `${b.dir}/state`);
    assert.match(b.id, /^ctr-/);
    const onDisk = JSON.parse(Deno.readTextFileSync(b.configPath));
    assert.equal(onDisk.ociVersion, "1.0.2-dev");
    assert.equal(onDisk.process.terminal, false);
    assert.deepEqual(onDisk.process.args, ["echo", "hi"]);
    assert.deepEqual(onDisk.process.env.slice(-2), ["A=1", `NSINIT_TEST_RUN=${testRun()}`]);
    assert.deepEqual(onDisk.root, { path: "rootfs", readonly: true });
    assert.equal(onDisk.linux.cgroupsPath, `nsinit-test-${b.id}`);
    assert.deepEqual(
      onDisk.linux.namespaces.map((n: { type: string }) => n.type),
      ["pid", "network", "ipc", "uts", "mount"],
    );
    assert.ok(Deno.statSync(`${b.rootfs}/bin/busybox`).isFile);
    assert.equal(Deno.readLinkSync(`${b.rootfs}/bin/sh`), "busybox");
    assert.deepEqual(onDisk, b.config);

    b.config.hostname = "changed";
    await b.write();
    assert.equal(JSON.parse(Deno.readTextFileSync(b.configPath)).hostname, "changed");
  }
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
});

Deno.test("makeBundle: shared rootfs, cgroupsPath, id and rootless options", async () => {
  await using b = await makeBundle({
    id: "fixed-id",
    rootfs: "shared",
    cgroupsPath: null,
    rootless: true,
    owner: { uid: 1234, gid: 2345 },
    readonlyRoot: false,
  });
  assert.equal(b.id, "fixed-id");
  assert.equal(b.rootfs, await rootfsPath());
  assert.deepEqual(b.config.root, { path: b.rootfs, readonly: true });
  assert.equal(b.config.linux?.cgroupsPath, undefined);
  assert.equal(b.config.linux?.uidMappings?.[0].hostID, 1234);
  assert.equal(b.config.linux?.gidMappings?.[0].hostID, 2345);
  if (isRoot()) {
    const st = Deno.statSync(b.configPath);
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 2345);
  }
  await assert.rejects(makeBundle({ id: "../x" }), TypeError);
});

Deno.test({
  name: "makeBundle: runc runs the bundle and removes its cgroup",
  ignore: skipUnless(isRoot() && hasCommand("runc"), "needs root and runc"),
  async fn() {
    await using b = await makeBundle({ args: ["sh", "-c", "echo hi from $(hostname); id -u"] });
    const r = await run("runc", ["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "hi from runc\n0\n");
    } finally {
      await run("runc", ["--root", b.stateRoot, "delete", "--force", b.id]);
    }
    const own = Deno.readTextFileSync("/proc/self/cgroup").match(/^\d+:memory:(.*)$/m)?.[1];
    if (own !== undefined) {
      const cg = `/sys/fs/cgroup/memory${own.replace(/\/$/, "")}/nsinit-test-${b.id}`;
      assert.throws(() => Deno.statSync(cg), Deno.errors.NotFound, cg);
    }
  },
});
