import assert from "node:assert/strict";
import { testRun } from "./paths.ts";
import { nsinitCommand, run } from "./run.ts";

Deno.test("run: exit code, stdout, stderr, stdin, env and cwd", async () => {
  const r = await run("sh", ["-c", 'cat; echo "[$X] $NSINIT_TEST_RUN $(pwd)" >&2; exit 7'], {
    stdin: "from stdin",
    env: { X: "y" },
    cwd: "/tmp",
  });
  assert.equal(r.code, 7);
  assert.equal(r.success, false);
  assert.equal(r.signal, null);
  assert.equal(r.timedOut, false);
  assert.equal(r.stdout, "from stdin");
  assert.equal(r.stderr, `[y] ${testRun()} /tmp\n`);
});

Deno.test("run: clearEnv keeps only the given variables and the run marker", async () => {
  const r = await run("/usr/bin/env", [], { clearEnv: true, env: { A: "1" } });
  assert.deepEqual(r.stdout.trim().split("\n").sort(), ["A=1", `NSINIT_TEST_RUN=${testRun()}`]);
});

Deno.test("run: a timeout kills the command with SIGKILL", async () => {
  const start = Date.now();
  const r = await run("sleep", ["30"], { timeoutMs: 200 });
  assert.ok(Date.now() - start < 5000);
  assert.equal(r.timedOut, true);
  assert.equal(r.signal, "SIGKILL");
  assert.equal(r.code, 137);
  await assert.rejects(run("true", [], { timeoutMs: 0 }), RangeError);
});

Deno.test("run: returns although a background grandchild keeps stdout open", async () => {
  const start = Date.now();
  const r = await run("sh", ["-c", "sleep 30 & echo $!"], { pipeGraceMs: 200 });
  const pid = Number(r.stdout.trim());
  try {
    assert.ok(Date.now() - start < 5000);
    assert.equal(r.code, 0);
    assert.ok(pid > 1);
  } finally {
    if (pid > 1) Deno.kill(pid, "SIGKILL");
  }
});

Deno.test("nsinitCommand: deno run of nsinit/main.ts, or $NSINIT_TEST_BIN", () => {
  const saved = Deno.env.get("NSINIT_TEST_BIN");
  try {
    Deno.env.delete("NSINIT_TEST_BIN");
    const [cmd, ...args] = nsinitCommand(["state", "x"]);
    assert.equal(cmd, Deno.execPath());
    assert.deepEqual(args.slice(0, 2), ["run", "-A"]);
    assert.match(args[2], /\/nsinit\/main\.ts$/);
    assert.deepEqual(args.slice(3), ["state", "x"]);
    Deno.env.set("NSINIT_TEST_BIN", "/usr/sbin/runc");
    assert.deepEqual(nsinitCommand(["list"]), ["/usr/sbin/runc", "list"]);
  } finally {
    if (saved === undefined) Deno.env.delete("NSINIT_TEST_BIN");
    else Deno.env.set("NSINIT_TEST_BIN", saved);
  }
});
