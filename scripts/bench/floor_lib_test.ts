import { strict as assert } from "node:assert";
import {
  initPlanCgroupsSpawn,
  initPlanFloor,
  lifecycleFloor,
  lifecycleSpawn,
} from "./floor_lib.ts";
import { floorCgroupDirs } from "./floor_cli.ts";
import { makeBenchBundle } from "./host.ts";
import { ensureNative } from "../../native/ffi.ts";

const root = Deno.uid() === 0;
const why = "needs root: the floors clone into new namespaces and make cgroups";

function gone(paths: string[]): void {
  for (const p of paths) assert.throws(() => Deno.statSync(p), Deno.errors.NotFound, p);
}

/** The pids whose parent is this process (the helpers, and the inits: CLONE_PARENT). */
function children(): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const st = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]) === Deno.pid) {
        pids.push(Number(e.name));
      }
    } catch { /* gone */ }
  }
  return pids;
}

Deno.test({
  name: "the library's floor ladder runs the bench spec and leaves no cgroup or state behind",
  ignore: !root,
  fn: async () => {
    await ensureNative();
    const work = await Deno.makeTempDir({ prefix: "floorlib-test-" });
    const names = [1, 2, 3, 4].map((i) => `floorlib-test-${Deno.pid}-${i}`);
    try {
      const bundle = await makeBenchBundle(`${work}/bundle`, names[0]);
      const state = `${work}/state`;
      const lc = lifecycleFloor(bundle.spec, bundle.dir, state);
      assert.ok(
        (await initPlanCgroupsSpawn(
          bundle.spec,
          bundle.dir,
          initPlanFloor(bundle.spec, bundle.dir),
          names[0],
        )) > 0,
      );
      // Off the event loop, several at once (the concurrent batch's floor).
      const off = await Promise.all(
        names.slice(0, 3).map((n) =>
          initPlanCgroupsSpawn(
            bundle.spec,
            bundle.dir,
            initPlanFloor(bundle.spec, bundle.dir),
            `${n}-off`,
            { offLoop: true },
          )
        ),
      );
      assert.ok(off.every((ms) => ms > 0));
      for (const n of names.slice(0, 3)) gone(floorCgroupDirs(`${n}-off`).dirs);
      for (const name of names.slice(1, 3)) {
        assert.ok((await lifecycleSpawn(lc, name)) > 0);
        gone([state, ...floorCgroupDirs(name).dirs]);
      }
      // A start that fails (the process's binary is missing): the init is killed and
      // everything made is removed.
      const bad = structuredClone(bundle.spec);
      bad.process!.args = ["/nonexistent-binary"];
      await assert.rejects(() => lifecycleSpawn(lifecycleFloor(bad, bundle.dir, state), names[3]));
      gone([state, ...floorCgroupDirs(names[3]).dirs]);
      // The OCI lifecycle floor as the concurrent batch runs it: several at once, a state
      // directory each, the cgroup files off the event loop; one of them fails to start.
      const states = `${work}/states`;
      Deno.mkdirSync(states);
      const batch = names.map((n, i) => ({
        f: lifecycleFloor(i === 3 ? bad : bundle.spec, bundle.dir, `${states}/${i}`),
        cgroup: `${n}-lc`,
      }));
      const before = children();
      const settled = await Promise.allSettled(
        batch.map((x) => lifecycleSpawn(x.f, x.cgroup, { offLoop: true })),
      );
      assert.deepEqual(settled.map((x) => x.status), [
        "fulfilled",
        "fulfilled",
        "fulfilled",
        "rejected",
      ]);
      for (const x of settled) if (x.status === "fulfilled") assert.ok(x.value > 0);
      assert.deepEqual([...Deno.readDirSync(states)], [], "a state directory was left");
      for (const x of batch) gone(floorCgroupDirs(x.cgroup).dirs);
      assert.deepEqual(children().filter((p) => !before.includes(p)), [], "a process was left");
      // A state directory that cannot be made: nothing else is made.
      await assert.rejects(
        () => lifecycleSpawn(lifecycleFloor(bundle.spec, bundle.dir, `${work}/no/such`), names[3]),
        Deno.errors.NotFound,
      );
      gone(floorCgroupDirs(names[3]).dirs);
    } finally {
      for (const n of names) {
        for (const x of [n, `${n}-off`, `${n}-lc`]) {
          for (const d of floorCgroupDirs(x).dirs) await Deno.remove(d).catch(() => {});
        }
      }
      await Deno.remove(work, { recursive: true });
    }
  },
});
if (!root) console.log(`floor_lib_test: the run test is skipped: ${why}`);
