// End-to-end checkpoint/restore with the real CRIU (scripts/install_criu.sh), from the
// library: a counting loop resumes, 200 MB of memory keep their checksum, --leave-running,
// pre-dumps shrink the final dump, a new id, a terminal, and a corrupt image.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import { CriuError } from "../../errors.ts";
import { uniqueId } from "../helpers/ids.ts";
import {
  assertNothingLeft,
  ckptBundle,
  COUNTER_ARGS,
  CRIU_NET,
  hasMemTrack,
  ignoreCriu,
  ignoreMemhold,
  imagePages,
  installMemhold,
  readCounter,
  readSum,
  waitFor,
} from "./helpers.ts";
import { skipUnless } from "../helpers/skip.ts";

const SIGUSR1 = 10;
const memTrack = !ignoreCriu && hasMemTrack();
const quiet = { stdin: "null", stdout: "null", stderr: "null" } as const; // reopened inside: dumpable

Deno.test({
  name: "checkpoint: a counting container is dumped, stops, and after restore counts on from there",
  ignore: ignoreCriu,
  async fn() {
    await using b = await ckptBundle({ args: COUNTER_ARGS, readonlyRoot: false });
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    await waitFor(() => readCounter(b) >= 5, "the counter to reach 5");
    const phases: string[] = [];
    await c.checkpoint({
      ...CRIU_NET,
      imagePath: `${b.dir}/img`,
      onProgress: (p) => phases.push(p.phase),
    });
    assert.equal(await c.status(), "stopped");
    assert.ok(phases.includes("post-dump") && phases.at(-1) === "done", phases.join(","));
    const atDump = readCounter(b);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(readCounter(b), atDump, "the counter moved after the dump");
    await c.destroy();

    const r = await f.restore(b.id, { ...CRIU_NET, imagePath: `${b.dir}/img`, stdio: quiet });
    try {
      assert.equal(await r.status(), "running");
      assert.ok(r.init && r.init.pid > 0);
      await waitFor(() => readCounter(b) >= atDump + 5, "the restored counter to go on");
      const now = readCounter(b);
      assert.ok(now > atDump && now < atDump + 200, `counter ${atDump} -> ${now}: not resumed`);
      // An ordinary container for every verb: load, ps, pause/resume, exec, kill.
      const loaded = await f.load(b.id);
      assert.equal(await loaded.status(), "running");
      assert.ok((await loaded.processes()).includes(r.init!.pid));
      await loaded.pause();
      assert.equal(await loaded.status(), "paused");
      await loaded.resume();
      const p = await loaded.exec(
        { args: ["cat", "/tmp/n"], cwd: "/", user: { uid: 0, gid: 0 } },
        { stdio: { stdin: "null", stdout: "piped", stderr: "piped" } },
      );
      const out = await p.output();
      assert.equal(out.code, 0, out.stderr);
      assert.ok(Number(out.stdout.trim()) >= now);
    } finally {
      await r.destroy({ force: true });
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "checkpoint: 200 MB of memory restore with the same checksum",
  ignore: ignoreCriu || ignoreMemhold,
  async fn() {
    await using b = await ckptBundle({ readonlyRoot: false });
    b.config.process!.args = await installMemhold(b, 200);
    await b.write();
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    await waitFor(() => readSum(b, "ready") !== "", "200 MB to be filled", 60_000);
    const sum = readSum(b, "ready");
    let last = { pages: 0, bytes: 0 };
    await c.checkpoint({ ...CRIU_NET, imagePath: `${b.dir}/img`, onProgress: (p) => (last = p) });
    await c.destroy();
    assert.ok(imagePages(`${b.dir}/img`) >= 200 * 256, "fewer pages than 200 MB in the images");
    assert.ok(last.bytes >= 200 * 1024 * 1024, `progress reported ${last.bytes} bytes`);
    const r = await f.restore(b.id, { ...CRIU_NET, imagePath: `${b.dir}/img`, stdio: quiet });
    try {
      await r.signal(SIGUSR1);
      await waitFor(() => readSum(b, "sum") !== "", "the checksum after restore", 60_000);
      assert.equal(readSum(b, "sum"), sum);
    } finally {
      await r.destroy({ force: true });
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "checkpoint: --leave-running leaves it running, and the images restore under a new id",
  ignore: ignoreCriu,
  async fn() {
    await using b = await ckptBundle({ args: COUNTER_ARGS, readonlyRoot: false });
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    const newId = uniqueId("restored");
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      await c.checkpoint({ ...CRIU_NET, imagePath: `${b.dir}/img`, leaveRunning: true });
      assert.equal(await c.status(), "running");
      const at = readCounter(b);
      await waitFor(() => readCounter(b) > at + 3, "the counter to go on after the dump");
      // The same images as another container: its own cgroup (a new cgroupsPath).
      await c.destroy({ force: true });
      const spec = structuredClone(b.config);
      spec.linux!.cgroupsPath = `nsinit-test-${newId}`;
      const r = await f.restore(newId, {
        ...CRIU_NET,
        imagePath: `${b.dir}/img`,
        spec,
        stdio: quiet,
      });
      try {
        assert.equal(r.id, newId);
        assert.deepEqual(await f.list(), [newId]);
        assert.equal(
          (await f.load(newId)).persisted.config.linux?.cgroupsPath,
          spec.linux!.cgroupsPath,
        );
        const again = readCounter(b);
        await waitFor(() => readCounter(b) > again + 3, "the restored copy to count");
      } finally {
        await r.destroy({ force: true });
      }
    } finally {
      await c.destroy({ force: true }).catch(() => {});
    }
    assertNothingLeft(b, b.id);
    assertNothingLeft(b, newId);
  },
});

Deno.test({
  name: "checkpoint: two pre-dumps then a dump write fewer pages than a plain dump, and restore",
  ignore: ignoreCriu || ignoreMemhold ||
    skipUnless(memTrack, "the kernel has no dirty memory tracking (CONFIG_MEM_SOFT_DIRTY)"),
  async fn() {
    await using b = await ckptBundle({ readonlyRoot: false });
    b.config.process!.args = await installMemhold(b, 64);
    await b.write();
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    await waitFor(() => readSum(b, "ready") !== "", "64 MB to be filled", 60_000);
    const sum = readSum(b, "ready");
    const img = `${b.dir}/img`;
    await c.checkpoint({ ...CRIU_NET, imagePath: `${img}/plain`, leaveRunning: true });
    await c.checkpoint({ ...CRIU_NET, imagePath: `${img}/pre1`, preDump: true });
    assert.equal(await c.status(), "running");
    await c.checkpoint({
      ...CRIU_NET,
      imagePath: `${img}/pre2`,
      preDump: true,
      parentPath: "../pre1",
    });
    await c.checkpoint({ ...CRIU_NET, imagePath: `${img}/final`, parentPath: "../pre2" });
    await c.destroy();
    const plain = imagePages(`${img}/plain`), final = imagePages(`${img}/final`);
    assert.ok(plain >= 64 * 256, `plain dump: ${plain} pages`);
    assert.ok(final < plain / 4, `final dump ${final} pages, plain ${plain}`);
    const r = await f.restore(b.id, { ...CRIU_NET, imagePath: `${img}/final`, stdio: quiet });
    try {
      await r.signal(SIGUSR1);
      await waitFor(() => readSum(b, "sum") !== "", "the checksum after restore", 60_000);
      assert.equal(readSum(b, "sum"), sum);
    } finally {
      await r.destroy({ force: true });
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "checkpoint: without dirty memory tracking a pre-dump is refused up front, naming why",
  ignore: ignoreCriu || skipUnless(!memTrack, "this kernel tracks dirty memory"),
  async fn() {
    await using b = await ckptBundle({ args: COUNTER_ARGS, readonlyRoot: false });
    const f = new Factory({ root: b.stateRoot });
    await using c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    await waitFor(() => readCounter(b) >= 2, "the counter to start");
    await assert.rejects(
      () => c.checkpoint({ ...CRIU_NET, imagePath: `${b.dir}/img`, preDump: true }),
      (e) =>
        e instanceof CriuError && e.request === "PRE_DUMP" &&
        /CONFIG_MEM_SOFT_DIRTY/.test(e.message),
    );
    assert.equal(await c.status(), "running");
    const at = readCounter(b);
    await waitFor(() => readCounter(b) > at, "the counter to go on");
  },
});

Deno.test({
  name: "checkpoint: a container with a terminal restores with a new terminal that works",
  ignore: ignoreCriu,
  async fn() {
    await using b = await ckptBundle({ args: ["sh"], terminal: true, readonlyRoot: false });
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir });
    const term = c.init!.terminal!;
    const w1 = term.writable.getWriter();
    await w1.write(new TextEncoder().encode("echo before > /tmp/t\n"));
    await waitFor(() => {
      try {
        return Deno.readTextFileSync(`${b.rootfs}/tmp/t`).trim() === "before";
      } catch {
        return false;
      }
    }, "the shell to answer");
    await c.checkpoint({ ...CRIU_NET, imagePath: `${b.dir}/img` });
    w1.releaseLock();
    await c.destroy();
    let pty: number | undefined;
    const r = await f.restore(b.id, {
      ...CRIU_NET,
      imagePath: `${b.dir}/img`,
      onPty: (fd) => (pty = fd),
    });
    try {
      assert.ok(pty !== undefined && pty >= 0, "no pty master after restore");
      const { fdWritable } = await import("../../core/stdio.ts");
      const w = fdWritable(pty).getWriter();
      await w.write(new TextEncoder().encode("echo after > /tmp/t\n"));
      await waitFor(
        () => Deno.readTextFileSync(`${b.rootfs}/tmp/t`).trim() === "after",
        "the restored shell to answer",
      );
      await w.close();
    } finally {
      await r.destroy({ force: true });
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "checkpoint: a corrupt image fails with CRIU's error and its log, and leaves nothing",
  ignore: ignoreCriu,
  async fn() {
    await using b = await ckptBundle({ args: COUNTER_ARGS, readonlyRoot: false });
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    await waitFor(() => readCounter(b) >= 2, "the counter to start");
    const img = `${b.dir}/img`;
    await c.checkpoint({ ...CRIU_NET, imagePath: img });
    await c.destroy();
    // Garbage in the process tree image.
    Deno.writeFileSync(`${img}/pstree.img`, new Uint8Array(64).fill(0x5a));
    const err = await f.restore(b.id, { ...CRIU_NET, imagePath: img, stdio: quiet }).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof CriuError, `not a CriuError: ${err}`);
    assert.equal(err.request, "RESTORE");
    assert.equal(err.log, `${img}/restore.log`);
    assert.match(err.message, /restore\.log/);
    assertNothingLeft(b, b.id);
    assert.deepEqual(await f.list(), []);
  },
});
