// End-to-end: the nsinit CLI as a subprocess, on real containers, compared with runc's
// behaviour. One bundle serves every step; each step leaves the state root empty.
import assert from "node:assert/strict";
import { makeBundle } from "./helpers/bundle.ts";
import { consoleSocket } from "./helpers/console_socket.ts";
import { uniqueId } from "./helpers/ids.ts";
import { makeTempDir, REPO_ROOT, testRun } from "./helpers/paths.ts";
import { nsinitCommand, run, runNsinit, type RunResult } from "./helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "./helpers/skip.ts";
import { processesIn } from "./security/helpers.ts";
import type { Spec } from "../spec/config.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

/** The cgroup directories a relative `cgroupsPath` resolves to, in every mounted hierarchy. */
function cgroupDirs(cgroupsPath: string): string[] {
  const own = Deno.readTextFileSync("/proc/self/cgroup").trim().split("\n").map((l) => {
    const [, ctrls, path] = l.split(/:(.*?):/);
    return { ctrls: ctrls.split(",").filter((c) => c), path };
  });
  const dirs: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mounts").split("\n")) {
    const [, mnt, type, opts] = line.split(" ");
    if (!mnt?.startsWith("/sys/fs/cgroup/") || (type !== "cgroup" && type !== "cgroup2")) continue;
    const o = opts.split(",");
    const mine = type === "cgroup2"
      ? own.find((e) => e.ctrls.length === 0)
      : own.find((e) => e.ctrls.length > 0 && e.ctrls.every((c) => o.includes(c)));
    if (mine) dirs.push(`${mnt}${mine.path.replace(/\/$/, "")}/${cgroupsPath}`);
  }
  return dirs;
}

function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** Asserts a failed command: non-zero, exactly one `nsinit: ...` line on stderr matching `re`. */
function assertFails(r: RunResult, re: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what}: should fail; stdout ${r.stdout}`);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `${what}: one line on stderr, got ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0], /^nsinit: /, what);
  assert.match(lines[0], re, what);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test({
  name: "nsinit CLI: lifecycle, run, exec, list, errors",
  ignore,
  async fn(t) {
    await using b = await makeBundle({ args: ["sleep", "1000"] });
    const base: Spec = structuredClone(b.config);
    const root = b.stateRoot;
    // A created container's init keeps the inherited stdout/stderr open (as runc's does), so
    // do not wait long for them to close after `create`.
    const cli = (args: string[], opts: { cwd?: string; stdin?: string } = {}) =>
      runNsinit(["--root", root, ...args], {
        timeoutMs: 30_000,
        pipeGraceMs: args.includes("create") ? 100 : 1000,
        ...opts,
      });
    const configure = async (change: (s: Spec) => void) => {
      b.config = structuredClone(base);
      change(b.config);
      await b.write();
    };
    const state = async (id: string) => {
      const r = await cli(["state", id]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    /** Nothing of container `id` is left: state dir, cgroup, processes. */
    const assertClean = (id: string, what: string) => {
      assert.deepEqual(entries(root), [], `${what}: state root is empty`);
      for (const d of cgroupDirs(`nsinit-test-${b.id}`)) {
        assert.ok(!exists(d), `${what}: ${d} removed`);
      }
      assert.deepEqual(processesIn(b.rootfs), [], `${what}: no process left in ${id}'s rootfs`);
    };

    await t.step("create, state, start, ps, pause, resume, kill, delete", async () => {
      await configure(() => {});
      const id = uniqueId("cli");
      const pidFile = `${b.dir}/init.pid`;
      try {
        const c = await cli(["create", "--bundle", b.dir, "--pid-file", pidFile, id]);
        assert.equal(c.code, 0, c.stderr);
        const created = await state(id);
        assert.equal(created.status, "created");
        assert.equal(created.id, id);
        assert.equal(created.bundle, b.dir);
        assert.equal(created.rootfs, b.rootfs);
        assert.ok(created.pid > 0);
        assert.equal(Deno.readTextFileSync(pidFile), String(created.pid));
        assert.deepEqual(
          Object.keys(created),
          ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"],
        );
        // runc indents with two spaces and adds no trailing newline.
        assert.equal((await cli(["state", id])).stdout, JSON.stringify(created, null, 2));

        assert.equal((await cli(["start", id])).code, 0);
        assert.equal((await state(id)).status, "running");
        const again = await cli(["start", id]);
        assertFails(again, /cannot start a running container/, "start twice");

        const psJson = await cli(["ps", "--format", "json", id]);
        assert.equal(psJson.stdout, `[${created.pid}]\n`);
        const psTable = await cli(["ps", id]);
        const rows = psTable.stdout.trim().split("\n");
        assert.match(rows[0], /\bPID\b/);
        assert.equal(rows.length, 2, psTable.stdout);
        assert.match(rows[1], new RegExp(`\\b${created.pid}\\b.*sleep 1000`));
        const psCustom = await cli(["ps", id, "-o", "pid,comm"]);
        assert.deepEqual(psCustom.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/)), [
          ["PID", "COMMAND"],
          [String(created.pid), "sleep"],
        ]);

        const list = await cli(["list"]);
        const lines = list.stdout.split("\n");
        assert.match(lines[0], /^ID {2,}PID {2,}STATUS {2,}BUNDLE {2,}CREATED {2,}OWNER$/);
        const cols = lines[1].split(/ {3,}/);
        assert.deepEqual(cols, [
          id,
          String(created.pid),
          "running",
          b.dir,
          created.created,
          "root",
        ]);
        // tab-aligned: every column starts where its header starts
        for (const h of ["PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]) {
          const i = lines[0].indexOf(h);
          assert.equal(lines[1][i - 1], " ", `${h} column aligned`);
          assert.notEqual(lines[1][i], " ", `${h} column aligned`);
        }
        const listJson = JSON.parse((await cli(["list", "--format=json"])).stdout);
        assert.deepEqual(listJson, [{ ...created, status: "running", owner: "root" }]);
        assert.equal((await cli(["list", "-q"])).stdout, `${id}\n`);

        const ex = await cli([
          "exec",
          "-e",
          "X=y",
          "--cwd",
          "/etc",
          "-u",
          "1000:1000",
          id,
          "sh",
          "-c",
          "echo $X $(pwd) $(id -u):$(id -g); exit 4",
        ]);
        assert.equal(ex.code, 4, ex.stderr);
        assert.equal(ex.stdout, "y /etc 1000:1000\n");
        const procFile = `${b.dir}/process.json`;
        await Deno.writeTextFile(
          procFile,
          JSON.stringify({
            args: ["sh", "-c", "echo from-file $(cat /proc/self/oom_score_adj)"],
            cwd: "/",
            user: { uid: 0, gid: 0 },
            // Written by the exec helper for its clone (as rootless exec needs, rootless_test.ts).
            oomScoreAdj: 250,
          }),
        );
        const exFile = await cli(["exec", "--process", procFile, id]);
        assert.equal(exFile.stdout, "from-file 250\n", exFile.stderr);
        assertFails(
          await cli(["exec", id, "/no/such/binary"]),
          /no\/such\/binary/,
          "exec missing binary",
        );
        assertFails(
          await cli(["exec", "--apparmor", "p", id, "true"]),
          /--apparmor/,
          "exec --apparmor",
        );
        assertFails(await cli(["exec", id]), /exec args cannot be empty/, "exec without args");

        assert.equal((await cli(["pause", id])).code, 0);
        assert.equal((await state(id)).status, "paused");
        assertFails(await cli(["pause", id]), /paused/, "pause twice");
        assert.equal((await cli(["resume", id])).code, 0);
        assert.equal((await state(id)).status, "running");
        assertFails(await cli(["resume", id]), /running/, "resume running");

        assertFails(await cli(["delete", id]), /running/, "delete running");
        assertFails(await cli(["kill", id, "NOPE"]), /unknown signal "NOPE"/, "bad signal");
        assert.equal((await cli(["kill", id, "KILL"])).code, 0);
        let st = await state(id);
        for (let i = 0; i < 100 && st.status !== "stopped"; i++) {
          await sleep(10);
          st = await state(id);
        }
        assert.equal(st.status, "stopped");
        assert.equal(st.pid, 0);
        assertFails(await cli(["kill", id]), /stopped/, "kill stopped");
        assert.equal((await cli(["delete", id])).code, 0);
        assertFails(await cli(["state", id]), /does not exist/, "state after delete");
        assertFails(await cli(["delete", id]), /does not exist/, "delete missing");
        assert.equal(
          (await cli(["delete", "--force", id])).code,
          0,
          "delete --force of a missing one",
        );
      } finally {
        await cli(["delete", "--force", id]);
      }
      assertClean(id, "lifecycle");
    });

    await t.step(
      "delete of a created container needs --force (the spec); list of none",
      async () => {
        const id = uniqueId("cli");
        try {
          assert.equal((await cli(["create", "-b", b.dir, id])).code, 0);
          assertFails(
            await cli(["delete", id]),
            /cannot delete a created container/,
            "delete created",
          );
          assert.equal((await cli(["delete", "--force", id])).code, 0);
        } finally {
          await cli(["delete", "-f", id]);
        }
        assertClean(id, "delete created");
        assert.equal((await cli(["list", "-f", "json"])).stdout, "null\n");
        assert.equal(
          (await cli(["list"])).stdout.trimEnd(),
          "ID          PID         STATUS      BUNDLE      CREATED     OWNER",
        );
      },
    );

    await t.step(
      "run in the foreground exits with the container's code and deletes it",
      async () => {
        await configure((s) => s.process!.args = ["sh", "-c", "echo out; echo err >&2; exit 3"]);
        const id = uniqueId("cli");
        try {
          const r = await cli(["run", "--bundle", b.dir, id]);
          assert.equal(r.code, 3, r.stderr);
          assert.equal(r.stdout, "out\n");
          assert.equal(r.stderr, "err\n");
        } finally {
          await cli(["delete", "-f", id]);
        }
        assertClean(id, "run");

        // --keep leaves it stopped; the bundle defaults to the working directory.
        try {
          const r = await cli(["run", "--keep", id], { cwd: b.dir });
          assert.equal(r.code, 3);
          assert.equal((await state(id)).status, "stopped");
        } finally {
          await cli(["delete", "-f", id]);
        }
        assertClean(id, "run --keep");
      },
    );

    await t.step("run with a terminal in the foreground copies stdio through the pty", async () => {
      await configure((s) => {
        s.process!.terminal = true;
        s.process!.args = ["sh", "-c", "read x; echo got-$x; tty; exit 5"];
      });
      const id = uniqueId("cli");
      try {
        const r = await cli(["run", "-b", b.dir, id], { stdin: "hello\n" });
        assert.equal(r.code, 5, r.stderr);
        assert.match(r.stdout, /got-hello\r\n\/dev\/pts\/\d+\r\n/);
        assertFails(await cli(["run", "-d", "-b", b.dir, id]), /console socket/, "detached tty");
      } finally {
        await cli(["delete", "-f", id]);
      }
      assertClean(id, "run with terminal");
    });

    await t.step("run forwards signals to the container", async () => {
      await configure((s) =>
        s.process!.args = [
          "sh",
          "-c",
          'trap "exit 7" TERM; echo ready; while :; do sleep 0.05; done',
        ]
      );
      const id = uniqueId("cli");
      const [cmd, ...args] = nsinitCommand(["--root", root, "run", "-b", b.dir, id]);
      const child = new Deno.Command(cmd, {
        args,
        env: { NSINIT_TEST_RUN: testRun() },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Never hang: the container may hold the pipes if something goes wrong.
      const watchdog = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited
        }
      }, 20_000);
      const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const err = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let stderr = "";
      const errDone = (async () => {
        for (let r = await err.read(); !r.done; r = await err.read()) stderr += r.value;
      })().catch(() => {});
      try {
        const first = await Promise.race([out.read(), child.status.then(() => null)]);
        assert.equal(first?.value, "ready\n", stderr);
        child.kill("SIGTERM");
        const status = await child.status;
        await Promise.race([errDone, sleep(1000)]);
        assert.equal(status.code, 7, stderr);
      } finally {
        clearTimeout(watchdog);
        try {
          child.kill("SIGKILL");
        } catch {
          // already exited
        }
        await child.status;
        await Promise.allSettled([out.cancel(), err.cancel()]);
        await cli(["delete", "-f", id]);
      }
      assertClean(id, "run with signal");
    });

    await t.step("--preserve-fds and LISTEN_FDS pass fds and set the environment", async () => {
      await configure((s) =>
        s.process!.args = ["sh", "-c", 'echo "$LISTEN_FDS $LISTEN_PID"; cat <&3; cat <&4']
      );
      const id = uniqueId("cli");
      await Deno.writeTextFile(`${b.dir}/fd3`, "three\n");
      await Deno.writeTextFile(`${b.dir}/fd4`, "four\n");
      const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
      const cmdline = nsinitCommand(["--root", root, "run", "-b", b.dir, "--preserve-fds", "1", id])
        .map(quote).join(" ");
      try {
        const r = await run("sh", [
          "-c",
          `exec 3<${b.dir}/fd3 4<${b.dir}/fd4; LISTEN_FDS=1 LISTEN_PID=$$ exec ${cmdline}`,
        ], { timeoutMs: 30_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "1 1\nthree\nfour\n");
      } finally {
        await cli(["delete", "-f", id]);
      }
      assertClean(id, "fds");
    });

    await t.step({
      name: "the console socket gets the pty master",
      ignore: !hasCommand("python3"),
      fn: async () => {
        await configure((s) => {
          s.process!.terminal = true;
          s.process!.args = ["sh", "-c", "read x; echo got-$x; tty"];
        });
        const id = uniqueId("cli");
        const sock = `${b.dir}/console.sock`;
        assertFails(
          await cli(["create", "-b", b.dir, id]),
          /console socket/,
          "terminal without console socket",
        );
        assertClean(id, "terminal without socket");
        try {
          await using recv = await consoleSocket(sock, "hello\n");
          const c = await cli(["create", "-b", b.dir, "--console-socket", sock, id]);
          assert.equal(c.code, 0, c.stderr);
          assert.equal((await cli(["start", id])).code, 0);
          const text = await recv.output();
          assert.match(text, /got-hello/, text);
          assert.match(text, /\/dev\/pts\/\d+/);
        } finally {
          await cli(["delete", "-f", id]);
        }
        assertClean(id, "console socket");
      },
    });

    await t.step("bad inputs: one line on stderr, exit 1, nothing left behind", async () => {
      const id = uniqueId("cli");
      const cases: [string, (s: Spec) => void, RegExp][] = [
        ["missing field", (s) => delete (s as Partial<Spec>).ociVersion, /ociVersion/],
        [
          "unknown namespace",
          (s) => s.linux!.namespaces!.push({ type: "bogus" as never }),
          /namespace.*bogus/,
        ],
        ["missing rootfs", (s) => s.root!.path = "no-such-rootfs", /no-such-rootfs/],
        ["executable not found", (s) => s.process!.args = ["/bin/no-such-exe"], /no-such-exe/],
        ["cwd missing", (s) => s.process!.cwd = "/no-such-dir", /no-such-dir/],
      ];
      for (const [what, change, re] of cases) {
        await configure(change);
        try {
          assertFails(await cli(["create", "-b", b.dir, id]), re, what);
        } finally {
          await cli(["delete", "-f", id]);
        }
        assertClean(id, what);
      }
      await configure(() => {});
      await Deno.writeTextFile(b.configPath, '{"ociVersion": ');
      assertFails(await cli(["create", "-b", b.dir, id]), /config\.json.*JSON/, "broken JSON");
      assertClean(id, "broken JSON");
      await configure(() => {});

      for (const bad of ["a/b", "..", "../x"]) {
        assertFails(await cli(["create", "-b", b.dir, bad]), /invalid id/, `id ${bad}`);
        assertClean(bad, `id ${bad}`);
      }
      const missing = `/tmp/nsinit-test-${uniqueId("missing")}`;
      assertFails(await cli(["create", "-b", missing, id]), /does not exist/, "missing bundle");
      assertClean(id, "missing bundle");

      try {
        assert.equal((await cli(["create", "-b", b.dir, id])).code, 0);
        assertFails(await cli(["create", "-b", b.dir, id]), /already exists/, "existing id");
        assert.deepEqual(entries(root), [id], "the existing container is untouched");
        assert.equal((await state(id)).status, "created");
      } finally {
        await cli(["delete", "-f", id]);
      }
      assertClean(id, "existing id");
    });

    await t.step("usage errors exit 1 with one line", async () => {
      assertFails(await cli(["bogus"]), /unknown command 'bogus'/, "unknown command");
      assertFails(await cli(["start"]), /"start" requires exactly 1 argument/, "missing id");
      assertFails(
        await cli(["state", "a", "b"]),
        /"state" requires exactly 1 argument/,
        "extra args",
      );
      assertFails(
        await cli(["list", "--nope"]),
        /flag provided but not defined: --nope/,
        "unknown flag",
      );
      assertFails(await cli(["list", "--format", "xml"]), /invalid format/, "bad format");
      assertFails(
        await cli(["create"]),
        /"create" requires exactly 1 argument/,
        "create without id",
      );
      assertFails(
        await cli(["--systemd-cgroup", "create", "-b", b.dir, "x"]),
        /systemd/,
        "systemd",
      );
      assert.deepEqual(entries(root), []);
    });

    await t.step("--log with --log-format json records the error", async () => {
      const log = `${b.dir}/log.json`;
      const r = await cli(["--log", log, "--log-format", "json", "state", "nope"]);
      assertFails(r, /does not exist/, "state of a missing container");
      const last = JSON.parse(Deno.readTextFileSync(log).trim().split("\n").at(-1)!);
      assert.equal(last.level, "error");
      assert.match(last.msg, /container "nope": container does not exist/);
      assert.match(last.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const text = `${b.dir}/log.txt`;
      await cli(["--log", text, "--log-format", "text", "kill", "nope"]);
      assert.match(
        Deno.readTextFileSync(text),
        /^time="[^"]+" level=error msg="container \\"nope\\": container does not exist"\n$/,
      );
    });
  },
});

Deno.test("nsinit CLI: version, help, spec", async () => {
  const v = await runNsinit(["--version"]);
  assert.equal(v.code, 0);
  const version = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)).version;
  assert.match(
    v.stdout,
    new RegExp(`^nsinit version ${version.replaceAll(".", "\\.")}\nspec: 1\\.3\\.0\n`),
  );
  assert.equal((await runNsinit(["-v"])).stdout, v.stdout);
  const h = await runNsinit(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /create/);
  assert.equal((await runNsinit(["state", "--help"])).code, 0);

  await using dir = await makeTempDir("spec");
  const r = await runNsinit(["spec", "--bundle", dir.path]);
  assert.equal(r.code, 0, r.stderr);
  const ours = Deno.readTextFileSync(`${dir.path}/config.json`);
  assert.ok(ours.startsWith('{\n\t"ociVersion"'));
  assertFails(
    await runNsinit(["spec", "-b", dir.path]),
    /File config\.json exists\. Remove it first/,
    "spec twice",
  );
  assertFails(
    await runNsinit(["spec", "-b", `${dir.path}/nope`]),
    /no such file or directory/,
    "spec in a missing dir",
  );
  if (hasCommand("runc")) {
    await using other = await makeTempDir("runc-spec");
    const rr = await run("runc", ["spec", "--bundle", other.path]);
    assert.equal(rr.code, 0, rr.stderr);
    assert.equal(ours, Deno.readTextFileSync(`${other.path}/config.json`));
    await Deno.remove(`${dir.path}/config.json`);
    await Deno.remove(`${other.path}/config.json`);
    assert.equal((await runNsinit(["spec", "--rootless", "-b", dir.path])).code, 0);
    assert.equal((await run("runc", ["spec", "--rootless", "--bundle", other.path])).code, 0);
    assert.equal(
      Deno.readTextFileSync(`${dir.path}/config.json`),
      Deno.readTextFileSync(`${other.path}/config.json`),
    );
  }
});

Deno.test({
  name: "nsinit CLI: pause stops a counter, resume restarts it; update and events --stats",
  ignore,
  async fn() {
    await using b = await makeBundle({
      args: [
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/count; sleep 0.02; done",
      ],
    });
    b.config.root!.readonly = false;
    b.config.mounts!.push({
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["size=1m"],
    });
    await b.write();
    const root = b.stateRoot;
    const ns = (...args: string[]) => runNsinit(["--root", root, ...args], { timeoutMs: 30_000 });
    const count = async () => {
      const r = await ns("exec", b.id, "cat", "/tmp/count");
      assert.equal(r.code, 0, r.stderr);
      return Number(r.stdout.trim());
    };
    assert.equal((await ns("run", "-d", "--bundle", b.dir, b.id)).code, 0);
    try {
      await sleep(200);
      assert.equal((await ns("pause", b.id)).code, 0);
      assert.equal(JSON.parse((await ns("state", b.id)).stdout).status, "paused");
      // A paused container cannot be exec'd into: read the counter from the host side.
      const pid = JSON.parse((await ns("state", b.id)).stdout).pid;
      const read = () => Number(Deno.readTextFileSync(`/proc/${pid}/root/tmp/count`).trim());
      const frozen = read();
      await sleep(300);
      assert.equal(read(), frozen, "the counter does not advance while paused");
      assert.equal((await ns("resume", b.id)).code, 0);
      await sleep(300);
      assert.ok((await count()) > frozen, "the counter advances after resume");

      const up = await ns("update", "--memory", "64m", "--pids-limit", "50", b.id);
      assert.equal(up.code, 0, up.stderr);
      const dirs = cgroupDirs(b.config.linux!.cgroupsPath!);
      const mem = dirs.find((d) => d.startsWith("/sys/fs/cgroup/memory/"))!;
      assert.equal(
        Deno.readTextFileSync(`${mem}/memory.limit_in_bytes`).trim(),
        String(64 * 1024 * 1024),
      );
      const ev = await ns("events", "--stats", b.id);
      assert.equal(ev.code, 0, ev.stderr);
      const stats = JSON.parse(ev.stdout);
      assert.equal(stats.type, "stats");
      assert.ok(stats.data.memory.usage.usage > 0);
      assert.equal(stats.data.pids.limit, 50);
    } finally {
      await ns("delete", "--force", b.id);
    }
    assert.deepEqual(entries(root), []);
  },
});
