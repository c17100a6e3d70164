// Lazy migration with the real CRIU, as runc's checkpoint.bats ("checkpoint --lazy-pages and
// restore") does it: `checkpoint --lazy-pages --page-server ADDR:PORT` dumps all but the memory,
// says it is ready (one \0 on `--status-fd` from the CLI, `onLazyPagesReady` from the library)
// and serves the pages until the destination is done; `criu lazy-pages` feeds a
// `restore --lazy-pages` from it (or, without a page server, from the images themselves). Bad
// lazy flags are refused before any work.
import assert from "node:assert/strict";
import { type CriuProgress, Factory } from "../../mod.ts";
import type { Bundle } from "../helpers/bundle.ts";
import { uniqueId } from "../helpers/ids.ts";
import { nsinitCommand } from "../helpers/run.ts";
import { skipUnless } from "../helpers/skip.ts";
import {
  assertNothingLeft,
  assertRefused,
  assertStillCounting,
  checkpointCounter,
  ckptBundle,
  COUNTER_ARGS,
  CRIU_NET,
  criuBinary,
  type CriuDaemon,
  freePort,
  ignoreCriu,
  type Nsinit,
  nsinitIn,
  probeLazyMigration,
  raisePipeMaxForCriu,
  readCounter,
  runDetached,
  startLazyPagesDaemon,
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

/** A bundle of the counter (COUNTER_ARGS) with a unique id from `name`. */
function counterBundle(name: string): Promise<Bundle> {
  return ckptBundle({ id: uniqueId(name), args: COUNTER_ARGS, readonlyRoot: false });
}

/**
 * The source of a CLI lazy migration: the counter container of `b` (`nsinit run -d`), and
 * `nsinit checkpoint --lazy-pages --page-server 127.0.0.1:PORT --status-fd 5 --image-path IMG`
 * serving its pages, returned once it said it is ready (\0 on the status fd). Disposing ends a
 * checkpoint still serving (see endCheckpoint) and deletes the container.
 */
async function cliLazySource(b: Bundle, n: Nsinit, img: string, port: number) {
  await runDetached(b, n);
  await using stack = new AsyncDisposableStack();
  stack.defer(async () => void await n(["delete", "--force", b.id]));
  const status = stack.use(await makeFifo(`${b.dir}/status`));
  let ckpt: Deno.ChildProcess | undefined;
  stack.defer(async () => {
    if (ckpt) await endCheckpoint(ckpt, port);
  });
  await waitFor(() => readCounter(b) >= 3, "the counter to start");
  const p = ckpt = checkpointWithFd5(`${b.dir}/status`, [
    "--root",
    b.stateRoot,
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
  const cleanup = stack.move();
  return {
    /** The checkpoint's process. */
    process: p,
    /** Waits for the checkpoint to end: its exit code and output. */
    async finished(): Promise<{ code: number; output: string }> {
      const done = await finished(p);
      ckpt = undefined;
      return done;
    },
    [Symbol.asyncDispose]: () => cleanup.disposeAsync(),
  };
}

/**
 * The source of a library lazy migration: the counter container of `b` run by `f`, and its
 * `checkpoint({ lazyPages, pageServer: "127.0.0.1:PORT", imagePath })` serving its pages, returned
 * once onLazyPagesReady was called (a checkpoint that fails first, or 30 s without the call, fail
 * the test instead of leaving it waiting). Disposing ends a checkpoint still serving (hanging up
 * on its page server ends CRIU's page server, then the checkpoint) and destroys the container.
 */
async function librarySource(
  b: Bundle,
  f: Factory,
  img: string,
  port: number,
  onProgress?: (p: CriuProgress) => void,
) {
  await using stack = new AsyncDisposableStack();
  const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
  stack.defer(() => c.destroy({ force: true }));
  let serving = true;
  let calls = 0;
  const ready = Promise.withResolvers<void>();
  await waitFor(() => readCounter(b) >= 3, "the counter to start");
  const dumped = c.checkpoint({
    ...CRIU_NET,
    imagePath: img,
    lazyPages: true,
    pageServer: `127.0.0.1:${port}`,
    onProgress,
    onLazyPagesReady: () => {
      calls++;
      ready.resolve();
    },
  });
  stack.defer(async () => {
    if (!serving) return;
    await hangUp(port).catch(() => {});
    await dumped.catch(() => {});
  });
  assert.notEqual(
    await Promise.race([ready.promise, dumped, sleep(30_000)]),
    "timeout",
    "onLazyPagesReady was not called in 30 s",
  );
  const cleanup = stack.move();
  return {
    /** The container. */
    container: c,
    /** How often onLazyPagesReady was called. */
    get readyCalls(): number {
      return calls;
    },
    /** Waits for the checkpoint to end (it rejects when the checkpoint failed). */
    async finished(): Promise<void> {
      await dumped;
      serving = false;
    },
    [Symbol.asyncDispose]: () => cleanup.disposeAsync(),
  };
}

/** `nsinit restore -d --lazy-pages` of the images in `img` as container `id` of bundle `b`. */
function restoreLazily(n: Nsinit, b: Bundle, img: string, id: string) {
  return n(["restore", "-d", "--lazy-pages", "--image-path", img, "--bundle", b.dir, id]);
}

/** Asserts that the restored counter of `b` goes on from `at` (counted on, not started again). */
async function assertCountsOn(b: Bundle, at: number): Promise<void> {
  await waitFor(() => readCounter(b) >= at + 5, "the lazily restored counter to go on");
  const now = readCounter(b);
  assert.ok(now < at + 200, `counter ${at} -> ${now}: restarted, not resumed`);
}

/** Asserts that `criu lazy-pages` sent the memory in `img` through userfaultfd and then ended. */
async function assertPagesSentLazily(lazy: CriuDaemon, img: string): Promise<void> {
  await waitFor(() => !lazy.alive(), "criu lazy-pages to end after the last page");
  assert.ok(uffdPages(img) > 0, "no page went through userfaultfd");
}

/** How many pages `criu lazy-pages` copied in through userfaultfd (from its log). */
function uffdPages(img: string): number {
  const log = Deno.readTextFileSync(`${img}/lazy-pages.log`);
  return [...log.matchAll(/UFFD transferred pages: \((\d+)\/\d+\)/g)]
    .reduce((n, m) => n + Number(m[1]), 0);
}

Deno.test({
  name: "lazy-pages: cli checkpoint --status-fd gets \\0 when ready; it serves until the end",
  ignore: ignoreLazy,
  async fn() {
    await using b = await counterBundle("criu2-ready");
    const n = nsinitIn(b);
    const img = `${b.dir}/img`;
    const port = freePort();
    {
      await using src = await cliLazySource(b, n, img, port);
      assert.ok(Deno.statSync(`${img}/inventory.img`).isFile, "no images when ready");
      // Ready means serving: the checkpoint waits for the destination, the container is held.
      const early = await Promise.race([
        src.process.status.then(() => "ended"),
        new Promise((r) => setTimeout(() => r("serving"), 500)),
      ]);
      assert.equal(early, "serving", "the checkpoint ended before any destination came");
      const held = readCounter(b);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(readCounter(b), held, "the container ran on while its pages were served");
      await hangUp(port);
      const done = await src.finished();
      assert.equal(done.code, 0, done.output);
      // As a plain checkpoint: the processes are in the images, the container is deleted.
      assert.notEqual((await n(["state", b.id])).code, 0, "the container is still there");
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "lazy-pages: library checkpoint calls onLazyPagesReady, then serves until the end",
  ignore: ignoreLazy,
  async fn() {
    await using b = await counterBundle("criu2-readylib");
    const f = new Factory({ root: b.stateRoot });
    const img = `${b.dir}/img`;
    const port = freePort();
    const phases: string[] = [];
    {
      await using src = await librarySource(b, f, img, port, (p) => phases.push(p.phase));
      assert.equal(src.readyCalls, 1, "onLazyPagesReady was not called");
      assert.ok(phases.includes("post-dump") && !phases.includes("done"), phases.join(","));
      assert.ok(Deno.statSync(`${img}/inventory.img`).isFile, "no images when ready");
      await hangUp(port);
      await src.finished();
      assert.equal(src.readyCalls, 1);
      assert.equal(phases.at(-1), "done");
      assert.equal(await src.container.status(), "stopped");
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "lazy-pages: a bad --status-fd or no --page-server is refused before any work",
  ignore: ignoreCriu,
  async fn() {
    await using b = await counterBundle("criu2-lazybad");
    const n = nsinitIn(b);
    await runDetached(b, n);
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
      await assertRefused(n, cases);
      assert.throws(
        () => Deno.statSync(img),
        Deno.errors.NotFound,
        "the images directory was made",
      );
      await assertStillCounting(b, n);
    } finally {
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "lazy-pages: cli restore --lazy-pages from a local criu lazy-pages counts on",
  ignore: ignoreLazy,
  async fn() {
    await using b = await counterBundle("criu2-lazyloc");
    const n = nsinitIn(b);
    const img = `${b.dir}/img`;
    await checkpointCounter(b, n, img);
    const at = readCounter(b);
    await using lazy = await startLazyPagesDaemon(criu, img);
    const r = await restoreLazily(n, b, img, b.id);
    try {
      assert.equal(r.code, 0, r.stderr);
      await assertCountsOn(b, at);
      // The memory came through userfaultfd, and the daemon ends when it has sent it all.
      await assertPagesSentLazily(lazy, img);
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
    await using b = await counterBundle("criu2-lazyloclib");
    const f = new Factory({ root: b.stateRoot });
    const img = `${b.dir}/img`;
    {
      await using c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      await c.checkpoint({ ...CRIU_NET, imagePath: img });
      await c.destroy();
    }
    const at = readCounter(b);
    await using lazy = await startLazyPagesDaemon(criu, img);
    const r = await f.restore(b.id, { ...CRIU_NET, imagePath: img, lazyPages: true, stdio: quiet });
    try {
      assert.equal(await r.status(), "running");
      await assertCountsOn(b, at);
      await assertPagesSentLazily(lazy, img);
    } finally {
      await r.destroy({ force: true });
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "lazy-pages: cli migration: restore --lazy-pages from criu lazy-pages counts on",
  ignore: ignoreMigration,
  async fn() {
    await using b = await counterBundle("criu2-lazy");
    const n = nsinitIn(b);
    const img = `${b.dir}/img`;
    const newId = uniqueId("criu2-lazy-r");
    const port = freePort();
    {
      await using src = await cliLazySource(b, n, img, port);
      const at = readCounter(b);
      // The restored copy is another container (the original exists until its last page is
      // sent): its own id and cgroup.
      b.config.linux!.cgroupsPath = cgroupsPathFor(newId);
      await b.write();
      await using _lazy = await startLazyPagesDaemon(criu, img, port);
      const r = await restoreLazily(n, b, img, newId);
      try {
        assert.equal(r.code, 0, r.stderr);
        // Every page fetched: the source ends, and its checkpoint deletes the original.
        const done = await src.finished();
        assert.equal(done.code, 0, done.output);
        assert.notEqual((await n(["state", b.id])).code, 0, "the original is still there");
        assert.equal(JSON.parse((await n(["state", newId])).stdout).status, "running");
        await assertCountsOn(b, at);
      } finally {
        await n(["delete", "--force", newId]);
      }
    }
    assertNothingLeft(b, newId, cgroupsPathFor(newId));
    assertNothingLeft(b, b.id, cgroupsPathFor(b.id));
  },
});

Deno.test({
  name: "lazy-pages: library migration: restore({ lazyPages }) from criu lazy-pages counts on",
  ignore: ignoreMigration,
  async fn() {
    await using b = await counterBundle("criu2-lazylib");
    const f = new Factory({ root: b.stateRoot });
    const img = `${b.dir}/img`;
    const newId = uniqueId("criu2-lazylib-r");
    const port = freePort();
    {
      await using src = await librarySource(b, f, img, port);
      const at = readCounter(b);
      const spec = structuredClone(b.config);
      spec.linux!.cgroupsPath = cgroupsPathFor(newId);
      await using _lazy = await startLazyPagesDaemon(criu, img, port);
      const r = await f.restore(newId, {
        ...CRIU_NET,
        imagePath: img,
        spec,
        lazyPages: true,
        stdio: quiet,
      });
      try {
        await src.finished();
        assert.equal(await src.container.status(), "stopped");
        assert.equal(await r.status(), "running");
        await assertCountsOn(b, at);
      } finally {
        await r.destroy({ force: true });
      }
    }
    assertNothingLeft(b, newId, cgroupsPathFor(newId));
    assertNothingLeft(b, b.id);
  },
});
