/**
 * Where core's code lands in the CLI bundle (`scripts/chunks.ts`), checked on the source's
 * import graph without building: the verbs a shim runs per container (`start`, `state`,
 * `kill`, `delete`: core, in main.js, everything they import statically) hold none of the
 * container and factory code they never run; the `ops` chunk (`container_ops.ts`,
 * `factory_ops.ts` and their static imports) shares no module with the create path, so
 * exec, pause or `delete --force` do not drag the create chunk in for it and a create does
 * not load ops; and the hooks' code is imported statically by none of them, so a config
 * without hooks never loads it.
 */

import assert from "node:assert/strict";
import { CORE_ROOTS, staticClosure } from "../tests/helpers/import_graph.ts";

const OPS_ROOTS = ["core/container_ops.ts", "core/factory_ops.ts"];
const CREATE_ROOTS = [
  "nsinit/commands/create.ts",
  "nsinit/commands/run.ts",
  "core/create.ts",
];

Deno.test("bundle: the shim verbs' static imports hold none of core's code they never run", async () => {
  const core = await staticClosure(CORE_ROOTS);
  for (
    const m of [
      "core/container_ops.ts",
      "core/factory_ops.ts",
      "core/create.ts",
      "core/hooks.ts",
      "core/state_write.ts",
      "core/bundle_spec.ts",
      "core/devices.ts",
      "cgroups/paths.ts",
    ]
  ) {
    assert.ok(!core.has(m), `${m} is imported statically by the core verbs`);
  }
});

Deno.test("bundle: the ops chunk's core code shares no module with the create path", async () => {
  const core = await staticClosure(CORE_ROOTS);
  const ops = [...await staticClosure(OPS_ROOTS)].filter((m) => !core.has(m));
  const create = new Set([...await staticClosure(CREATE_ROOTS)].filter((m) => !core.has(m)));
  assert.deepEqual(ops.filter((m) => create.has(m)), [], "create would load the ops chunk");
  // Imported dynamically from ops and create both: in ops, a create would load it; the
  // host's layout (cgroups/paths.ts) is a chunk of its own (drivers/chunks_test.ts).
  for (const m of ["core/hooks.ts", "core/state_write.ts", "cgroups/paths.ts"]) {
    assert.ok(!ops.includes(m), `${m} is in the ops chunk`);
  }
  assert.ok(!create.has("core/hooks.ts"), "hooks.ts is in the create chunk: start would load it");
});
