// End-to-end escape attempts, one per class (see docs/security.md). Each test makes the
// attack happen for real and proves it fails: the container cannot reach the host, or the
// runtime refuses to start it and the host is unchanged.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import type { LinuxSeccomp, Spec } from "../../spec/config.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { makeTempDir } from "../helpers/paths.ts";
import { run, runNsinit } from "../helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "../helpers/skip.ts";
import { read, stateEntries } from "./helpers.ts";
import { uniqueId } from "../helpers/ids.ts";

const ignore = skipUnless(isRoot(), "real containers need root");
const needsCc = ignore || skipUnless(hasCommand("cc"), "needs a C compiler for the probe");

/** Compiles testdata/NAME.c statically into `dir`/NAME. */
async function compile(name: string, dir: string): Promise<void> {
  const r = await run("cc", [
    "-O2",
    "-static",
    "-o",
    `${dir}/${name}`,
    new URL(`./testdata/${name}.c`, import.meta.url).pathname,
  ]);
  assert.equal(r.code, 0, r.stderr);
}

Deno.test({
  name:
    "escape: masked paths are never bound from a /dev/null replaced by a symlink (CVE-2025-31133)",
  ignore,
  async fn() {
    await using hooks = await makeTempDir("escape-hook");
    await using b = await makeBundle({ args: ["cat", "/proc/kcore"] });
    // A createContainer hook runs in the container's mount namespace before pivot_root, as
    // a process sharing the container's /dev could: it swaps /dev/null for a symlink to a
    // host-wide procfs file. A runtime masking by path would bind core_pattern over
    // /proc/kcore, writable.
    const hook = `${hooks.path}/swap.sh`;
    await Deno.writeTextFile(
      hook,
      `#!/bin/sh\nrm -f ${b.rootfs}/dev/null && ln -s /proc/sys/kernel/core_pattern ${b.rootfs}/dev/null\n`,
      { mode: 0o755 },
    );
    b.config.hooks = { createContainer: [{ path: hook }] };
    assert.ok(b.config.linux!.maskedPaths!.includes("/proc/kcore"));
    await b.write();
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    const corePattern = read("/proc/sys/kernel/core_pattern");
    assert.ok(!r.stdout.includes(corePattern.trim()) || corePattern.trim() === "", r.stdout);
    assert.notEqual(r.code, 0, `the container ran: ${r.stdout}`);
    assert.match(
      r.stderr,
      /mask \/proc\/\w+: \/dev\/null in the container is not the null device \(1:3\): operation not permitted/,
    );
    assert.deepEqual(stateEntries(b.stateRoot), [], "no state left");
  },
});

Deno.test({
  name: "escape: a procfs write covered by a mount is refused, not redirected (CVE-2025-52881)",
  ignore,
  async fn() {
    await using dir = await makeTempDir("escape-proc");
    const target = `${dir.path}/target`;
    await Deno.writeTextFile(target, "untouched\n");
    await using b = await makeBundle({ args: ["true"] });
    // The sysctl's file in the container's /proc is covered by a bind mount of a host file:
    // a write by path lands in the host file.
    assert.ok(b.config.linux!.namespaces!.some((n) => n.type === "network" && !n.path));
    b.config.mounts!.push({
      destination: "/proc/sys/net/ipv4/ip_forward",
      type: "bind",
      source: target,
      options: ["bind", "rw"],
    });
    b.config.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
    await b.write();
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(read(target), "untouched\n", "the write was redirected to a host file");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /set sysctl net\.ipv4\.ip_forward.*: .*a mount covers it/, r.stderr);
    assert.deepEqual(stateEntries(b.stateRoot), [], "no state left");
  },
});

Deno.test({
  name:
    "escape: no console is bound from a path, and /dev/ptmx must be the pty multiplexer (CVE-2025-52565)",
  ignore,
  async fn() {
    await using b = await makeBundle({
      args: ["sh", "-c", "grep -c ' /dev/console ' /proc/self/mountinfo; true"],
    });
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "0\n", "nsinit binds nothing over /dev/console");
  },
});

Deno.test({
  name: "escape: writes to /proc/sys, /sys, /sys/fs/cgroup and /proc/sysrq-trigger fail",
  ignore,
  async fn() {
    const script = [
      "echo 1 > /proc/sys/vm/drop_caches",
      "echo 1 > /proc/sys/kernel/sysrq",
      "echo h > /proc/sysrq-trigger",
      "echo 1 > /sys/kernel/mm/ksm/run",
      "echo 1 > /sys/fs/cgroup/memory/memory.limit_in_bytes",
      "mkdir /sys/fs/cgroup/memory/escape",
      "echo x > /proc/kcore",
    ].map((cmd) => `(${cmd}) 2>/dev/null && echo "wrote: ${cmd}" || echo "refused"`).join("; ");
    await using b = await makeBundle({ args: ["sh", "-c", script] });
    const before = read("/proc/sys/kernel/sysrq");
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 7, r.stdout);
    assert.deepEqual(lines.filter((l) => l !== "refused"), []);
    assert.equal(read("/proc/sys/kernel/sysrq"), before);
  },
});

Deno.test({
  name: "escape: devices outside the allow-list can be made but not opened",
  ignore,
  async fn() {
    // The first disk (8:0) or, without one, a device the default list does not allow.
    const script = [
      "mknod /tmp/disk b 8 0 2>/dev/null; head -c 1 /tmp/disk >/dev/null 2>&1 && echo disk=open || echo disk=denied",
      "mknod /tmp/mem c 1 1 2>/dev/null; head -c 1 /tmp/mem >/dev/null 2>&1 && echo mem=open || echo mem=denied",
      "mknod /tmp/kmsg c 1 11 2>/dev/null; head -c 1 /tmp/kmsg >/dev/null 2>&1 && echo kmsg=open || echo kmsg=denied",
      "head -c 1 /dev/null && echo null=open",
    ].join("; ");
    await using b = await makeBundle({ args: ["sh", "-c", script] });
    b.config.mounts!.push({
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "mode=1777"],
    });
    // Even with CAP_MKNOD, the device cgroup decides what may be opened.
    for (const set of ["bounding", "effective", "permitted"] as const) {
      b.config.process!.capabilities![set] = [
        ...(b.config.process!.capabilities![set] ?? []),
        "CAP_MKNOD",
      ];
    }
    await b.write();
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "disk=denied\nmem=denied\nkmsg=denied\nnull=open\n");
  },
});

Deno.test({
  name:
    "escape: during exec, no process in the container reaches the helper's exe, fds or cwd (CVE-2019-5736, CVE-2024-21626)",
  ignore,
  async fn() {
    // The init scans every process it can see, all the time, and reports any exe, cwd or
    // fd that leads outside the container (the helper runs from a memfd; the runtime's fds
    // and cwd are host paths).
    const scan = [
      "while :; do",
      "for p in /proc/[0-9]*; do",
      'for l in $p/exe $p/cwd $p/fd/*; do t=$(readlink $l 2>/dev/null) || continue; case "$t" in',
      '/bin/*|/usr/*|/|/proc*|/dev/*|pipe:*|socket:*|anon_inode:*|"") ;;',
      '*) echo "$l -> $t" >> /leaks ;;',
      "esac; done; done; done",
    ].join(" ");
    await using b = await makeBundle({ args: ["sh", "-c", scan] });
    b.config.root!.readonly = false;
    await b.write();
    const factory = new Factory({ root: b.stateRoot });
    const c = await factory.run(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null", stdout: "null", stderr: "null" },
    });
    try {
      for (let i = 0; i < 20; i++) {
        const p = await c.exec(
          {
            ...b.config.process!,
            args: ["sh", "-c", "ls -l /proc/self/fd; readlink /proc/self/cwd"],
          },
          { stdio: { stdin: "null", stdout: "piped", stderr: "piped" } },
        );
        const out = await p.output();
        assert.equal(out.code, 0, out.stderr);
        // The exec'd process itself: cwd is the container's, and only its stdio is open
        // (plus the fd ls opened to read the directory).
        const lines = out.stdout.trim().split("\n");
        assert.equal(lines.at(-1), "/", `exec cwd: ${out.stdout}`);
        const fds = lines.filter((l) => / -> /.test(l)).map((l) => l.split(" -> ")[1]);
        for (const t of fds) {
          assert.match(t, /^(pipe:|\/dev\/null|\/proc\/\d+\/fd)/, `exec fd: ${t}`);
        }
      }
    } finally {
      await c.destroy({ force: true });
    }
    assert.equal(read(`${b.rootfs}/leaks`), "", "the init saw a path outside the container");
  },
});

/** containerd's default seccomp profile (moby's policy), as `ctr run --seccomp` writes it. */
function containerdDefaultSeccomp(): LinuxSeccomp {
  const file = new URL("../fixtures/configs/ctr-seccomp.json", import.meta.url);
  return (JSON.parse(Deno.readTextFileSync(file)) as Spec).linux!.seccomp!;
}

Deno.test({
  name:
    "escape: keyctl, unshare(CLONE_NEWUSER), mount and bpf fail under containerd's default seccomp profile",
  ignore: needsCc,
  async fn() {
    await using b = await makeBundle({ args: ["/probe"] });
    await compile("probe", b.rootfs);
    const spec: Spec = b.config;
    spec.process!.noNewPrivileges = false; // real profiles run without it, as containerd's do
    const seccomp = containerdDefaultSeccomp();
    spec.linux!.seccomp = seccomp;
    await b.write();
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 0, r.stderr);
    const results = Object.fromEntries(
      r.stdout.trim().split("\n").map((l) => {
        const [name, ret, errno] = l.split(" ");
        return [name, { ret: Number(ret), errno: Number(errno) }];
      }),
    );
    for (const name of ["keyctl", "unshare-user", "mount", "bpf"]) {
      assert.ok(results[name], `no result for ${name}: ${r.stdout}`);
      assert.equal(results[name].ret, -1, `${name} succeeded: ${r.stdout}`);
      // The profile's default errno (EPERM unless it sets another), or an explicit rule's.
      assert.ok(
        [1, seccomp.defaultErrnoRet ?? 1].includes(results[name].errno),
        `${name}: ${r.stdout}`,
      );
    }
  },
});

Deno.test({
  name: "escape: a container sharing the host's pid namespace cannot ptrace the runtime",
  ignore: needsCc,
  async fn() {
    // This test process is the runtime (the library runs the container). Without a pid
    // namespace the container sees it; without CAP_SYS_PTRACE (and with fewer capabilities
    // than the runtime) the kernel refuses to trace it.
    await using b = await makeBundle({ args: ["/probe", String(Deno.pid)] });
    await compile("probe", b.rootfs);
    b.config.linux!.namespaces = b.config.linux!.namespaces!.filter((n) => n.type !== "pid");
    const caps = b.config.process!.capabilities!;
    assert.ok(!(caps.bounding ?? []).includes("CAP_SYS_PTRACE"));
    const factory = new Factory({ root: b.stateRoot });
    const c = await factory.run(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
    });
    let out;
    try {
      out = await c.init!.output();
    } finally {
      await c.destroy({ force: true });
    }
    assert.equal(out.code, 0, out.stderr);
    const line = out.stdout.split("\n").find((l) => l.startsWith("ptrace "));
    assert.equal(line, "ptrace -1 1", `the container traced the runtime: ${out.stdout}`);
  },
});

/** Helpers the probe must have attacked before the test stops exec'ing. */
const HELPERS_WANTED = 10;

/**
 * Runs `/helper_probe MODE /done RUNTIME` as the container's init and execs `true` into it
 * until the probe has attacked HELPERS_WANTED helpers (at most 400 execs: it is a race the
 * probe wins only when it is scheduled in time), then stops the probe and returns what it
 * printed (testdata/helper_probe.c).
 */
async function probeHelpers(
  mode: "next" | "scan",
  change: (spec: Spec) => void,
  rootless = false,
): Promise<{ helpers: number; attempts: number; leaks: string[]; execs: number; out: string }> {
  await using b = await makeBundle({
    rootless,
    id: uniqueId("mnt-helper"),
    args: ["/helper_probe", mode, "/done", String(Deno.pid)],
  });
  await compile("helper_probe", b.rootfs);
  change(b.config);
  const factory = new Factory({ root: b.stateRoot });
  const c = await factory.run(b.id, {
    bundle: b.dir,
    spec: b.config,
    stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
  });
  // Read while it runs: the test watches the count, and a probe that found something writes
  // a lot.
  let stdout = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of c.init!.stdout!) stdout += decoder.decode(chunk, { stream: true });
  })();
  const stderr = new Response(c.init!.stderr).text();
  const caught = () => stdout.split("\n").filter((l) => l.startsWith("helper ")).length;
  let execs = 0, code;
  try {
    for (; execs < 400 && caught() < HELPERS_WANTED; execs++) {
      const p = await c.exec(
        { ...b.config.process!, args: ["true"] },
        { stdio: { stdin: "null", stdout: "null", stderr: "null" } },
      );
      assert.equal(await p.exitCode(), 0);
    }
    await Deno.writeTextFile(`${b.rootfs}/done`, "");
    await reading;
    code = await c.init!.exitCode();
  } finally {
    await c.destroy({ force: true });
  }
  assert.equal(code, 0, await stderr);
  const count = (k: string) => Number(stdout.match(new RegExp(`^${k} (\\d+)$`, "m"))?.[1]);
  return {
    helpers: count("helpers"),
    attempts: count("attempts"),
    leaks: stdout.split("\n").filter((l) => l.startsWith("leak ")),
    execs,
    out: stdout,
  };
}

Deno.test({
  name:
    "escape: during exec, a container process cannot ptrace the process the runtime clones into it, nor open its /proc mem, exe, cwd, root, environ or fds",
  ignore: needsCc,
  async fn() {
    // The container has its own pid namespace: the runtime's helper is not in it, but the
    // process it clones for the exec is, from clone(2) until it execs the command. The probe
    // attacks each new pid from the moment it exists; that process is non-dumpable (the
    // helper made itself so before anything) and its mm belongs to the host's user namespace.
    const r = await probeHelpers("next", () => {});
    assert.deepEqual(r.leaks, [], r.out);
    assert.ok(r.helpers >= HELPERS_WANTED && r.attempts > 0, `too few helpers caught:\n${r.out}`);
    console.log(
      `helper probe (own pid namespace): ${r.helpers} helpers, ${r.attempts} attempts, ${r.execs} execs`,
    );
  },
});

Deno.test({
  name:
    "escape: during exec, a container in the host's pid namespace cannot ptrace the runtime's helper nor open its /proc mem, exe, cwd, root, environ or fds",
  ignore: needsCc,
  async fn() {
    // No pid namespace of its own: the helper (nsinit-init) and the process it clones are
    // both visible, with the container's uid (root). Non-dumpable, and the container lacks
    // CAP_SYS_PTRACE: every attack is refused.
    const r = await probeHelpers("scan", (spec) => {
      spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "pid");
      assert.ok(!(spec.process!.capabilities!.bounding ?? []).includes("CAP_SYS_PTRACE"));
    });
    assert.deepEqual(r.leaks, [], r.out);
    assert.ok(r.helpers >= HELPERS_WANTED && r.attempts > 0, `too few helpers caught:\n${r.out}`);
    console.log(
      `helper probe (host pid namespace): ${r.helpers} helpers, ${r.attempts} attempts, ${r.execs} execs`,
    );
  },
});

Deno.test({
  name:
    "escape: during exec, a container holding CAP_SYS_PTRACE in its own user namespace cannot ptrace the process the runtime clones into it",
  ignore: needsCc,
  async fn() {
    // Root of its user namespace with every capability there, CAP_SYS_PTRACE included, and
    // the same host uid as the runtime: the capability check passes (the cloned process's
    // credentials are in the container's user namespace), so only non-dumpability stands
    // between it and the runtime's sync socket. A non-dumpable process's mm belongs to the
    // user namespace it was exec'd in (the host's), where the container has nothing.
    const r = await probeHelpers("next", (spec) => {
      assert.ok(spec.linux!.namespaces!.some((n) => n.type === "user"));
      const caps = spec.process!.capabilities!;
      for (const set of ["bounding", "effective", "permitted"] as const) {
        caps[set] = [...new Set([...(caps[set] ?? []), "CAP_SYS_PTRACE"])];
      }
    }, true);
    assert.deepEqual(r.leaks, [], r.out);
    assert.ok(r.helpers >= HELPERS_WANTED && r.attempts > 0, `too few helpers caught:\n${r.out}`);
    console.log(
      `helper probe (user namespace, CAP_SYS_PTRACE): ${r.helpers} helpers, ${r.attempts} attempts, ${r.execs} execs`,
    );
  },
});
