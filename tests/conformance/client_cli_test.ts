// The command lines real OCI clients send, run against dist/nsinit exactly as they send them:
// containerd's runc shim v2 (`--root R --log L --log-format json create --bundle B --pid-file P
// [--console-socket S] ID`, `start`, `exec --process F --detach --pid-file P`, `kill [--all]`,
// `delete [--force]`, `state`, `ps --format json`, `pause`, `resume`, `update -r -`,
// `events --stats`, `features`) and podman/conmon (`exec` with `--cwd/--env/--user/--tty`,
// `--systemd-cgroup`). Errors must be exit 1 plus a JSON line (`level`, `msg`, `time`) in the
// log. Results are recorded in .cache/conformance/client-cli.json for docs/conformance.md.
import assert from "node:assert/strict";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { hasCommand } from "../helpers/skip.ts";
import {
  cgroupDirs,
  exists,
  nsinitRuntime,
  openSessions,
  type Session,
  waitFor,
  writeResults,
} from "./harness.ts";
import type { ClientResult, OperationResult } from "./report.ts";
import { removeTestDir } from "../helpers/paths.ts";
import { consoleSocket } from "../helpers/console_socket.ts";
import type { RunResult } from "../helpers/run.ts";

const ignore = skipUnless(isRoot(), "client command lines run real containers: needs root");

/** The JSON lines of a `--log-format json` log. */
function jsonLog(path: string): { level: string; msg: string; time: string }[] {
  if (!exists(path)) return [];
  return Deno.readTextFileSync(path).split("\n").filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l)
  );
}

/** Asserts an error: exit 1, and the log's last line is a JSON error line matching `re`. */
function assertJsonError(r: RunResult, log: string, re: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: exit ${r.code}, stderr ${r.stderr}`);
  const last = jsonLog(log).at(-1);
  assert.ok(last, `${what}: nothing in the JSON log`);
  assert.equal(last.level, "error", `${what}: ${JSON.stringify(last)}`);
  assert.match(last.msg, re, what);
  assert.match(last.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, what);
}

Deno.test({
  name: "OCI client command lines (containerd shim v2, podman/conmon) against dist/nsinit",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const { sessions, bundle } = await openSessions([nsinitRuntime()]);
    const s: Session = sessions[0];
    const ops: OperationResult[] = [];
    const log = `${bundle.dir}/runtime-log.json`;
    /** The runtime as the shim calls it: `--root R --log L --log-format json ARGS`. */
    const shim = (args: string[], stdin?: string) =>
      s.cli(["--log", log, "--log-format", "json", ...args], stdin !== undefined ? { stdin } : {});
    const step = async (
      name: string,
      runtimeCommands: string,
      fn: () => Promise<void | string>,
    ) => {
      let op: OperationResult = { operation: name, runtimeCommands, status: "pass" };
      const ok = await t.step(name, async () => {
        try {
          const skipped = await fn();
          if (typeof skipped === "string") {
            op = { ...op, status: "skip", note: skipped };
            console.error(`skipped: ${name}: ${skipped}`);
          }
        } finally {
          await s.finish();
        }
      });
      if (!ok) op = { ...op, status: "fail" };
      ops.push(op);
    };

    try {
      await step(
        "containerd shim: full lifecycle with exec, ps, pause, update, events, kill --all, delete",
        "create --bundle B --pid-file P ID; start ID; state ID; exec --process F --detach --pid-file P2 ID; " +
          "ps --format json ID; pause ID; resume ID; update -r - ID; events --stats ID; kill --all ID KILL; delete ID",
        async () => {
          const id = s.id();
          await s.configure(
            id,
            (c) => c.process!.args = ["sh", "-c", "echo up > /tmp/up; exec sleep 1000"],
          );
          const pidFile = `${bundle.dir}/init.pid`;
          let r = await shim(["create", "--bundle", s.dir, "--pid-file", pidFile, id]);
          assert.equal(r.code, 0, r.stderr);
          const pid = Number(Deno.readTextFileSync(pidFile));
          assert.ok(pid > 0);
          let st = JSON.parse((await shim(["state", id])).stdout);
          assert.equal(st.status, "created");
          assert.equal(st.pid, pid);
          assert.equal((await shim(["start", id])).code, 0);
          assert.ok(await waitFor(() => s.readOut("up") !== undefined), "the init did not run");
          st = JSON.parse((await shim(["state", id])).stdout);
          assert.equal(st.status, "running");

          // exec as the shim does: the process spec in a file, detached, with a pid file.
          const procFile = `${bundle.dir}/process.json`;
          const execPid = `${bundle.dir}/exec.pid`;
          Deno.writeTextFileSync(
            procFile,
            JSON.stringify({
              terminal: false,
              user: { uid: 0, gid: 0 },
              args: ["sh", "-c", "echo $EXEC_VAR > /tmp/exec; exec sleep 1000"],
              env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "EXEC_VAR=from-process-json"],
              cwd: "/",
            }),
          );
          r = await shim(["exec", "--process", procFile, "--detach", "--pid-file", execPid, id]);
          assert.equal(r.code, 0, r.stderr);
          const ep = Number(Deno.readTextFileSync(execPid));
          assert.ok(await waitFor(() => s.readOut("exec") !== undefined), "exec did not run");
          assert.equal(s.readOut("exec"), "from-process-json\n");
          const ps = JSON.parse((await shim(["ps", "--format", "json", id])).stdout);
          assert.deepEqual([...ps].sort(), [pid, ep].sort(), `ps: ${JSON.stringify(ps)}`);

          assert.equal((await shim(["pause", id])).code, 0);
          assert.equal(JSON.parse((await shim(["state", id])).stdout).status, "paused");
          assert.equal((await shim(["resume", id])).code, 0);
          assert.equal(JSON.parse((await shim(["state", id])).stdout).status, "running");

          const help = await shim(["update", "--help"]);
          let skipped: string | undefined;
          if (help.code !== 0) {
            skipped = `update is not wired into the command table yet: ${help.stderr.trim()}`;
          } else {
            r = await shim(["update", "-r", "-", id], JSON.stringify({ pids: { limit: 77 } }));
            assert.equal(r.code, 0, r.stderr);
            const pidsDir = cgroupDirs(`nsinit-test-${id}`).find((d) => d.includes("/pids/"));
            if (pidsDir) assert.equal(Deno.readTextFileSync(`${pidsDir}/pids.max`).trim(), "77");
          }
          const ev = await shim(["events", "--stats", id]);
          if (ev.code !== 0) {
            skipped = (skipped ? skipped + "; " : "") +
              `events is not wired into the command table yet: ${ev.stderr.trim()}`;
          } else {
            const e = JSON.parse(ev.stdout.trim().split("\n")[0]);
            assert.equal(e.type, "stats");
            assert.equal(e.id, id);
            assert.ok(e.data?.pids?.current >= 2, `events: ${ev.stdout}`);
          }

          assert.equal((await shim(["kill", "--all", id, "KILL"])).code, 0);
          await s.waitStatus(id, "stopped");
          assert.ok(
            await waitFor(() => !exists(`/proc/${ep}`)),
            "the exec'd process survived kill --all",
          );
          // containerd kills --all again after the init exited; that must not fail.
          assert.equal((await shim(["kill", "--all", id, "KILL"])).code, 0);
          const dirs = cgroupDirs(`nsinit-test-${id}`);
          assert.equal((await shim(["delete", id])).code, 0);
          for (const d of dirs) assert.ok(!exists(d), `${d} left`);
          r = await shim(["state", id]);
          assertJsonError(r, log, /does not exist/, "state after delete");
          return skipped;
        },
      );

      await step(
        "containerd shim: console socket for the init and for exec --tty",
        "create --bundle B --pid-file P --console-socket S ID; start ID; exec --process F --detach --console-socket S2 ID",
        async () => {
          if (!hasCommand("python3")) {
            return "python3 is not installed (it receives the pty master)";
          }
          const id = s.id();
          await s.configure(id, (c) => {
            c.process!.terminal = true;
            c.process!.args = [
              "sh",
              "-c",
              "read x; echo got-$x; tty; echo init-done; exec sleep 1000",
            ];
          });
          const sock = `${bundle.dir}/console.sock`;
          s.defer(() => Deno.remove(sock).catch(() => {}));
          await using recv = await consoleSocket(sock, "hello\n", "init-done");
          const pidFile = `${bundle.dir}/init.pid`;
          const r = await shim([
            "create",
            "--bundle",
            s.dir,
            "--pid-file",
            pidFile,
            "--console-socket",
            sock,
            id,
          ]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal((await shim(["start", id])).code, 0);
          const text = await recv.output();
          assert.match(text, /got-hello/);
          assert.match(text, /\/dev\/pts\/\d+/);

          const sock2 = `${bundle.dir}/console2.sock`;
          s.defer(() => Deno.remove(sock2).catch(() => {}));
          await using recv2 = await consoleSocket(sock2, "", "exec-tty-ok");
          const procFile = `${bundle.dir}/process-tty.json`;
          Deno.writeTextFileSync(
            procFile,
            JSON.stringify({
              terminal: true,
              user: { uid: 0, gid: 0 },
              args: ["sh", "-c", "tty; echo exec-tty-ok"],
              env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
              cwd: "/",
            }),
          );
          const ex = await shim([
            "exec",
            "--process",
            procFile,
            "--detach",
            "--console-socket",
            sock2,
            id,
          ]);
          assert.equal(ex.code, 0, ex.stderr);
          const text2 = await recv2.output();
          assert.match(text2, /\/dev\/pts\/\d+/);
          assert.match(text2, /exec-tty-ok/);
          assert.equal((await shim(["kill", id, "KILL"])).code, 0);
          await s.waitStatus(id, "stopped");
          assert.equal((await shim(["delete", id])).code, 0);
          return undefined;
        },
      );

      await step(
        "kill ID SIG, delete of a running container (error, JSON log), delete --force",
        "kill ID TERM; delete ID; delete --force ID",
        async () => {
          const id = s.id();
          await s.configure(
            id,
            (c) =>
              c.process!.args = [
                "sh",
                "-c",
                'trap "echo term > /tmp/term; exit 0" TERM; while :; do sleep 0.05; done',
              ],
          );
          await s.create(id);
          await s.start(id);
          const del = await shim(["delete", id]);
          assertJsonError(del, log, /running/, "delete of a running container");
          assert.equal((await shim(["kill", id, "TERM"])).code, 0);
          assert.ok(await waitFor(() => s.readOut("term") !== undefined), "SIGTERM not delivered");
          await s.waitStatus(id, "stopped");
          assert.equal((await shim(["delete", id])).code, 0);

          const id2 = s.id();
          await s.configure(id2, (c) => c.process!.args = ["sleep", "1000"]);
          await s.create(id2);
          await s.start(id2);
          assert.equal((await shim(["delete", "--force", id2])).code, 0);
          assert.equal((await s.cli(["state", id2])).code, 1);
          // containerd deletes with --force again after a crash; an unknown id is then fine.
          assert.equal((await shim(["delete", "--force", id2])).code, 0);
        },
      );

      await step(
        "podman/conmon: exec with --cwd, --env, --user, --tty; state JSON",
        "exec --cwd DIR --env K=V --user UID:GID ID CMD; exec --tty --detach --console-socket S ID CMD",
        async () => {
          const id = s.id();
          await s.configure(id, (c) => c.process!.args = ["sleep", "1000"]);
          await s.create(id);
          await s.start(id);
          const st = JSON.parse((await shim(["state", id])).stdout);
          for (const k of ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created"]) {
            assert.ok(k in st, `state has no ${k}`);
          }
          const ex = await shim([
            "exec",
            "--cwd",
            "/tmp",
            "--env",
            "FOO=bar",
            "--user",
            "1000:1000",
            id,
            "sh",
            "-c",
            'echo "$FOO $(pwd) $(id -u):$(id -g)"; exit 3',
          ]);
          assert.equal(ex.code, 3, ex.stderr);
          assert.equal(ex.stdout, "bar /tmp 1000:1000\n");
          if (hasCommand("python3")) {
            const sock = `${bundle.dir}/podman-tty.sock`;
            s.defer(() => Deno.remove(sock).catch(() => {}));
            await using recv = await consoleSocket(sock, "", "podman-tty-ok");
            const r = await shim([
              "exec",
              "--tty",
              "--detach",
              "--console-socket",
              sock,
              id,
              "sh",
              "-c",
              "tty; echo podman-tty-ok",
            ]);
            assert.equal(r.code, 0, r.stderr);
            const text = await recv.output();
            assert.match(text, /podman-tty-ok/);
          }
          assert.equal((await shim(["delete", "--force", id])).code, 0);
        },
      );

      await step(
        "--systemd-cgroup is refused clearly (no systemd driver yet)",
        "--systemd-cgroup create --bundle B ID",
        async () => {
          const id = s.id();
          await s.configure(id, (c) => c.linux!.cgroupsPath = `system.slice:nsinit-test:${id}`);
          const r = await shim(["--systemd-cgroup", "create", "--bundle", s.dir, id]);
          assertJsonError(r, log, /systemd/, "--systemd-cgroup");
          assert.match(r.stderr, /systemd/);
          assert.equal((await s.cli(["state", id])).code, 1, "a container was created");
        },
      );

      await step("features: the OCI features structure", "features", async () => {
        const r = await shim(["features"]);
        assert.equal(r.code, 0, r.stderr);
        const f = JSON.parse(r.stdout);
        assert.equal(f.ociVersionMin, "1.0.0");
        assert.deepEqual(f.hooks, [
          "prestart",
          "createRuntime",
          "createContainer",
          "startContainer",
          "poststart",
          "poststop",
        ]);
        assert.equal(f.linux.cgroup.systemd, true); // the systemd driver (drivers/systemd.ts)
        assert.ok(f.mountOptions.includes("rbind"));
      });

      await step(
        "errors: exit 1 and a JSON log line (level, msg, time)",
        "start UNKNOWN; kill UNKNOWN",
        async () => {
          assertJsonError(
            await shim(["start", "conformance-unknown"]),
            log,
            /does not exist/,
            "start unknown",
          );
          assertJsonError(
            await shim(["kill", "conformance-unknown", "KILL"]),
            log,
            /does not exist/,
            "kill unknown",
          );
          assertJsonError(await shim(["bogus-command"]), log, /unknown command/, "unknown command");
        },
      );
    } finally {
      const result: ClientResult = {
        client: "client command lines (dist/nsinit)",
        operations: ops,
      };
      await writeResults("client-cli.json", result);
      await removeTestDir(bundle.dir);
    }
  },
});
