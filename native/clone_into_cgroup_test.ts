// nsinit-init's H_CGROUP end to end: the child is born in the cgroup v2 directory the plan
// names (clone3 with CLONE_INTO_CGROUP), before any cgroup.procs write; where the kernel
// refuses the flag for that cgroup (a threaded one), the child is cloned where it would have
// been and still runs. On this hybrid host the unified tree is a real cgroup2 mount; the
// cgroup v2 VM runs the container-level path (tests/v2/).
import assert from "node:assert/strict";
import { nulList, Op, PlanBuilder } from "./plan.ts";
import { spawnPlan } from "./spawn.ts";
import { check, cstr, ensureNative, native } from "./ffi.ts";
import { reaper } from "./reaper.ts";
import { isRoot, skipUnless } from "../tests/helpers/skip.ts";
import { uniqueId } from "../tests/helpers/ids.ts";
import { ownCgroup2Dir } from "../tests/helpers/host.ts";

const OWN = ownCgroup2Dir();
/** A controller this process's cgroup hands to its children (hugetlb on this host's unified tree). */
const CONTROLLER = OWN === undefined
  ? undefined
  : Deno.readTextFileSync(`${OWN}/cgroup.subtree_control`).trim().split(/\s+/).filter(Boolean)[0];

/** Spawns `sleep` through a plan cloning it into `dir`; returns its cgroup v2 path. */
async function cgroupOfChildClonedInto(dir: string): Promise<string> {
  await ensureNative();
  const lib = native();
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  const plan = new PlanBuilder()
    .add(Op.H_CGROUP, `clone into the cgroup ${dir}`, dir)
    .add(Op.H_CLONE, "clone", 0)
    .add(Op.C_EXEC, "exec sleep", nulList(["/bin/sleep", "5"]), nulList([]));
  const s = await spawnPlan(plan, { fds: [devNull, devNull, devNull], until: "exec" });
  try {
    return /^0::(.*)$/m.exec(Deno.readTextFileSync(`/proc/${s.pid}/cgroup`))![1];
  } finally {
    lib.nsi_pidfd_signal(s.pidfd, 9);
    await reaper.wait(s.pidfd);
    lib.nsi_close(s.pidfd);
    lib.nsi_close(devNull);
  }
}


Deno.test({
  name: "H_CGROUP: the child is born in the cgroup v2 directory (CLONE_INTO_CGROUP)",
  ignore: skipUnless(isRoot() && OWN !== undefined, "needs root and a cgroup2 mount"),
}, async () => {
  const dir = `${OWN}/${uniqueId("cloneinto")}`;
  Deno.mkdirSync(dir);
  try {
    const own = /^0::(.*)$/m.exec(Deno.readTextFileSync("/proc/self/cgroup"))![1];
    const got = await cgroupOfChildClonedInto(dir);
    assert.equal(got, `${own === "/" ? "" : own}${dir.slice(OWN!.length)}`);
  } finally {
    Deno.removeSync(dir);
  }
});

Deno.test({
  name: "H_CGROUP: a cgroup the kernel refuses to clone into (EBUSY) falls back to a plain clone",
  ignore: skipUnless(
    isRoot() && OWN !== undefined && CONTROLLER !== undefined,
    "needs root and a cgroup2 mount with a controller to enable",
  ),
}, async () => {
  // A cgroup with a controller enabled for its children may hold no process itself
  // (cgroup v2's no-internal-process rule): clone3 into it fails with EBUSY.
  const parent = `${OWN}/${uniqueId("cloneinto")}`;
  Deno.mkdirSync(parent);
  try {
    Deno.mkdirSync(`${parent}/child`);
    Deno.writeTextFileSync(`${parent}/cgroup.subtree_control`, `+${CONTROLLER}`);
    const own = /^0::(.*)$/m.exec(Deno.readTextFileSync("/proc/self/cgroup"))![1];
    // Not placed: it stays where this process is (the runtime's apply() would move it).
    assert.equal(await cgroupOfChildClonedInto(parent), own);
  } finally {
    Deno.removeSync(`${parent}/child`);
    Deno.removeSync(parent);
  }
});
