// `nsinit events`: duration parsing and runc's stats shape, then real containers: the OOM
// event of a container's cgroup, `events --stats`, and the stream ending when the container
// is OOM-killed.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import { emptyStats } from "../../cgroups/stats.ts";
import { UsageError } from "../flags.ts";
import { parseDuration, runcStats } from "./events.ts";
import { type Bundle, makeBundle } from "../../tests/helpers/bundle.ts";
import { REPO_ROOT } from "../../tests/helpers/paths.ts";
import { nsinitCommand, run, type RunOptions, type RunResult } from "../../tests/helpers/run.ts";
import { hasCgroup, isRoot, skipUnless } from "../../tests/helpers/skip.ts";

const ignore = skipUnless(
  isRoot() && hasCgroup("memory"),
  "real containers need root and the v1 memory hierarchy",
);

/**
 * The command line of `nsinit --root ROOT ARGS...`. Until the command is in main.ts's table,
 * the command module's `run()` is driven directly (in a subprocess, as main() would).
 */
async function cliCommand(root: string, args: string[]): Promise<[string, ...string[]]> {
  const { COMMANDS } = await import("../main.ts");
  const all = ["--root", root, ...args];
  if (Object.hasOwn(COMMANDS, args[0]!)) return nsinitCommand(all);
  const code = `
    import { run } from ${JSON.stringify(new URL(`./${args[0]}.ts`, import.meta.url).href)};
    import { parseGlobal } from ${JSON.stringify(new URL("../global.ts", import.meta.url).href)};
    const p = parseGlobal(${JSON.stringify(all)});
    try { Deno.exit(await run(p.args, p.options)); }
    catch (e) { console.error("nsinit: " + (e instanceof Error ? e.message : String(e))); Deno.exit(1); }`;
  return [Deno.execPath(), "eval", code];
}

async function cli(root: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...rest] = await cliCommand(root, args);
  return await run(cmd, rest, { cwd: REPO_ROOT, timeoutMs: 30_000, ...opts });
}

/** A bundle limited to 32 MB whose init waits for `<rootfs>/go`, then eats memory until killed. */
async function hogBundle(): Promise<Bundle> {
  const bundle = await makeBundle({
    args: ["sh", "-c", "while [ ! -e /go ]; do sleep 0.05; done; x=a; while true; do x=$x$x; done"],
  });
  bundle.config.linux!.resources = {
    ...bundle.config.linux!.resources,
    memory: { limit: 32 << 20 },
  };
  await bundle.write();
  return bundle;
}

Deno.test("parseDuration takes Go durations", () => {
  const cases: [string, number][] = [
    ["5s", 5000],
    ["1.5s", 1500],
    ["300ms", 300],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["1h2m3s4ms", 3_723_004],
    ["1000us", 1],
    ["1000000ns", 1],
    ["0", 0],
    ["-1s", -1000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text, "interval"), ms, text);
  for (const bad of ["", "5", "s", "5x", "1s5", "five seconds", "1.s.5"]) {
    assert.throws(
      () => parseDuration(bad, "interval"),
      (e: unknown) => e instanceof UsageError && e.message.includes("--interval"),
      bad,
    );
  }
});

Deno.test("runcStats: runc's types.Stats with Go's omitempty", () => {
  const s = emptyStats();
  assert.deepEqual(runcStats(s), {
    cpu: { usage: { kernel: 0, user: 0 }, throttling: {} },
    memory: {
      usage: { limit: 0, failcnt: 0 },
      swap: { limit: 0, failcnt: 0 },
      kernel: { limit: 0, failcnt: 0 },
      kernelTCP: { limit: 0, failcnt: 0 },
    },
    pids: {},
    blkio: {},
    hugetlb: {},
    intel_rdt: {},
    network_interfaces: null,
  });
  s.cpu.usage.total = 10;
  s.cpu.usage.percpu = [4, 6];
  s.cpu.throttling.periods = 2;
  s.memory.cache = 4096;
  s.memory.usage = { limit: 100, usage: 50, max: 60, failcnt: 1 };
  s.memory.raw = { rss: 1 };
  s.pids = { current: 2, limit: 0 };
  s.blkio.ioServiceBytesRecursive = [{ major: 8, minor: 0, op: "Read", value: 0 }];
  s.hugetlb = { "2MB": { usage: 0, max: 0, failcnt: 0 } };
  const data = runcStats(s);
  assert.deepEqual(data.cpu, {
    usage: { total: 10, percpu: [4, 6], kernel: 0, user: 0 },
    throttling: { periods: 2 },
  });
  assert.deepEqual((data.memory as Record<string, unknown>).usage, {
    limit: 100,
    usage: 50,
    max: 60,
    failcnt: 1,
  });
  assert.equal((data.memory as Record<string, unknown>).cache, 4096);
  assert.deepEqual((data.memory as Record<string, unknown>).raw, { rss: 1 });
  assert.deepEqual(data.pids, { current: 2 });
  assert.deepEqual(data.blkio, { ioServiceBytesRecursive: [{ major: 8, op: "Read" }] });
  assert.deepEqual(data.hugetlb, { "2MB": { failcnt: 0 } });
});

Deno.test({
  name:
    "a container limited to 32 MB running a memory hog is OOM-killed; its cgroup's OOM event fires",
  ignore,
  async fn() {
    await using bundle = await hogBundle();
    await using container = await new Factory({ root: bundle.stateRoot }).run(bundle.id, {
      bundle: bundle.dir,
      stdio: { stdin: "null", stdout: "null", stderr: "null" },
    });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 30_000);
    try {
      const it = container.cgroup.events({ signal: ac.signal })[Symbol.asyncIterator]();
      const first = it.next(); // watching from here on
      await Deno.writeTextFile(`${bundle.rootfs}/go`, "");
      const ev = await first;
      assert.deepEqual(ev, { done: false, value: { type: "oom" } });
      assert.deepEqual(await container.wait(), { signal: 9 }, "the OOM killer killed the init");
      assert.equal(await container.status(), "stopped");
      const memory = container.cgroup.paths().memory!;
      assert.match(Deno.readTextFileSync(`${memory}/memory.oom_control`), /oom_kill [1-9]/);
      ac.abort();
      assert.equal((await it.next()).done, true, "aborting ends the iteration");
    } finally {
      clearTimeout(timer);
      ac.abort();
      await container.destroy({ force: true });
    }
  },
});

Deno.test({
  name: "nsinit events --stats prints one stats event with real usage; a stopped container fails",
  ignore,
  async fn() {
    await using bundle = await makeBundle({
      // Touch some memory, then wait.
      args: [
        "sh",
        "-c",
        "x=$(head -c 2000000 /dev/zero | tr '\\0' a); echo ready > /dev/null; sleep 1000",
      ],
    });
    bundle.config.linux!.resources = {
      ...bundle.config.linux!.resources,
      memory: { limit: 64 << 20 },
    };
    await bundle.write();
    await using container = await new Factory({ root: bundle.stateRoot }).run(bundle.id, {
      bundle: bundle.dir,
      stdio: { stdin: "null", stdout: "null", stderr: "null" },
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await cli(bundle.stateRoot, ["events", "--stats", bundle.id]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.endsWith("}\n") && r.stdout.split("\n").length === 2, r.stdout);
      const ev = JSON.parse(r.stdout);
      assert.deepEqual(Object.keys(ev), ["type", "id", "data"]);
      assert.equal(ev.type, "stats");
      assert.equal(ev.id, bundle.id);
      const d = ev.data;
      assert.equal(d.memory.usage.limit, 64 << 20);
      assert.ok(d.memory.usage.usage > 0, "memory in use");
      assert.ok(d.memory.usage.max >= d.memory.usage.usage);
      assert.ok(d.memory.raw && typeof d.memory.raw.rss === "number");
      assert.ok(d.pids.current >= 1, "pids");
      assert.ok(d.cpu.usage.total > 0, "cpu time used");
      assert.equal(d.network_interfaces, null);

      // Flags are checked; a stopped container is refused as runc does.
      const bad = await cli(bundle.stateRoot, ["events", "--interval", "soon", bundle.id]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--interval/);
      const zero = await cli(bundle.stateRoot, ["events", "--interval", "0s", bundle.id]);
      assert.match(zero.stderr, /duration interval must be greater than 0/);
      await container.signal(9);
      await container.wait();
      const stopped = await cli(bundle.stateRoot, ["events", "--stats", bundle.id]);
      assert.equal(stopped.code, 1);
      assert.match(stopped.stderr, new RegExp(`container with id ${bundle.id} is not running`));
    } finally {
      await container.destroy({ force: true });
    }
  },
});

Deno.test({
  name:
    "nsinit events streams stats every interval and the OOM event, and ends when the container stops",
  ignore,
  async fn() {
    await using bundle = await hogBundle();
    await using container = await new Factory({ root: bundle.stateRoot }).run(bundle.id, {
      bundle: bundle.dir,
      stdio: { stdin: "null", stdout: "null", stderr: "null" },
    });
    const [cmd, ...args] = await cliCommand(bundle.stateRoot, [
      "events",
      "--interval",
      "200ms",
      bundle.id,
    ]);
    const child = new Deno.Command(cmd, {
      args,
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }, 30_000);
    try {
      const lines: string[] = [];
      let buf = "";
      const decoder = new TextDecoder();
      let released = false;
      for await (const chunk of child.stdout) {
        buf += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
        // After two stats events the watch is surely registered: let the hog go.
        if (!released && lines.length >= 2) {
          released = true;
          await Deno.writeTextFile(`${bundle.rootfs}/go`, "");
        }
      }
      const status = await child.status;
      const stderr = new TextDecoder().decode(
        new Uint8Array(await new Response(child.stderr).arrayBuffer()),
      );
      assert.equal(status.code, 0, `events exits 0 when the container stops; stderr: ${stderr}`);
      assert.equal(buf, "", "every line ends with a newline");
      const events = lines.map((l) => JSON.parse(l));
      const stats = events.filter((e) => e.type === "stats");
      assert.ok(stats.length >= 2, lines.join("\n"));
      for (const e of stats) {
        assert.equal(e.id, bundle.id);
        assert.equal(e.data.memory.usage.limit, 32 << 20);
      }
      const ooms = events.filter((e) => e.type === "oom");
      assert.ok(ooms.length >= 1, `an oom event in: ${lines.join("\n")}`);
      assert.equal(
        lines.find((l) => l.includes('"oom"')),
        JSON.stringify({ type: "oom", id: bundle.id }),
      );
      assert.deepEqual(await container.wait(), { signal: 9 });
    } finally {
      clearTimeout(timer);
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await child.stderr.cancel().catch(() => {});
      await container.destroy({ force: true });
    }
  },
});
