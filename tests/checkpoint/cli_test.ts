// `nsinit checkpoint` and `nsinit restore` end to end with the real CRIU: runc's flags,
// --pid-file, a terminal through --console-socket, bad flags and images refused with a clear
// error that leaves the container as it was (or nothing, for a restore), and a runtime
// SIGKILLed mid-checkpoint or mid-restore recovered by `delete --force`.
import assert from "node:assert/strict";
import { makeBundle } from "../helpers/bundle.ts";
import { consoleSocket } from "../helpers/console_socket.ts";
import { mountsUnder } from "../helpers/paths.ts";
import { nsinitCommand } from "../helpers/run.ts";
import { hasCommand, skipUnless } from "../helpers/skip.ts";
import {
  assertNothingLeft,
  assertRefused,
  assertStillCounting,
  COUNTER_ARGS,
  ignoreCriu,
  nsinitIn,
  readCounter,
  runDetached,
  waitFor,
} from "./helpers.ts";

Deno.test({
  name: "cli: checkpoint, then restore -d --pid-file: an ordinary running container again",
  ignore: ignoreCriu,
  async fn() {
    await using b = await makeBundle({ args: COUNTER_ARGS, readonlyRoot: false });
    const n = nsinitIn(b);
    const ok = (r: { code: number; stderr: string }, what: string) =>
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    ok(await n(["run", "-d", "--bundle", b.dir, b.id]), "run -d");
    await waitFor(() => readCounter(b) >= 3, "the counter to start");
    const img = `${b.dir}/img`;
    ok(
      await n(["checkpoint", "--image-path", img, "--work-path", `${b.dir}/work`, b.id]),
      "checkpoint",
    );
    // As runc: a checkpoint without --leave-running deletes the container.
    const gone = await n(["state", b.id]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /does not exist/);
    assert.ok((await Deno.stat(`${b.dir}/work/dump.log`)).isFile, "the log is in --work-path");
    const at = readCounter(b);
    ok(
      await n([
        "restore",
        "-d",
        "--image-path",
        img,
        "--bundle",
        b.dir,
        "--pid-file",
        `${b.dir}/pid`,
        b.id,
      ]),
      "restore -d",
    );
    try {
      const state = JSON.parse((await n(["state", b.id])).stdout);
      assert.equal(state.status, "running");
      assert.equal(Number(await Deno.readTextFile(`${b.dir}/pid`)), state.pid);
      await waitFor(() => readCounter(b) > at + 3, "the restored counter to go on");
      const ps = await n(["ps", "--format", "json", b.id]);
      ok(ps, "ps");
      assert.ok(JSON.parse(ps.stdout).includes(state.pid));
      ok(await n(["pause", b.id]), "pause");
      ok(await n(["resume", b.id]), "resume");
      ok(await n(["kill", b.id, "KILL"]), "kill");
    } finally {
      ok(await n(["delete", "--force", b.id]), "delete --force");
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "cli: a container with a terminal restores with its terminal through --console-socket",
  // The console-socket receiver is a python3 program (tests/helpers/console_socket.ts): the
  // cgroup v2 VM has no python3.
  ignore: ignoreCriu ||
    skipUnless(hasCommand("python3"), "python3 (the console-socket receiver) is missing"),
  async fn() {
    const ticker = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done";
    await using b = await makeBundle({ args: ["sh", "-c", ticker], terminal: true });
    const n = nsinitIn(b);
    let last = 0;
    {
      await using first = await consoleSocket(`${b.dir}/c1.sock`);
      const r = await n([
        "run",
        "-d",
        "--console-socket",
        `${b.dir}/c1.sock`,
        "--bundle",
        b.dir,
        b.id,
      ]);
      assert.equal(r.code, 0, r.stderr);
      await new Promise((r) => setTimeout(r, 1200));
      const c = await n(["checkpoint", "--image-path", `${b.dir}/img`, b.id]);
      assert.equal(c.code, 0, c.stderr);
      const ticks = [...(await first.output()).matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
      assert.ok(ticks.length >= 2, `no ticks before the checkpoint: ${ticks}`);
      last = ticks.at(-1)!;
    }
    await using second = await consoleSocket(`${b.dir}/c2.sock`, "", `tick ${last + 3}`);
    const r = await n([
      "restore",
      "-d",
      "--console-socket",
      `${b.dir}/c2.sock`,
      "--image-path",
      `${b.dir}/img`,
      "--bundle",
      b.dir,
      b.id,
    ]);
    try {
      assert.equal(r.code, 0, r.stderr);
      const out = await second.output();
      assert.match(out, new RegExp(`tick ${last + 3}`), `the restored terminal said: ${out}`);
    } finally {
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "cli: bad checkpoint flags and a missing criu are refused before any work",
  ignore: ignoreCriu,
  async fn() {
    await using b = await makeBundle({ args: COUNTER_ARGS, readonlyRoot: false });
    const n = nsinitIn(b);
    await runDetached(b, n);
    try {
      const img = `${b.dir}/img`;
      const cases: [string[], RegExp][] = [
        [
          ["checkpoint", "--manage-cgroups-mode", "bogus", "--image-path", img, b.id],
          /manage-cgroups-mode: "bogus"/,
        ],
        [
          ["checkpoint", "--empty-ns", "ipc", "--image-path", img, b.id],
          /empty-ns: namespace "ipc"/,
        ],
        [
          ["checkpoint", "--page-server", "nowhere", "--image-path", img, b.id],
          /page-server: "nowhere"/,
        ],
        [["checkpoint", "--status-fd", "x", "--image-path", img, b.id], /--status-fd: "x"/],
        [["checkpoint", "--no-such-flag", b.id], /flag provided but not defined: --no-such-flag/],
        [["checkpoint", "--image-path", img, "no-such-container"], /does not exist/],
        [
          ["--criu", "/nonexistent/criu", "checkpoint", "--image-path", img, b.id],
          /criu binary "\/nonexistent\/criu" not found/,
        ],
      ];
      await assertRefused(n, cases);
      // Nothing happened to the container.
      await assertStillCounting(b, n);
    } finally {
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, b.id);
  },
});

Deno.test({
  name: "cli: a restore from a missing or empty image path fails clearly and leaves nothing",
  ignore: ignoreCriu,
  async fn() {
    await using b = await makeBundle({ args: COUNTER_ARGS, readonlyRoot: false });
    const n = nsinitIn(b);
    const missing = await n([
      "restore",
      "-d",
      "--image-path",
      `${b.dir}/none`,
      "--bundle",
      b.dir,
      b.id,
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\/none: the image path does not exist/);
    await Deno.mkdir(`${b.dir}/empty`);
    const empty = await n([
      "restore",
      "-d",
      "--image-path",
      `${b.dir}/empty`,
      "--bundle",
      b.dir,
      b.id,
    ]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /criu RESTORE failed.*restore\.log/);
    assertNothingLeft(b, b.id);
  },
});

for (const phase of ["checkpoint", "restore"] as const) {
  Deno.test({
    name: `cli: nsinit SIGKILLed mid-${phase} is recovered by delete --force`,
    ignore: ignoreCriu,
    async fn() {
      await using b = await makeBundle({ args: COUNTER_ARGS, readonlyRoot: false });
      const root = b.stateRoot;
      const n = nsinitIn(b);
      await runDetached(b, n);
      await waitFor(() => readCounter(b) >= 2, "the counter to start");
      const img = `${b.dir}/img`;
      if (phase === "restore") {
        assert.equal((await n(["checkpoint", "--image-path", img, b.id])).code, 0);
      }
      const [cmd, ...args] = nsinitCommand(
        phase === "checkpoint"
          ? ["--root", root, "checkpoint", "--image-path", img, b.id]
          : ["--root", root, "restore", "-d", "--image-path", img, "--bundle", b.dir, b.id],
      );
      const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" })
        .spawn();
      // Mid-way: CRIU is working (its log exists) and, for a restore, the rootfs is bound.
      const log = `${img}/${phase === "checkpoint" ? "dump" : "restore"}.log`;
      await waitFor(() => {
        try {
          return Deno.statSync(log).mtime!.getTime() > Date.now() - 5000 &&
            (phase === "checkpoint" || mountsUnder(`${root}/${b.id}`).length > 0);
        } catch {
          return false;
        }
      }, `${phase} to be under way`);
      child.kill("SIGKILL");
      await child.status;
      // CRIU mounts its cgroup yard in the work dir; whether a killed CRIU left its own there
      // is timing, so one stands in for it: delete --force must detach every yard.
      const yard = `${img}/.criu.cgyard.test`;
      if (phase === "restore") {
        Deno.mkdirSync(yard);
        const m = await new Deno.Command("mount", { args: ["-t", "tmpfs", "yard", yard] }).output();
        assert.equal(m.code, 0, new TextDecoder().decode(m.stderr));
      }
      const d = await n(["delete", "--force", b.id]);
      assert.equal(d.code, 0, d.stderr);
      assertNothingLeft(b, b.id);
      assert.deepEqual(mountsUnder(img), [], "a CRIU cgroup yard is still mounted");
      const at = readCounter(b);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(readCounter(b), at, "a process of the container still counts");
    },
  });
}
