import { strict as assert } from "node:assert";
import {
  benchSpec,
  cgroupScopes,
  exists,
  makeBenchBundle,
  removeBenchCgroups,
  sh,
  startV1View,
  which,
} from "./host.ts";

Deno.test("benchSpec is runc's default spec running /bin/true without a terminal", () => {
  const spec = benchSpec("nsinit-bench-t");
  assert.deepEqual(spec.process?.args, ["/bin/true"]);
  assert.equal(spec.process?.terminal, false);
  assert.equal(spec.root?.path, "rootfs");
  assert.equal(spec.linux?.cgroupsPath, "nsinit-bench-t");
  assert.deepEqual(spec.linux?.namespaces?.map((n) => n.type).sort(), [
    "ipc",
    "mount",
    "network",
    "pid",
    "uts",
  ]);
});

Deno.test("sh collects output and the exit code; which finds tools", async () => {
  const r = await sh("sh", ["-c", "echo out; echo err >&2; exit 3"]);
  assert.deepEqual(r, { code: 3, stdout: "out\n", stderr: "err\n" });
  assert.ok(which("sh"));
  assert.equal(which("no-such-tool-anywhere"), undefined);
});

Deno.test("makeBenchBundle writes both configs over one private rootfs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-bench-test-" });
  try {
    const b = await makeBenchBundle(`${dir}/bundle`, "nsinit-bench-t");
    assert.ok(Deno.statSync(`${b.rootfs}/bin/busybox`).isFile);
    const main = JSON.parse(Deno.readTextFileSync(`${b.dir}/config.json`));
    const lc = JSON.parse(Deno.readTextFileSync(`${b.lifecycleDir}/config.json`));
    assert.deepEqual(main, b.spec);
    assert.deepEqual(lc.process.args, ["sleep", "3600"]);
    assert.equal(lc.root.path, b.rootfs);
    assert.equal(lc.linux.cgroupsPath, "nsinit-bench-t-lc");
    assert.deepEqual({ ...lc, process: main.process, root: main.root, linux: main.linux }, main);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cgroupScopes and removeBenchCgroups find and remove only the prefix's directories", async () => {
  const scopes = cgroupScopes();
  assert.ok(scopes.length > 0);
  for (const s of scopes) {
    assert.ok(s.own.startsWith(s.mountPoint), s.own);
    // The own directory exists (a cgroup below a hierarchy mounted at its root, as the
    // memory one here, once lost the slash between the mount point and the path).
    assert.ok(Deno.statSync(s.own).isDirectory, s.own);
    assert.ok(Deno.statSync(`${s.own}/cgroup.procs`).isFile, s.own);
  }
  await assert.rejects(() => removeBenchCgroups(""), RangeError);
  await assert.rejects(() => removeBenchCgroups("../x"), RangeError);
  const prefix = `nsinit-bench-test-${Deno.pid}`;
  const made = [`${scopes[0].own}/${prefix}-a`, `${scopes[0].own}/${prefix}-b`];
  const other = `${scopes[0].own}/nsinit-bench-other-${Deno.pid}`;
  try {
    for (const d of [...made, other]) Deno.mkdirSync(d);
    const removed = await removeBenchCgroups(prefix);
    assert.deepEqual(removed.sort(), made.sort());
    assert.ok(exists(other));
  } finally {
    for (const d of [...made, other]) await Deno.remove(d).catch(() => {});
  }
});

const hybrid = exists("/sys/fs/cgroup/unified/cgroup.controllers");

Deno.test({
  name: "startV1View hides the cgroup2 mount from commands run through it",
  // Only a hybrid host has a /sys/fs/cgroup/unified to hide.
  ignore: !hybrid,
  async fn() {
    const holder = await startV1View();
    try {
      const [cmd, ...args] = holder.argv(["cat", "/proc/self/mountinfo"]);
      const inside = await sh(cmd, args);
      assert.equal(inside.code, 0, inside.stderr);
      assert.ok(!inside.stdout.includes(" /sys/fs/cgroup/unified "));
      assert.ok(inside.stdout.includes(" /sys/fs/cgroup/cpu"));
      assert.ok(
        exists("/sys/fs/cgroup/unified/cgroup.controllers"),
        "the host's own view is unchanged",
      );
    } finally {
      await holder.close();
    }
    assert.ok(!exists(`/proc/${holder.pid}/ns/mnt`), "the holder is gone");
    await holder.close(); // idempotent
  },
});
