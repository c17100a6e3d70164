// Lazy migration with the real CRIU, as runc's checkpoint.bats ("checkpoint --lazy-pages and
// restore") does it: `checkpoint --lazy-pages --page-server ADDR:PORT` dumps all but the memory,
// says it is ready (one \0 on `--status-fd` from the CLI, `onLazyPagesReady` from the library)
// and serves the pages until the destination is done; `criu lazy-pages` feeds a
// `restore --lazy-pages` from it (or, without a page server, from the images themselves). Bad
// lazy flags are refused before any work.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import { uniqueId } from "../helpers/ids.ts";
import { nsinitCommand, runNsinit } from "../helpers/run.ts";
import { skipUnless } from "../helpers/skip.ts";
import {
  assertNothingLeft,
  ckptBundle,
  COUNTER_ARGS,
  CRIU_NET,
  criuBinary,
  freePort,
  ignoreCriu,
  probeLazyMigration,
  raisePipeMaxForCriu,
  readCounter,
  startCriuDaemon,
  waitFor,
} from "./helpers.ts";

const criu = criuBinary() ?? "criu";
const quiet = { stdin: "null", stdout: "null", stderr: "null" } as const;

/** Whether CRIU can restore lazily here (runc asks the same: `criu check --feature uffd-noncoop`). */
function hasLazyPages(): boolean {
  if (ignoreCriu) return false;
  return new Deno.Command(criu, {
    args: ["check", "--feature", "uffd-noncoop"],
    stdout: "null",
    stderr: "null",
  }).outputSync().success;
}
const ignoreLazy = ignoreCriu ||
  skipUnless(hasLazyPages(), "CRIU says no: criu check --feature uffd-noncoop (userfaultfd)");
// CRIU's lazy page server sizes a pipe beyond fs.pipe-max-size, which needs CAP_SYS_RESOURCE;
// root on the development VM lacks it, and CRIU 4.1.1 then fails on the first page asked for
// (page-pipe splice EBADF; runc and plain criu alike). So the sysctl is raised for this run and
// put back at its end. The full migrations still probe CRIU alone first and skip with its error
// where it cannot migrate even so.
if (!ignoreLazy) raisePipeMaxForCriu();
const migrationBroken = ignoreLazy ? undefined : await probeLazyMigration(criu);
const ignoreMigration = ignoreLazy ||
  skipUnless(migrationBroken === undefined, migrationBroken ?? "");

/** The cgroup directory names of a bundle's containers are `nsinit-test-<id>` (see makeBundle). */
function cgroupsPathFor(id: string): string {
  return `nsinit-test-${id}`;
}

/** A destination that needs no pages: it connects to the lazy page server and hangs up. */
async function hangUp(port: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.close();
}

/** Resolves to "timeout" after `ms` (the timer does not keep the test alive after it). */
function sleep(ms: number): Promise<"timeout"> {
  return new Promise((r) => Deno.unrefTimer(setTimeout(() => r("timeout"), ms)));
}

/** Reads one byte from `file` within `ms`, or undefined. */
async function readByte(file: Deno.FsFile, ms = 30_000): Promise<number | undefined> {
  const byte = new Uint8Array(1);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const got = await Promise.race([
    file.read(byte),
    new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms)),
  ]);
  clearTimeout(timer);
  return got === 1 ? byte[0] : undefined;
}

/** Starts `nsinit checkpoint ARGS` with fd 5 open on `fifo` (as `--status-fd 5` needs). */
function checkpointWithFd5(fifo: string, args: string[]): Deno.ChildProcess {
  const [cmd, ...rest] = nsinitCommand(args);
  return new Deno.Command("sh", {
    args: ["-c", 'exec 5>"$0"; exec "$@"', fifo, cmd, ...rest],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Ends a checkpoint a failed test left serving: hanging up ends CRIU's page server and with it
 * the checkpoint (killing nsinit instead would leave its CRIU serving); SIGKILL if it is stuck.
 */
async function endCheckpoint(p: Deno.ChildProcess, port: number): Promise<void> {
  await hangUp(port).catch(() => {});
  if (await Promise.race([p.status, sleep(10_000)]) === "timeout") p.kill("SIGKILL");
  await finished(p);
}

async function finished(p: Deno.ChildProcess): Promise<{ code: number; output: string }> {
  const [st, out, err] = await Promise.all([
    p.status,
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
  ]);
  return { code: st.code, output: out + err };
}

async function makeFifo(path: string): Promise<Deno.FsFile> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.ok(r.success, "mkfifo");
  // Read-write, so opening does not wait for the writer.
  return await Deno.open(path, { read: true, write: true });
}

Deno.test({
  name: "lazy-pages: cli checkpoint --status-fd gets \\0 when ready; it serves until the end",
  ignore: ignoreLazy,
  async fn() {
    await using b = await ckptBundle({
      id: uniqueId("criu2-ready"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const root = b.stateRoot;
    const n = (args: string[]) => runNsinit(["--root", root, ...args], { pipeGraceMs: 200 });
    const img = `${b.dir}/img`;
    const port = freePort();
    const run = await n(["run", "-d", "--bundle", b.dir, b.id]);
    assert.equal(run.code, 0, run.stderr);
    using status = await makeFifo(`${b.dir}/status`);
    let ckpt: Deno.ChildProcess | undefined;
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      ckpt = checkpointWithFd5(`${b.dir}/status`, [
        "--root",
        root,
        "checkpoint",
        "--lazy-pages",
        "--page-server",
        `127.0.0.1:${port}`,
        "--status-fd",
        "5",
        "--image-path",
        img,
        b.id,
      ]);
      assert.equal(await readByte(status), 0, "no \\0 on --status-fd");
      assert.ok(Deno.statSync(`${img}/inventory.img`).isFile, "no images when ready");
      // Ready means serving: the checkpoint waits for the destination, the container is held.
      const early = await Promise.race([
        ckpt.status.then(() => "ended"),
        new Promise((r) => setTimeout(() => r("serving"), 500)),
      ]);
      assert.equal(early, "serving", "the checkpoint ended before any destination came");
      const held = readCounter(b);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(readCounter(b), held, "the container ran on while its pages were served");
      await hangUp(port);
      const done = await finished(ckpt);
      ckpt = undefined;
      assert.equal(done.code, 0, done.output);
      // As a plain checkpoint: the processes are in the images, the container is deleted.
      assert.notEqual((await n(["state", b.id])).code, 0, "the container is still there");
    } finally {
      if (ckpt) await endCheckpoint(ckpt, port);
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "lazy-pages: library checkpoint calls onLazyPagesReady, then serves until the end",
  ignore: ignoreLazy,
  async fn() {
    await using b = await ckptBundle({
      id: uniqueId("criu2-readylib"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    const img = `${b.dir}/img`;
    const port = freePort();
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      const phases: string[] = [];
      let calls = 0;
      const ready = Promise.withResolvers<void>();
      const dumped = c.checkpoint({
        ...CRIU_NET,
        imagePath: img,
        lazyPages: true,
        pageServer: `127.0.0.1:${port}`,
        onProgress: (p) => phases.push(p.phase),
        onLazyPagesReady: () => {
          calls++;
          ready.resolve();
        },
      });
      // A failed dump fails the test instead of leaving it waiting for readiness.
      const first = await Promise.race([ready.promise, dumped, sleep(30_000)]);
      if (calls === 0) await hangUp(port).catch(() => {}); // ends the dump: nothing waits
      assert.notEqual(first, "timeout", "onLazyPagesReady was not called in 30 s");
      assert.equal(calls, 1, "onLazyPagesReady was not called");
      assert.ok(phases.includes("post-dump") && !phases.includes("done"), phases.join(","));
      assert.ok(Deno.statSync(`${img}/inventory.img`).isFile, "no images when ready");
      await hangUp(port);
      await dumped;
      assert.equal(calls, 1);
      assert.equal(phases.at(-1), "done");
      assert.equal(await c.status(), "stopped");
    } finally {
      await c.destroy({ force: true });
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "lazy-pages: a bad --status-fd or no --page-server is refused before any work",
  ignore: ignoreCriu,
  async fn() {
    await using b = await ckptBundle({
      id: uniqueId("criu2-lazybad"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const n = (args: string[]) => runNsinit(["--root", b.stateRoot, ...args], { pipeGraceMs: 200 });
    const run = await n(["run", "-d", "--bundle", b.dir, b.id]);
    assert.equal(run.code, 0, run.stderr);
    try {
      const img = `${b.dir}/img`;
      const lazy = ["checkpoint", "--lazy-pages", "--image-path", img];
      const cases: [string[], RegExp][] = [
        [
          [...lazy, "--page-server", "127.0.0.1:1", "--status-fd", "77", b.id],
          /status-fd: fd 77 is not open/,
        ],
        // fd 0 of the CLI is /dev/null opened read-only.
        [
          [...lazy, "--page-server", "127.0.0.1:1", "--status-fd", "0", b.id],
          /status-fd: fd 0 is not open for writing/,
        ],
        [[...lazy, b.id], /lazy-pages: .*page-server ADDRESS:PORT/],
      ];
      for (const [args, want] of cases) {
        const r = await n(args);
        assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code}`);
        assert.match(r.stderr, want, args.join(" "));
      }
      assert.throws(
        () => Deno.statSync(img),
        Deno.errors.NotFound,
        "the images directory was made",
      );
      assert.equal(JSON.parse((await n(["state", b.id])).stdout).status, "running");
      const at = readCounter(b);
      await waitFor(() => readCounter(b) > at, "the counter to go on");
    } finally {
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, b.id);
  },
});

/** `criu lazy-pages` serving the pages of the images in `img` themselves (no page server). */
function localLazyPagesDaemon(img: string) {
  return startCriuDaemon(criu, "lazy-pages", img, ["lazy-pages", "--images-dir", img]);
}

/** How many pages `criu lazy-pages` copied in through userfaultfd (from its log). */
function uffdPages(img: string): number {
  const log = Deno.readTextFileSync(`${img}/lazy-pages.log`);
  return [...log.matchAll(/UFFD transferred pages: \((\d+)\/\d+\)/g)]
    .reduce((n, m) => n + Number(m[1]), 0);
}

Deno.test({
  name: "lazy-pages: cli restore --lazy-pages from a local criu lazy-pages counts on",
  ignore: ignoreLazy,
  async fn() {
    await using b = await ckptBundle({
      id: uniqueId("criu2-lazyloc"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const n = (args: string[]) => runNsinit(["--root", b.stateRoot, ...args], { pipeGraceMs: 200 });
    const img = `${b.dir}/img`;
    const run = await n(["run", "-d", "--bundle", b.dir, b.id]);
    assert.equal(run.code, 0, run.stderr);
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      const c = await n(["checkpoint", "--image-path", img, b.id]);
      assert.equal(c.code, 0, c.stderr);
    } finally {
      await n(["delete", "--force", b.id]);
    }
    const at = readCounter(b);
    await using lazy = await localLazyPagesDaemon(img);
    const r = await n([
      "restore",
      "-d",
      "--lazy-pages",
      "--image-path",
      img,
      "--bundle",
      b.dir,
      b.id,
    ]);
    try {
      assert.equal(r.code, 0, r.stderr);
      await waitFor(() => readCounter(b) >= at + 5, "the lazily restored counter to go on");
      const now = readCounter(b);
      assert.ok(now < at + 200, `counter ${at} -> ${now}: restarted, not resumed`);
      // The memory came through userfaultfd, and the daemon ends when it has sent it all.
      await waitFor(() => !lazy.alive(), "criu lazy-pages to end after the last page");
      assert.ok(uffdPages(img) > 0, "no page went through userfaultfd");
      const ps = await n(["ps", "--format", "json", b.id]);
      assert.equal(ps.code, 0, ps.stderr);
    } finally {
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "lazy-pages: library restore({ lazyPages }) from a local criu lazy-pages counts on",
  ignore: ignoreLazy,
  async fn() {
    await using b = await ckptBundle({
      id: uniqueId("criu2-lazyloclib"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const f = new Factory({ root: b.stateRoot });
    const img = `${b.dir}/img`;
    {
      await using c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      await c.checkpoint({ ...CRIU_NET, imagePath: img });
      await c.destroy();
    }
    const at = readCounter(b);
    await using lazy = await localLazyPagesDaemon(img);
    const r = await f.restore(b.id, { ...CRIU_NET, imagePath: img, lazyPages: true, stdio: quiet });
    try {
      assert.equal(await r.status(), "running");
      await waitFor(() => readCounter(b) >= at + 5, "the lazily restored counter to go on");
      assert.ok(readCounter(b) < at + 200, "restarted, not resumed");
      await waitFor(() => !lazy.alive(), "criu lazy-pages to end after the last page");
      assert.ok(uffdPages(img) > 0, "no page went through userfaultfd");
    } finally {
      await r.destroy({ force: true });
    }
    assertNothingLeft(b, b.id);
  },
});

/** Starts `criu lazy-pages` for `img`, fetching from the checkpoint's page server on `port`. */
function lazyPagesDaemon(img: string, port: number) {
  return startCriuDaemon(criu, "lazy-pages", img, [
    "lazy-pages",
    "--page-server",
    "--address",
    "127.0.0.1",
    "--port",
    String(port),
    "--images-dir",
    img,
  ]);
}

Deno.test({
  name: "lazy-pages: cli migration: restore --lazy-pages from criu lazy-pages counts on",
  ignore: ignoreMigration,
  async fn() {
    await using b = await ckptBundle({
      id: uniqueId("criu2-lazy"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const root = b.stateRoot;
    const n = (args: string[]) => runNsinit(["--root", root, ...args], { pipeGraceMs: 200 });
    const img = `${b.dir}/img`;
    const newId = uniqueId("criu2-lazy-r");
    const port = freePort();
    const run = await n(["run", "-d", "--bundle", b.dir, b.id]);
    assert.equal(run.code, 0, run.stderr);
    using status = await makeFifo(`${b.dir}/status`);
    let ckpt: Deno.ChildProcess | undefined;
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      ckpt = checkpointWithFd5(`${b.dir}/status`, [
        "--root",
        root,
        "checkpoint",
        "--lazy-pages",
        "--page-server",
        `127.0.0.1:${port}`,
        "--status-fd",
        "5",
        "--image-path",
        img,
        b.id,
      ]);
      assert.equal(await readByte(status), 0, "no \\0 on --status-fd");
      const at = readCounter(b);
      // The restored copy is another container (the original exists until its last page is
      // sent): its own id and cgroup.
      b.config.linux!.cgroupsPath = cgroupsPathFor(newId);
      await b.write();
      await using _lazy = await lazyPagesDaemon(img, port);
      const r = await n([
        "restore",
        "-d",
        "--lazy-pages",
        "--image-path",
        img,
        "--bundle",
        b.dir,
        newId,
      ]);
      try {
        assert.equal(r.code, 0, r.stderr);
        // Every page fetched: the source ends, and its checkpoint deletes the original.
        const done = await finished(ckpt);
        ckpt = undefined;
        assert.equal(done.code, 0, done.output);
        assert.notEqual((await n(["state", b.id])).code, 0, "the original is still there");
        assert.equal(JSON.parse((await n(["state", newId])).stdout).status, "running");
        await waitFor(() => readCounter(b) >= at + 5, "the lazily restored counter to go on");
        const now = readCounter(b);
        assert.ok(now < at + 200, `counter ${at} -> ${now}: restarted, not resumed`);
      } finally {
        await n(["delete", "--force", newId]);
      }
    } finally {
      if (ckpt) await endCheckpoint(ckpt, port);
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, newId, cgroupsPathFor(newId));
    assertNothingLeft(b, b.id, cgroupsPathFor(b.id));
  },
});

Deno.test({
  name: "lazy-pages: library migration: restore({ lazyPages }) from criu lazy-pages counts on",
  ignore: ignoreMigration,
  async fn() {
    await using b = await ckptBundle({
      id: uniqueId("criu2-lazylib"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    const img = `${b.dir}/img`;
    const newId = uniqueId("criu2-lazylib-r");
    const port = freePort();
    let dumped: Promise<void> | undefined;
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      const ready = Promise.withResolvers<void>();
      dumped = c.checkpoint({
        ...CRIU_NET,
        imagePath: img,
        lazyPages: true,
        pageServer: `127.0.0.1:${port}`,
        onLazyPagesReady: () => ready.resolve(),
      });
      assert.notEqual(
        await Promise.race([ready.promise, dumped, sleep(30_000)]),
        "timeout",
        "onLazyPagesReady was not called in 30 s",
      );
      const at = readCounter(b);
      const spec = structuredClone(b.config);
      spec.linux!.cgroupsPath = cgroupsPathFor(newId);
      await using _lazy = await lazyPagesDaemon(img, port);
      const r = await f.restore(newId, {
        ...CRIU_NET,
        imagePath: img,
        spec,
        lazyPages: true,
        stdio: quiet,
      });
      try {
        await dumped;
        dumped = undefined;
        assert.equal(await c.status(), "stopped");
        assert.equal(await r.status(), "running");
        await waitFor(() => readCounter(b) >= at + 5, "the lazily restored counter to go on");
        const now = readCounter(b);
        assert.ok(now < at + 200, `counter ${at} -> ${now}: restarted, not resumed`);
      } finally {
        await r.destroy({ force: true });
      }
    } finally {
      if (dumped) {
        // A failed migration: hanging up ends CRIU's page server, then the checkpoint.
        await hangUp(port).catch(() => {});
        await dumped.catch(() => {});
      }
      await c.destroy({ force: true }).catch(() => {});
    }
    assertNothingLeft(b, newId, cgroupsPathFor(newId));
    assertNothingLeft(b, b.id);
  },
});
