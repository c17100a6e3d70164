/**
 * The floor of a container run: a clone into the spec's namespaces and an exec of
 * `/bin/true` through nsinit's native helper, with no runtime work. The benchmark runs it in
 * its own process (the library's floor) and, through `floor_cli.ts`, as a `deno run` of its
 * own (the CLI's floor). This module imports only the native binding and the plan encoder, so
 * that a bundle of the CLI floor holds no more than it needs.
 *
 * @module
 */

import type { Spec } from "../../spec/config.ts";
import { CloneFlag, NS_FLAG, nulList, Op, PlanBuilder } from "../../native/plan.ts";
import { spawnPlan } from "../../native/spawn.ts";
import { check, cstr, native } from "../../native/ffi.ts";
import { reaper } from "../../native/reaper.ts";

/**
 * The plan of the floor: clone into the spec's namespaces and exec `/bin/true` (the host's),
 * nothing else: no mounts, no state. With `cloneInto` (a cgroup v2 directory), the helper
 * clones the child straight into that cgroup (`CLONE_INTO_CGROUP`), as nsinit does on v2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { floorPlan } from "./floor.ts";
 * const plan = floorPlan([{ type: "pid" }, { type: "mount" }]);
 * assert.equal(plan.steps.length, 2);
 * assert.equal(plan.steps[1], "exec /bin/true");
 * ```
 */
export function floorPlan(
  namespaces: NonNullable<Spec["linux"]>["namespaces"],
  cloneInto?: string,
): PlanBuilder {
  let create = 0;
  for (const ns of namespaces ?? []) if (!ns.path) create |= NS_FLAG[ns.type];
  const plan = new PlanBuilder();
  if (cloneInto) plan.add(Op.H_CGROUP, `clone into the cgroup ${cloneInto}`, cloneInto);
  plan.add(Op.H_CLONE, "clone", create & ~(CloneFlag.NEWTIME | CloneFlag.NEWCGROUP));
  if (create & CloneFlag.NEWCGROUP) {
    plan.add(Op.C_UNSHARE, "create the cgroup namespace", CloneFlag.NEWCGROUP);
  }
  plan.add(Op.C_EXEC, "exec /bin/true", nulList(["/bin/true"]), nulList([]));
  return plan;
}

let devNull = -1;

/** Options of {@link floorSpawn}. */
export interface FloorSpawnOptions {
  /** The child's fds 0, 1 and 2 (default: /dev/null, opened once and kept). */
  fds?: [number, number, number];
  /** Runs once the child exists, before it goes on (placing it in cgroups). */
  place?: (pid: number) => Promise<void>;
}

/**
 * The floor: spawns `plan` (see {@link floorPlan}) through nsinit's helper and waits for the
 * exit; ms.
 */
export async function floorSpawn(plan: PlanBuilder, opts: FloorSpawnOptions = {}): Promise<number> {
  const lib = native();
  const fds = opts.fds ?? floorStdio();
  const t0 = performance.now();
  const s = await spawnPlan(plan, {
    fds,
    until: "exec",
    ...(opts.place ? { place: opts.place } : {}),
  });
  let status;
  try {
    status = await reaper.wait(s.pidfd);
  } finally {
    lib.nsi_close(s.pidfd);
  }
  const ms = performance.now() - t0;
  if (status.code !== 0) throw new Error(`floor spawn exited with ${JSON.stringify(status)}`);
  return ms;
}

/** The floors' stdio: /dev/null as fds 0, 1 and 2, opened once and kept (see closeFloor). */
export function floorStdio(): [number, number, number] {
  if (devNull < 0) {
    devNull = check(native().nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  }
  return [devNull, devNull, devNull];
}

/** Closes what the floors keep open between calls. */
export function closeFloor(): void {
  if (devNull >= 0) native().nsi_close(devNull);
  devNull = -1;
}
