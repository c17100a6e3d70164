// cgroup notifications: cgroup v1 for real (memory cgroups made below this process's own),
// cgroup v2 logic on a fake tree, and real PSI triggers through the hybrid host's unified tree.
import assert from "node:assert/strict";
import type { CgroupEvent } from "./events.ts";
import { CgroupError } from "../errors.ts";
import { levelsFrom, oomKills, watchEventsV1, watchEventsV2 } from "./events.ts";
import { hasCgroup, isRoot, skipUnless } from "../tests/helpers/skip.ts";

const root = isRoot();
const v1Memory = root && hasCgroup("memory") && ownCgroup("memory") !== undefined &&
  exists(`/sys/fs/cgroup/memory${ownCgroup("memory")}/cgroup.event_control`);
const ignoreV1 = skipUnless(v1Memory, "needs root and a cgroup v1 memory hierarchy");
const unifiedPressure = root &&
  exists(`/sys/fs/cgroup/unified${ownCgroup("") ?? "/"}/memory.pressure`);
const ignorePsi = skipUnless(
  v1Memory && unifiedPressure,
  "needs root, a v1 memory hierarchy and PSI in a hybrid unified tree",
);

function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** This process's cgroup in a v1 hierarchy (`memory`) or the unified tree (`""`). */
function ownCgroup(controller: string): string | undefined {
  for (const line of Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n")) {
    const [, ctrls, path] = line.split(/:(.*?):/);
    if (controller === "" ? ctrls === "" : ctrls!.split(",").includes(controller)) {
      return path!.replace(/\/$/, "");
    }
  }
  return undefined;
}

/** A cgroup made for one test below this process's own; `remove()` kills what is left and rmdirs. */
function makeCgroup(hierarchy: "memory" | "unified", name: string): string {
  const own = ownCgroup(hierarchy === "memory" ? "memory" : "")!;
  const dir = `/sys/fs/cgroup/${hierarchy}${own}/${name}`;
  Deno.mkdirSync(dir);
  return dir;
}

async function removeCgroup(dir: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (!exists(dir)) return;
    const pids = Deno.readTextFileSync(`${dir}/cgroup.procs`).trim().split("\n").filter((p) => p)
      .map(Number).filter((p) => p > 0);
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    try {
      Deno.removeSync(dir);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new Error(`cannot remove ${dir}`);
}

/** Runs `script` under sh in the given cgroups (it moves itself in first). */
function spawnIn(dirs: string[], script: string): Deno.ChildProcess {
  const join = dirs.map((d) => `echo $$ > ${d}/cgroup.procs`).join("; ");
  return new Deno.Command("sh", {
    args: ["-c", `${join}; ${script}`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Collects events until `until` says stop or `timeoutMs` passes, then aborts. */
async function collect(
  start: (signal: AbortSignal) => AsyncIterable<CgroupEvent>,
  until: (events: CgroupEvent[]) => boolean,
  timeoutMs: number,
  whileWatching: () => void | Promise<void> = () => {},
): Promise<{ events: CgroupEvent[]; ended: boolean }> {
  const ac = new AbortController();
  const events: CgroupEvent[] = [];
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const it = start(ac.signal)[Symbol.asyncIterator]();
  let ended = false;
  try {
    let next = it.next(); // registers the watch
    await whileWatching();
    for (;;) {
      const r = await next;
      if (r.done) {
        ended = true;
        break;
      }
      events.push(r.value);
      if (until(events)) break;
      next = it.next();
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
    await it.return?.();
  }
  return { events, ended };
}

const tag = () => `nsinit-events-test-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;

Deno.test("levelsFrom and oomKills", () => {
  assert.deepEqual(levelsFrom("low"), ["low", "medium", "critical"]);
  assert.deepEqual(levelsFrom("critical"), ["critical"]);
  assert.throws(() => levelsFrom("huge" as "low"), RangeError);
  assert.equal(oomKills(undefined), 0);
  assert.equal(oomKills("oom 3\noom_kill 5\n"), 5);
});

Deno.test("v2 (fake tree): oom_kill increases are OOM events; abort ends", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-events-v2-" });
  try {
    const file = `${dir}/memory.events`;
    await Deno.writeTextFile(file, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 2\n");
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const { events, ended } = await collect(
      (signal) => watchEventsV2(dir, { signal }),
      (ev) => ev.length === 2,
      10_000,
      async () => {
        // A change that does not raise oom_kill is no event; the next two are.
        await Deno.writeTextFile(file, "low 0\nhigh 0\nmax 3\noom 0\noom_kill 2\n");
        await sleep(100);
        await Deno.writeTextFile(file, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 3\n");
        await sleep(300);
        await Deno.writeTextFile(file, "low 0\nhigh 0\nmax 3\noom 2\noom_kill 4\n");
      },
    );
    assert.equal(ended, false);
    assert.deepEqual(events, [{ type: "oom" }, { type: "oom" }]);

    // Already aborted: nothing, at once.
    const ac = new AbortController();
    ac.abort();
    const none: CgroupEvent[] = [];
    for await (const ev of watchEventsV2(dir, { signal: ac.signal })) none.push(ev);
    assert.deepEqual(none, []);

    // Aborting a pending wait ends the iteration promptly.
    const ac2 = new AbortController();
    const it = watchEventsV2(dir, { signal: ac2.signal });
    const pending = it.next();
    const t0 = performance.now();
    setTimeout(() => ac2.abort(), 50);
    assert.equal((await pending).done, true);
    assert.ok(performance.now() - t0 < 1000, "abort ends the wait at once");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("v2 (fake tree): the cgroup going away ends the iteration", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-events-v2-" });
  try {
    await Deno.writeTextFile(`${dir}/memory.events`, "oom_kill 0\n");
    const { events, ended } = await collect(
      (signal) => watchEventsV2(dir, { signal, checkIntervalMs: 50 }),
      () => false,
      10_000,
      () => Deno.removeSync(dir, { recursive: true }),
    );
    assert.equal(ended, true);
    assert.deepEqual(events, []);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("v2 (fake tree): no memory controller is a CgroupError naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-events-v2-" });
  try {
    await assert.rejects(
      async () => {
        for await (const _ of watchEventsV2(dir)) { /* nothing */ }
      },
      (e: unknown) => e instanceof CgroupError && e.field === `${dir}/memory.events`,
    );
    // With pressure asked for, a missing memory.pressure is named too.
    await Deno.writeTextFile(`${dir}/memory.events`, "oom_kill 0\n");
    await assert.rejects(
      async () => {
        for await (const _ of watchEventsV2(dir, { pressure: "low" })) { /* nothing */ }
      },
      (e: unknown) => e instanceof CgroupError && e.field === `${dir}/memory.pressure`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "v1: a memory hog over memory.limit_in_bytes fires an OOM event; rmdir ends the iteration",
  ignore: ignoreV1,
  async fn() {
    const dir = makeCgroup("memory", tag());
    let hog: Deno.ChildProcess | undefined;
    try {
      Deno.writeTextFileSync(`${dir}/memory.limit_in_bytes`, String(32 << 20));
      const { events } = await collect(
        (signal) => watchEventsV1(dir, { signal }),
        (ev) => ev.some((e) => e.type === "oom"),
        30_000,
        () => {
          hog = spawnIn([dir], "x=a; while true; do x=$x$x; done");
        },
      );
      assert.deepEqual(events.filter((e) => e.type === "oom"), [{ type: "oom" }]);
      const status = await hog!.status;
      assert.equal(status.signal, "SIGKILL", "the OOM killer killed the hog");
      assert.match(Deno.readTextFileSync(`${dir}/memory.oom_control`), /oom_kill [1-9]/);

      // Removing the cgroup ends a running iteration (the kernel signals the eventfd).
      const { ended } = await collect(
        (signal) => watchEventsV1(dir, { signal, checkIntervalMs: 60_000 }),
        () => false,
        10_000,
        () => Deno.removeSync(dir),
      );
      assert.equal(ended, true);
    } finally {
      await removeCgroup(dir);
      await hog?.status;
    }
  },
});

Deno.test({
  name: "v1: page cache reclaim under a small limit fires memory pressure events",
  ignore: ignoreV1,
  async fn() {
    const dir = makeCgroup("memory", tag());
    const tmp = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "nsinit-events-" });
    let worker: Deno.ChildProcess | undefined;
    try {
      Deno.writeTextFileSync(`${dir}/memory.limit_in_bytes`, String(16 << 20));
      const { events } = await collect(
        (signal) => watchEventsV1(dir, { signal, pressure: "low" }),
        (ev) => ev.length > 0,
        30_000,
        () => {
          // Writing and re-reading 128 MB through a 16 MB limit makes the kernel reclaim.
          worker = spawnIn(
            [dir],
            `dd if=/dev/zero of=${tmp}/big bs=1M count=128 2>/dev/null; ` +
              `while true; do cat ${tmp}/big > /dev/null; done`,
          );
        },
      );
      assert.ok(events.length > 0, "a pressure event within 30 s");
      assert.equal(events[0]!.type, "memory-pressure");
      assert.ok(["low", "medium", "critical"].includes(events[0]!.level!));
    } finally {
      await removeCgroup(dir);
      await worker?.status;
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "v1: a missing cgroup is a CgroupError naming the file",
  ignore: ignoreV1,
  async fn() {
    const dir = `/sys/fs/cgroup/memory${ownCgroup("memory")}/${tag()}`;
    await assert.rejects(
      async () => {
        for await (const _ of watchEventsV1(dir)) { /* nothing */ }
      },
      (e: unknown) => e instanceof CgroupError && e.field === `${dir}/memory.oom_control`,
    );
  },
});

Deno.test({
  name: "v2 PSI triggers for real: memory.pressure of a hybrid unified cgroup fires",
  ignore: ignorePsi,
  async fn() {
    // memory.events is fake (the hybrid tree has no memory controller); memory.pressure
    // is a link to the real PSI file of a unified cgroup the worker runs in. Its memory
    // stalls come from the v1 memory limit.
    const mem = makeCgroup("memory", tag());
    const uni = makeCgroup("unified", tag());
    const fake = await Deno.makeTempDir({ prefix: "nsinit-events-psi-" });
    const tmp = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "nsinit-events-" });
    let worker: Deno.ChildProcess | undefined;
    try {
      Deno.writeTextFileSync(`${mem}/memory.limit_in_bytes`, String(16 << 20));
      await Deno.writeTextFile(`${fake}/memory.events`, "oom_kill 0\n");
      await Deno.symlink(`${uni}/memory.pressure`, `${fake}/memory.pressure`);
      const { events } = await collect(
        (signal) => watchEventsV2(fake, { signal, pressure: "low" }),
        (ev) => ev.length > 0,
        40_000,
        () => {
          worker = spawnIn(
            [mem, uni],
            `dd if=/dev/zero of=${tmp}/big bs=1M count=200 2>/dev/null; ` +
              `while true; do cat ${tmp}/big > /dev/null; done`,
          );
        },
      );
      assert.ok(events.length > 0, "a PSI event within 40 s");
      assert.equal(events[0]!.type, "memory-pressure");
    } finally {
      await removeCgroup(mem);
      await removeCgroup(uni);
      await worker?.status;
      await Deno.remove(fake, { recursive: true });
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
