// spawnPlan on the real helper: what it reports of the process it started.
import assert from "node:assert/strict";
import { nulList, Op, PlanBuilder } from "./plan.ts";
import { spawnPlan, startHelper, stopHelper } from "./spawn.ts";
import { check, cstr, ensureNative, native } from "./ffi.ts";
import { reaper } from "./reaper.ts";
import { procStat } from "../core/state.ts";
import { children } from "../tests/helpers/host.ts";

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

Deno.test("a helper started ahead of its plan runs it with the container's fds in their places", async () => {
  await ensureNative();
  const lib = native();
  const file = await Deno.makeTempFile();
  const before = children();
  // O_WRONLY | O_APPEND
  const out = check(lib.nsi_open(cstr(file), 0o1 | 0o2000, 0), "open", file);
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  try {
    const helper = startHelper();
    const { pid: helperPid } = await helper.started;
    assert.ok(helperPid > 0);
    assert.ok(children().includes(helperPid), "the helper is this process's child");
    const plan = new PlanBuilder()
      .add(Op.H_CLONE, "clone", 0)
      // As a container's plan: what this process has open besides goes at the exec.
      .add(Op.C_CLOSEFDS, "close the fds above 3 at exec", 4)
      .add(
        Op.C_EXEC,
        "exec sh",
        nulList(["/bin/sh", "-c", "echo one; echo two >&2; echo three >&3; ls /proc/self/fd"]),
        nulList([]),
      );
    const s = await spawnPlan(plan, { fds: [devNull, out, out, out], until: "exec", helper });
    assert.equal(helper.taken, true);
    const status = await reaper.wait(s.pidfd);
    lib.nsi_close(s.pidfd);
    assert.equal(status.code, 0);
    const lines = (await Deno.readTextFile(file)).split("\n");
    // 0-3 as given, and the directory ls reads: nothing of the helper's own.
    assert.deepEqual(lines, ["one", "two", "three", "0", "1", "2", "3", "4", ""]);
    // stopHelper leaves a taken helper alone.
    await stopHelper(helper);
    assert.deepEqual(children(), before, "the helper was reaped");
  } finally {
    lib.nsi_close(out);
    lib.nsi_close(devNull);
    await Deno.remove(file);
  }
});

Deno.test("stopHelper ends and reaps a helper that got no plan", async () => {
  await ensureNative();
  const before = children();
  const helper = startHelper();
  const { pid } = await helper.started;
  assert.ok(procStat(pid), "the helper runs, waiting for its plan");
  await stopHelper(helper);
  assert.equal(helper.taken, true);
  assert.equal(procStat(pid), undefined, `helper ${pid} is gone and reaped (no zombie)`);
  assert.deepEqual(children(), before);
});

Deno.test("a plan that fails on a helper started ahead of it names the step and leaves no process", async () => {
  await ensureNative();
  const lib = native();
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  const before = children();
  try {
    const helper = startHelper();
    const plan = new PlanBuilder()
      .add(Op.H_CLONE, "clone", 0)
      .add(Op.C_CHDIR, "chdir to /no/such/dir", "/no/such/dir")
      .add(Op.C_EXEC, "exec true", nulList(["/bin/true"]), nulList([]));
    await assert.rejects(
      spawnPlan(plan, { fds: [devNull, devNull, devNull], until: "exec", helper }),
      (e: Error) => /chdir to \/no\/such\/dir/.test(e.message),
    );
    assert.deepEqual(children(), before);
  } finally {
    lib.nsi_close(devNull);
  }
});

Deno.test("more fds than one message carries: the helper started ahead is ended, and a new one gets them all", async () => {
  await ensureNative();
  const lib = native();
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  const before = children();
  try {
    const helper = startHelper();
    const { pid: early } = await helper.started;
    const plan = new PlanBuilder()
      .add(Op.H_CLONE, "clone", 0)
      // fd 252 is the last of the 253 given: there, as fd 252.
      .add(Op.C_EXEC, "exec sh", nulList(["/bin/sh", "-c", "test -e /proc/self/fd/252"]), nulList([]));
    const s = await spawnPlan(plan, { fds: new Array(253).fill(devNull), until: "exec", helper });
    assert.equal(helper.taken, true);
    assert.equal(procStat(early), undefined, "the helper started ahead was ended and reaped");
    const status = await reaper.wait(s.pidfd);
    lib.nsi_close(s.pidfd);
    assert.equal(status.code, 0);
    assert.deepEqual(children(), before);
  } finally {
    lib.nsi_close(devNull);
  }
});
