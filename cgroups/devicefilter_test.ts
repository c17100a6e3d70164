/**
 * The device filter: the rule emulation, the program as instructions (compared with the listings
 * in runc's devicefilter_test.go, which use the same notation) and as bytes, and, where a cgroup2
 * tree is mounted and writable (the host's `unified` tree on a hybrid host, or the v2 VM), the
 * real load and attach: /dev/null opens, a denied device fails with EPERM.
 */

import assert from "node:assert/strict";
import { CgroupError } from "../errors.ts";
import { ALLOWED_DEVICE_RULES } from "../core/devices.ts";
import type { LinuxDeviceCgroup } from "../spec/config.ts";
import {
  attachDeviceFilter,
  attachedDeviceFilters,
  deviceFilterProgram,
  disassemble,
  emulateDeviceRules,
} from "./devicefilter.ts";
import { testRun } from "../tests/helpers/paths.ts";
import { uniqueId } from "../tests/helpers/ids.ts";
import { isRoot, skipUnless } from "../tests/helpers/skip.ts";
import { ownCgroup2Dir, removeCgroupDir } from "../tests/helpers/host.ts";

testRun();

const PROLOGUE = [
  "LdXMemW dst: r2 src: r1 off: 0 imm: 0",
  "AndImm32 dst: r2 imm: 65535",
  "LdXMemW dst: r3 src: r1 off: 0 imm: 0",
  "RShImm32 dst: r3 imm: 16",
  "LdXMemW dst: r4 src: r1 off: 4 imm: 0",
  "LdXMemW dst: r5 src: r1 off: 8 imm: 0",
];

function listing(rules: LinuxDeviceCgroup[], defaultAllow?: boolean): string[] {
  const p = deviceFilterProgram(rules, defaultAllow === undefined ? {} : { defaultAllow });
  return disassemble(p.insns);
}

Deno.test("devicefilter: no rules from a deny default rejects everything (runc Nil)", () => {
  assert.deepEqual(listing([], false), [...PROLOGUE, "MovImm32 dst: r0 imm: 0", "Exit"]);
  // From the v1 default (allow), no rules allow everything.
  assert.deepEqual(listing([]), [...PROLOGUE, "MovImm32 dst: r0 imm: 1", "Exit"]);
});

Deno.test("devicefilter: runc's built-in allow list (runc BuiltInAllowList)", () => {
  const dev = (t: number, major: number, minor?: number) => {
    const lines = [`JNEImm dst: r2 off: ${minor === undefined ? 3 : 4} imm: ${t}`];
    lines.push(`JNEImm dst: r4 off: ${minor === undefined ? 2 : 3} imm: ${major}`);
    if (minor !== undefined) lines.push(`JNEImm dst: r5 off: 2 imm: ${minor}`);
    return [...lines, "MovImm32 dst: r0 imm: 1", "Exit"];
  };
  const mknod = (t: number) => [
    `JNEImm dst: r2 off: 5 imm: ${t}`,
    "MovReg32 dst: r1 src: r3",
    "AndImm32 dst: r1 imm: 1",
    "JNEReg dst: r1 off: 2 src: r3",
    "MovImm32 dst: r0 imm: 1",
    "Exit",
  ];
  const expected = [
    ...PROLOGUE,
    ...mknod(1), // b *:* m
    ...mknod(2), // c *:* m
    ...dev(2, 1, 3),
    ...dev(2, 1, 5),
    ...dev(2, 1, 7),
    ...dev(2, 1, 8),
    ...dev(2, 1, 9),
    ...dev(2, 5, 0),
    ...dev(2, 5, 2),
    ...dev(2, 10, 200),
    ...dev(2, 136), // /dev/pts/*
    "MovImm32 dst: r0 imm: 0",
    "Exit",
  ];
  assert.deepEqual(listing([...ALLOWED_DEVICE_RULES], false), expected);
  // The same from the v1 default with the deny-all rule runc's default spec starts with.
  assert.deepEqual(listing([{ allow: false, access: "rwm" }, ...ALLOWED_DEVICE_RULES]), expected);
  assert.equal(expected.length, 64); // as runc's listing: instructions 0..63
});

Deno.test("devicefilter: privileged, and privileged but one device (runc Privileged*)", () => {
  assert.deepEqual(listing([{ allow: true, type: "a", access: "rwm" }], false), [
    ...PROLOGUE,
    "MovImm32 dst: r0 imm: 1",
    "Exit",
  ]);
  const oneDenied = [
    ...PROLOGUE,
    "JNEImm dst: r2 off: 4 imm: 1",
    "JNEImm dst: r4 off: 3 imm: 8",
    "JNEImm dst: r5 off: 2 imm: 0",
    "MovImm32 dst: r0 imm: 0",
    "Exit",
    "MovImm32 dst: r0 imm: 1",
    "Exit",
  ];
  assert.deepEqual(
    listing([
      { allow: true, type: "a", major: -1, minor: -1, access: "rwm" },
      { allow: false, type: "b", major: 8, minor: 0, access: "rwm" },
    ], false),
    oneDenied,
  );
  // A rule before an `a` rule is forgotten (runc Weird: 8:1 allowed, 8:2 denied).
  assert.deepEqual(
    listing([
      { allow: false, type: "b", major: 8, minor: 1, access: "rwm" },
      { allow: true, type: "a", access: "rwm" },
      { allow: false, type: "b", major: 8, minor: 2, access: "rwm" },
    ], false),
    oneDenied.map((l) => l.replace("r5 off: 2 imm: 0", "r5 off: 2 imm: 2")),
  );
});

Deno.test("devicefilter: instruction bytes are struct bpf_insn, little-endian", () => {
  const p = deviceFilterProgram([
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
  ]);
  const hex = (i: number) =>
    [...p.insns.subarray(i * 8, i * 8 + 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  assert.equal(p.insns.length % 8, 0);
  assert.equal(hex(0), "61 12 00 00 00 00 00 00"); // r2 = *(u32 *)(r1 + 0)
  assert.equal(hex(1), "54 02 00 00 ff ff 00 00"); // w2 &= 0xffff
  assert.equal(hex(4), "61 14 04 00 00 00 00 00"); // r4 = *(u32 *)(r1 + 4)
  assert.equal(hex(6), "55 02 07 00 02 00 00 00"); // if r2 != 2 goto +7
  assert.equal(hex(7), "bc 31 00 00 00 00 00 00"); // w1 = w3
  assert.equal(hex(8), "54 01 00 00 06 00 00 00"); // w1 &= 6 (read|write)
  assert.equal(hex(9), "5d 31 04 00 00 00 00 00"); // if r1 != r3 goto +4
  assert.equal(hex(10), "55 04 03 00 01 00 00 00"); // if r4 != 1 goto +3
  assert.equal(hex(11), "55 05 02 00 03 00 00 00"); // if r5 != 3 goto +2
  assert.equal(hex(12), "b4 00 00 00 01 00 00 00"); // w0 = 1
  assert.equal(hex(13), "95 00 00 00 00 00 00 00"); // exit
  assert.equal(hex(14), "b4 00 00 00 00 00 00 00"); // w0 = 0
  assert.equal(p.insns.length, 16 * 8);
  assert.equal(p.license, "Apache");
});

Deno.test("devicefilter: the emulation merges and takes away access as v1 does", () => {
  const s = emulateDeviceRules([
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "r" },
    { allow: true, type: "c", major: 1, minor: 3, access: "mw" },
    { allow: true, type: "b", major: 8, access: "rwm" },
    { allow: false, type: "c", major: 1, minor: 3, access: "m" },
    { allow: true, type: "c", major: 1, minor: 5, access: "r" },
    { allow: false, type: "c", major: 1, minor: 5, access: "rwm" },
  ]);
  assert.deepEqual(s, {
    defaultAllow: false,
    exceptions: [
      { type: "c", major: 1, minor: 3, access: "rw" },
      { type: "b", major: 8, minor: -1, access: "rwm" },
    ],
  });
  // Removing what was never granted is a no-op, as in v1.
  assert.deepEqual(
    emulateDeviceRules([{ allow: false, access: "rwm" }, { allow: false, type: "c", major: 4 }]),
    { defaultAllow: false, exceptions: [] },
  );
});

Deno.test("devicefilter: invalid rules and holes in wildcards name the rule", () => {
  const refused = (rules: LinuxDeviceCgroup[], field: string, text: RegExp) => {
    assert.throws(() => deviceFilterProgram(rules), (e: unknown) => {
      assert.ok(e instanceof CgroupError, String(e));
      assert.equal(e.field, field);
      assert.match(e.message, text);
      return true;
    });
  };
  refused(
    [{ allow: false, access: "rwm" }, { allow: true, type: "c", access: "m" }, {
      allow: false,
      type: "c",
      major: 1,
      minor: 3,
      access: "m",
    }],
    "linux.resources.devices[2]",
    /wildcard rule "c \*:\* m"/,
  );
  refused([{ allow: true, type: "x", access: "r" }], "linux.resources.devices[0].type", /type/);
  refused(
    [{ allow: true, type: "c", access: "rx" }],
    "linux.resources.devices[0].access",
    /access/,
  );
  refused(
    [{ allow: true, type: "c", major: -5, access: "r" }],
    "linux.resources.devices[0].major",
    /./,
  );
  refused(
    [{ allow: false, type: "c", major: 2 ** 31, access: "r" }],
    "linux.resources.devices[0].major",
    /out of range/,
  );
});

/** A writable cgroup2 directory below this process's own cgroup, or a reason why there is none. */
function ownCgroup2(): { dir: string } | { reason: string } {
  if (!isRoot()) return { reason: "needs root (bpf(2) and cgroup directories)" };
  const dir = ownCgroup2Dir();
  return dir === undefined ? { reason: "no cgroup2 tree is mounted, or no cgroup2 path" } : { dir };
}

const cg = ownCgroup2();

Deno.test({
  name: "devicefilter: attached to a real cgroup2 directory, it allows and denies opens",
  ignore: skipUnless("dir" in cg, `device filter attach: ${"reason" in cg ? cg.reason : ""}`),
  async fn() {
    const dir = `${(cg as { dir: string }).dir}/nsinit-test-${uniqueId("bpf")}`;
    const node = `/tmp/nsinit-test-${uniqueId("zero")}`;
    await Deno.mkdir(dir);
    try {
      const rules: LinuxDeviceCgroup[] = [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", access: "m" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
      ];
      attachDeviceFilter(dir, deviceFilterProgram(rules));
      assert.equal(attachedDeviceFilters(dir).length, 1);
      // Attaching again replaces the program rather than adding a second one.
      attachDeviceFilter(dir, deviceFilterProgram(rules));
      assert.equal(attachedDeviceFilters(dir).length, 1);
      const script = `echo $$ > ${dir}/cgroup.procs || exit 9
        echo hi > /dev/null || exit 2
        mknod ${node} c 1 5 || exit 3
        if head -c 1 ${node} > /dev/null 2>/tmp/nsinit-test-err.$$; then exit 4; fi
        cat /tmp/nsinit-test-err.$$; rm -f /tmp/nsinit-test-err.$$`;
      const out = await new Deno.Command("sh", {
        args: ["-c", script],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);
      assert.match(text, /Operation not permitted/);
    } finally {
      await Deno.remove(node).catch(() => {});
      await removeCgroupDir(dir);
    }
  },
});

Deno.test({
  name:
    "devicefilter: the program loads while signals keep arriving at the loading thread (a CPU profiler's SIGPROF: the verifier's EAGAIN)",
  ignore: skipUnless("dir" in cg, `device filter attach: ${"reason" in cg ? cg.reason : ""}`),
  async fn() {
    const dir = `${(cg as { dir: string }).dir}/nsinit-test-${uniqueId("bpfsig")}`;
    await Deno.mkdir(dir);
    // Many rules: a longer verification, so that a signal lands during it.
    const rules: LinuxDeviceCgroup[] = [{ allow: false, access: "rwm" }];
    for (let i = 0; i < 150; i++) {
      rules.push({ allow: true, type: "c", major: 10, minor: i, access: "rw" });
    }
    const program = deviceFilterProgram(rules);
    const { Session } = await import("node:inspector/promises");
    const session = new Session();
    session.connect();
    try {
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval: 20 });
      await session.post("Profiler.start");
      for (let i = 0; i < 100; i++) attachDeviceFilter(dir, program);
      assert.equal(attachedDeviceFilters(dir).length, 1);
    } finally {
      await session.post("Profiler.stop").catch(() => {});
      session.disconnect();
      await removeCgroupDir(dir);
    }
  },
});

Deno.test("devicefilter: one rule list gives one shared, frozen program per process; another list its own", () => {
  const rules: LinuxDeviceCgroup[] = [
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
  ];
  const a = deviceFilterProgram(rules);
  assert.equal(deviceFilterProgram(structuredClone(rules)), a);
  assert.ok(
    Object.isFrozen(a) && Object.isFrozen(a.ruleSet) && Object.isFrozen(a.ruleSet.exceptions),
  );
  const other = deviceFilterProgram([{ allow: false, access: "rwm" }]);
  assert.notEqual(other, a);
  assert.notDeepEqual(other.insns, a.insns);
  // Bounded: after many other lists, the first is built again (equal, not the same object).
  for (let i = 0; i < 40; i++) {
    deviceFilterProgram([{ allow: false, access: "rwm" }, {
      allow: true,
      type: "c",
      major: 5,
      minor: i,
      access: "r",
    }]);
  }
  const again = deviceFilterProgram(rules);
  assert.notEqual(again, a);
  assert.deepEqual(again.insns, a.insns);
});

Deno.test({
  name:
    "devicefilter: new cgroups of one rule list share the program loaded once, and it filters in each; a cgroup that has one gets a new load",
  ignore: skipUnless("dir" in cg, `device filter attach: ${"reason" in cg ? cg.reason : ""}`),
  async fn() {
    const base = (cg as { dir: string }).dir;
    const dirs = [1, 2].map((i) => `${base}/nsinit-test-${uniqueId(`bpfshare${i}`)}`);
    const node = `/tmp/nsinit-test-${uniqueId("zero")}`;
    for (const d of dirs) await Deno.mkdir(d);
    try {
      const rules: LinuxDeviceCgroup[] = [
        { allow: false, access: "rwm" },
        { allow: true, type: "c", access: "m" },
        { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
        { allow: true, type: "c", major: 1, minor: 9, access: "r" }, // unique to this test
      ];
      attachDeviceFilter(dirs[0], deviceFilterProgram(rules));
      attachDeviceFilter(dirs[1], deviceFilterProgram(rules));
      const [ids0, ids1] = dirs.map((d) => attachedDeviceFilters(d));
      assert.equal(ids0.length, 1);
      assert.deepEqual(ids1, ids0, "the second cgroup got the program loaded for the first");
      // It filters in the second one: /dev/null allowed, a node of /dev/zero denied.
      const script = `echo $$ > ${dirs[1]}/cgroup.procs || exit 9
        echo hi > /dev/null || exit 2
        mknod ${node} c 1 5 || exit 3
        if head -c 1 ${node} > /dev/null 2>&1; then exit 4; fi`;
      const out = await new Deno.Command("sh", { args: ["-c", script], stdin: "null" }).output();
      assert.equal(out.code, 0, `the shared program did not filter as asked (exit ${out.code})`);
      // Attached again where one is: a new load replaces it.
      attachDeviceFilter(dirs[0], deviceFilterProgram(rules));
      const after = attachedDeviceFilters(dirs[0]);
      assert.equal(after.length, 1);
      assert.notEqual(after[0], ids0[0]);
      assert.deepEqual(attachedDeviceFilters(dirs[1]), ids0);
    } finally {
      await Deno.remove(node).catch(() => {});
      for (const d of dirs) await removeCgroupDir(d);
    }
  },
});
