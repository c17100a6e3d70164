// End-to-end: concurrent commands on one container serialize through its lock and end in a
// consistent state; a pid that an unrelated process reused is never signalled.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { runNsinit, type RunResult } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { alive, cgroupDirsNamed, stateEntries } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

/** `state` and `list` agree, and the status is what the init's liveness says. */
async function consistent(root: string, id: string): Promise<string | undefined> {
  const state = await runNsinit(["--root", root, "state", id]);
  const list = await runNsinit(["--root", root, "list", "--format", "json"]);
  assert.equal(list.code, 0, list.stderr);
  const entry = ((JSON.parse(list.stdout) ?? []) as { id: string; status: string; pid: number }[])
    .find((s) => s.id === id);
  if (state.code !== 0) {
    assert.match(state.stderr, /does not exist/, state.stderr);
    assert.equal(entry, undefined, "list shows a container state does not know");
    return undefined;
  }
  const s = JSON.parse(state.stdout) as { status: string; pid: number };
  assert.equal(entry?.status, s.status, "list and state disagree");
  if (s.status === "running" || s.status === "paused" || s.status === "created") {
    assert.ok(s.pid > 0 && alive(s.pid), `status ${s.status} but pid ${s.pid} is not alive`);
  }
  return s.status;
}

async function clean(root: string, id: string, cgroup: string): Promise<void> {
  const d = await runNsinit(["--root", root, "delete", "--force", id]);
  assert.ok(d.code === 0 || /does not exist/.test(d.stderr), d.stderr);
  assert.deepEqual(stateEntries(root), [], "state left");
  assert.deepEqual(cgroupDirsNamed(cgroup), [], "cgroup left");
}

Deno.test({
  name: "concurrency: start while delete, kill while pause, two creates of one id",
  ignore,
  async fn(t) {
    await using b = await makeBundle({ args: ["sleep", "60"] });
    const root = b.stateRoot;
    const cgroup = b.config.linux!.cgroupsPath!;
    const cli = (args: string[]): Promise<RunResult> => runNsinit(["--root", root, ...args]);

    await t.step("start while delete --force", async () => {
      for (let i = 0; i < 5; i++) {
        const id = `${b.id}-sd-${i}`;
        assert.equal((await cli(["create", "--bundle", b.dir, id])).code, 0);
        const [start, del] = await Promise.all([
          cli(["start", id]),
          cli(["delete", "--force", id]),
        ]);
        assert.equal(del.code, 0, del.stderr);
        // start either ran first (then delete killed it) or found nothing / a stopped one.
        if (start.code !== 0) assert.match(start.stderr, /does not exist|stopped|cannot start/);
        assert.equal(await consistent(root, id), undefined);
        await clean(root, id, cgroup);
      }
    });

    await t.step("kill while pause", async () => {
      for (let i = 0; i < 5; i++) {
        const id = `${b.id}-kp-${i}`;
        assert.equal((await cli(["run", "-d", "--bundle", b.dir, id])).code, 0);
        const [pause, kill] = await Promise.all([cli(["pause", id]), cli(["kill", id, "KILL"])]);
        // Each either acted or found the container in a state it refuses, by name.
        if (pause.code !== 0) assert.match(pause.stderr, /cannot pause|stopped/, pause.stderr);
        if (kill.code !== 0) assert.match(kill.stderr, /stopped|not running/, kill.stderr);
        const status = await consistent(root, id);
        assert.ok(status === "paused" || status === "stopped" || status === "running", status);
        await clean(root, id, cgroup);
      }
    });

    await t.step("two creates of one id", async () => {
      for (let i = 0; i < 5; i++) {
        const id = `${b.id}-cc-${i}`;
        const [a, c] = await Promise.all([
          cli(["create", "--bundle", b.dir, id]),
          cli(["create", "--bundle", b.dir, id]),
        ]);
        const ok = [a, c].filter((r) => r.code === 0);
        assert.equal(ok.length, 1, `${a.stderr} / ${c.stderr}`);
        const failed = a.code === 0 ? c : a;
        assert.match(failed.stderr, /already exists/, failed.stderr);
        assert.equal(await consistent(root, id), "created");
        await clean(root, id, cgroup);
      }
    });
  },
});

Deno.test({
  name: "concurrency: 20 containers run in parallel from one process",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sh", "-c", "echo $$"] });
    const factory = new Factory({ root: b.stateRoot });
    const outs = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const id = `${b.id}-p-${i}`;
      const spec = structuredClone(b.config);
      spec.linux!.cgroupsPath = `${b.config.linux!.cgroupsPath}-${i}`;
      const c = await factory.run(id, {
        bundle: b.dir,
        spec,
        stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
      });
      try {
        return await c.init!.output();
      } finally {
        await c.destroy({ force: true });
      }
    }));
    for (const o of outs) {
      assert.equal(o.code, 0, o.stderr);
      assert.equal(o.stdout, "1\n"); // pid 1 of its own pid namespace
    }
    assert.deepEqual(stateEntries(b.stateRoot), []);
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(cgroupDirsNamed(`${b.config.linux!.cgroupsPath}-${i}`), []);
    }
  },
});

Deno.test({
  name: "concurrency: a pid reused by an unrelated process after the init died is never signalled",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"] });
    const root = b.stateRoot;
    const cli = (args: string[]) => runNsinit(["--root", root, ...args]);
    assert.equal((await cli(["run", "-d", "--bundle", b.dir, b.id])).code, 0);
    // The init exits; then an unrelated process gets its pid (as after a pid wrap). We
    // make that happen by writing the bystander's pid into the state, keeping the init's
    // start time: exactly what the runtime would see after a reuse.
    const bystander = new Deno.Command("sleep", { args: ["60"], stdin: "null" }).spawn();
    try {
      const statePath = `${root}/${b.id}/state.json`;
      for (let i = 0; i < 100 && (await cli(["state", b.id])).stdout.includes('"running"'); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const state = JSON.parse(await Deno.readTextFile(statePath));
      assert.ok(state.initPid > 0);
      state.initPid = bystander.pid;
      await Deno.writeTextFile(statePath, JSON.stringify(state));

      const st = JSON.parse((await cli(["state", b.id])).stdout);
      assert.equal(st.status, "stopped", "a reused pid made the container look alive");
      const kill = await cli(["kill", b.id, "KILL"]);
      assert.notEqual(kill.code, 0, "kill of a stopped container succeeded");
      const d = await cli(["delete", "--force", b.id]);
      assert.equal(d.code, 0, d.stderr);
      assert.ok(alive(bystander.pid), "the process that reused the pid was signalled");
    } finally {
      bystander.kill("SIGKILL");
      await bystander.status;
    }
    assert.deepEqual(stateEntries(root), []);
  },
});

Deno.test({
  name: "concurrency: 20 nsinit run processes at once, each its own container",
  ignore,
  async fn() {
    // No cgroupsPath: each container's cgroup is <this process's cgroup>/<id>.
    await using b = await makeBundle({ args: ["sh", "-c", "echo $$"], cgroupsPath: null });
    const ids = Array.from({ length: 20 }, (_, i) => `${b.id}-r-${i}`);
    const runs = await Promise.all(
      ids.map((id) =>
        runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, id], { timeoutMs: 300_000 })
      ),
    );
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "1\n"); // pid 1 of its own pid namespace
    }
    assert.deepEqual(stateEntries(b.stateRoot), []);
    for (const id of ids) assert.deepEqual(cgroupDirsNamed(id), [], `cgroup of ${id} left`);
  },
});
