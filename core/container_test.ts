/**
 * Unit tests of the container state machine through the syscall seam: every verb
 * from every status, with a recording fake of the native calls and of the cgroup
 * driver (tests/helpers/fake_syscalls.ts). No root, no real processes: state
 * directories are real temp directories.
 */

import assert from "node:assert/strict";
import { Factory } from "./factory.ts";
import type { Container } from "./container.ts";
import { STATUSES, TRANSITIONS, type Verb } from "./transitions.ts";
import type { ContainerState } from "./state.ts";
import { defaultSpec } from "../spec/default.ts";
import {
  CgroupError,
  ContainerIdError,
  NotFoundError,
  StateError,
  type Status,
} from "../errors.ts";
import type { DriverCapabilities } from "../drivers/driver.ts";
import { FakeCgroupDrivers, FakeSyscalls } from "../tests/helpers/fake_syscalls.ts";
import { makeTempDir, type TempDir } from "../tests/helpers/paths.ts";
import { uniqueId } from "../tests/helpers/ids.ts";
import { exists } from "../util/fs.ts";
import { alone } from "../util/busy.ts";

const SIGUSR1 = 10;

interface World {
  root: TempDir;
  bundle: string;
  sys: FakeSyscalls;
  drivers: FakeCgroupDrivers;
  factory: Factory;
  [Symbol.asyncDispose](): Promise<void>;
}

async function world(caps: Partial<DriverCapabilities> = {}): Promise<World> {
  const root = await makeTempDir("unit");
  const bundle = `${root.path}/bundle`;
  await Deno.mkdir(`${bundle}/rootfs`, { recursive: true });
  const sys = new FakeSyscalls();
  const drivers = new FakeCgroupDrivers(sys, caps);
  const factory = new Factory({
    root: `${root.path}/state`,
    syscalls: sys,
    cgroupDrivers: drivers,
  });
  return {
    root,
    bundle,
    sys,
    drivers,
    factory,
    [Symbol.asyncDispose]: async () => await root[Symbol.asyncDispose](),
  };
}

/** A spec the fake can "run": runc's default, without seccomp or hooks. */
function spec() {
  const s = defaultSpec();
  s.process!.args = ["true"];
  return s;
}

/**
 * A container in `status`, as a state directory on disk (as a crashed or another
 * runtime process would leave it) loaded by the factory.
 */
async function inStatus(w: World, status: Status): Promise<Container> {
  const id = uniqueId("unit");
  const dir = `${w.factory.root}/${id}`;
  await Deno.mkdir(dir, { recursive: true });
  const pid = w.sys.spawn();
  if (status === "stopped") w.sys.exit(pid);
  const state: ContainerState = {
    id,
    bundle: w.bundle,
    rootfs: `${w.bundle}/rootfs`,
    initPid: status === "creating" ? 0 : pid,
    initStartTime: w.sys.procStat(pid)?.startTime ?? 5000 + pid,
    created: new Date().toISOString(),
    config: spec(),
    namespaces: ["pid", "mount"],
    cgroup: { driver: "none", paths: {} },
    rootless: false,
    owner: "",
  };
  await Deno.writeTextFile(`${dir}/state.json`, JSON.stringify(state));
  if (status === "creating" || status === "created") {
    await Deno.writeFile(`${dir}/exec.fifo`, new Uint8Array());
  }
  const cg = w.drivers.create({ id });
  await cg.apply(pid);
  cg.setFrozen(status === "paused");
  const c = await w.factory.load(id);
  assert.equal(await c.status(), status, "set-up");
  w.sys.calls.length = 0;
  return c;
}

/** Runs one verb; returns what it resolved to. */
function run(c: Container, verb: Verb): Promise<unknown> {
  switch (verb) {
    case "start":
      return c.start();
    case "signal":
      return c.signal(SIGUSR1);
    case "kill --all":
      return c.signal(SIGUSR1, { all: true });
    case "pause":
      return c.pause();
    case "resume":
      return c.resume();
    case "update":
      return c.set({ pids: { limit: 42 } });
    case "exec":
      return c.exec({ args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } }, { stdio: {} });
    case "delete":
      return c.destroy();
    case "delete --force":
      return c.destroy({ force: true });
    case "checkpoint":
      return c.checkpoint({ imagePath: "/nonexistent" });
  }
}

/** What an allowed verb must have done, from the calls it made and the state after. */
async function checkEffect(
  w: World,
  c: Container,
  verb: Verb,
  from: Status,
  calls: string[],
): Promise<void> {
  const pid = c.persisted.initPid;
  const dirExists = () => {
    try {
      Deno.statSync(`${w.factory.root}/${c.id}`);
      return true;
    } catch {
      return false;
    }
  };
  switch (verb) {
    case "start":
      assert.deepEqual(calls, [`startInit ${pid}`]);
      assert.equal(await c.status(), "running");
      break;
    case "signal":
      assert.deepEqual(calls, [`signalInit ${pid} ${SIGUSR1}`]);
      assert.equal(await c.status(), from);
      break;
    case "kill --all":
      // Every process in the cgroup; a paused container is thawed so the signal acts.
      assert.deepEqual(
        calls,
        from === "paused" ? [`cgroup killAll ${SIGUSR1}`, "cgroup freeze false"] : [
          `cgroup killAll ${SIGUSR1}`,
        ],
      );
      break;
    case "pause":
      assert.deepEqual(calls, ["cgroup freeze true"]);
      assert.equal(await c.status(), "paused");
      break;
    case "resume":
      assert.deepEqual(calls, ["cgroup freeze false"]);
      assert.equal(await c.status(), "running");
      break;
    case "update": {
      assert.deepEqual(calls, ["cgroup set"]);
      const saved = JSON.parse(await Deno.readTextFile(`${w.factory.root}/${c.id}/state.json`));
      assert.equal(saved.config.linux.resources.pids.limit, 42, "the update is recorded");
      // The handle's state is the new one too (set() replaces it, never edits it in place).
      assert.equal(c.persisted.config.linux?.resources?.pids?.limit, 42);
      assert.equal(await c.status(), from);
      break;
    }
    case "exec":
      assert.equal(calls.length, 2);
      assert.match(calls[0]!, /^spawnPlan \d+ until=exec steps=true$/);
      assert.equal(calls[1], "cgroup apply", "the process joins the container's cgroup");
      break;
    case "delete":
      // No restore made it (the state names no CRIU work directory): no criu-root to detach.
      assert.deepEqual(calls, ["cgroup destroy"]);
      assert.ok(!dirExists(), "the state directory is removed");
      break;
    case "delete --force":
      // Every process in the cgroup (the init too) is killed, a paused one thawed so
      // it dies; the init is then gone, so no pidfd is needed.
      assert.deepEqual(calls, [
        "cgroup killAll 9",
        ...(from === "paused" ? ["cgroup freeze false"] : []),
        "cgroup destroy",
      ]);
      assert.ok(!dirExists(), "the state directory is removed");
      assert.equal(w.sys.alive(pid), false, "the init is dead");
      break;
  }
  assert.deepEqual(w.sys.openFds, [], "every pidfd the verb opened is closed");
}

/** Calls that change something (a refused verb makes none). */
const ACTIONS =
  /^(pidfdSignal|signalInit|startInit|spawnPlan|mkfifo|cgroup (create|apply|set|freeze|killAll|destroy))/;

Deno.test("transition table: every verb names where it may start, and nothing else", () => {
  for (const [verb, t] of Object.entries(TRANSITIONS)) {
    assert.ok(t.from.length > 0, verb);
    for (const s of t.from) assert.ok(STATUSES.includes(s), `${verb}: ${s}`);
  }
});

for (const verb of Object.keys(TRANSITIONS) as Verb[]) {
  Deno.test(`${verb}: from every status, allowed or refused naming from and to`, async (t) => {
    for (const from of STATUSES) {
      const allowed = (TRANSITIONS[verb].from as readonly Status[]).includes(from);
      await t.step(`${allowed ? "allowed" : "refused"} from ${from}`, async () => {
        await using w = await world();
        const c = await inStatus(w, from);
        // A checkpoint runs the real CRIU: its effect is tested end to end (tests/checkpoint/).
        if (allowed && verb === "checkpoint") return;
        if (allowed) {
          const out = await run(c, verb);
          const calls = [...w.sys.calls];
          if (verb === "exec") await (out as AsyncDisposable)[Symbol.asyncDispose]();
          await checkEffect(w, c, verb, from, calls);
          return;
        }
        await assert.rejects(() => run(c, verb), (e: unknown) => {
          assert.ok(e instanceof StateError, `${e}`);
          assert.equal(e.id, c.id);
          assert.equal(e.from, from);
          assert.equal(e.verb, verb);
          assert.equal(e.to, (TRANSITIONS[verb] as { to?: string }).to);
          assert.deepEqual(e.allowed, TRANSITIONS[verb].from);
          assert.match(e.message, new RegExp(`cannot ${verb} a ${from} container \\(${verb} `));
          return true;
        });
        assert.deepEqual(w.sys.calls.filter((l) => ACTIONS.test(l)), [], "a refusal acts");
        assert.equal(await c.status(), from, "a refusal changes the status");
        assert.deepEqual(w.sys.openFds, []);
      });
    }
  });
}

Deno.test("create: state first, cgroup limits before the pid, then the init waits for start", async () => {
  await using w = await world();
  const c = await w.factory.create("c1", { bundle: w.bundle, spec: spec() });
  const pid = c.persisted.initPid;
  assert.ok(pid > 0);
  assert.deepEqual(w.sys.calls.slice(0, 1), ["mkfifo exec.fifo"]);
  // create and set run while the helper spawns; apply only once the pid exists.
  const order = w.sys.calls.filter((l) => l.startsWith("cgroup"));
  assert.deepEqual(order, ["cgroup create", "cgroup set", "cgroup apply"]);
  assert.ok(w.sys.calls.some((l) => /^spawnPlan \d+ until=ready/.test(l)));
  assert.equal(await c.status(), "created");
  // runc's default device rules were added: the fake driver enforces device rules.
  assert.ok((w.drivers.managers.get("c1")!.resources?.devices?.length ?? 0) > 1);
  await c.start();
  assert.equal(await c.status(), "running");
  await c.destroy({ force: true });
  await assert.rejects(() => w.factory.load("c1"), NotFoundError);
});

Deno.test("create on cgroup v2: the init is cloned into its cgroup, made before the spawn and limited before its go", async () => {
  await using w = await world();
  w.drivers.cloneInto = "/sys/fs/cgroup/c1";
  const c = await w.factory.create("c1", { bundle: w.bundle, spec: spec() });
  const spawn = w.sys.calls.findIndex((l) => l.startsWith("spawnPlan"));
  const cgroup = (l: string) => w.sys.calls.indexOf(l);
  assert.ok(cgroup("cgroup create") >= 0 && cgroup("cgroup create") < spawn);
  // The limits are written while the helper clones; place() (the child's go after it) waits
  // for them, and apply(pid) runs there.
  assert.ok(cgroup("cgroup set") >= 0 && cgroup("cgroup set") < cgroup("cgroup apply"));
  assert.ok(cgroup("cgroup apply") > spawn, "apply(pid) still runs (and finds the pid in place)");
  assert.ok(w.sys.plans[0].includes("clone into the cgroup /sys/fs/cgroup/c1"));
  assert.ok(
    w.sys.plans[0].indexOf("clone into the cgroup /sys/fs/cgroup/c1") <
      w.sys.plans[0].indexOf("clone"),
  );
  await c.destroy({ force: true });
});

Deno.test("create on cgroup v2: limits that fail while the helper clones leave nothing, the init never let go", async () => {
  await using w = await world();
  w.drivers.cloneInto = "/sys/fs/cgroup/c1";
  w.drivers.setError = new CgroupError("linux.resources.pids.limit", "refused by the fake");
  await assert.rejects(
    () => w.factory.create("c1", { bundle: w.bundle, spec: spec() }),
    /refused by the fake/,
  );
  assert.deepEqual(await w.factory.list(), []);
  const log = w.sys.calls.join("\n");
  assert.match(log, /spawnPlan (\d+)/);
  const pid = Number(/spawnPlan (\d+)/.exec(log)![1]);
  assert.equal(w.sys.procStat(pid), undefined, "the cloned init was killed");
  assert.ok(!w.sys.calls.includes("cgroup apply"), "never placed, so never told to go");
  assert.match(log, /cgroup destroy/, "the failed create removed its cgroup");
});

Deno.test("create: a driver whose cgroup needs a pid gets apply first, then set", async () => {
  await using w = await world({ limitsBeforePid: false, deviceRules: false });
  const s = spec();
  s.linux!.resources = { pids: { limit: 7 } };
  const c = await w.factory.create("c1", { bundle: w.bundle, spec: s });
  const order = w.sys.calls.filter((l) => l.startsWith("cgroup"));
  assert.deepEqual(order, ["cgroup apply", "cgroup set"]);
  // Without device rules, the spec's resources go as they are.
  assert.deepEqual(w.drivers.managers.get("c1")!.resources, { pids: { limit: 7 } });
  await c.destroy({ force: true });
});

Deno.test("create: an id in use is refused; a failed spawn leaves nothing", async () => {
  await using w = await world();
  const c = await w.factory.create("c1", { bundle: w.bundle, spec: spec() });
  await assert.rejects(
    () => w.factory.create("c1", { bundle: w.bundle, spec: spec() }),
    ContainerIdError,
  );
  w.sys.spawnError = new Error("helper failed");
  await assert.rejects(
    () => w.factory.create("c2", { bundle: w.bundle, spec: spec() }),
    /helper failed/,
  );
  assert.deepEqual(await w.factory.list(), ["c1"]);
  const log = w.sys.calls.join("\n");
  assert.match(log, /cgroup destroy/, "the failed create removed its cgroup");
  await c.destroy({ force: true });
});

Deno.test("creates and deletes count as under way (util/busy.ts): alone in one, not in two at once, none left after", async () => {
  await using w = await world();
  const seen: boolean[] = [];
  const spawn = w.sys.spawnPlan.bind(w.sys);
  w.sys.spawnPlan = (plan, opts) => {
    seen.push(alone());
    return spawn(plan, opts);
  };
  const c1 = await w.factory.create("c1", { bundle: w.bundle, spec: spec() });
  assert.deepEqual(seen, [true]);
  const both = await Promise.all([
    w.factory.create("c2", { bundle: w.bundle, spec: spec() }),
    w.factory.create("c3", { bundle: w.bundle, spec: spec() }),
  ]);
  assert.deepEqual(seen, [true, false, false]);
  assert.ok(alone());
  const one = c1.destroy({ force: true });
  assert.ok(alone());
  const two = both.map((c) => c.destroy({ force: true }));
  assert.ok(!alone());
  await Promise.all([one, ...two]);
  assert.ok(alone());
  w.sys.spawnError = new Error("helper failed");
  await assert.rejects(() => w.factory.create("c4", { bundle: w.bundle, spec: spec() }));
  assert.ok(alone(), "a failed create is no longer counted");
  assert.deepEqual(await w.factory.list(), []);
});

Deno.test("kill --all without process tracking signals the init only", async () => {
  await using w = await world({ processes: false, freezer: false });
  const c = await inStatus(w, "running");
  const pid = c.persisted.initPid;
  await c.signal(15, { all: true });
  assert.deepEqual(w.sys.calls, [`signalInit ${pid} 15`]);
  assert.equal(await c.status(), "stopped");
  w.sys.calls.length = 0;
  await c.signal(15, { all: true }); // stopped: nothing left to signal
  assert.deepEqual(w.sys.calls, []);
});

Deno.test("pid reuse: a process that took a dead init's pid is never signalled", async () => {
  await using w = await world();
  const c = await inStatus(w, "running");
  const pid = c.persisted.initPid;
  w.sys.exit(pid);
  w.sys.reuse(pid); // an unrelated process now has the pid
  assert.equal(await c.status(), "stopped");
  await assert.rejects(() => c.signal(9), StateError);
  await c.signal(9, { all: true }); // the cgroup is empty: nothing to signal
  await (await w.factory.load(c.id)).destroy();
  assert.ok(w.sys.alive(pid), "the process that reused the pid was signalled");
  assert.deepEqual(
    w.sys.calls.filter((l) =>
      l.startsWith(`pidfdSignal ${pid}`) || l.startsWith(`signalInit ${pid}`)
    ),
    [],
  );
});

Deno.test("a handle whose container was deleted and created again refuses to act on the new one", async () => {
  await using w = await world();
  const old = await w.factory.create("c1", { bundle: w.bundle, spec: spec() });
  await old.start();
  // Another process (here: another handle) deletes it and creates a new container "c1".
  await (await w.factory.load("c1")).destroy({ force: true });
  await assert.rejects(() => old.signal(15), /does not exist/);
  const now = await w.factory.create("c1", { bundle: w.bundle, spec: spec() });
  const pid = now.persisted.initPid;
  w.sys.calls.length = 0;
  for (
    const verb of [
      () => old.signal(9),
      () => old.signal(9, { all: true }),
      () => old.pause(),
      () => old.set({ pids: { limit: 1 } }),
      () => old.destroy({ force: true }),
    ]
  ) {
    await assert.rejects(verb, (e: unknown) => {
      assert.ok(e instanceof ContainerIdError, `${e}`);
      assert.match(e.message, /the id now names another container/);
      return true;
    });
  }
  assert.deepEqual(w.sys.calls.filter((l) => ACTIONS.test(l)), [], "the stale handle acted");
  assert.ok(w.sys.alive(pid));
  assert.equal(await now.status(), "created");
  await now.destroy({ force: true });
});

Deno.test("a handle takes up what another handle wrote to state.json, and keeps its own state while it is unchanged", async () => {
  await using w = await world();
  const a = await w.factory.create("c1", { bundle: w.bundle, spec: spec() });
  const b = await w.factory.load("c1");
  await a.start();
  const pidsLimit = () => a.persisted.config.linux?.resources?.pids?.limit;
  assert.equal(pidsLimit(), undefined);
  // Another handle (another process, for all the first one knows) updates the state.
  await b.set({ pids: { limit: 7 } });
  await a.signal(SIGUSR1); // a locked verb: refreshed from state.json
  assert.equal(pidsLimit(), 7);
  // Unchanged text: the state a handle has is kept, equal to what is on disk.
  const before = a.persisted;
  await a.signal(SIGUSR1);
  assert.deepEqual(a.persisted, before);
  assert.deepEqual(
    a.persisted,
    JSON.parse(await Deno.readTextFile(`${w.factory.root}/c1/state.json`)),
  );
  await a.destroy({ force: true });
});

Deno.test("SIGKILL to a paused container thaws it, so the kill is acted on (as runc)", async () => {
  await using w = await world();
  const c = await inStatus(w, "paused");
  await c.signal(9);
  assert.deepEqual(w.sys.calls.filter((l) => l.startsWith("cgroup")), ["cgroup freeze false"]);
  assert.equal(await c.status(), "stopped");
  // Another signal leaves a paused container paused.
  const p = await inStatus(w, "paused");
  await p.signal(SIGUSR1);
  assert.equal(await p.status(), "paused");
});

Deno.test("kill, then pause before the init acted on the SIGKILL: thawed, refused, stopped", async () => {
  // The flake of "kill while pause" (tests/security/concurrency_library_test.ts): kill took
  // the lock first and did not thaw (the container was running), but the init had not yet
  // run to die when pause froze it. A frozen cgroup v1 process with SIGKILL pending lives
  // until thawed: without the check it stayed "paused" for ever.
  await using w = await world();
  const c = await inStatus(w, "running");
  const pid = c.persisted.initPid;
  const other = await w.factory.load(c.id);
  w.sys.lateKills = true;
  await c.signal(9);
  assert.ok(w.sys.alive(pid) && w.sys.killPending(pid), "set-up: the kill is pending");
  assert.equal(await other.status(), "running");
  w.sys.calls.length = 0;
  await assert.rejects(() => other.pause(), (e: unknown) => {
    assert.ok(e instanceof StateError, `${e}`);
    assert.match(e.message, /stopped/);
    return true;
  });
  assert.deepEqual(w.sys.calls, ["cgroup freeze true", "cgroup freeze false"]);
  assert.ok(!w.sys.alive(pid), "the init acted on its kill once thawed");
  assert.equal(await other.status(), "stopped");
  // Without a kill pending, pause pauses.
  const p = await inStatus(w, "running");
  await p.pause();
  assert.equal(await p.status(), "paused");
});

Deno.test("run: no exec fifo; the directory is marked not started until the init has exec'd", async () => {
  await using w = await world();
  const dir = `${w.factory.root}/r1`;
  let during: { marked: boolean; fifo: boolean } | undefined;
  const c = await w.factory.run("r1", {
    bundle: w.bundle,
    spec: spec(),
    // Called once the init exists, before create has written its pid and returned.
    onPidfd: () => {
      during = {
        marked: (Deno.statSync(dir).mode! & 0o1000) !== 0,
        fifo: exists(`${dir}/exec.fifo`),
      };
    },
  });
  assert.deepEqual(during, { marked: true, fifo: false });
  assert.ok(!w.sys.calls.some((l) => l.startsWith("mkfifo")));
  assert.equal(Deno.statSync(dir).mode! & 0o7777, 0o711 & ~Deno.umask());
  assert.equal(await c.status(), "running");
  await c.destroy({ force: true });
});

Deno.test("a run's marked directory is creating, then created, as a create's fifo says", async () => {
  await using w = await world();
  const id = uniqueId("unit");
  const dir = `${w.factory.root}/${id}`;
  await Deno.mkdir(dir, { recursive: true });
  Deno.chmodSync(dir, 0o1711);
  const pid = w.sys.spawn();
  const state: ContainerState = {
    id,
    bundle: w.bundle,
    rootfs: `${w.bundle}/rootfs`,
    initPid: 0,
    initStartTime: 0,
    created: new Date().toISOString(),
    config: spec(),
    namespaces: ["pid", "mount"],
    cgroup: { driver: "none", paths: {} },
    rootless: false,
    owner: "",
  };
  // A directory without state.json yet (a crash right after it was made), then the first state.
  assert.equal(await (await w.factory.load(id)).status(), "creating");
  await Deno.writeTextFile(`${dir}/state.json`, JSON.stringify(state));
  assert.equal(await (await w.factory.load(id)).status(), "creating");
  state.initPid = pid;
  state.initStartTime = w.sys.procStat(pid)!.startTime;
  await Deno.writeTextFile(`${dir}/state.json`, JSON.stringify(state));
  assert.equal(await (await w.factory.load(id)).status(), "created");
  Deno.chmodSync(dir, 0o711);
  assert.equal(await (await w.factory.load(id)).status(), "running");
  const c = await w.factory.load(id);
  await c.destroy({ force: true });
  assert.equal(exists(dir), false);
});

Deno.test("delete of a restored container detaches what a killed restore left at criu-root", async () => {
  await using w = await world();
  const c = await inStatus(w, "stopped");
  const file = `${w.factory.root}/${c.id}/state.json`;
  const saved = JSON.parse(await Deno.readTextFile(file));
  await Deno.writeTextFile(file, JSON.stringify({ ...saved, criuWorkDir: `${w.root.path}/work` }));
  const restored = await w.factory.load(c.id);
  w.sys.calls.length = 0;
  await restored.destroy();
  assert.deepEqual(w.sys.calls, ["cgroup destroy", "umountDetach criu-root"]);
});

Deno.test("start: a failure in the init is reported and the fifo is consumed", async () => {
  await using w = await world();
  const c = await inStatus(w, "created");
  w.sys.startInitError = new Error("exec failed");
  await assert.rejects(() => c.start(), /exec failed/);
  assert.deepEqual(w.sys.openFds, []);
  assert.notEqual(await c.status(), "created");
});

Deno.test("hooks: runtime hooks at the barrier, poststart after start, poststop after delete; a failing poststart only warns", async () => {
  await using w = await world();
  const warnings: string[] = [];
  const factory = new Factory({
    root: w.factory.root,
    syscalls: w.sys,
    cgroupDrivers: w.drivers,
    onWarning: (m) => warnings.push(m),
  });
  const s = spec();
  const hook = (path: string) => [{ path }];
  s.hooks = {
    prestart: hook("/prestart"),
    createRuntime: hook("/createRuntime"),
    poststart: hook("/poststart"),
    poststop: hook("/poststop"),
  };
  w.sys.hookResults.set("/poststart", 1 << 8); // exit status 1
  const c = await factory.create("c1", { bundle: w.bundle, spec: s });
  const pid = c.persisted.initPid;
  const hooks = () => w.sys.calls.filter((l) => l.startsWith("hook "));
  // Both run while the init waits at its barrier, after it joined its cgroup.
  assert.deepEqual(hooks().map((l) => l.split(" ")[1]), ["/prestart", "/createRuntime"]);
  const barrier = w.sys.calls.findIndex((l) => l.startsWith("hook /prestart "));
  assert.ok(w.sys.calls.indexOf("cgroup apply") < barrier);
  assert.equal(w.sys.hookInputs[0]!.state.pid, pid);
  await c.start();
  assert.deepEqual(hooks().slice(2), ["hook /poststart running"]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /poststart.*exit status 1/);
  w.sys.exit(pid);
  await c.destroy();
  assert.deepEqual(hooks().slice(3), ["hook /poststop stopped"]);
});

Deno.test("hooks: a failing prestart hook fails the create and leaves nothing", async () => {
  await using w = await world();
  const s = spec();
  s.hooks = { prestart: [{ path: "/prestart" }], poststop: [{ path: "/poststop" }] };
  w.sys.hookResults.set("/prestart", 9); // killed by SIGKILL
  await assert.rejects(
    () => w.factory.create("c1", { bundle: w.bundle, spec: s }),
    /prestart.*killed by signal 9/,
  );
  assert.deepEqual(await w.factory.list(), []);
  assert.ok(w.sys.calls.includes("cgroup destroy"));
  // A failed create continues at delete: poststop runs.
  assert.equal(w.sys.calls.at(-1), "hook /poststop stopped");
});

Deno.test("load: a state.json that is not JSON (emptied by a machine crash) is only deletable", async () => {
  await using w = await world();
  const dir = `${w.factory.root}/torn`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/state.json`, "");
  const c = await w.factory.load("torn");
  assert.equal(await c.status(), "stopped");
  await c.destroy({ force: true });
  assert.deepEqual(await w.factory.list(), []);
});
