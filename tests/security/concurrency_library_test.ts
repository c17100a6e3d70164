// End-to-end, through the library: concurrent verbs on one container serialize on its lock
// and end in a consistent state; handles held across another process's delete never act on
// a new container of the same id. (tests/security/concurrency_test.ts does the same races
// through the CLI.)
import assert from "node:assert/strict";
import { ContainerIdError, Factory, StateError } from "../../mod.ts";
import type { Spec } from "../../spec/config.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { hasCgroup, isRoot, skipUnless } from "../helpers/skip.ts";
import { killPending } from "../../core/state.ts";
import { stateEntries } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "real containers need root");
const quiet = { stdin: "null", stdout: "null", stderr: "null" } as const;

/** What a promise ended in: "ok" or the error's class name. */
function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(() => "ok", (e) => (e as Error).constructor.name);
}

function specFor(base: Spec, id: string): Spec {
  const s = structuredClone(base);
  s.linux!.cgroupsPath = `nsinit-test-${id}`;
  return s;
}

/** Removes a cgroup directory once it is empty (a dead process leaves it when reaped). */
async function removeCgroupDir(dir: string): Promise<void> {
  for (let i = 0;; i++) {
    try {
      return await Deno.remove(dir);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      if (i === 100) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Force-deletes every container in `f`'s root, so a failed round leaves none running. */
async function destroyAll(f: Factory): Promise<void> {
  for (const id of await f.list().catch(() => [])) {
    await f.load(id).then((c) => c.destroy({ force: true })).catch(() => {});
  }
}

Deno.test({
  name:
    "concurrency (library): two creates of one id: one wins, the other is refused, the winner runs on",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"], rootfs: "shared" });
    const f = new Factory({ root: b.stateRoot });
    try {
      for (let i = 0; i < 5; i++) {
        const id = `${b.id}-${i}`;
        const opts = { bundle: b.dir, spec: specFor(b.config, id), stdio: quiet };
        const [x, y] = await Promise.allSettled([f.create(id, opts), f.create(id, opts)]);
        const won = [x, y].filter((r) => r.status === "fulfilled");
        const lost = [x, y].filter((r) => r.status === "rejected");
        assert.equal(won.length, 1);
        const e = (lost[0] as PromiseRejectedResult).reason;
        assert.ok(e instanceof ContainerIdError, String(e));
        assert.match(e.message, /already exists/);
        const c = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<Factory["create"]>>>).value;
        assert.equal(await c.status(), "created");
        assert.equal(await (await f.load(id)).status(), "created");
        await c.start();
        assert.equal(await c.status(), "running");
        await c.destroy({ force: true });
      }
    } catch (e) {
      await destroyAll(f); // only on failure: the check below must see what a pass leaves
      throw e;
    }
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});

Deno.test({
  name: "concurrency (library): start while delete --force ends deleted, never running",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"], rootfs: "shared" });
    const f = new Factory({ root: b.stateRoot });
    try {
      for (let i = 0; i < 5; i++) {
        const id = `${b.id}-${i}`;
        const c = await f.create(id, { bundle: b.dir, spec: specFor(b.config, id), stdio: quiet });
        const other = await f.load(id); // as another runtime process would
        const [start, del] = await Promise.all([
          outcome(other.start()),
          outcome(c.destroy({ force: true })),
        ]);
        assert.equal(del, "ok");
        // start ran first (then delete killed it) or found the container gone.
        assert.ok(start === "ok" || start === "ContainerIdError", start);
        assert.equal(await outcome(f.load(id)), "NotFoundError");
        assert.equal(await c.status(), "stopped");
      }
    } catch (e) {
      await destroyAll(f); // only on failure: the check below must see what a pass leaves
      throw e;
    }
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});

Deno.test({
  name: "concurrency (library): kill while pause ends stopped, not paused with a kill pending",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"], rootfs: "shared" });
    const f = new Factory({ root: b.stateRoot });
    try {
      for (let i = 0; i < 5; i++) {
        const id = `${b.id}-${i}`;
        const c = await f.run(id, { bundle: b.dir, spec: specFor(b.config, id), stdio: quiet });
        const other = await f.load(id);
        const [pause, kill] = await Promise.all([outcome(other.pause()), outcome(c.signal(9))]);
        assert.equal(kill, "ok");
        // pause ran first (then the kill thawed it), or found it stopped.
        assert.ok(pause === "ok" || pause === "StateError", pause);
        // A liveness bound only (a frozen init with a kill pending would stay "paused" forever).
        let status = await (await f.load(id)).status();
        for (let t = 0; t < 200 && status !== "stopped"; t++) {
          await new Promise((r) => setTimeout(r, 50));
          status = await (await f.load(id)).status();
        }
        assert.equal(status, "stopped", "the killed container did not end");
        assert.equal((await c.wait()).signal, 9);
        await c.destroy();
      }
    } catch (e) {
      await destroyAll(f); // only on failure: the check below must see what a pass leaves
      throw e;
    }
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});

Deno.test({
  name:
    "concurrency (library): kill, then pause before the init acted on its SIGKILL: the pause is refused and the container ends",
  ignore: ignore || skipUnless(hasCgroup("freezer"), "needs the cgroup v1 freezer"),
  async fn() {
    // The interleaving behind the flake of "kill while pause", made deterministic: kill takes
    // the lock first, sees a running container (no thaw), and sends SIGKILL; the init has not
    // run since when pause freezes it. Under load that is a scheduling accident; here the init
    // sits in a frozen child cgroup of the container's freezer cgroup, so it cannot act on the
    // kill while the container's own freezer.state still reads THAWED. A frozen v1 process
    // with SIGKILL pending lives until thawed: the container stayed "paused" for ever.
    await using b = await makeBundle({ args: ["sleep", "60"], rootfs: "shared" });
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, spec: specFor(b.config, b.id), stdio: quiet });
    const hold = `${c.cgroup.paths().freezer}/hold`;
    const pid = c.persisted.initPid;
    const freezer = async (dir: string, state: "FROZEN" | "THAWED") => {
      await Deno.writeTextFile(`${dir}/freezer.state`, state);
      for (let i = 0; i < 500; i++) {
        if ((await Deno.readTextFile(`${dir}/freezer.state`)).trim() === state) return;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`${dir} never became ${state}`);
    };
    let waited = false;
    try {
      await Deno.mkdir(hold);
      await Deno.writeTextFile(`${hold}/cgroup.procs`, String(pid));
      await freezer(hold, "FROZEN");
      assert.equal(await c.status(), "running", "set-up: the container itself is not frozen");
      await c.signal(9);
      assert.ok(killPending(pid), "set-up: the init is alive with the kill pending");
      const other = await f.load(b.id); // as another runtime process would
      await assert.rejects(() => other.pause(), (e: unknown) => {
        assert.ok(e instanceof StateError, String(e));
        assert.match(e.message, /stopped/);
        return true;
      });
      await freezer(hold, "THAWED"); // the scheduling accident is over
      let status = await (await f.load(b.id)).status();
      for (let t = 0; t < 100 && status !== "stopped"; t++) {
        await new Promise((r) => setTimeout(r, 50));
        status = await (await f.load(b.id)).status();
      }
      assert.equal(status, "stopped", "the killed container stayed paused with its kill pending");
      const end = c.wait();
      waited = true;
      assert.equal((await end).signal, 9);
    } finally {
      await Deno.writeTextFile(`${c.cgroup.paths().freezer}/freezer.state`, "THAWED")
        .catch(() => {});
      await Deno.writeTextFile(`${hold}/freezer.state`, "THAWED").catch(() => {});
      if (!waited) await c.wait();
      await removeCgroupDir(hold);
      await c.destroy({ force: true });
    }
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});

Deno.test({
  name: "concurrency (library): a handle of a deleted container never acts on a new one of its id",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"], rootfs: "shared" });
    const f = new Factory({ root: b.stateRoot });
    const opts = { bundle: b.dir, spec: specFor(b.config, b.id), stdio: quiet };
    const old = await f.run(b.id, opts);
    await (await f.load(b.id)).destroy({ force: true }); // another process deletes it
    const now = await f.run(b.id, opts); // and creates a new one under the same id
    try {
      for (
        const verb of [() => old.signal(9), () => old.pause(), () => old.destroy({ force: true })]
      ) {
        await assert.rejects(verb, (e: unknown) => e instanceof ContainerIdError);
      }
      assert.equal(await now.status(), "running", "the stale handle harmed the new container");
      assert.deepEqual(await f.list(), [b.id]);
      await assert.rejects(() => old.start(), (e: unknown) => e instanceof ContainerIdError);
      await assert.rejects(() => now.start(), StateError);
    } finally {
      await now.destroy({ force: true });
    }
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});
