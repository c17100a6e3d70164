/**
 * Rootless containers and sandboxes with a delegated cgroup v2 subtree, on a real cgroup v2
 * host: the VM of scripts/v2vm. As root, the test delegates a cgroup to an unprivileged user
 * the way systemd does for a user session (the directory and its cgroup.procs,
 * cgroup.subtree_control and cgroup.threads chowned to the user, controllers enabled), puts a
 * shell in a leaf of it and switches to the user, who then runs nsinit: pause/resume and
 * limits work, and `nsinit sandbox --memory 32m` stops a memory hog. Elsewhere every test
 * here is skipped with the reason printed.
 */

import assert from "node:assert/strict";
import { makeBundle } from "../helpers/bundle.ts";
import {
  createTestDir,
  removeTestDir,
  REPO_ROOT,
  TEST_DIR_PREFIX,
  testRun,
} from "../helpers/paths.ts";
import { uniqueId } from "../helpers/ids.ts";
import { run, type RunResult } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { cgroupV2 } from "../helpers/host.ts";

testRun();

const ROOT = "/sys/fs/cgroup";
const USER = { name: "nsinit-test", uid: 1001, gid: 1001, home: "/home/nsinit-test" };

function unsupported(): string | undefined {
  if (!isRoot()) return "needs root (to delegate a cgroup and switch users)";
  if (!cgroupV2()) return `${ROOT} is not cgroup2 (run these tests with scripts/v2vm/run.sh)`;
  if (Deno.env.get("NSINIT_IN_V2VM") !== "1") {
    return "adds a user to /etc/passwd: only in the throwaway VM of scripts/v2vm";
  }
  return undefined;
}
const reason = unsupported();
const ignore = skipUnless(reason === undefined, `rootless cgroup v2 tests: ${reason}`);

/** The VM has only root: add the test user (the VM's root file system is thrown away). */
function ensureUser(): void {
  const passwd = Deno.readTextFileSync("/etc/passwd");
  if (!passwd.includes(`\n${USER.name}:`) && !passwd.startsWith(`${USER.name}:`)) {
    Deno.writeTextFileSync(
      "/etc/passwd",
      `${USER.name}:x:${USER.uid}:${USER.gid}::${USER.home}:/bin/sh\n`,
      { append: true },
    );
    Deno.writeTextFileSync("/etc/group", `${USER.name}:x:${USER.gid}:\n`, { append: true });
  }
  Deno.mkdirSync(`${USER.home}/.cache`, { recursive: true });
  Deno.chownSync(USER.home, USER.uid, USER.gid);
  Deno.chownSync(`${USER.home}/.cache`, USER.uid, USER.gid);
}

/** A cgroup delegated to the user, with a leaf the user's shell starts in. */
function delegate() {
  const own = Deno.readTextFileSync("/proc/self/cgroup").trim().split("::")[1] ?? "/";
  const dir = `${ROOT}${own === "/" ? "" : own}/nsinit-test-${uniqueId("deleg")}`;
  Deno.mkdirSync(dir);
  Deno.writeTextFileSync(`${dir}/cgroup.subtree_control`, "+memory +pids +cpu");
  Deno.mkdirSync(`${dir}/runner`);
  for (const f of ["", "/cgroup.procs", "/cgroup.subtree_control", "/cgroup.threads"]) {
    Deno.chownSync(`${dir}${f}`, USER.uid, USER.gid);
  }
  for (const f of ["", "/cgroup.procs", "/cgroup.threads", "/cgroup.subtree_control"]) {
    Deno.chownSync(`${dir}/runner${f}`, USER.uid, USER.gid);
  }
  return {
    dir,
    [Symbol.asyncDispose]() {
      // Whatever the user left (a failed test), then the directories, leaves first.
      const rm = (d: string) => {
        for (const e of Deno.readDirSync(d)) if (e.isDirectory) rm(`${d}/${e.name}`);
        try {
          Deno.writeTextFileSync(`${d}/cgroup.kill`, "1");
        } catch { /* gone */ }
        for (let i = 0; i < 100; i++) {
          try {
            Deno.removeSync(d);
            return;
          } catch {
            // still populated for a moment
          }
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      };
      rm(dir);
      return Promise.resolve();
    },
  };
}

/** `deno run` as the VM's tests run it: no lock file (no network), no type check. */
const RUN = ["run", "-A", "--no-lock", "--no-check", "--quiet"];

function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `deno ARGS` as the user, in the delegated subtree's leaf: a root shell moves
 * itself there, then su switches to the user (the move needs write access to the common
 * ancestor's cgroup.procs, which only root has from the test's cgroup).
 */
async function denoAsUser(
  deleg: { dir: string },
  work: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<RunResult> {
  const script = `${work}/run-${uniqueId("cmd")}.sh`;
  const env = [
    `HOME=${USER.home}`,
    `XDG_RUNTIME_DIR=${work}/xdg`,
    `DENO_DIR=${USER.home}/.cache/deno`,
    `NSINIT_LIBDIR=${REPO_ROOT}/dist/lib`,
    `PATH=${Deno.env.get("PATH")}`,
    `LD_LIBRARY_PATH=${Deno.env.get("LD_LIBRARY_PATH") ?? ""}`,
    "NO_COLOR=1",
    `NSINIT_TEST_RUN=${testRun()}`,
    ...Object.entries(extraEnv).map(([k, v]) => `${k}=${v}`),
  ];
  const cmd = [
    "exec",
    "env",
    "-i",
    ...env,
    Deno.execPath(),
    ...args,
  ].map(quote).join(" ");
  Deno.writeTextFileSync(script, `cd ${quote(work)} || exit 1\n${cmd}\n`);
  return await run("sh", [
    "-c",
    'echo $$ > "$1/runner/cgroup.procs" && exec su -s /bin/sh -c "sh $2" nsinit-test',
    "sh",
    deleg.dir,
    script,
  ], { timeoutMs: 300_000 });
}

async function workDir() {
  const path = TEST_DIR_PREFIX + uniqueId("rlv2");
  await createTestDir(path);
  Deno.mkdirSync(`${path}/xdg`, { mode: 0o700 });
  Deno.chownSync(path, USER.uid, USER.gid);
  Deno.chownSync(`${path}/xdg`, USER.uid, USER.gid);
  return { path, [Symbol.asyncDispose]: () => removeTestDir(path) };
}

Deno.test({
  name: "rootless on cgroup v2 with a delegated subtree: lifecycle with pause, resume, update; " +
    "memory limits stop a hog in a container and in a sandbox (CLI and library)",
  ignore,
  async fn() {
    ensureUser();
    await using deleg = delegate();
    await using work = await workDir();
    const owner = { uid: USER.uid, gid: USER.gid };
    await using b = await makeBundle({
      args: ["sleep", "1000"],
      rootless: true,
      owner,
      cgroupsPath: null,
    });
    const hog = "x=a; while true; do x=$x$x$x$x; done";
    await using h = await makeBundle({
      args: ["sh", "-c", hog],
      rootless: true,
      owner,
      cgroupsPath: null,
    });
    h.config.linux!.resources = { memory: { limit: 32 * 1024 * 1024 } };
    await h.write();

    const r = await denoAsUser(deleg, work.path, [
      ...RUN,
      `${REPO_ROOT}/tests/v2/rootless_v2_user.ts`,
      b.dir,
      h.dir,
      work.path,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    // The container's cgroup is a sibling of the runtime's leaf, inside the delegation.
    assert.equal(seen.cgroupDir.startsWith(`${deleg.dir}/`), true, seen.cgroupDir);
    assert.equal(seen.procs, String(seen.pid));
    assert.equal(seen.paused, "paused");
    assert.equal(seen.resumed, "running");
    assert.equal(seen.pidsMax, "20");
    assert.equal(seen.memoryMax, String(64 * 1024 * 1024));
    assert.deepEqual(seen.processes, [seen.pid]);
    assert.equal(seen.exec, "0");
    // The container's cgroup, writable by the user on the host, is read-only inside.
    const writes = seen.cgroupWrites as string[];
    assert.deepEqual(writes.filter((l) => !l.startsWith("opts=")), [], writes.join("; "));
    assert.ok(writes.some((l) => l.split(",").includes("opts=ro")), writes.join("; "));
    assert.equal(seen.pidsMaxAfter, "20");
    assert.equal(seen.cgroupGone, true);
    assert.equal(seen.hogExit, 137);
    assert.equal(seen.sandboxHogExit, 137);
    assert.equal(seen.sandboxPidsMax, "5", seen.sandboxPidsStderr);
    assert.deepEqual(
      seen.warnings.filter((w: string) => w.includes("without cgroups")),
      [],
      "a delegated cgroup was found",
    );

    // The CLI too: `nsinit sandbox --memory 32m` stops a hog.
    const cli = await denoAsUser(deleg, work.path, [
      ...RUN,
      `${REPO_ROOT}/nsinit/main.ts`,
      "sandbox",
      "--memory",
      "32m",
      "--",
      "sh",
      "-c",
      hog,
    ]);
    assert.equal(cli.code, 137, cli.stderr);

    // The driver contract suite, as the user, on what a rootless runtime gets here.
    const contract = await denoAsUser(deleg, work.path, [
      "test",
      "-A",
      "--no-lock",
      "--no-check",
      `${REPO_ROOT}/drivers/rootless_contract_test.ts`,
    ], { NSINIT_DELEGATED_CGROUP: "1" });
    assert.equal(contract.code, 0, contract.stdout + contract.stderr);
    assert.match(
      contract.stdout,
      /driver contract: rootless: cgroupfs in a delegated cgroup v2 subtree \.\.\. .*ok/,
    );
    assert.match(contract.stdout, /ok \| 1 passed \(\d+ steps\) \| 0 failed/);
  },
});
