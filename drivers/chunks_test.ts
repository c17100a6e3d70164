/**
 * Where the cgroup code lands in the CLI bundle (`scripts/chunks.ts`), checked on the source's
 * import graph (`deno info`), without building: the verbs a shim runs per container (`start`,
 * `state`, `kill`, `delete`: core, in main.js, everything they import statically) hold none of
 * the cgroup code they never run; the `ops` chunk (`drivers/cgroupfs_ops.ts` and its static
 * imports) shares no module with the create path, so `kill --all` and `delete --force` do
 * not load the create chunk and a create does not load ops; and the host's layout
 * (`cgroups/paths.ts`) is imported by neither statically, so it stays a chunk of its own.
 */

import assert from "node:assert/strict";
import {
  CORE_ROOTS,
  staticClosure as closure,
  staticGraph,
} from "../tests/helpers/import_graph.ts";

const CREATE_ROOTS = [
  "nsinit/commands/create.ts",
  "nsinit/commands/run.ts",
  "core/create.ts",
  "drivers/factory_create.ts",
  "drivers/cgroupfs_setup.ts",
];

Deno.test("bundle: the shim verbs' static imports hold none of the cgroup code they never run", async () => {
  const core = await closure(CORE_ROOTS);
  for (
    const m of [
      "drivers/cgroupfs_ops.ts",
      "drivers/cgroupfs_setup.ts",
      "drivers/factory_create.ts",
      "drivers/signal_all.ts",
      "drivers/systemd.ts",
      "cgroups/freezer_set.ts",
      "cgroups/fs_remove.ts",
      "cgroups/fs.ts",
      "cgroups/pids.ts",
      "cgroups/resources.ts",
      "cgroups/stats.ts",
      "cgroups/events.ts",
    ]
  ) {
    assert.ok(!core.has(m), `${m} is imported statically by the core verbs`);
  }
  // The host's layout: no cgroup driver or helper of core imports it statically.
  const graph = await staticGraph(CORE_ROOTS);
  const importers = [...core].filter((m) =>
    /^(drivers|cgroups)\//.test(m) && (graph.get(m) ?? []).includes("cgroups/paths.ts")
  );
  assert.deepEqual(importers, []);
});

Deno.test("bundle: the ops chunk's cgroup code shares no module with the create path", async () => {
  const core = await closure(CORE_ROOTS);
  const ops = [...await closure(["drivers/cgroupfs_ops.ts"])].filter((m) => !core.has(m));
  const create = new Set([...await closure(CREATE_ROOTS)].filter((m) => !core.has(m)));
  assert.deepEqual(ops.filter((m) => create.has(m)), [], "create would load the ops chunk");
  for (const m of ["cgroups/paths.ts"]) {
    assert.ok(!ops.includes(m), `${m} is in the ops chunk`);
    assert.ok(!create.has(m), `${m} is in the create chunk: kill --all would load it`);
  }
});
