/**
 * One suite, three runtimes: OciRuntimeClient drives runc (Debian), crun (in a
 * cgroup v1 view of this hybrid host, as the benchmark runs it, because crun
 * 1.8.1 refuses hybrid cgroups) and dist/nsinit with the same code. Where the
 * runtimes differ, the difference is asserted (so a change shows up) and listed
 * in docs/client.md.
 */

import assert from "node:assert/strict";
import {
  ConsoleSocket,
  NullIO,
  OciRuntimeClient,
  OciRuntimeError,
  PidfdSocket,
  PipeIO,
} from "../../client/mod.ts";
import { startV1View } from "../../scripts/bench/host.ts";
import {
  type Bundle,
  hasCommand,
  isRoot,
  makeBundle,
  REPO_ROOT,
  skipUnless,
  uniqueId,
} from "../helpers/mod.ts";
import { check, native } from "../../native/ffi.ts";
import { cgroupDirsNamed, waitFor } from "../helpers/host.ts";

const enc = new TextEncoder();
const NSINIT = `${REPO_ROOT}/dist/nsinit`;

interface Runtime {
  name: "runc" | "crun" | "nsinit";
  /** Why it cannot run here, or undefined. */
  missing?: string;
  /** A client for this runtime with state under `root`; close() undoes any set-up. */
  open(root: string): Promise<{ client: OciRuntimeClient } & AsyncDisposable>;
  /** Has `events` (stats, events). */
  events: boolean;
  /** Has `features`. */
  features: boolean;
  /** `ps` passes options to ps(1) (crun's takes only the id). */
  psOptions: boolean;
}

const RUNTIMES: Runtime[] = [
  {
    name: "runc",
    missing: hasCommand("runc")
      ? undefined
      : "runc is not installed (scripts/install_test_deps.sh)",
    open: (root) =>
      Promise.resolve({
        client: new OciRuntimeClient({ command: "runc", root }),
        [Symbol.asyncDispose]: async () => {},
      }),
    events: true,
    features: true,
    psOptions: true,
  },
  {
    name: "crun",
    missing: hasCommand("crun")
      ? undefined
      : "crun is not installed (scripts/install_client_deps.sh)",
    async open(root) {
      // crun refuses this hybrid host; in a mount namespace without the cgroup2 mount it sees
      // a plain cgroup v1 host (scripts/bench/host.ts). A wrapper enters that namespace.
      const view = await startV1View();
      const dir = await Deno.makeTempDir({ prefix: "nsinit-test-crun-" });
      const wrapper = `${dir}/crun`;
      await Deno.writeTextFile(
        wrapper,
        `#!/bin/sh\nexec nsenter --mount=/proc/${view.pid}/ns/mnt -- crun "$@"\n`,
      );
      await Deno.chmod(wrapper, 0o755);
      return {
        client: new OciRuntimeClient({ command: wrapper, root }),
        async [Symbol.asyncDispose]() {
          await view.close();
          await Deno.remove(dir, { recursive: true });
        },
      };
    },
    events: false, // crun 1.8.1: "unknown command events"
    features: false, // crun 1.8.1: "unknown command features"
    psOptions: false, // crun 1.8.1: "`ps` requires a maximum of 1 arguments"
  },
  {
    name: "nsinit",
    missing: hasCommand(NSINIT) ? undefined : "dist/nsinit is not built (deno task build)",
    open: (root) =>
      Promise.resolve({
        client: new OciRuntimeClient({ command: NSINIT, root }),
        [Symbol.asyncDispose]: async () => {},
      }),
    events: true,
    features: true,
    psOptions: true,
  },
];

const root = isRoot();

async function text(s: ReadableStream<Uint8Array> | undefined): Promise<string> {
  return s ? await new Response(s).text() : "";
}

/** Reads a stream until `until` appears (or it ends); returns what was read. */
async function readUntil(
  s: ReadableStream<Uint8Array>,
  until: string,
  ms = 10_000,
): Promise<string> {
  const reader = s.getReader();
  let out = "";
  const deadline = Date.now() + ms;
  try {
    while (!out.includes(until) && Date.now() < deadline) {
      const r = await Promise.race([
        reader.read(),
        new Promise<null>((res) => setTimeout(() => res(null), deadline - Date.now())),
      ]);
      if (r === null || r.done) break;
      out += new TextDecoder().decode(r.value);
    }
  } finally {
    reader.releaseLock();
  }
  return out;
}

/** Pids of processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(marker)) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}

for (const rt of RUNTIMES) {
  const ignore = skipUnless(root, "the OCI runtime client suite needs root") ||
    skipUnless(rt.missing === undefined, rt.missing ?? "");

  Deno.test({
    name:
      `oci client (${rt.name}): create, start, exec piped and with a terminal, pause, resume, update, stats, events, ps, top, kill, delete`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await using b = await makeBundle({ args: ["sleep", "1000"] });
      await using rtc = await rt.open(b.stateRoot);
      const c = rtc.client;
      const id = b.id;
      const io = new NullIO();
      try {
        await c.create(id, b.dir, { io, pidFile: `${b.dir}/pid` });
        const created = await c.state(id);
        assert.equal(created.status, "created");
        assert.equal(created.id, id);
        assert.equal(Number(await Deno.readTextFile(`${b.dir}/pid`)), created.pid);
        assert.ok((await c.list()).some((x) => x.id === id));
        await c.start(id);
        assert.equal((await c.state(id)).status, "running");

        // exec with pipes, as the user the pipes belong to
        const pio = PipeIO.create({ uid: 0, gid: 0 });
        const out = text(pio.stdout), err = text(pio.stderr);
        const w = pio.stdin!.getWriter();
        await w.write(enc.encode("from-stdin\n"));
        await w.close();
        await c.exec(id, {
          args: ["sh", "-c", "read x; echo out:$x; echo err >&2"],
          cwd: "/",
          user: { uid: 0, gid: 0 },
          env: ["PATH=/bin:/usr/bin"],
        }, { io: pio });
        assert.equal(await out, "out:from-stdin\n");
        assert.equal(await err, "err\n");
        await pio.close();

        // exec with a terminal: the pty master comes over the console socket
        await using sock = await ConsoleSocket.temp();
        const tty = c.exec(id, {
          args: ["sh"],
          cwd: "/",
          terminal: true,
          user: { uid: 0, gid: 0 },
          env: ["PATH=/bin:/usr/bin", "TERM=dumb"],
        }, { consoleSocket: sock, detach: true });
        const con = await sock.receiveMaster({ timeout: 10_000 });
        await tty;
        con.resize({ rows: 33, cols: 77 });
        const cw = con.writable.getWriter();
        await cw.write(enc.encode("stty size; echo tty-$((6*7)); exit\n"));
        const seen = await readUntil(con.readable, "tty-42");
        assert.match(seen, /33 77/);
        assert.match(seen, /tty-42/);
        await con.close();

        // ps and top
        const pids = await c.ps(id);
        assert.ok(pids.includes(created.pid));
        if (rt.psOptions) {
          const top = await c.top(id, "-o pid,args");
          assert.deepEqual(top.headers, ["PID", "COMMAND"]);
          assert.ok(top.processes.some((p) => p[1].includes("sleep 1000")));
        } else {
          await assert.rejects(c.top(id, "-o pid,args"), /requires a maximum of 1 arguments/);
          const top = await c.top(id);
          assert.ok(top.headers.includes("PID"), JSON.stringify(top));
          const col = top.headers.indexOf("PID");
          assert.ok(top.processes.some((p) => Number(p[col]) === created.pid), JSON.stringify(top));
        }

        // pause, resume
        await c.pause(id);
        assert.equal((await c.state(id)).status, "paused");
        await c.resume(id);
        assert.equal((await c.state(id)).status, "running");

        // update: the pids limit lands in the cgroup
        await c.update(id, { pids: { limit: 77 } });
        const cgroup = Deno.readTextFileSync(`/proc/${created.pid}/cgroup`).split("\n")
          .find((l) => /:pids:/.test(l))!.split(":")[2];
        assert.equal(Deno.readTextFileSync(`/sys/fs/cgroup/pids${cgroup}/pids.max`).trim(), "77");

        if (rt.events) {
          const stats = await c.stats(id);
          assert.ok("memory" in stats && "pids" in stats, JSON.stringify(Object.keys(stats)));
          let n = 0;
          for await (const e of c.events(id, { interval: 200 })) {
            assert.equal(e.type, "stats");
            assert.equal(e.id, id);
            if (++n === 2) break;
          }
        } else {
          await assert.rejects(
            c.stats(id),
            (e: OciRuntimeError) => /unknown command events/.test(e.message),
          );
        }

        await c.kill(id, "KILL");
        await waitFor(
          async () => (await c.state(id)).status === "stopped",
          "the container to stop",
          10_000,
        );
        await c.delete(id);
        await assert.rejects(c.state(id), OciRuntimeError);
      } finally {
        await io.close();
        await c.delete(id, { force: true }).catch(() => {});
      }
    },
  });

  Deno.test({
    name: `oci client (${rt.name}): run resolves to the exit status; output through pipes`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await using b = await makeBundle({
        args: ["sh", "-c", "echo hello; echo oops >&2; exit 7"],
        rootfs: "shared",
      });
      await using rtc = await rt.open(b.stateRoot);
      const pio = PipeIO.create({ stdin: false });
      const out = text(pio.stdout), err = text(pio.stderr);
      let started = 0;
      const status = await rtc.client.run(b.id, b.dir, { io: pio, started: (p) => started = p });
      assert.equal(status, 7);
      assert.ok(started > 0);
      assert.equal(await out, "hello\n");
      assert.equal(await err, "oops\n");
      await pio.close();
      await rtc.client.delete(b.id, { force: true }).catch(() => {});
    },
  });

  Deno.test({
    name: `oci client (${rt.name}): a missing rootfs surfaces the runtime's own message`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await using b = await makeBundle({ rootfs: "shared" });
      b.config.root = { path: `${b.dir}/no-such-rootfs`, readonly: true };
      await b.write();
      await using rtc = await rt.open(b.stateRoot);
      const e = await rtc.client.create(b.id, b.dir, { io: new NullIO() }).then(
        () => null,
        (e) => e,
      );
      assert.ok(e instanceof OciRuntimeError, String(e));
      assert.ok(e.exitStatus !== 0);
      assert.match(e.message, /no-such-rootfs|no such file or directory|No such file/i);
      if (rt.name !== "crun") {
        assert.ok(e.logMessage, "the message comes from the runtime's JSON log");
      }
      await rtc.client.delete(b.id, { force: true }).catch(() => {});
      assert.deepEqual(await rtc.client.list(), []);
    },
  });

  Deno.test({
    name:
      `oci client (${rt.name}): an aborted run leaves no runtime or container process, and no state`,
    ignore,
    sanitizeResources: false,
    async fn() {
      const marker = uniqueId("abort");
      await using b = await makeBundle({
        args: ["sh", "-c", `sleep 1000; echo ${marker}`],
        rootfs: "shared",
      });
      await using rtc = await rt.open(b.stateRoot);
      const c = rtc.client;
      const ac = new AbortController();
      let runtimePid = 0;
      const run = c.run(b.id, b.dir, {
        io: new NullIO(),
        signal: ac.signal,
        started: (p) => runtimePid = p,
      });
      await waitFor(() => processesWith(marker).length > 0, "the container to run", 10_000);
      ac.abort(new Error("cancelled by the test"));
      await assert.rejects(run, /cancelled by the test/);
      await waitFor(
        () => processesWith(marker).length === 0,
        "the container's processes to go",
        10_000,
      );
      assert.ok(runtimePid > 0);
      // the runtime process was our child and has been reaped
      assert.equal(await Deno.readTextFile(`/proc/${runtimePid}/stat`).catch(() => ""), "");
      assert.deepEqual(await c.list(), []);

      // aborted by a timeout in the middle of create: nothing either
      const t = c.run(b.id, b.dir, { io: new NullIO(), timeout: 1 });
      await assert.rejects(t, (e: Error) => e.name === "TimeoutError");
      await waitFor(
        () => processesWith(marker).length === 0,
        "the container's processes to go",
        10_000,
      );
      assert.deepEqual(await c.list(), []);
    },
  });

  Deno.test({
    name: `oci client (${rt.name}): version and features`,
    ignore,
    sanitizeResources: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "nsinit-test-ver-" });
      try {
        await using rtc = await rt.open(`${dir}/state`);
        const v = await rtc.client.version();
        assert.equal(v.name, rt.name);
        assert.match(v.version, /^\d+\.\d+/);
        if (rt.features) {
          const f = await rtc.client.features();
          assert.ok(typeof f.ociVersionMin === "string" && typeof f.ociVersionMax === "string");
        } else {
          await assert.rejects(rtc.client.features(), /unknown command features/);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name:
    "oci client (runc): 100 containers run concurrently report 100 correct, distinct exit codes",
  ignore: skipUnless(root, "needs root") || skipUnless(hasCommand("runc"), "runc is not installed"),
  sanitizeResources: false,
  async fn() {
    const bundles = await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => makeBundle({ args: ["sh", "-c", `exit ${i + 100}`], rootfs: "shared" }),
      ),
    );
    const state = await Deno.makeTempDir({ prefix: "nsinit-test-100-" });
    try {
      const c = new OciRuntimeClient({ command: "runc", root: state });
      const codes = await Promise.all(
        bundles.map((b) => c.run(b.id, b.dir, { io: new NullIO(), timeout: 300_000 })),
      );
      assert.deepEqual(codes, bundles.map((_, i) => i + 100));
      assert.deepEqual(await c.list(), []);
    } finally {
      await Promise.all(bundles.map((b) => b[Symbol.asyncDispose]()));
      await Deno.remove(state, { recursive: true });
    }
  },
});

/** The pidfd tests drive dist/nsinit (runc and crun have no --pidfd-socket) as root. */
const ignorePidfdTests = skipUnless(root, "needs root") ||
  skipUnless(hasCommand(NSINIT), "dist/nsinit is not built (deno task build)");

/** A client of dist/nsinit with its state under the bundle's state root. */
function nsinitClient(b: Bundle): OciRuntimeClient {
  return new OciRuntimeClient({ command: NSINIT, root: b.stateRoot });
}

/** The pid a pidfd refers to (its `Pid:` line in /proc/self/fdinfo), or -1 once it has exited. */
function pidfdPid(fd: number): number {
  const m = /^Pid:\s*(-?\d+)$/m.exec(Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`));
  assert.ok(m, `fd ${fd} is not a pidfd`);
  return Number(m[1]);
}

/** Waits until the process behind a pidfd has exited (the pidfd polls readable). */
async function pidfdExited(fd: number, ms = 10_000): Promise<void> {
  const set = new Int32Array([fd, 1, /* POLLIN */ 0]);
  const n = await native().nsi_ev_poll(new Uint8Array(set.buffer), 1, ms);
  assert.equal(n, 1, `the process behind pidfd ${fd} did not exit within ${ms} ms`);
}

Deno.test({
  name: "oci client (nsinit): --pidfd-socket sends pidfds of the init and of an exec'd process",
  ignore: ignorePidfdTests,
  sanitizeResources: false,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "1000"] });
    const c = nsinitClient(b);
    const fds: number[] = [];
    try {
      // create: the init's pidfd arrives before create returns
      await using sock = await PidfdSocket.temp();
      const received = sock.receivePidfd({ timeout: 10_000 });
      received.catch(() => {}); // awaited below: a failure there, not an unhandled rejection
      await c.create(b.id, b.dir, { io: new NullIO(), pidfdSocket: sock });
      const initFd = await received;
      fds.push(initFd);
      const init = (await c.state(b.id)).pid;
      assert.ok(init > 0);
      assert.equal(pidfdPid(initFd), init);
      await c.start(b.id);

      // exec: a pidfd of the exec'd process, which really reaches it
      await using esock = await PidfdSocket.temp();
      const execReceived = esock.receivePidfd({ timeout: 10_000 });
      execReceived.catch(() => {});
      await c.exec(b.id, {
        args: ["sleep", "999"],
        cwd: "/",
        user: { uid: 0, gid: 0 },
        env: ["PATH=/bin:/usr/bin"],
      }, { io: new NullIO(), detach: true, pidfdSocket: esock, pidFile: `${b.dir}/exec.pid` });
      const execFd = await execReceived;
      fds.push(execFd);
      const execPid = Number(await Deno.readTextFile(`${b.dir}/exec.pid`));
      assert.equal(pidfdPid(execFd), execPid);
      assert.notEqual(execPid, init);
      assert.equal(check(native().nsi_pidfd_signal(execFd, 9), "pidfd_send_signal"), 0);
      await pidfdExited(execFd);
      assert.equal((await c.state(b.id)).status, "running", "only the exec'd process died");

      // and the init's pidfd kills the container
      assert.equal(check(native().nsi_pidfd_signal(initFd, 9), "pidfd_send_signal"), 0);
      await pidfdExited(initFd);
      await waitFor(async () => (await c.state(b.id)).status === "stopped", "container stopped");
      await c.delete(b.id);
    } finally {
      for (const fd of fds) native().nsi_close(fd);
      await c.delete(b.id, { force: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "oci client (nsinit): an unreachable --pidfd-socket fails create, run and exec, leaving nothing",
  ignore: ignorePidfdTests,
  sanitizeResources: false,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "1000"] });
    const c = nsinitClient(b);
    const bad = { path: `${b.dir}/no-such-dir/pidfd.sock` };
    try {
      for (const mode of ["create", "run"] as const) {
        const op = mode === "create"
          ? c.create(b.id, b.dir, { io: new NullIO(), pidfdSocket: bad })
          : c.run(b.id, b.dir, { io: new NullIO(), pidfdSocket: bad, detach: true });
        await assert.rejects(op, (e: Error) => {
          assert.ok(e instanceof OciRuntimeError, String(e));
          assert.match(
            e.message,
            /--pidfd-socket: connect .*no-such-dir\/pidfd\.sock: no such file.*ENOENT/,
          );
          return true;
        });
        assert.deepEqual(await c.list(), [], "no container left");
        assert.equal(
          await Deno.stat(`${b.stateRoot}/${b.id}`).then(() => true, () => false),
          false,
          "no state directory left",
        );
        assert.deepEqual(cgroupDirsNamed(b.config.linux!.cgroupsPath!, 4), [], "no cgroup left");
      }
      // exec: the container stays as it was, and no process is added to it
      await c.create(b.id, b.dir, { io: new NullIO() });
      await c.start(b.id);
      const before = await c.ps(b.id);
      await assert.rejects(
        c.exec(b.id, { args: ["sleep", "998"], cwd: "/", user: { uid: 0, gid: 0 } }, {
          io: new NullIO(),
          detach: true,
          pidfdSocket: bad,
        }),
        /--pidfd-socket: connect .*no-such-dir\/pidfd\.sock: no such file.*ENOENT/,
      );
      assert.deepEqual(await c.ps(b.id), before, "no process added");
    } finally {
      await c.delete(b.id, { force: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "oci client: runc 1.1.5 and crun 1.8.1 have no --pidfd-socket (the nsinit test covers it)",
  ignore: skipUnless(hasCommand("runc") || hasCommand("crun"), "neither runc nor crun installed"),
  async fn() {
    for (const rt of ["runc", "crun"]) {
      if (!hasCommand(rt)) continue;
      const help = await new Deno.Command(rt, {
        args: ["create", "--help"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.doesNotMatch(
        new TextDecoder().decode(help.stdout),
        /pidfd-socket/,
        `${rt} now has --pidfd-socket: run the pidfd tests against it too`,
      );
    }
  },
});
