/**
 * Seccomp user notification end to end (`SCMP_ACT_NOTIFY`, `linux.seccomp.listenerPath`):
 * a small agent (tests/fixtures/seccomp_agent.c, compiled here) listens on the listener
 * path, receives the runtime spec's container process state with the notify fd, and answers
 * the container's `mkdir` calls; the container's call gets the agent's answer. Both places
 * the filter is loaded are covered: `run` (just before exec), `create` (before the init
 * waits for `start`), and an `exec`'d process.
 */

import assert from "node:assert/strict";
import { makeBundle } from "./helpers/bundle.ts";
import { makeTempDir } from "./helpers/paths.ts";
import { run, runNsinit } from "./helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "./helpers/skip.ts";
import { cgroupDirsNamed } from "./helpers/host.ts";
import type { LinuxSeccomp } from "../spec/config.ts";

const ignore = skipUnless(isRoot(), "real containers need root") ||
  skipUnless(hasCommand("cc"), "needs a C compiler for the seccomp agent");

const EROFS = 30;

/** A seccomp agent process listening on `socket`. */
interface Agent extends AsyncDisposable {
  /** The container process states it received, in order. */
  states(): Promise<Record<string, unknown>[]>;
  /** Waits for it to exit (it does once its filters have no process left); its log. */
  done(ms?: number): Promise<string>;
}

async function startAgent(
  dir: string,
  socket: string,
  errno: number,
  connections: number,
): Promise<Agent> {
  const bin = `${dir}/seccomp_agent`;
  const r = await run("cc", [
    "-O2",
    "-Wall",
    "-o",
    bin,
    new URL("./fixtures/seccomp_agent.c", import.meta.url).pathname,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const stateFile = `${dir}/states`;
  const child = new Deno.Command(bin, {
    args: [socket, stateFile, String(errno), String(connections)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), "ready\n");
  reader.releaseLock();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const done = async (ms = 10_000) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const t = new Promise<null>((res) => timer = setTimeout(() => res(null), ms));
    const s = await Promise.race([status, t]);
    clearTimeout(timer);
    assert.ok(s, `the agent did not exit within ${ms} ms`);
    const log = await stderr;
    assert.equal(s.code, 0, log);
    return log;
  };
  return {
    async states() {
      const text = await Deno.readTextFile(stateFile).catch(() => "");
      return text.split("\n").filter((l) => l).map((l) => JSON.parse(l));
    },
    done,
    async [Symbol.asyncDispose]() {
      if (!exited) child.kill("SIGKILL");
      await status;
      await child.stdout.cancel().catch(() => {});
      await stderr.catch(() => {});
    },
  };
}

function notifyProfile(listenerPath: string): LinuxSeccomp {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    listenerPath,
    listenerMetadata: "par-metadata",
    syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_NOTIFY" }],
  };
}

const MKDIR = /answered syscall (83|258) /;

Deno.test({
  name: "seccomp notify: run, the agent fails mkdir with its errno and gets the process state",
  ignore,
  async fn() {
    await using tmp = await makeTempDir("par-seccomp-agent");
    await using b = await makeBundle({
      args: ["sh", "-c", "mkdir /par-a; echo rc=$?; [ -d /par-a ] && echo made || echo absent"],
      readonlyRoot: false,
    });
    const socket = `${tmp.path}/agent.sock`;
    b.config.linux!.seccomp = notifyProfile(socket);
    await b.write();
    await using agent = await startAgent(tmp.path, socket, EROFS, 1);
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    await runNsinit(["--root", b.stateRoot, "delete", "--force", b.id]); // if run left it
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /rc=1\nabsent\n/);
    assert.match(r.stdout + r.stderr, /Read-only file system/);
    assert.match(await agent.done(), MKDIR);
    const [state, ...more] = await agent.states();
    assert.deepEqual(more, []);
    assert.equal(typeof state.pid, "number");
    assert.deepEqual(state, {
      ociVersion: b.config.ociVersion,
      fds: ["seccompFd"],
      pid: state.pid,
      metadata: "par-metadata",
      state: {
        ociVersion: b.config.ociVersion,
        id: b.id,
        status: "running",
        pid: state.pid,
        bundle: b.dir,
      },
    });
  },
});

Deno.test({
  name: "seccomp notify: create, start and exec, the agent makes mkdir succeed without doing it",
  ignore,
  async fn() {
    await using tmp = await makeTempDir("par-seccomp-agent");
    await using b = await makeBundle({
      args: [
        "sh",
        "-c",
        "mkdir /par-b; echo rc=$? > /result; [ -d /par-b ] && echo made >> /result || " +
        "echo absent >> /result; exec sleep 1000",
      ],
      readonlyRoot: false,
    });
    const socket = `${tmp.path}/agent.sock`;
    b.config.linux!.seccomp = notifyProfile(socket);
    b.config.annotations = { "par.test": "yes" };
    await b.write();
    await using agent = await startAgent(tmp.path, socket, 0, 2);
    const nsinit = (...args: string[]) => runNsinit(["--root", b.stateRoot, ...args]);
    try {
      const c = await nsinit("create", "--bundle", b.dir, b.id);
      assert.equal(c.code, 0, c.stderr);
      // The listener reached the agent during create, before the init waits for start.
      const [init] = await agent.states();
      const initPid = JSON.parse((await nsinit("state", b.id)).stdout).pid;
      assert.equal(init.pid, initPid);
      assert.deepEqual(init.state, {
        ociVersion: b.config.ociVersion,
        id: b.id,
        status: "running",
        pid: initPid,
        bundle: b.dir,
        annotations: { "par.test": "yes" },
      });
      // The init kept no copy of the listener (it could answer its own notifications).
      const fds = [...Deno.readDirSync(`/proc/${initPid}/fd`)].map((e) =>
        Deno.readLinkSync(`/proc/${initPid}/fd/${e.name}`)
      );
      assert.ok(!fds.some((l) => l.includes("seccomp")), fds.join(" "));
      assert.equal((await nsinit("start", b.id)).code, 0);
      let result = "";
      for (let i = 0; i < 100 && !result.includes("\n", result.indexOf("rc=")); i++) {
        await new Promise((r) => setTimeout(r, 50));
        result = await Deno.readTextFile(`${b.rootfs}/result`).catch(() => "");
      }
      assert.equal(result, "rc=0\nabsent\n", "mkdir succeeded, and made nothing");

      // An exec'd process gets a filter (and a listener) of its own.
      const e = await nsinit(
        "exec",
        "--pid-file",
        `${tmp.path}/exec.pid`,
        b.id,
        "sh",
        "-c",
        "mkdir /par-c && echo exec-rc=$?; [ -d /par-c ] && echo made || echo absent",
      );
      assert.equal(e.code, 0, e.stderr);
      assert.equal(e.stdout, "exec-rc=0\nabsent\n");
      const [, exec] = await agent.states();
      assert.equal(exec.pid, Number(await Deno.readTextFile(`${tmp.path}/exec.pid`)));
      assert.notEqual(exec.pid, initPid);
      assert.equal((exec.state as { pid: number }).pid, initPid);
      assert.equal(exec.metadata, "par-metadata");
    } finally {
      await nsinit("delete", "--force", b.id);
    }
    assert.equal((await agent.done()).match(new RegExp(MKDIR, "g"))?.length, 2);
  },
});

Deno.test({
  name: "seccomp notify: no agent at listenerPath fails create clearly, leaving nothing",
  ignore,
  async fn() {
    await using tmp = await makeTempDir("par-seccomp-agent");
    await using b = await makeBundle({ args: ["true"] });
    const socket = `${tmp.path}/nobody.sock`;
    b.config.linux!.seccomp = notifyProfile(socket);
    await b.write();
    try {
      for (const cmd of ["create", "run"]) {
        const r = await runNsinit(["--root", b.stateRoot, cmd, "--bundle", b.dir, b.id]);
        assert.notEqual(r.code, 0);
        assert.match(
          r.stderr,
          new RegExp(
            "send the seccomp notify listener to the agent at linux\\.seccomp\\.listenerPath: " +
              `connect ${socket.replaceAll(".", "\\.")}: no such file or directory \\(ENOENT\\)`,
          ),
        );
        const st = await Deno.readDir(b.stateRoot)[Symbol.asyncIterator]().next().catch(() => null);
        assert.ok(!st || st.done, "no state left");
        assert.deepEqual(cgroupDirsNamed(b.config.linux!.cgroupsPath!, 4), [], "no cgroup left");
      }
    } finally {
      // Only when the test fails: what a wrongly successful create made.
      await runNsinit(["--root", b.stateRoot, "delete", "--force", b.id]);
    }
  },
});

Deno.test({
  name: "seccomp notify: SCMP_ACT_NOTIFY without listenerPath is refused naming the field",
  ignore: skipUnless(isRoot(), "real containers need root"),
  async fn() {
    await using b = await makeBundle({ args: ["true"] });
    const profile = notifyProfile("/unused");
    delete profile.listenerPath;
    b.config.linux!.seccomp = profile;
    await b.write();
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    await runNsinit(["--root", b.stateRoot, "delete", "--force", b.id]); // if run left it
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /linux\.seccomp\.syscalls\[0\]\.action: SCMP_ACT_NOTIFY needs linux\.seccomp\.listenerPath/,
    );
    const st = await Deno.readDir(b.stateRoot)[Symbol.asyncIterator]().next().catch(() => null);
    assert.ok(!st || st.done, "no state left");
  },
});
