// spawnPlan on the real helper: what it reports of the process it started.
import assert from "node:assert/strict";
import { nulList, Op, PlanBuilder } from "./plan.ts";
import { spawnPlan } from "./spawn.ts";
import { check, cstr, ensureNative, native } from "./ffi.ts";
import { reaper } from "./reaper.ts";
import { procStat } from "../core/state.ts";

Deno.test("spawnPlan reports the process's start time, read by the native spawn, to duringSetup and in its result", async () => {
  await ensureNative();
  const lib = native();
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  const plan = new PlanBuilder()
    .add(Op.H_CLONE, "clone", 0)
    .add(Op.C_EXEC, "exec sleep", nulList(["/bin/sleep", "5"]), nulList([]));
  let during: [number, number] | undefined;
  const s = await spawnPlan(plan, {
    fds: [devNull, devNull, devNull],
    until: "exec",
    duringSetup: (pid, startTime) => {
      during = [pid, startTime];
      return Promise.resolve();
    },
  });
  try {
    const st = procStat(s.pid);
    assert.ok(st, `process ${s.pid} is gone`);
    assert.ok(s.startTime > 0, `start time ${s.startTime}`);
    assert.equal(s.startTime, st.startTime);
    assert.deepEqual(during, [s.pid, st.startTime]);
  } finally {
    lib.nsi_pidfd_signal(s.pidfd, 9);
    await reaper.wait(s.pidfd);
    lib.nsi_close(s.pidfd);
    lib.nsi_close(devNull);
  }
});
