import { strict as assert } from "node:assert";
import {
  closeFloor,
  floorPlan,
  floorSpawn,
  peakRssKiB,
  timeCommand,
  timeOk,
  unshareArgv,
  withCgroup,
} from "./measure.ts";
import { benchSpec } from "./host.ts";
import { CloneFlag, nulList, Op, PlanBuilder } from "../../native/plan.ts";
import { namespaceFlags } from "../../core/init_plan.ts";
import { NS_FLAG } from "../../native/plan.ts";

Deno.test("timeCommand times and reports failures; timeOk throws on them", async () => {
  const ok = await timeCommand(["true"]);
  assert.equal(ok.code, 0);
  const bad = await timeCommand(["sh", "-c", "echo nope >&2; exit 2"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, "nope\n");
  await assert.rejects(() => timeOk(["sh", "-c", "echo nope >&2; exit 2"]), /exited with 2: nope/);
  assert.equal((await timeCommand(["sh", "-c", "echo x >&2"], { stderr: "null" })).stderr, "");
});

Deno.test("peakRssKiB reads GNU time's %M", async () => {
  const kib = await peakRssKiB(["true"]);
  assert.ok(kib > 0 && kib < 100_000, String(kib));
});

Deno.test("floorPlan is a clone into the spec's namespaces and an exec, nothing more", () => {
  const plan = floorPlan(benchSpec("x").linux?.namespaces);
  assert.deepEqual(plan.steps, ["clone", "exec /bin/true"]);
  const withCg = floorPlan([{ type: "pid" }, { type: "cgroup" }]);
  assert.deepEqual(withCg.steps, ["clone", "create the cgroup namespace", "exec /bin/true"]);
  assert.equal(Op.H_CLONE, 1);
  const into = floorPlan([{ type: "pid" }], "/sys/fs/cgroup/x");
  assert.deepEqual(into.steps, [
    "clone into the cgroup /sys/fs/cgroup/x",
    "clone",
    "exec /bin/true",
  ]);
});

Deno.test("floorPlan's clone flags are core/init_plan.ts's for every namespace type", () => {
  const all = Object.keys(NS_FLAG) as (keyof typeof NS_FLAG)[];
  for (const type of all) {
    const flags = new Uint8Array(floorPlan([{ type }]).encode());
    const expected = new PlanBuilder();
    const create = namespaceFlags([{ type }]).create;
    expected.add(Op.H_CLONE, "clone", create & ~(CloneFlag.NEWTIME | CloneFlag.NEWCGROUP));
    if (create & CloneFlag.NEWCGROUP) {
      expected.add(Op.C_UNSHARE, "create the cgroup namespace", CloneFlag.NEWCGROUP);
    }
    expected.add(Op.C_EXEC, "exec /bin/true", nulList(["/bin/true"]), nulList([]));
    assert.deepEqual(flags, new Uint8Array(expected.encode()), type);
  }
  assert.deepEqual(
    floorPlan([{ type: "pid", path: "/proc/1/ns/pid" }]).encode(),
    floorPlan([]).encode(),
  );
});

Deno.test("unshareArgv maps namespaces to unshare's options", () => {
  assert.deepEqual(
    unshareArgv([{ type: "pid" }, { type: "network" }, { type: "mount" }, {
      type: "uts",
      path: "/proc/1/ns/uts",
    }], "/r"),
    ["unshare", "--pid", "--fork", "--net", "--mount", "chroot", "/r", "/bin/true"],
  );
});

Deno.test("withCgroup changes only the cgroup path", () => {
  const spec = benchSpec("a");
  const other = withCgroup(spec, "b");
  assert.equal(other.linux?.cgroupsPath, "b");
  assert.equal(spec.linux?.cgroupsPath, "a");
  assert.deepEqual({ ...other, linux: spec.linux }, spec);
});

Deno.test("floorSpawn runs /bin/true in new namespaces and reaps it", async () => {
  try {
    const ms = await floorSpawn(floorPlan(benchSpec("x").linux?.namespaces));
    assert.ok(ms > 0 && ms < 5000, String(ms));
  } finally {
    closeFloor();
  }
});
