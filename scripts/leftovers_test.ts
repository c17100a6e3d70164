import assert from "node:assert/strict";
import { uniqueId } from "../tests/helpers/ids.ts";
import { makeTempDir } from "../tests/helpers/paths.ts";
import { run } from "../tests/helpers/run.ts";
import { isRoot, skipUnless } from "../tests/helpers/skip.ts";

const SCRIPT = new URL("./leftovers.sh", import.meta.url).pathname;

function ownCgroup(controller: string): string | undefined {
  const re = new RegExp(`^\\d+:[^:]*\\b${controller}\\b[^:]*:(.*)$`, "m");
  const own = Deno.readTextFileSync("/proc/self/cgroup").match(re)?.[1];
  return own === undefined ? undefined : `/sys/fs/cgroup/${controller}${own.replace(/\/$/, "")}`;
}

Deno.test({
  name: "leftovers.sh: reports new test dirs, mounts, cgroups and marked processes, until removed",
  ignore: skipUnless(isRoot(), "leftovers.sh reads every process and mounts need root"),
  async fn() {
    await using work = await makeTempDir("leftovers");
    const snap = `${work.path}/snapshot`;
    const env = { NSINIT_TEST_RUN: uniqueId("lo"), LEFTOVERS_ANCESTOR: String(Deno.pid) };
    const snapshot = await run("bash", [SCRIPT, "snapshot", snap], { env });
    assert.equal(snapshot.code, 0, snapshot.stderr);
    // Other activity on the machine may show up too: look only for what this test makes.
    const before = await run("bash", [SCRIPT, "check", snap], { env });
    assert.doesNotMatch(before.stdout, /nsinit-test-leftover|nsinit-test-theirs/);

    const dir = await makeTempDir("leftover");
    await using theirs = await makeTempDir("theirs");
    Deno.writeTextFileSync(`${theirs.path}/.nsinit-test-run`, "another-run");
    const mnt = `${dir.path}/m`;
    Deno.mkdirSync(mnt);
    assert.ok((await run("mount", ["-t", "tmpfs", "none", mnt])).success);
    const parent = ownCgroup("pids");
    const cgroup = parent ? `${parent}/nsinit-test-${uniqueId("cg")}` : undefined;
    if (cgroup) Deno.mkdirSync(cgroup);
    const sleeper = new Deno.Command("sleep", {
      args: ["60"],
      env: { NSINIT_TEST_RUN: env.NSINIT_TEST_RUN },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const found = await run("bash", [SCRIPT, "check", snap], { env });
      assert.equal(found.code, 1, found.stderr);
      const lines = found.stdout.trimEnd().split("\n");
      assert.ok(lines.includes(`leftover state ${dir.path}`), found.stdout);
      assert.ok(
        lines.includes(
          `not counted, another test run: state ${theirs.path} (test run another-run)`,
        ),
        found.stdout,
      );
      assert.ok(!lines.includes(`leftover state ${theirs.path}`), found.stdout);
      assert.ok(lines.includes(`leftover mount ${mnt} tmpfs`), found.stdout);
      if (cgroup) assert.ok(lines.includes(`leftover cgroup ${cgroup}`), found.stdout);
      assert.ok(
        lines.some((l) =>
          l.startsWith(`leftover process ${sleeper.pid} `) && l.endsWith("sleep 60")
        ),
        found.stdout,
      );
      assert.match(lines.at(-1)!, /^leftovers: \d+ found$/);
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
      await run("umount", [mnt]);
      if (cgroup) Deno.removeSync(cgroup);
      await dir[Symbol.asyncDispose]();
    }
    await theirs[Symbol.asyncDispose]();
    const after = await run("bash", [SCRIPT, "check", snap], { env });
    assert.doesNotMatch(after.stdout, /nsinit-test-leftover|nsinit-test-theirs|nsinit-test-cg-/);
    assert.doesNotMatch(after.stdout, new RegExp(`^leftover process ${sleeper.pid} `, "m"));
  },
});

Deno.test("leftovers.sh: usage errors", async () => {
  assert.equal((await run("bash", [SCRIPT])).code, 2);
  assert.equal((await run("bash", [SCRIPT, "check", "/nonexistent/snapshot"])).code, 2);
});
