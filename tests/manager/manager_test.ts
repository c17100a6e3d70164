/**
 * RuntimeManager end to end, with each handler type: `library` (nsinit in this process) and
 * `oci` (runc, and dist/nsinit, each through Debian's conmon). Real containers, real cgroups,
 * real conmon.
 */

import assert from "node:assert/strict";
import { readContainerLog, type RuntimeHandlerConfig, RuntimeManager } from "../../manager/mod.ts";
import { hasCommand, isRoot, makeBundle, REPO_ROOT, skipUnless } from "../helpers/mod.ts";
import { waitFor } from "../helpers/host.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();
const NSINIT = `${REPO_ROOT}/dist/nsinit`;

const HANDLERS: { name: string; config: RuntimeHandlerConfig; missing?: string }[] = [
  { name: "library", config: { type: "library" } },
  {
    name: "runc",
    config: { type: "oci", runtimePath: "runc" },
    missing: !hasCommand("runc")
      ? "runc is not installed"
      : !hasCommand("conmon")
      ? "conmon is not installed (scripts/install_client_deps.sh)"
      : undefined,
  },
  {
    name: "nsinit",
    config: { type: "oci", runtimePath: NSINIT },
    missing: !hasCommand(NSINIT)
      ? "dist/nsinit is not built"
      : !hasCommand("conmon")
      ? "conmon is not installed (scripts/install_client_deps.sh)"
      : undefined,
  },
];

/** A manager over a private root; `await using` closes it and removes the root. */
async function openManager(): Promise<RuntimeManager & AsyncDisposable> {
  const root = await Deno.makeTempDir({ prefix: "nsinit-test-manager-" });
  const m = await RuntimeManager.open({
    root,
    runtimes: Object.fromEntries(HANDLERS.map((h) => [h.name, h.config])),
    stopKillTimeout: 10_000,
  });
  const close = m.close.bind(m);
  return Object.assign(m, {
    async [Symbol.asyncDispose]() {
      for (const c of m.containers()) await m.deleteContainer(c.id).catch(() => {});
      await close();
      await Deno.remove(root, { recursive: true });
    },
  });
}

/** The pids in the container's pids cgroup (found from its init). */
function cgroupPids(initPid: number): number[] {
  const line = Deno.readTextFileSync(`/proc/${initPid}/cgroup`).split("\n").find((l) =>
    /:pids:/.test(l)
  )!;
  const dir = `/sys/fs/cgroup/pids${line.split(":")[2]}`;
  return Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n").filter(Boolean).map(Number);
}

for (const h of HANDLERS) {
  const ignore = skipUnless(isRoot(), "the runtime manager tests need root") ||
    skipUnless(h.missing === undefined, h.missing ?? "");

  Deno.test({
    name:
      `manager (${h.name}): create, start, execSync (capped, timed out), exec with a terminal, pause, update, stats, stop after the grace period, delete`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using m = await openManager();
      await using b = await makeBundle({ args: ["sleep", "1000"] }); // pid 1: ignores SIGTERM
      const id = b.id;
      const created = await m.createContainer({ id, bundle: b.dir, handler: h.name });
      assert.equal(created.status, "created");
      assert.ok(created.pid! > 0);
      await m.startContainer(id);
      assert.equal((await m.updateContainerStatus(id)).status, "running");

      const r = await m.execSyncContainer(id, ["sh", "-c", "echo out; echo err >&2; exit 4"], 10);
      assert.equal(r.exitCode, 4);
      assert.equal(dec.decode(r.stdout), "out\n");
      assert.equal(dec.decode(r.stderr), "err\n");

      // an output over 16 MiB is capped at 16 MiB
      const big = await m.execSyncContainer(id, [
        "sh",
        "-c",
        "head -c 17825792 /dev/zero | tr '\\0' a",
      ], 60);
      assert.equal(big.exitCode, 0);
      assert.equal(big.stdout.length, 16 * 1024 * 1024);
      assert.ok(big.stdout.every((x) => x === 97));

      // sleep 10 with a 1 s timeout: -1, "command timed out", and no process left
      const t0 = Date.now();
      const slow = await m.execSyncContainer(id, ["sleep", "10"], 1);
      assert.equal(slow.exitCode, -1);
      assert.equal(dec.decode(slow.stderr), "command timed out");
      assert.ok(Date.now() - t0 < 9000);
      await waitFor(
        () => cgroupPids(created.pid!).length === 1,
        "only the init to remain in the cgroup",
        15_000,
      );

      // exec with a terminal, resized
      const s = await m.execContainer(id, ["sh"], { tty: true });
      s.terminal!.resize(33, 77);
      const w = s.terminal!.writable.getWriter();
      await w.write(enc.encode("stty size; exit 3\n"));
      let seen = "";
      const reader = s.terminal!.readable.getReader();
      while (!seen.includes("33 77")) {
        const x = await reader.read();
        if (x.done) break;
        seen += dec.decode(x.value);
      }
      assert.match(seen, /33 77/);
      reader.releaseLock();
      const code = await s.exitCode;
      if (h.name === "library") assert.equal(code, 3);
      else {assert.equal(
          code,
          undefined,
          "an oci handler's terminal exec is detached: its code is not known",
        );}

      await m.pauseContainer(id);
      assert.equal((await m.updateContainerStatus(id)).status, "paused");
      await m.unpauseContainer(id);
      assert.equal((await m.updateContainerStatus(id)).status, "running");

      await m.updateContainer(id, { pids: { limit: 91 } });
      const line = Deno.readTextFileSync(`/proc/${created.pid}/cgroup`).split("\n").find((l) =>
        /:pids:/.test(l)
      )!;
      assert.equal(
        Deno.readTextFileSync(`/sys/fs/cgroup/pids${line.split(":")[2]}/pids.max`).trim(),
        "91",
      );
      const stats = await m.containerStats(id);
      assert.ok("memory" in stats && "pids" in stats, JSON.stringify(Object.keys(stats)));

      // stop: SIGTERM is ignored (pid 1 without a handler), SIGKILL after the 1 s grace period
      const t1 = Date.now();
      await m.stopContainer(id, 1);
      assert.ok(Date.now() - t1 >= 900);
      const st = await m.updateContainerStatus(id);
      assert.equal(st.status, "stopped");
      assert.equal(st.exitCode, 137);
      assert.ok(st.finished);

      await m.deleteContainer(id);
      assert.throws(() => m.container(id), Deno.errors.NotFound);
      assert.equal(m.containers().length, 0);
    },
  });

  Deno.test({
    name:
      `manager (${h.name}): logs in Kubernetes' format with a partial line; reopen after rotation`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using m = await openManager();
      await using b = await makeBundle({
        args: [
          "sh",
          "-c",
          "printf abc; sleep 0.3; echo def; echo err >&2; while true; do echo tick; sleep 0.1; done",
        ],
      });
      await m.createContainer({ id: b.id, bundle: b.dir, handler: h.name });
      await m.startContainer(b.id);
      const path = m.container(b.id).logPath;
      await waitFor(
        async () => (await Deno.readTextFile(path).catch(() => "")).includes("tick"),
        "log lines",
        15_000,
      );
      const text = await Deno.readTextFile(path);
      const lines = text.split("\n").filter(Boolean);
      for (const l of lines) {
        assert.match(
          l,
          /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d (stdout|stderr) [FP] /,
        );
      }
      assert.match(text, / stdout P abc\n/);
      assert.match(text, / stdout F def\n/);
      assert.match(text, / stderr F err\n/);
      const read = await readContainerLog(path);
      assert.ok(read.stdout.startsWith("abcdef\ntick\n"), JSON.stringify(read.stdout.slice(0, 40)));
      assert.equal(read.stderr, "err\n");

      // rotation: move the file away, reopen, and the new file gets the next lines
      await Deno.rename(path, `${path}.1`);
      await m.reopenContainerLog(b.id);
      await waitFor(
        async () => (await Deno.readTextFile(path).catch(() => "")).includes("stdout F tick"),
        "a reopened log",
        15_000,
      );
      assert.doesNotMatch(await Deno.readTextFile(path), /abc/);
      await m.stopContainer(b.id, 0);
      await m.deleteContainer(b.id);
    },
  });

  Deno.test({
    name: `manager (${h.name}): attach to a container's stdin and output`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using m = await openManager();
      await using b = await makeBundle({
        args: ["sh", "-c", "while read l; do echo got:$l; echo err:$l >&2; done"],
      });
      await m.createContainer({ id: b.id, bundle: b.dir, handler: h.name, stdin: true });
      await m.startContainer(b.id);
      const a = await m.attachContainer(b.id);
      const w = a.stdin!.getWriter();
      await w.write(enc.encode("hello\n"));
      const read = async (s: ReadableStream<Uint8Array>, want: string) => {
        const r = s.getReader();
        let text = "";
        while (!text.includes(want)) {
          const x = await r.read();
          if (x.done) break;
          text += dec.decode(x.value);
        }
        r.releaseLock();
        return text;
      };
      assert.match(await read(a.stdout, "got:hello"), /got:hello/);
      assert.match(await read(a.stderr, "err:hello"), /err:hello/);
      w.releaseLock();
      await a.close();
      await waitFor(
        async () =>
          (await readContainerLog(m.container(b.id).logPath)).stdout.includes("got:hello"),
        "the log",
        15_000,
      );
      await m.stopContainer(b.id, 0);
      await m.deleteContainer(b.id);
    },
  });

  Deno.test({
    name: `manager (${h.name}): a 32 MiB-limited memory hog is reported OOM killed`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using m = await openManager();
      await using b = await makeBundle({
        args: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
      });
      b.config.linux!.resources = { memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
      await b.write();
      await m.createContainer({ id: b.id, bundle: b.dir, handler: h.name });
      await m.startContainer(b.id);
      await waitFor(
        async () => (await m.updateContainerStatus(b.id)).status === "stopped",
        "the hog to end",
        15_000,
      );
      const st = m.container(b.id);
      assert.equal(st.exitCode, 137);
      assert.equal(st.oomKilled, true);
      await m.deleteContainer(b.id);
    },
  });
}

Deno.test({
  name: "manager: handlers are validated and listed; annotations are filtered",
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "nsinit-test-manager-" });
    try {
      await assert.rejects(
        RuntimeManager.open({ root, runtimes: { x: { type: "vm" } } }),
        /runtime handler x: unknown type "vm" \(known: library, oci\)/,
      );
      await assert.rejects(RuntimeManager.open({ root, runtimes: {} }), /no runtime handlers/);
      const m = await RuntimeManager.open({
        root,
        runtimes: { fast: { type: "library", allowedAnnotations: ["io.x/*"] } },
      });
      assert.deepEqual(Object.keys(m.runtimes()), ["fast"]);
      assert.equal(m.validateRuntimeHandler("fast").type, "library");
      assert.throws(
        () => m.validateRuntimeHandler("nope"),
        /runtime handler "nope" is not configured \(known: fast\)/,
      );
      await assert.rejects(m.startContainer("nope"), Deno.errors.NotFound);
      await assert.rejects(
        m.createContainer({ id: "../x", bundle: "/nonexistent" }),
        (e: Error) => /id/i.test(e.message),
      );
      await assert.rejects(
        m.createContainer({ id: "c1", bundle: "/nonexistent" }),
        /nonexistent: bundle directory does not exist/,
      );
      assert.deepEqual(m.containers(), []);
      await m.close();
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
