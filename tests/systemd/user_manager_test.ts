/**
 * Rootless containers and sandboxes under the user's own systemd manager (`systemd --user`), on
 * a real systemd with cgroup v2: the VM of scripts/sdvm. Elsewhere the test is skipped, saying
 * why.
 *
 * As root (the VM's test unit), the test starts the system bus (the user manager asks PID 1 over
 * it to move processes it may not move itself) and `user@<uid>.service` of the test user, then
 * runs this same file once more as that user (`runuser`, `XDG_RUNTIME_DIR=/run/user/<uid>`):
 * one Deno start-up, since each costs ~10 s under the VM's software emulation. As the user
 * (`NSINIT_USER_MANAGER_INNER=1`), with no delegated cgroup directory (the process runs in the
 * root-owned cgroup of the VM's test service), it runs, through the library:
 * - the driver contract suite on `--systemd-cgroup` as a user (the user manager's scopes);
 * - a rootless container without the flag (the automatic choice): its scope in the user
 *   manager's `user.slice`, `ps`, exec, pause/resume and update seen by `systemctl --user show`
 *   and in the files, through a container re-loaded from its state; delete removes the scope;
 * - a rootless container with `--systemd-cgroup` and a 32 MB memory limit: its hog is OOM-killed;
 * - a sandbox with `memory: "32m"`: its hog is stopped.
 */

import assert from "node:assert/strict";
import { makeBundle } from "../helpers/bundle.ts";
import { driverContract } from "../helpers/driver_contract.ts";
import { uniqueId } from "../helpers/ids.ts";
import { createTestDir, removeTestDir, TEST_DIR_PREFIX, testRun } from "../helpers/paths.ts";
import { run } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { testUser } from "../helpers/user.ts";
import { createCgroupManager, loadCgroupManager } from "../../drivers/factory.ts";
import type { DriverState } from "../../drivers/driver.ts";
import { Factory } from "../../mod.ts";
import { runSandbox } from "../../sandbox/mod.ts";

const INNER = Deno.env.get("NSINIT_USER_MANAGER_INNER") === "1";
const HOG = "x=a; while true; do x=$x$x$x$x; done";

function outerReason(): string | undefined {
  if (!isRoot()) return "needs root (to start the test user's manager and switch to the user)";
  if (Deno.env.get("NSINIT_IN_SDVM") !== "1") {
    return "starts a user manager and the system bus: only in the VM of scripts/sdvm " +
      "(systemd as init on cgroup v2)";
  }
  if (!testUser()) return "the test user nsinit-test does not exist (scripts/sdvm/build.sh)";
  return undefined;
}

const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};

/** `systemctl --user show UNIT -p ...` as a record. */
async function userShow(unit: string, props: string[]): Promise<Record<string, string>> {
  const r = await run("systemctl", ["--user", "show", unit, ...props.map((p) => `-p${p}`)]);
  return Object.fromEntries(
    r.stdout.trim().split("\n").filter((l) => l.includes("=")).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
}

if (!INNER) {
  const reason = outerReason();
  Deno.test({
    name: "rootless under the user's systemd manager (cgroup v2): contract, container, sandbox",
    ignore: skipUnless(reason === undefined, `systemd user manager tests: ${reason}`),
    async fn() {
      const user = testUser()!;
      const started = await run("systemctl", ["start", "dbus.socket", `user@${user.uid}.service`]);
      if (started.code !== 0) {
        const log = await run("journalctl", ["--no-pager", "-n", "40", "-o", "cat"]);
        assert.fail(`${started.stderr}\n${log.stdout}`);
      }
      const work = TEST_DIR_PREFIX + uniqueId("userd");
      await createTestDir(work);
      try {
        Deno.chownSync(work, user.uid, user.gid);
        // The user's own copy of the transpiled modules (the VM's DENO_DIR is root's).
        const denoDir = `${work}/deno-dir`;
        const src = Deno.env.get("DENO_DIR");
        if (src) await run("cp", ["-a", src, denoDir]);
        else Deno.mkdirSync(denoDir);
        await run("chown", ["-R", `${user.uid}:${user.gid}`, denoDir]);
        const owner = { uid: user.uid, gid: user.gid };
        await using life = await makeBundle({
          args: ["sleep", "1000"],
          rootless: true,
          owner,
          cgroupsPath: null,
        });
        await using hog = await makeBundle({
          args: ["sh", "-c", HOG],
          rootless: true,
          owner,
          cgroupsPath: null,
        });
        hog.config.linux!.resources = { memory: { limit: 32 * 1024 * 1024 } };
        await hog.write();
        const r = await run("runuser", [
          "-u",
          user.name,
          "--",
          "env",
          "-i",
          `HOME=${work}`,
          `XDG_RUNTIME_DIR=/run/user/${user.uid}`,
          `DENO_DIR=${denoDir}`,
          `PATH=${Deno.env.get("PATH")}`,
          "NO_COLOR=1",
          `NSINIT_TEST_RUN=${testRun()}`,
          "NSINIT_USER_MANAGER_INNER=1",
          `NSINIT_UM_WORK=${work}`,
          `NSINIT_UM_BUNDLE=${life.dir}`,
          `NSINIT_UM_HOG=${hog.dir}`,
          Deno.execPath(),
          "test",
          "-A",
          "--no-lock",
          "--no-check",
          new URL(import.meta.url).pathname,
        ], { timeoutMs: 400_000, cwd: work });
        console.log(r.stdout);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /ok \| 4 passed \(\d+ steps\) \| 0 failed/);
      } finally {
        await removeTestDir(work);
      }
    },
  });
} else {
  const work = Deno.env.get("NSINIT_UM_WORK")!;

  /** The unit (while the user manager knows it) and the directories left after destroy. */
  const gone = async (saved: DriverState): Promise<string[]> => {
    const left = Object.values(saved.paths).filter(exists);
    const unit = String(saved.extra?.unit);
    const s = await userShow(unit, ["LoadState"]);
    if (s.LoadState !== "not-found") left.push(`unit ${unit}: LoadState=${s.LoadState}`);
    return left;
  };

  driverContract({
    name: "systemd user manager (--systemd-cgroup as a user, cgroup v2)",
    make: () => {
      const id = uniqueId("contract");
      return createCgroupManager({
        id,
        driver: "systemd",
        cgroupsPath: `user.slice:nsinit-test:${id}`,
      });
    },
    reload: (saved) => loadCgroupManager({ id: "reloaded" }, saved),
    capabilities: {
      limitsBeforePid: false,
      processes: true,
      freezer: true,
      deviceRules: true,
      events: true,
    },
    layout: "v2",
    limit: {
      resources: { pids: { limit: 64 } },
      check: (stats) => assert.equal(stats.pids.limit, 64),
    },
    refused: [
      {
        resources: { unified: { "bogus.max": "1" } },
        field: 'linux.resources.unified["bogus.max"]',
      },
    ],
    gone,
  });

  Deno.test("user manager: a rootless container's scope, ps, exec, pause/resume, update, delete", async () => {
    const warnings: string[] = [];
    const factory = new Factory({ root: `${work}/state`, onWarning: (m) => warnings.push(m) });
    const id = uniqueId("um-life");
    const c = await factory.run(id, {
      bundle: Deno.env.get("NSINIT_UM_BUNDLE")!,
      stdio: { stdin: "null" },
    });
    try {
      const saved = c.cgroup.saved();
      assert.equal(saved.driver, "systemd");
      const uid = Deno.uid();
      const um = saved.extra?.user as { address: string; cgroup: string };
      assert.equal(um.cgroup, `/user.slice/user-${uid}.slice/user@${uid}.service`);
      assert.equal(um.address, `unix:path=/run/user/${uid}/systemd/private`);
      const unit = `nsinit-${id}.scope`;
      assert.equal(saved.extra?.unit, unit);
      const dir = c.cgroup.paths()[""]!;
      assert.equal(dir, `/sys/fs/cgroup${um.cgroup}/user.slice/${unit}`);
      assert.equal(
        warnings.filter((w) => /systemd user manager/.test(w)).length,
        1,
        warnings.join("\n"),
      );
      let s = await userShow(unit, ["ActiveState", "Slice", "Delegate"]);
      assert.deepEqual(s, { ActiveState: "active", Slice: "user.slice", Delegate: "yes" });

      // Later commands: a container loaded from the state uses the same manager.
      const again = await factory.load(id);
      assert.deepEqual(await again.processes(), [c.init!.pid]);
      // exec: a process from outside the user manager's subtree joins the scope (the manager
      // asks PID 1 to move it).
      const ex = await again.exec(
        { args: ["cat", "/proc/self/cgroup"], cwd: "/", user: { uid: 0, gid: 0 } },
        { stdio: { stdin: "null", stdout: "piped" } },
      );
      const seen = (await ex.output()).stdout.trim();
      assert.match(seen, new RegExp(`^0::(/|.*/${unit.replaceAll(".", "\\.")})$`), seen);
      await again.pause();
      assert.equal(await again.status(), "paused");
      assert.equal(Deno.readTextFileSync(`${dir}/cgroup.freeze`).trim(), "1");
      await again.resume();
      assert.equal(await again.status(), "running");
      await again.set({ pids: { limit: 20 }, memory: { limit: 64 * 1024 * 1024 } });
      s = await userShow(unit, ["MemoryMax", "TasksMax"]);
      assert.deepEqual(s, { MemoryMax: String(64 * 1024 * 1024), TasksMax: "20" });
      assert.equal(Deno.readTextFileSync(`${dir}/memory.max`).trim(), String(64 * 1024 * 1024));
      assert.equal(Deno.readTextFileSync(`${dir}/pids.max`).trim(), "20");
      await again.destroy({ force: true });
      s = await userShow(unit, ["LoadState"]);
      assert.equal(s.LoadState, "not-found");
      assert.equal(exists(dir), false, `${dir} is left`);
    } finally {
      await c.destroy({ force: true }).catch(() => {});
    }
  });

  Deno.test("user manager: --systemd-cgroup as a user, a 32 MB limit OOM-kills a hog", async () => {
    const factory = new Factory({ root: `${work}/state` });
    const c = await factory.run(uniqueId("um-hog"), {
      bundle: Deno.env.get("NSINIT_UM_HOG")!,
      stdio: { stdin: "null" },
      systemdCgroup: true,
    });
    try {
      assert.equal(c.cgroup.saved().driver, "systemd");
      assert.ok(c.cgroup.saved().extra?.user, "the user manager's scope");
      assert.equal(await c.init!.exitCode(), 137);
    } finally {
      await c.destroy({ force: true });
    }
  });

  Deno.test("user manager: a sandbox with memory 32m stops a hog", async () => {
    const sb = await runSandbox(["sh", "-c", HOG], { cwd: work, memory: "32m" });
    assert.equal(sb.code, 137, sb.stderr);
  });
}
