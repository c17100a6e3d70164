// End-to-end: the container lifecycle through the library, on real containers.
import assert from "node:assert/strict";
import { ConfigError, ContainerIdError, Factory, StateError, SyscallError } from "../mod.ts";
import { makeBundle } from "./helpers/bundle.ts";
import { isRoot, skipUnless } from "./helpers/skip.ts";
import { native } from "../native/ffi.ts";
import { lockDir } from "../core/state.ts";
import { REPO_ROOT } from "./helpers/paths.ts";
import { runToExit } from "./helpers/container.ts";
import { children } from "./helpers/host.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

async function text(s?: ReadableStream<Uint8Array>): Promise<string> {
  return s ? await new Response(s).text() : "";
}

function cgroupDirsGone(paths: Record<string, string>): boolean {
  return Object.values(paths).every((p) => {
    try {
      Deno.statSync(p);
      return false;
    } catch {
      return true;
    }
  });
}

Deno.test({
  name: "lifecycle: create, start, exec, pause, resume, stats, signal, destroy",
  ignore,
  async fn() {
    await using b = await makeBundle({
      args: [
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/count; sleep 0.05; done",
      ],
    });
    b.config.root!.readonly = false;
    b.config.mounts!.push({
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["size=1m"],
    });
    const factory = new Factory({ root: b.stateRoot });
    const c = await factory.create(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null" },
    });
    const paths = c.cgroup.paths();
    try {
      assert.equal(await c.status(), "created");
      const st = await c.state();
      assert.equal(st.status, "created");
      assert.equal(st.id, b.id);
      assert.ok(st.pid > 0);
      assert.equal(st.bundle, b.dir);
      assert.deepEqual(await factory.list(), [b.id]);
      await assert.rejects(c.resume(), StateError);

      await c.start();
      assert.equal(await c.status(), "running");
      await assert.rejects(
        c.start(),
        (e: Error) => e instanceof StateError && /cannot start a running container/.test(e.message),
      );

      // exec: joins the namespaces, gets its own user, env and cwd.
      const p = await c.exec(
        {
          args: ["sh", "-c", "echo $$ $(id -u) $GREETING $(pwd) $(hostname)"],
          cwd: "/etc",
          env: ["GREETING=hi"],
          user: { uid: 1000, gid: 1000 },
        },
        { stdio: { stdout: "piped", stderr: "piped" } },
      );
      const [out] = await Promise.all([text(p.stdout), text(p.stderr)]);
      assert.equal(await p.exitCode(), 0);
      const [pid, uid, greeting, cwd, host] = out.trim().split(" ");
      assert.ok(Number(pid) > 1, `exec'd pid ${pid} is in the container's pid namespace`);
      assert.deepEqual([uid, greeting, cwd, host], ["1000", "hi", "/etc", "runc"]);

      const pids = await c.processes();
      assert.ok(pids.includes(st.pid), `processes ${pids} include the init ${st.pid}`);

      // pause: the counter stops; resume: it moves again.
      const count = async () => {
        const q = await c.exec(
          { args: ["cat", "/tmp/count"], cwd: "/", user: { uid: 0, gid: 0 } },
          { stdio: { stdout: "piped" } },
        );
        const v = Number((await text(q.stdout)).trim());
        await q.status;
        return v;
      };
      await new Promise((r) => setTimeout(r, 200));
      await c.pause();
      assert.equal(await c.status(), "paused");
      await assert.rejects(
        c.exec({ args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } }),
        StateError,
      );
      await new Promise((r) => setTimeout(r, 300));
      await c.resume();
      const a = await count();
      await new Promise((r) => setTimeout(r, 300));
      const after = await count();
      assert.ok(after > a, `counter advances after resume (${a} -> ${after})`);

      const stats = await c.stats();
      assert.ok(stats.pids && stats.pids.current >= 1, "stats report pids");
      assert.ok(stats.memory && stats.memory.usage.usage > 0, "stats report memory usage");
      assert.ok(stats.cpu && stats.cpu.usage.total > 0, "stats report cpu usage");

      await assert.rejects(
        c.destroy(),
        (e: Error) => e instanceof StateError && e.message.includes("running"),
      );
      // SIGTERM would be ignored: a shell is pid 1 of its namespace and has no handler.
      await c.signal(9);
      const status = await c.wait();
      assert.equal(status.signal, 9);
      assert.equal(await c.status(), "stopped");
      await assert.rejects(c.signal(15), StateError);
    } finally {
      await c.destroy({ force: true });
    }
    assert.deepEqual(await factory.list(), []);
    assert.ok(cgroupDirsGone(paths), "destroy removes every cgroup directory");
  },
});

Deno.test({
  name: "lifecycle: kill --all, await using, and a piped stdin",
  ignore,
  async fn() {
    await using b = await makeBundle({
      args: ["sh", "-c", "sleep 100 & sleep 100 & read line; echo got:$line; wait"],
    });
    const factory = new Factory({ root: b.stateRoot });
    let paths: Record<string, string>;
    {
      await using c = await factory.run(b.id, {
        bundle: b.dir,
        spec: b.config,
        stdio: { stdin: "piped", stdout: "piped" },
      });
      paths = c.cgroup.paths();
      const w = c.init!.stdin!.getWriter();
      await w.write(new TextEncoder().encode("hello\n"));
      await w.close();
      const reader = c.init!.stdout!.getReader();
      const first = await reader.read();
      assert.equal(new TextDecoder().decode(first.value), "got:hello\n");
      reader.releaseLock();
      assert.equal((await c.cgroup.pids()).length, 3, "the init and its two sleeps");
      await c.signal(9, { all: true });
      assert.equal((await c.wait()).signal, 9);
      for (let i = 0; i < 100 && (await c.cgroup.pids()).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(await c.cgroup.pids(), []);
      assert.equal(await c.status(), "stopped");
    }
    // `await using` destroyed it.
    assert.deepEqual(await factory.list(), []);
    assert.ok(cgroupDirsGone(paths));
  },
});

Deno.test({
  name: "lifecycle: state survives a restart of the runtime and detects pid reuse",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"] });
    const factory = new Factory({ root: b.stateRoot });
    const c = await factory.create(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null" },
    });
    try {
      // Another Deno process (a restarted runtime) loads, starts and inspects it.
      const script = `
        import { Factory } from "${REPO_ROOT}/mod.ts";
        const c = await new Factory({ root: ${JSON.stringify(b.stateRoot)} }).load(${
        JSON.stringify(b.id)
      });
        const before = await c.status();
        await c.start();
        console.log(before, await c.status(), (await c.state()).pid);`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-check", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const [before, after, pid] = new TextDecoder().decode(out.stdout).trim().split(" ");
      assert.equal(new TextDecoder().decode(out.stderr), "");
      assert.deepEqual([before, after], ["created", "running"]);
      assert.equal(Number(pid), c.init!.pid);
      assert.equal(await (await factory.load(b.id)).status(), "running");

      // A recorded start time that does not match the live pid means the pid was reused.
      const file = `${b.stateRoot}/${b.id}/state.json`;
      const state = JSON.parse(await Deno.readTextFile(file));
      const real = state.initStartTime;
      state.initStartTime = real + 1;
      await Deno.writeTextFile(file, JSON.stringify(state));
      assert.equal(await (await factory.load(b.id)).status(), "stopped");
      state.initStartTime = real;
      await Deno.writeTextFile(file, JSON.stringify(state));
    } finally {
      await c.destroy({ force: true });
    }
  },
});

Deno.test({
  name: "lifecycle: a terminal process gets a pty",
  ignore,
  async fn() {
    await using b = await makeBundle({
      args: ["sh", "-c", "tty; stty size; read x; stty size; echo done"],
    });
    b.config.process!.terminal = true;
    b.config.process!.consoleSize = { height: 30, width: 100 };
    const factory = new Factory({ root: b.stateRoot });
    await using c = await factory.run(b.id, { bundle: b.dir, spec: b.config });
    const term = c.init!.terminal!;
    const reader = term.readable.getReader();
    let out = "";
    while (!out.includes("30 100")) out += new TextDecoder().decode((await reader.read()).value);
    term.resize(40, 120);
    const w = term.writable.getWriter();
    await w.write(new TextEncoder().encode("\n"));
    w.releaseLock();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      out += new TextDecoder().decode(r.value);
    }
    assert.match(out.replaceAll("\r", ""), /^\/dev\/pts\/\d+\n30 100\n\n40 120\ndone\n$/);
    assert.equal((await c.wait()).code, 0);
  },
});

Deno.test({
  name: "lifecycle: commands on one container serialize on its lock",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"] });
    const factory = new Factory({ root: b.stateRoot });
    await using c = await factory.run(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null" },
    });
    // While another command holds the container's lock, pause waits for it.
    const lock = await lockDir(`${b.stateRoot}/${b.id}`);
    let paused = false;
    const pausing = c.pause().then(() => (paused = true));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(paused, false, "pause ran while the lock was held");
    lock.release();
    await pausing;
    assert.equal(await c.status(), "paused");
    await c.resume();
    assert.equal(await c.status(), "running");
  },
});

Deno.test({
  name: "security: helpers in a container cannot reach the runtime binary through /proc/<pid>/exe",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"] });
    const factory = new Factory({ root: b.stateRoot });
    const c = await factory.create(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null" },
    });
    try {
      const pid = (await c.state()).pid;
      // The waiting init is nsinit-init's clone: it runs from a sealed memfd.
      assert.match(Deno.readLinkSync(`/proc/${pid}/exe`), /^\/memfd:nsinit-init/);
      assert.throws(() => Deno.openSync(`/proc/${pid}/exe`, { write: true }));
      // From inside, root without CAP_SYS_PTRACE cannot open it at all (non-dumpable).
      const p = await c.exec(
        {
          args: ["sh", "-c", "cat /proc/1/exe > /dev/null && echo readable || echo denied"],
          cwd: "/",
          user: { uid: 0, gid: 0 },
        },
        { stdio: { stdout: "piped", stderr: "null" } },
      );
      assert.equal(await text(p.stdout), "denied\n");
      await p.status;
    } finally {
      await c.destroy({ force: true });
    }
  },
});

Deno.test({
  name: "security: no host file descriptor or working directory reaches the container",
  ignore,
  async fn() {
    // An fd without close-on-exec in the runtime, as a careless embedder might have.
    const libc = Deno.dlopen("libc.so.6", {
      dup: { parameters: ["i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    });
    const leaked = libc.symbols.dup(2);
    try {
      assert.ok(leaked > 2);
      await using b = await makeBundle({
        args: ["sh", "-c", "ls /proc/self/fd | tr '\\n' ' '; echo; readlink /proc/self/cwd"],
      });
      const out = await runToExit(b);
      assert.equal(out.stderr, "");
      // 0-2 and the directory ls itself is reading; not the leaked fd.
      assert.equal(out.stdout, "0 1 2 3 \n/\n");
    } finally {
      libc.symbols.close(leaked);
      libc.close();
    }
  },
});

Deno.test({
  name: "security: the native kill refuses pids <= 0",
  fn() {
    const lib = native();
    assert.equal(lib.nsi_kill(0, 0), -22);
    assert.equal(lib.nsi_kill(-1, 0), -22);
    assert.equal(lib.nsi_pidfd_open(0), -22);
    assert.equal(lib.nsi_pidfd_open(-1), -22);
  },
});

Deno.test({
  name: "bad input: each gets a clear error and leaves nothing behind",
  ignore,
  async fn(t) {
    await using b = await makeBundle({ args: ["true"] });
    const factory = new Factory({ root: b.stateRoot });
    const check = async (
      name: string,
      spec: unknown,
      errorClass: new (...a: never[]) => Error,
      pattern: RegExp,
      id = `${b.id}-x`,
    ) => {
      await t.step(name, async () => {
        await assert.rejects(
          factory.run(id, {
            bundle: b.dir,
            spec: spec as never,
            stdio: { stdin: "null", stdout: "null", stderr: "null" },
          }),
          (e: Error) => {
            assert.ok(e instanceof errorClass, `${name}: ${e.constructor.name}: ${e.message}`);
            assert.match(e.message, pattern);
            return true;
          },
        );
        assert.deepEqual((await factory.list()).filter((x) => x === id), [], "no state left");
        for (const dir of ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/freezer"]) {
          assert.ok(cgroupDirsGone({ dir: `${dir}/nsinit-test-${id}` }), "no cgroup left");
        }
      });
    };
    const base = () => structuredClone(b.config);
    const noVersion = base() as unknown as Record<string, unknown>;
    delete noVersion.ociVersion;
    await check(
      "missing required field",
      noVersion,
      ConfigError,
      /ociVersion: missing required field/,
    );
    const badNs = base();
    badNs.linux!.namespaces!.push({ type: "bogus" as never });
    await check(
      "unknown namespace",
      badNs,
      ConfigError,
      /linux\.namespaces\[\d\]\.type: unknown namespace "bogus"/,
    );
    const noRoot = base();
    noRoot.root!.path = "/nonexistent/rootfs";
    await check(
      "missing rootfs",
      noRoot,
      ConfigError,
      /root\.path: rootfs "\/nonexistent\/rootfs" does not exist/,
    );
    const noExe = base();
    noExe.process!.args = ["/bin/no-such-program"];
    await check("executable not found", noExe, SyscallError, /no-such-program/);
    const noExe2 = base();
    noExe2.process!.args = ["no-such-program"];
    await check(
      "executable not in PATH",
      noExe2,
      SyscallError,
      /executable file not found in \$PATH/,
    );
    const noCwd = base();
    noCwd.process!.cwd = "/no/such/dir";
    await check(
      "cwd does not exist",
      noCwd,
      SyscallError,
      /working directory \/no\/such\/dir.*ENOENT/,
    );
    await check("id with a slash", base(), ContainerIdError, /invalid id/, "a/b");
    await check("id ..", base(), ContainerIdError, /invalid id/, "..");
    await t.step("bundle that does not exist", async () => {
      await assert.rejects(
        factory.run(`${b.id}-y`, { bundle: "/nonexistent/bundle" }),
        /bundle directory does not exist/,
      );
    });
    await t.step("broken JSON in config.json", async () => {
      await Deno.writeTextFile(b.configPath, "{ broken");
      await assert.rejects(
        factory.run(`${b.id}-z`, { bundle: b.dir }),
        (e: Error) => e instanceof ConfigError && e.message.includes("config.json"),
      );
      await b.write();
    });
    await t.step("an id that already exists", async () => {
      const c = await factory.create(b.id, {
        bundle: b.dir,
        spec: b.config,
        stdio: { stdin: "null" },
      });
      try {
        await assert.rejects(
          factory.create(b.id, { bundle: b.dir, spec: b.config }),
          (e: Error) => e instanceof ContainerIdError && /already exists/.test(e.message),
        );
        assert.equal(await c.status(), "created", "the existing container is untouched");
      } finally {
        await c.destroy({ force: true });
      }
    });
  },
});

Deno.test({
  name: "lifecycle: a create refused after its helper started leaves no process behind",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"], rootfs: "shared" });
    const factory = new Factory({ root: b.stateRoot });
    const before = children();
    // Refused at the spec (the helper has started by then), and at a taken id.
    const bad = structuredClone(b.config);
    bad.root = { path: "/no/such/rootfs" };
    await assert.rejects(
      factory.create(b.id, { bundle: b.dir, spec: bad, stdio: { stdin: "null" } }),
      (e: Error) => e instanceof ConfigError && /root\.path/.test(e.message),
    );
    assert.deepEqual(children(), before, "no helper left after a refused spec");
    assert.deepEqual(await factory.list(), []);
    await using c = await factory.create(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null" },
    });
    const running = children();
    await assert.rejects(
      factory.create(b.id, { bundle: b.dir, spec: b.config, stdio: { stdin: "null" } }),
      ContainerIdError,
    );
    assert.deepEqual(children(), running, "no helper left after a taken id");
    await c.destroy({ force: true });
    assert.deepEqual(children(), before);
  },
});
