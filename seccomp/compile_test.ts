import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import type { LinuxSeccomp } from "../spec/config.ts";
import { compileSeccomp } from "./compile.ts";
import { archNative, resolveArchName } from "./libseccomp.ts";

/** A runc-style default-allow profile with a few ERRNO rules. */
const DEFAULT_ALLOW: LinuxSeccomp = {
  defaultAction: "SCMP_ACT_ALLOW",
  syscalls: [
    { names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" },
    { names: ["kexec_load", "kexec_file_load"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
    // Two conditions on the same argument: runc adds one rule per condition (an OR).
    {
      names: ["umask"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 13,
      args: [
        { index: 0, value: 0o022, op: "SCMP_CMP_EQ" },
        { index: 0, value: 0o111, op: "SCMP_CMP_EQ" },
      ],
    },
  ],
};

/** A runc-style default-errno profile allowing a list of syscalls. */
const DEFAULT_ERRNO: LinuxSeccomp = {
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: 6, // ENXIO
  architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  flags: ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
  syscalls: [
    {
      names: ["write", "exit", "exit_group", "getpid", "not_a_real_syscall", "rt_sigreturn"],
      action: "SCMP_ACT_ALLOW",
    },
    {
      // umask(mode) allowed only when every "group" bit is set: 077 passes, 022 does not.
      names: ["umask"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: 0o070, valueTwo: 0o070, op: "SCMP_CMP_MASKED_EQ" }],
    },
  ],
};

/** The program as [code, jt, jf, k] tuples. */
function instructions(bpf: Uint8Array): [number, number, number, number][] {
  const view = new DataView(bpf.buffer, bpf.byteOffset, bpf.byteLength);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const out: [number, number, number, number][] = [];
  for (let o = 0; o < bpf.length; o += 8) {
    out.push([
      view.getUint16(o, le),
      view.getUint8(o + 2),
      view.getUint8(o + 3),
      view.getUint32(o + 4, le),
    ]);
  }
  return out;
}

/** Asserts `bpf` is a program that starts by loading seccomp_data.arch and checking it. */
function assertArchCheck(bpf: Uint8Array): void {
  assert.ok(bpf.length > 0, "program is empty");
  assert.equal(bpf.length % 8, 0, "program is not a whole number of sock_filter");
  const insns = instructions(bpf);
  // BPF_LD|BPF_W|BPF_ABS of offsetof(struct seccomp_data, arch)
  assert.deepEqual([insns[0][0], insns[0][3]], [0x20, 4]);
  // then BPF_JMP|BPF_JEQ|BPF_K against an arch token
  assert.equal(insns[1][0], 0x15);
}

function expectConfigError(profile: unknown, field: string, problem?: RegExp): void {
  assert.throws(
    () => compileSeccomp(profile as LinuxSeccomp),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
      assert.equal(err.field, field);
      assert.equal(err.file, "config.json");
      if (problem) assert.match(err.message, problem);
      return true;
    },
  );
}

Deno.test("compileSeccomp: default-allow profile with ERRNO rules", () => {
  const { bpf, flags, warnings } = compileSeccomp(DEFAULT_ALLOW);
  assertArchCheck(bpf);
  assert.equal(instructions(bpf)[1][3], archNative());
  assert.equal(flags, 4); // flags absent: SECCOMP_FILTER_FLAG_SPEC_ALLOW, as runc
  assert.deepEqual(warnings, []);
});

Deno.test("compileSeccomp: default-errno profile allowing a list, extra archs", () => {
  const { bpf, flags, warnings } = compileSeccomp(DEFAULT_ERRNO);
  assertArchCheck(bpf);
  assert.equal(flags, 1 | 2 | 4);
  assert.deepEqual(warnings, [
    'linux.seccomp.syscalls[0].names[4]: unknown syscall "not_a_real_syscall" ignored',
  ]);
  const ks = new Set(instructions(bpf).map((i) => i[3]));
  assert.ok(ks.has(resolveArchName("x86")!), "i386 arch token missing from the program");
  assert.ok(ks.has(resolveArchName("x86_64")!), "x86_64 arch token missing from the program");
  // The default action, SCMP_ACT_ERRNO(ENXIO), is a return value of the program.
  assert.ok(ks.has(0x00050006));
});

Deno.test("compileSeccomp: flags", () => {
  const base: LinuxSeccomp = { defaultAction: "SCMP_ACT_ALLOW" };
  assert.equal(compileSeccomp({ ...base, flags: [] }).flags, 0);
  assert.equal(compileSeccomp({ ...base, flags: ["SECCOMP_FILTER_FLAG_LOG"] }).flags, 2);
  expectConfigError(
    { ...base, flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_NEW_LISTENER"] },
    "linux.seccomp.flags[1]",
    /nsinit sets it itself when a rule's action is SCMP_ACT_NOTIFY/,
  );
  expectConfigError({ ...base, flags: ["SECCOMP_FILTER_FLAG_BOGUS"] }, "linux.seccomp.flags[0]");
});

Deno.test("compileSeccomp: SCMP_ACT_NOTIFY asks for a listener, with runc's limits", () => {
  const notify: LinuxSeccomp = {
    defaultAction: "SCMP_ACT_ALLOW",
    listenerPath: "/run/agent.sock",
    syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_NOTIFY" }],
  };
  const c = compileSeccomp(notify);
  assert.equal(c.flags, 4 | 8, "SPEC_ALLOW (runc's default) and NEW_LISTENER");
  assert.equal(c.listenerPath, "/run/agent.sock");
  const rets = new Set(instructions(c.bpf).filter((i) => i[0] === 0x06).map((i) => i[3]));
  assert.ok(rets.has(0x7fc00000), "the program returns SECCOMP_RET_USER_NOTIF");
  // listenerPath without a notify rule is ignored (runtime spec), and no listener asked for
  const plain = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW", listenerPath: "/x" });
  assert.equal(plain.flags, 4);
  assert.equal(plain.listenerPath, undefined);
  assert.equal(
    compileSeccomp({ ...notify, flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"] }).flags,
    32 | 8,
  );
  expectConfigError(
    { defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"] },
    "linux.seccomp.flags",
    /needs a SCMP_ACT_NOTIFY rule/,
  );
  expectConfigError(
    { ...notify, flags: ["SECCOMP_FILTER_FLAG_TSYNC"] },
    "linux.seccomp.flags",
    /TSYNC cannot be combined with SCMP_ACT_NOTIFY/,
  );
  expectConfigError(
    { ...notify, syscalls: [{ names: ["getpid", "sendmsg"], action: "SCMP_ACT_NOTIFY" }] },
    "linux.seccomp.syscalls[0].action",
    /cannot be used for sendmsg/,
  );
  expectConfigError({ ...notify, listenerPath: "" }, "linux.seccomp.listenerPath", /is required/);
  expectConfigError(
    { ...notify, defaultAction: "SCMP_ACT_NOTIFY" },
    "linux.seccomp.defaultAction",
    /cannot be the default action/,
  );
});

Deno.test("compileSeccomp: a rule with the default action is skipped", () => {
  const plain = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW" }).bpf;
  const redundant = compileSeccomp({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["getpid", "no_such_call"], action: "SCMP_ACT_ALLOW" }],
  });
  assert.deepEqual(redundant.bpf, plain);
  assert.deepEqual(redundant.warnings, []);
  // SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD are the same action.
  const kill = compileSeccomp({
    defaultAction: "SCMP_ACT_KILL",
    syscalls: [{ names: ["getpid"], action: "SCMP_ACT_KILL_THREAD" }],
  });
  assert.deepEqual(kill.bpf, compileSeccomp({ defaultAction: "SCMP_ACT_KILL_THREAD" }).bpf);
});

Deno.test("compileSeccomp: every action and operator compiles", () => {
  const actions = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_LOG",
  ] as const;
  const ops = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
  ] as const;
  const names = ["personality", "setns", "unshare", "clone", "ioctl", "prctl", "socket"];
  const { bpf } = compileSeccomp({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: actions.map((action, i) => ({
      names: [names[i]],
      action,
      errnoRet: action === "SCMP_ACT_TRACE" ? 7 : undefined,
      args: [{ index: i % 6, value: 2 ** 40 + i, valueTwo: i, op: ops[i] }],
    })),
  });
  assertArchCheck(bpf);
  const ks = new Set(instructions(bpf).map((i) => i[3]));
  for (const ret of [0x80000000, 0x00000000, 0x00030000, 0x00050001, 0x7ff00007, 0x7ffc0000]) {
    assert.ok(ks.has(ret), `return value 0x${ret.toString(16)} missing`);
  }
});

Deno.test("compileSeccomp: bad input names the field", () => {
  const call = (over: Record<string, unknown>) => ({
    names: ["getpid"],
    action: "SCMP_ACT_ERRNO",
    ...over,
  });
  const withCalls = (...calls: unknown[]) => ({ defaultAction: "SCMP_ACT_ALLOW", syscalls: calls });
  expectConfigError(
    withCalls(call({}), call({}), call({ action: "SCMP_ACT_BOGUS" })),
    "linux.seccomp.syscalls[2].action",
    /unknown action "SCMP_ACT_BOGUS"/,
  );
  expectConfigError(
    withCalls(call({}), call({}), call({ args: [{ index: 0, value: 1, op: "SCMP_CMP_ABOUT" }] })),
    "linux.seccomp.syscalls[2].args[0].op",
    /unknown operator/,
  );
  expectConfigError(
    withCalls(call({
      args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }, { index: 6, value: 1, op: "SCMP_CMP_EQ" }],
    })),
    "linux.seccomp.syscalls[0].args[1].index",
  );
  expectConfigError(
    withCalls(call({ args: [{ index: 0, value: -1, op: "SCMP_CMP_EQ" }] })),
    "linux.seccomp.syscalls[0].args[0].value",
  );
  expectConfigError(
    withCalls(call({ errnoRet: 70000 })),
    "linux.seccomp.syscalls[0].errnoRet",
  );
  expectConfigError(
    withCalls(call({ names: ["getpid", ""] })),
    "linux.seccomp.syscalls[0].names[1]",
  );
  expectConfigError(
    { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"] },
    "linux.seccomp.architectures[1]",
    /unknown architecture "SCMP_ARCH_VAX"/,
  );
  expectConfigError(
    { defaultAction: "SCMP_ACT_ALLOW", architectures: ["x86_64"] },
    "linux.seccomp.architectures[0]",
  );
  expectConfigError({ syscalls: [] }, "linux.seccomp.defaultAction", /is required/);
  expectConfigError(
    { defaultAction: "SCMP_ACT_NOTIFY" },
    "linux.seccomp.defaultAction",
    /SCMP_ACT_NOTIFY cannot be the default action/,
  );
  expectConfigError(
    withCalls(call({}), call({ action: "SCMP_ACT_NOTIFY" })),
    "linux.seccomp.listenerPath",
    /is required: linux\.seccomp\.syscalls\[1\]\.action is SCMP_ACT_NOTIFY/,
  );
  // The file and the path prefix come from the options.
  assert.throws(
    () =>
      compileSeccomp({ defaultAction: "SCMP_ACT_BOGUS" as "SCMP_ACT_ALLOW" }, {
        file: "bundle/config.json",
        field: "seccomp",
      }),
    { message: 'bundle/config.json: seccomp.defaultAction: unknown action "SCMP_ACT_BOGUS"' },
  );
});

Deno.test("compileSeccomp: a libraryPath that does not load falls back to the system one", () => {
  const { bpf } = compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW" }, {
    libraryPath: "/nonexistent/libseccomp.so.2",
  });
  assertArchCheck(bpf);
});

// End to end: a small C program loads the compiled filter and probes syscalls.

function haveCc(): boolean {
  try {
    return new Deno.Command("cc", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const PROBE_SOURCE = new URL("./testdata/seccomp_probe.c", import.meta.url);

interface ProbeRun {
  results: Record<string, [number, number]>;
  code: number;
  signal: Deno.Signal | null;
  created: string[];
}

/** Builds the probe in `dir` once, then runs it with `profile` compiled. */
async function runProbe(dir: string, profile: LinuxSeccomp): Promise<ProbeRun> {
  const probe = `${dir}/seccomp_probe`;
  try {
    await Deno.stat(probe);
  } catch {
    const cc = await new Deno.Command("cc", {
      args: ["-Wall", "-Werror", "-O2", "-o", probe, PROBE_SOURCE.pathname],
    }).output();
    assert.ok(cc.success, `cc failed: ${new TextDecoder().decode(cc.stderr)}`);
  }
  const { bpf, flags } = compileSeccomp(profile);
  const bpfPath = `${dir}/filter.bpf`;
  await Deno.writeFile(bpfPath, bpf);
  const work = await Deno.makeTempDir({ dir });
  const out = await new Deno.Command(probe, { args: [bpfPath, String(flags), work] }).output();
  const results: Record<string, [number, number]> = {};
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [name, ret, errno] = line.split(" ");
    if (name) results[name] = [Number(ret), Number(errno)];
  }
  const created = [];
  for await (const e of Deno.readDir(work)) created.push(e.name);
  return { results, code: out.code, signal: out.signal, created };
}

Deno.test({
  name: "compileSeccomp: the filters really work (seccomp(2) in a C probe)",
  ignore: !haveCc(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "nsinit-seccomp-" });
    try {
      const allow = await runProbe(dir, DEFAULT_ALLOW);
      assert.deepEqual(allow.results, {
        seccomp: [0, 0],
        mkdir: [-1, 1], // EPERM
        mkdirat: [-1, 1],
        getpid: [0, 0],
        umask022: [-1, 13], // the first of the split conditions
        umask077: [0, 0],
      });
      assert.equal(allow.code, 0);
      assert.deepEqual(allow.created, []);

      const errno = await runProbe(dir, DEFAULT_ERRNO);
      assert.deepEqual(errno.results, {
        seccomp: [0, 0],
        mkdir: [-1, 6], // ENXIO, defaultErrnoRet
        mkdirat: [-1, 6],
        getpid: [0, 0],
        umask022: [-1, 6], // (022 & 070) != 070
        umask077: [0, 0],
      });
      assert.equal(errno.code, 0);
      assert.deepEqual(errno.created, []);

      const kill = await runProbe(dir, {
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_KILL_PROCESS" }],
      });
      assert.deepEqual(kill.results, { seccomp: [0, 0] });
      assert.equal(kill.signal, "SIGSYS");

      // Without the filter, the probe really creates the directories.
      const none = await runProbe(dir, { defaultAction: "SCMP_ACT_ALLOW", flags: [] });
      assert.equal(none.results.mkdir[0], 0);
      assert.deepEqual(none.created.sort(), ["by-mkdir", "by-mkdirat"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("compileSeccomp: requireExecve refuses a profile that denies execve", () => {
  const refuse = (seccomp: LinuxSeccomp) =>
    assert.throws(
      () => compileSeccomp(seccomp, { requireExecve: true }),
      (e) =>
        e instanceof ConfigError && e.field === "linux.seccomp" && /denies execve/.test(e.message),
    );
  refuse({ defaultAction: "SCMP_ACT_ERRNO" });
  refuse({
    defaultAction: "SCMP_ACT_KILL",
    syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }],
  });
  refuse({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{ names: ["execve"], action: "SCMP_ACT_ERRNO" }],
  });
  // Allowed by a rule, or by the default.
  compileSeccomp({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["execve", "exit_group"], action: "SCMP_ACT_ALLOW" }],
  }, { requireExecve: true });
  compileSeccomp({ defaultAction: "SCMP_ACT_ALLOW" }, { requireExecve: true });
  // Without the option, a filter for a non-container use compiles.
  compileSeccomp({ defaultAction: "SCMP_ACT_ERRNO" });
});
