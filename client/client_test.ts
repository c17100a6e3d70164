/**
 * OciRuntimeClient against a fake runtime (a shell script that records its
 * argv, stdin, fds, cwd, environment and process group): every option maps to
 * the flag go-runc passes, errors carry the log's message, and a cancelled call
 * leaves no process. The real runtimes are in tests/client/.
 */

import assert from "node:assert/strict";
import {
  leaveRunning,
  OciRuntimeClient,
  OciRuntimeError,
  preDump,
  type RestoreOpts,
} from "./client.ts";
import { closeFd, O, openFd } from "./process.ts";

interface Fake {
  dir: string;
  client(extra?: ConstructorParameters<typeof OciRuntimeClient>[0]): OciRuntimeClient;
  argv(): Promise<string[]>;
  file(name: string): Promise<string>;
  [Symbol.asyncDispose](): Promise<void>;
}

const FAKE = `#!/bin/sh
out="$FAKE_DIR"
printf '%s\\n' "$@" > "$out/argv"
pwd > "$out/cwd"
env > "$out/env"
ps -o pgid= -p $$ | tr -d ' ' > "$out/pgid"
echo $$ > "$out/pid"
ls /proc/$$/fd > "$out/fds"
[ -e /proc/$$/fd/3 ] && cat <&3 > "$out/fd3" 2>/dev/null
log=""
prev=""
for a in "$@"; do
  [ "$prev" = "--log" ] && log="$a"
  prev="$a"
done
for a in "$@"; do
  case "$a" in
    update) cat > "$out/stdin" ;;
    fail) echo '{"level":"info","msg":"starting"}' >> "$log"
          echo '{"level":"error","msg":"rootfs (/nope) does not exist"}' >> "$log"
          echo "some stderr" >&2; exit 3 ;;
    stderr-only) echo "first line" >&2; echo "the real reason" >&2; exit 4 ;;
    hang) sleep 1000 & echo $! > "$out/grandchild"; wait; exit 0 ;;
    --version) printf 'fake version 9.9\\ncommit: c0ffee\\nspec: 1.3.0\\n'; exit 0 ;;
    list) echo null; exit 0 ;;
    state) echo '{"ociVersion":"1.3.0","id":"c1","pid":42,"status":"running","bundle":"/b"}'; exit 0 ;;
    ps) [ "$prev" = "" ] || true ;;
  esac
done
case " $* " in
  *" ps --format json "*) echo '[1,2,3]' ;;
  *" ps --format table "*) printf 'PID   CMD\\n7     sleep 10\\n' ;;
  *" events --stats "*) echo '{"type":"stats","id":"c1","data":{"pids":{"current":1}}}' ;;
  *" run "*) exit 5 ;;
esac
exit 0
`;

async function fake(): Promise<Fake> {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-fake-runtime-" });
  const script = `${dir}/fake-runtime`;
  await Deno.writeTextFile(script, FAKE);
  await Deno.chmod(script, 0o755);
  return {
    dir,
    client: (extra = {}) =>
      new OciRuntimeClient({
        command: script,
        root: `${dir}/root`,
        env: { FAKE_DIR: dir },
        ...extra,
      }),
    argv: async () => (await Deno.readTextFile(`${dir}/argv`)).trimEnd().split("\n"),
    file: (name) => Deno.readTextFile(`${dir}/${name}`),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** argv after the global flags and the private log flags. */
function command(argv: string[]): string[] {
  const i = argv.findIndex((a) =>
    !a.startsWith("--") && !argv[argv.indexOf(a) - 1]?.startsWith("--")
  );
  return argv.slice(i);
}

Deno.test("client: global flags in go-runc's order, then a private JSON log", async () => {
  await using f = await fake();
  const c = f.client({
    debug: true,
    log: undefined,
    criu: "/usr/sbin/criu",
    systemdCgroup: true,
    rootless: true,
    extraArgs: ["--x"],
  });
  await c.start("c1");
  const argv = await f.argv();
  assert.deepEqual(argv.slice(0, 9), [
    "--root",
    `${f.dir}/root`,
    "--debug",
    "--criu",
    "/usr/sbin/criu",
    "--systemd-cgroup",
    "--rootless=true",
    "--x",
    "--log",
  ]);
  assert.match(argv[9], /\/log\.json$/);
  assert.deepEqual(argv.slice(10), ["--log-format", "json", "start", "c1"]);
});

Deno.test("client: create maps every CreateOpts field and passes extra files as fds 3..", async () => {
  await using f = await fake();
  const c = f.client();
  await Deno.writeTextFile(`${f.dir}/extra`, "extra-content");
  const extra = openFd(`${f.dir}/extra`, O.RDONLY);
  let started = 0;
  try {
    await c.create("c1", "/bundle", {
      pidFile: "rel/pid",
      consoleSocket: { path: "/tmp/con.sock" },
      pidfdSocket: { path: "/tmp/pidfd.sock" },
      noPivot: true,
      noNewKeyring: true,
      detach: true,
      extraFiles: [extra],
      extraArgs: ["--y"],
      started: (pid) => started = pid,
    });
  } finally {
    closeFd(extra);
  }
  assert.deepEqual(command(await f.argv()), [
    "create",
    "--bundle",
    "/bundle",
    "--pid-file",
    `${Deno.cwd()}/rel/pid`,
    "--console-socket",
    "/tmp/con.sock",
    "--pidfd-socket",
    "/tmp/pidfd.sock",
    "--no-pivot",
    "--no-new-keyring",
    "--detach",
    "--preserve-fds",
    "1",
    "--y",
    "c1",
  ]);
  assert.equal(await f.file("fd3"), "extra-content");
  assert.equal(started, Number((await f.file("pid")).trim()));
});

Deno.test("client: exec writes the process object to a file, kill takes names, delete --force", async () => {
  await using f = await fake();
  const c = f.client();
  await c.exec("c1", { args: ["echo", "hi"], cwd: "/", user: { uid: 0, gid: 0 } }, {
    detach: true,
    pidFile: "/tmp/p",
  });
  const argv = command(await f.argv());
  assert.equal(argv[0], "exec");
  assert.equal(argv[1], "--process");
  assert.deepEqual(argv.slice(3), ["--detach", "--pid-file", "/tmp/p", "c1"]);
  await c.kill("c1", "sigterm", { all: true });
  assert.deepEqual(command(await f.argv()), ["kill", "--all", "c1", "15"]);
  await c.kill("c1", 9);
  assert.deepEqual(command(await f.argv()), ["kill", "c1", "9"]);
  await assert.rejects(c.kill("c1", "NOSUCH"), RangeError);
  await c.delete("c1", { force: true });
  assert.deepEqual(command(await f.argv()), ["delete", "--force", "c1"]);
});

Deno.test("client: checkpoint and restore map every CheckpointOpts/RestoreOpts field", async () => {
  await using f = await fake();
  const c = f.client();
  const all = {
    imagePath: "/img",
    workDir: "/work",
    parentPath: "../pre",
    allowOpenTCP: true,
    allowExternalUnixSockets: true,
    allowTerminal: true,
    criuPageServer: "10.0.0.1:7000",
    fileLocks: true,
    cgroups: "full" as const,
    emptyNamespaces: ["network", "ipc"],
    lazyPages: true,
  };
  const criu = [
    "--image-path",
    "/img",
    "--work-path",
    "/work",
    "--parent-path",
    "../pre",
    "--tcp-established",
    "--ext-unix-sk",
    "--shell-job",
    "--page-server",
    "10.0.0.1:7000",
    "--file-locks",
    "--manage-cgroups-mode",
    "full",
    "--empty-ns",
    "network",
    "--empty-ns",
    "ipc",
    "--lazy-pages",
  ];
  await Deno.writeTextFile(`${f.dir}/status`, "");
  const status = openFd(`${f.dir}/status`, O.RDONLY);
  try {
    await c.checkpoint("c1", { ...all, statusFile: status, leaveRunning: true, preDump: true });
  } finally {
    closeFd(status);
  }
  assert.deepEqual(command(await f.argv()), [
    "checkpoint",
    ...criu,
    "--status-fd",
    "3",
    "--leave-running",
    "--pre-dump",
    "c1",
  ]);
  assert.ok((await f.file("fds")).split("\n").includes("3"));
  await c.checkpoint("c1", {}, leaveRunning, preDump);
  assert.deepEqual(command(await f.argv()), ["checkpoint", "--leave-running", "--pre-dump", "c1"]);
  const code = await c.restore("c1", "/bundle", {
    ...all,
    detach: true,
    pidFile: "/p",
    consoleSocket: { path: "/s" },
    noPivot: true,
    noSubreaper: true,
  });
  assert.equal(code, 0);
  assert.deepEqual(command(await f.argv()), [
    "restore",
    ...criu,
    "--detach",
    "--pid-file",
    "/p",
    "--console-socket",
    "/s",
    "--no-pivot",
    "--no-subreaper",
    "--bundle",
    "/bundle",
    "c1",
  ]);
  // runc's restore has no --status-fd (lazy-pages readiness is the checkpointing side's): the
  // option is checkpoint's only, so a restore cannot be given one.
  // @ts-expect-error: statusFile is not a restore option
  const noStatus: RestoreOpts = { statusFile: 3 };
  assert.ok(noStatus);
});

Deno.test("client: update sends the resources as JSON on stdin", async () => {
  await using f = await fake();
  await f.client().update("c1", { memory: { limit: 1 << 20 }, pids: { limit: 10 } });
  assert.deepEqual(command(await f.argv()), ["update", "--resources", "-", "c1"]);
  assert.deepEqual(JSON.parse(await f.file("stdin")), {
    memory: { limit: 1 << 20 },
    pids: { limit: 10 },
  });
});

Deno.test("client: output parsers: list null, state, ps, top, stats, version", async () => {
  await using f = await fake();
  const c = f.client();
  assert.deepEqual(await c.list(), []);
  assert.equal((await c.state("c1")).pid, 42);
  assert.deepEqual(await c.ps("c1"), [1, 2, 3]);
  assert.deepEqual(await c.top("c1", "-o pid,args"), {
    headers: ["PID", "CMD"],
    processes: [["7", "sleep 10"]],
  });
  assert.deepEqual(command(await f.argv()), ["ps", "--format", "table", "c1", "-o", "pid,args"]);
  assert.deepEqual(await c.stats("c1"), { pids: { current: 1 } });
  const v = await c.version();
  assert.deepEqual([v.name, v.version, v.commit, v.spec], ["fake", "9.9", "c0ffee", "1.3.0"]);
  // run resolves to the exit status when the runtime logged no error
  assert.equal(await c.run("c1", "/b"), 5);
});

Deno.test("client: a failure carries the exit status and the JSON log's last error", async () => {
  await using f = await fake();
  const err = await f.client().start("fail").then(() => null, (e) => e);
  assert.ok(err instanceof OciRuntimeError);
  assert.equal(err.exitStatus, 3);
  assert.equal(err.logMessage, "rootfs (/nope) does not exist");
  assert.equal(err.stderr, "some stderr\n");
  assert.match(err.message, /start: rootfs \(\/nope\) does not exist \(exit status 3\)/);
  // without a log error, stderr's last line
  const err2 = await f.client().start("stderr-only").then(() => null, (e) => e);
  assert.ok(err2 instanceof OciRuntimeError);
  assert.equal(err2.exitStatus, 4);
  assert.equal(err2.logMessage, undefined);
  assert.match(err2.message, /the real reason \(exit status 4\)/);
  // run: a logged runtime error throws rather than resolving to a status
  await assert.rejects(f.client().run("fail", "/b"), OciRuntimeError);
});

Deno.test("client: the client's own JSON log is read from where this call began", async () => {
  await using f = await fake();
  const log = `${f.dir}/runtime.log`;
  await Deno.writeTextFile(log, '{"level":"error","msg":"an old error"}\n');
  const c = f.client({ log, logFormat: "json" });
  const err = await c.start("fail").then(() => null, (e) => e);
  assert.ok(err instanceof OciRuntimeError);
  assert.equal(err.logMessage, "rootfs (/nope) does not exist");
  const err2 = await c.start("stderr-only").then(() => null, (e) => e);
  assert.equal(
    (err2 as OciRuntimeError).logMessage,
    undefined,
    "an earlier call's error is not this call's",
  );
});

Deno.test("client: a cancelled call kills the runtime and what it started", async () => {
  await using f = await fake();
  const c = f.client();
  const ac = new AbortController();
  const p = c.start("hang", { signal: ac.signal });
  let grandchild = 0;
  for (let i = 0; i < 200 && !grandchild; i++) {
    await new Promise((r) => setTimeout(r, 20));
    grandchild = Number(await f.file("grandchild").catch(() => "0"));
  }
  assert.ok(grandchild > 0);
  const pid = Number((await f.file("pid")).trim());
  ac.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
  for (const gone of [pid, grandchild]) {
    // SIGKILLed; an orphan may take a moment to be reaped by init
    let stat = "";
    for (let i = 0; i < 100; i++) {
      stat = await Deno.readTextFile(`/proc/${gone}/stat`).catch(() => "");
      if (stat === "" || / [ZX] /.test(stat)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(stat === "" || / [ZX] /.test(stat), `process ${gone} still runs: ${stat}`);
  }
  await assert.rejects(c.start("hang", { timeout: 100 }), (e: Error) => e.name === "TimeoutError");
  await assert.rejects(c.start("c1", { signal: AbortSignal.abort(new Error("early")) }), /early/);
});

Deno.test("client: workDir, env (NOTIFY_SOCKET dropped), setpgid", async () => {
  await using f = await fake();
  Deno.env.set("NOTIFY_SOCKET", "/run/notify");
  try {
    const c = f.client({
      workDir: "/tmp",
      setpgid: true,
      env: { FAKE_DIR: f.dir, EXTRA: "1" },
      pdeathSignal: "KILL",
    });
    await c.start("c1");
  } finally {
    Deno.env.delete("NOTIFY_SOCKET");
  }
  assert.equal((await f.file("cwd")).trim(), "/tmp");
  const env = await f.file("env");
  assert.match(env, /^EXTRA=1$/m);
  assert.doesNotMatch(env, /NOTIFY_SOCKET/);
  assert.equal((await f.file("pgid")).trim(), (await f.file("pid")).trim());
  assert.throws(() => f.client({ pdeathSignal: "NOPE" }), RangeError);
});

Deno.test("client: a missing binary is a clear error", async () => {
  const c = new OciRuntimeClient({ command: "no-such-runtime-binary" });
  await assert.rejects(c.list(), /executable file not found in \$PATH: no-such-runtime-binary/);
  const c2 = new OciRuntimeClient({ command: "/nonexistent/runtime" });
  await assert.rejects(c2.list(), /execve \/nonexistent\/runtime/);
});

Deno.test({
  name: "PipeIO: the container's ends belong to the given uid/gid, ours stay ours",
  ignore: Deno.uid() !== 0,
  async fn() {
    const { PipeIO } = await import("./io.ts");
    const io = PipeIO.create({ uid: 65534, gid: 65533 });
    try {
      for (const fd of io.fds) {
        const st = Deno.statSync(`/proc/self/fd/${fd}`);
        assert.equal(st.uid, 65534);
        assert.equal(st.gid, 65533);
      }
      // a write on the container's stdout end arrives on our stdout stream
      const { native } = await import("../native/ffi.ts");
      const data = new TextEncoder().encode("through the pipe");
      assert.equal(
        Number(await native().nsi_write(io.fds[1], data, BigInt(data.length))),
        data.length,
      );
      io.closeAfterStart();
      const reader = io.stdout!.getReader();
      const r = await reader.read();
      assert.equal(new TextDecoder().decode(r.value), "through the pipe");
      reader.releaseLock();
    } finally {
      await io.close();
    }
  },
});
