/**
 * The library's floor ladder, run in the benchmark's process beside the library: (a) the
 * helper's bare clone + exec (scripts/bench/floor.ts); (b) the bench spec's whole init plan,
 * built once by core/init_plan.ts's `buildInitPlan` as core/create.ts builds it, run through
 * nsinit's helper with no runtime work around it (the mounts, pivot_root, masked and
 * read-only paths, /dev: what every runtime's child does); (c) (b) plus the cgroups every
 * runtime makes for a container, joins and removes (one directory per hierarchy on v1, as
 * floor_cli's `--cgroup`; on v2 the one directory, cloned into with `CLONE_INTO_CGROUP`).
 * No state files, no locks, no validation, no limits.
 *
 * @module
 */

import type { Spec } from "../../spec/config.ts";
import { buildInitPlan } from "../../core/init_plan.ts";
import type { PlanBuilder } from "../../native/plan.ts";
import { floorSpawn } from "./floor.ts";
import { makeFloorCgroups } from "./floor_cli.ts";

/**
 * The init plan of `spec` (bundle `bundle`), as core/create.ts builds it for a `run` (no
 * exec fifo), optionally cloning into the v2 cgroup `cloneInto`.
 */
export function initPlanFloor(spec: Spec, bundle: string, cloneInto?: string): PlanBuilder {
  return buildInitPlan(spec, { bundle, id: "floor", ...(cloneInto ? { cloneInto } : {}) });
}

/**
 * Rung (b): spawns `plan` (from {@link initPlanFloor}) and waits for its exit; ms.
 */
export function initPlanSpawn(plan: PlanBuilder): Promise<number> {
  return floorSpawn(plan);
}

/**
 * Rung (c): makes the cgroups named `cgroup`, runs the spec's init plan in them (v1: the
 * child placed in each before it goes on; v2: cloned into the one) and removes them after the
 * exit; ms, all of it. On v2 the plan is built per call (it names the directory); building
 * it takes ~0.2 ms (`buildInitPlan` in the parts of the work), inside the figure, as nsinit
 * builds one per container.
 */
export async function initPlanCgroupsSpawn(
  spec: Spec,
  bundle: string,
  plan: PlanBuilder,
  cgroup: string,
): Promise<number> {
  const t0 = performance.now();
  const cg = await makeFloorCgroups(cgroup);
  try {
    const p = cg.cloneInto ? initPlanFloor(spec, bundle, cg.cloneInto) : plan;
    await floorSpawn(p, cg.place ? { place: cg.place } : {});
  } finally {
    await cg.remove();
  }
  return performance.now() - t0;
}
