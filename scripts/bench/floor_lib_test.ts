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
      // A state directory that cannot be made: nothing else is made.
      await assert.rejects(
        () => lifecycleSpawn(lifecycleFloor(bundle.spec, bundle.dir, `${work}/no/such`), names[3]),
        Deno.errors.NotFound,
      );
      gone(floorCgroupDirs(names[3]).dirs);
    } finally {
      for (const n of names) {
        for (const x of [n, `${n}-off`]) {
          for (const d of floorCgroupDirs(x).dirs) await Deno.remove(d).catch(() => {});
        }
      }
      await Deno.remove(work, { recursive: true });
    }
  },
});
if (!root) console.log(`floor_lib_test: the run test is skipped: ${why}`);
