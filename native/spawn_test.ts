// spawnPlan on the real helper: what it reports of the process it started.
import assert from "node:assert/strict";
import { CloneFlag, nulList, Op, PlanBuilder } from "./plan.ts";
import { decodeMessage, spawnPlan, startHelper, stopHelper } from "./spawn.ts";
import { MSG_SIZE } from "./wire.ts";
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

/** The inode of `/proc/<pid>/ns/<type>`'s namespace. */
function nsInode(pid: number | "self", type: string): number {
  return Deno.statSync(`/proc/${pid}/ns/${type}`).ino!;
}

Deno.test("a helper that cloned ahead of its plan: the child is in new namespaces, takes the plan and its fds, and execs", async () => {
  await ensureNative();
  const lib = native();
  const file = await Deno.makeTempFile();
  const out = check(lib.nsi_open(cstr(file), 0o1 | 0o2000, 0), "open", file);
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  const before = children();
  const flags = CloneFlag.NEWNET | CloneFlag.NEWUTS | CloneFlag.NEWIPC;
  try {
    const helper = startHelper(flags);
    assert.equal(helper.cloneFlags, flags);
    await helper.started;
    const plan = new PlanBuilder()
      .add(Op.H_CLONE, "clone", flags)
      .add(Op.C_CLOSEFDS, "close the fds above 2 at exec", 3)
      .add(Op.C_EXEC, "exec sleep", nulList(["/bin/sh", "-c", "echo ran; exec sleep 5"]), nulList([]));
    assert.equal(plan.earlyClone, flags);
    let placed = 0;
    const s = await spawnPlan(plan, {
      fds: [devNull, out, out],
      until: "exec",
      helper,
      place: (pid) => {
        placed = pid;
        return Promise.resolve();
      },
    });
    try {
      assert.equal(placed, s.pid);
      assert.ok(s.startTime > 0);
      for (const t of ["net", "uts", "ipc"]) {
        assert.notEqual(nsInode(s.pid, t), nsInode("self", t), `${t}: a new namespace`);
      }
      for (const t of ["mnt", "pid"]) {
        assert.equal(nsInode(s.pid, t), nsInode("self", t), `${t}: not asked, shared`);
      }
      for (let i = 0; i < 100 && !(await Deno.readTextFile(file)).includes("ran"); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await Deno.readTextFile(file), "ran\n");
    } finally {
      lib.nsi_pidfd_signal(s.pidfd, 9);
      await reaper.wait(s.pidfd);
      lib.nsi_close(s.pidfd);
    }
    assert.deepEqual(children(), before, "the helper and the child were reaped");
  } finally {
    lib.nsi_close(out);
    lib.nsi_close(devNull);
    await Deno.remove(file);
  }
});

Deno.test("a helper that cloned ahead of a plan it cannot run (other namespaces, other helper steps) is ended with its child, and a new one runs the plan", async () => {
  await ensureNative();
  const lib = native();
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  const before = children();
  try {
    for (
      const plan of [
        new PlanBuilder().add(Op.H_CLONE, "clone", CloneFlag.NEWUTS),
        new PlanBuilder().add(Op.H_TIMENS, "create the time namespace", "")
          .add(Op.H_CLONE, "clone", CloneFlag.NEWNET),
      ]
    ) {
      plan.add(Op.C_EXEC, "exec true", nulList(["/bin/true"]), nulList([]));
      const helper = startHelper(CloneFlag.NEWNET);
      const { pid: early } = await helper.started;
      const s = await spawnPlan(plan, { fds: [devNull, devNull, devNull], until: "exec", helper });
      assert.equal(procStat(early), undefined, "the helper started ahead was ended and reaped");
      const status = await reaper.wait(s.pidfd);
      lib.nsi_close(s.pidfd);
      assert.equal(status.code, 0);
      assert.deepEqual(children(), before, "its child too");
    }
  } finally {
    lib.nsi_close(devNull);
  }
});

Deno.test("stopHelper ends a helper that cloned ahead of its plan and reaps its child; the helper refuses flags it may not clone early", async () => {
  await ensureNative();
  const before = children();
  const helper = startHelper(CloneFlag.NEWNET | CloneFlag.NEWPID);
  await helper.started;
  for (let i = 0; i < 100 && children().length < before.length + 1; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await stopHelper(helper);
  assert.deepEqual(children(), before, "no helper, no child, no zombie");
  // A user namespace needs the helper after the clone (its id maps): refused, by name.
  const lib = native();
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  try {
    const bad = startHelper(CloneFlag.NEWUSER);
    const plan = new PlanBuilder().add(Op.H_CLONE, "clone", CloneFlag.NEWUSER)
      .add(Op.C_EXEC, "exec true", nulList(["/bin/true"]), nulList([]));
    assert.equal(plan.earlyClone, undefined);
    // spawnPlan does not hand it the plan (its earlyClone differs): a new helper runs it.
    const s = await spawnPlan(plan, { fds: [devNull, devNull, devNull], until: "exec", helper: bad });
    assert.equal((await reaper.wait(s.pidfd)).code, 0);
    lib.nsi_close(s.pidfd);
    assert.deepEqual(children(), before);
    // Started with them anyway (through the native call), it reports the refusal and exits.
    const raw = startHelper(CloneFlag.NEWUSER);
    const { fd, pid } = await raw.started;
    raw.taken = true;
    const msg = new Uint8Array(MSG_SIZE);
    assert.equal(await lib.nsi_recv(fd, msg, new Uint8Array(4)), MSG_SIZE);
    const m = decodeMessage(msg);
    assert.equal(m.errno, 22);
    assert.match(m.text, /early clone: bad namespace flags 268435456/);
    assert.equal(await lib.nsi_helper_stop(fd, pid, 0), 0);
    assert.deepEqual(children(), before);
  } finally {
    lib.nsi_close(devNull);
  }
});

Deno.test("a helper that cloned ahead of a create's plan: the child opens the exec fifo and waits on it", async () => {
  await ensureNative();
  const lib = native();
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/exec.fifo`;
  check(lib.nsi_mkfifo(cstr(fifo), 0o622), "mkfifo", fifo);
  const devNull = check(lib.nsi_open(cstr("/dev/null"), 2, 0), "open", "/dev/null");
  const before = children();
  try {
    const helper = startHelper(CloneFlag.NEWPID | CloneFlag.NEWNS);
    const plan = new PlanBuilder()
      .add(Op.H_CLONE, "clone", CloneFlag.NEWPID | CloneFlag.NEWNS)
      .add(Op.H_FIFO, "open the exec fifo", fifo)
      .add(Op.C_READY, "report ready")
      .add(Op.C_FIFOWAIT, "wait on the exec fifo")
      .add(Op.C_EXEC, "exec true", nulList(["/bin/true"]), nulList([]));
    assert.equal(plan.earlyClone, CloneFlag.NEWPID | CloneFlag.NEWNS);
    const s = await spawnPlan(plan, { fds: [devNull, devNull, devNull], until: "ready", helper });
    const err = new Uint8Array(256);
    const st = procStat(s.pid)!;
    assert.equal(await lib.nsi_init_start(cstr(fifo), s.pid, BigInt(st.startTime), err, 256), 0);
    assert.equal((await reaper.wait(s.pidfd)).code, 0);
    lib.nsi_close(s.pidfd);
    assert.deepEqual(children(), before);
  } finally {
    lib.nsi_close(devNull);
    await Deno.remove(dir, { recursive: true });
  }
});
