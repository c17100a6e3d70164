import assert from "node:assert/strict";
import { createCgroupManager, DRIVERS, loadCgroupManager } from "./factory.ts";
import type { DriverName } from "./driver.ts";
import { detectCgroupMode } from "../cgroups/paths.ts";
import { CgroupError } from "../errors.ts";

async function withTree(
  dirs: string[],
  files: Record<string, string>,
  fn: (root: string) => void | Promise<void>,
) {
  const root = await Deno.makeTempDir({ prefix: "nsinit-test-" });
  try {
    for (const d of dirs) await Deno.mkdir(`${root}/${d}`, { recursive: true });
    for (const [f, text] of Object.entries(files)) await Deno.writeTextFile(`${root}/${f}`, text);
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const systemdBooted = (() => {
  try {
    return Deno.statSync("/run/systemd/system").isDirectory;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "factory: systemd is refused, naming the flag, where systemd is not running",
  ignore: systemdBooted,
  async fn() {
    await assert.rejects(
      () => createCgroupManager({ id: "c1", driver: "systemd" }),
      (e: unknown) =>
        e instanceof CgroupError && e.field === "--systemd-cgroup" &&
        /systemd is not running/.test(e.message),
    );
  },
});

Deno.test("factory: picks v2 for a v2 root, v1 for v1 and hybrid roots", async () => {
  await withTree([], { "cgroup.controllers": "memory pids\n" }, async (root) => {
    const m = await createCgroupManager({ id: "c1" }, { root });
    assert.equal(m.view().layout, "v2");
    assert.deepEqual(m.paths(), { "": `${root}/c1` });
  });
  await withTree(
    ["memory", "pids", "unified"],
    { "unified/cgroup.controllers": "hugetlb\n" },
    async (root) => {
      const hybrid = await createCgroupManager({ id: "c1", cgroupsPath: "/a/b" }, { root });
      assert.equal(hybrid.view().layout, "v1");
      assert.deepEqual(hybrid.paths(), {
        memory: `${root}/memory/a/b`,
        pids: `${root}/pids/a/b`,
        "": `${root}/unified/a/b`,
      });
      const v1 = await createCgroupManager({ id: "c1" }, { root, mode: "v1" });
      assert.deepEqual(Object.keys(v1.paths()).sort(), ["memory", "pids"]);
      const v2 = await createCgroupManager({ id: "c1" }, { root, mode: "v2" });
      assert.equal(v2.view().layout, "v2");
      assert.deepEqual(v2.paths(), { "": `${root}/unified/c1` });
    },
  );
  await withTree(["memory"], {}, async (root) => {
    await assert.rejects(
      () => createCgroupManager({ id: "c1" }, { root, mode: "v2" }),
      /no cgroup2 tree/,
    );
  });
});

Deno.test("factory: on this host, detection picks the driver for its mode", async () => {
  const mode = detectCgroupMode();
  const m = await createCgroupManager({ id: "factory-test-never-applied" });
  assert.equal(m.view().layout, mode === "v2" ? "v2" : "v1");
});

Deno.test({
  name: "factory: rootless without a delegated cgroup gets the no-cgroup manager" +
    (Deno.uid() !== 0 ? " [skipped: needs root to chown the test tree]" : ""),
  ignore: Deno.uid() !== 0,
  async fn() {
    await withTree(["user"], { "cgroup.controllers": "memory\n" }, async (root) => {
      const host = {
        mode: "v2" as const,
        v1: [],
        unified: { version: 2 as const, mountPoint: root, root: "/", controllers: [] },
        unifiedControllers: ["memory"],
        own: { "": "/user/session" }, // runc's fs2 nests under the parent: <root>/user
      };
      // <root>/user belongs to root: a runtime running as uid 1000 has no delegation.
      const none = await createCgroupManager({ id: "c1", rootless: true }, { host, uid: 1000 });
      assert.equal(none.driver, "none");
      // An explicit cgroupsPath is the user's choice: try cgroupfs.
      const explicit = await createCgroupManager({ id: "c1", rootless: true, cgroupsPath: "c1" }, {
        host,
        uid: 1000,
      });
      assert.equal(explicit.view().layout, "v2");
      // Delegated: the directory is the user's.
      Deno.chownSync(`${root}/user`, 1000, 1000);
      const mine = await createCgroupManager({ id: "c1", rootless: true }, { host, uid: 1000 });
      assert.equal(mine.view().layout, "v2");
      assert.deepEqual(mine.paths(), { "": `${root}/user/c1` });
    });
  },
});

Deno.test("factory: the state's driver is the one loaded again, with its saved paths", async () => {
  await withTree([], { "cgroup.controllers": "memory pids\n" }, async (root) => {
    const first = await createCgroupManager({ id: "c1", cgroupsPath: "/a/c1" }, { root });
    const saved = first.saved();
    assert.deepEqual(saved, { driver: "cgroupfs", paths: { "": `${root}/a/c1` }, created: [] });
    // A later command resolves nothing again: the saved paths win.
    const again = await loadCgroupManager({ id: "c1" }, { ...saved, paths: { "": `${root}/x` } }, {
      root,
    });
    assert.deepEqual(again.paths(), { "": `${root}/x` });
    const none = await loadCgroupManager({ id: "c1" }, { driver: "none", paths: {} }, { root });
    assert.equal(none.driver, "none");
    assert.deepEqual(none.view(), { layout: "none", mounts: {} });
    await assert.rejects(
      () => loadCgroupManager({ id: "c1" }, { driver: "bogus" as DriverName, paths: {} }),
      /c1.*unknown cgroup driver "bogus"/,
    );
    // A saved systemd container is re-created from its state alone (delete --force works
    // even where systemd has gone).
    const sd = await loadCgroupManager({ id: "c1" }, {
      driver: "systemd",
      paths: { "": `${root}/system.slice/nsinit-c1.scope` },
      extra: {
        unit: "nsinit-c1.scope",
        slice: "system.slice",
        cgroup: "/system.slice/nsinit-c1.scope",
      },
    }, { root });
    assert.equal(sd.driver, "systemd");
    assert.equal(sd.capabilities.limitsBeforePid, false);
    assert.deepEqual(sd.paths(), { "": `${root}/system.slice/nsinit-c1.scope` });
    assert.deepEqual(sd.saved().extra, {
      unit: "nsinit-c1.scope",
      slice: "system.slice",
      cgroup: "/system.slice/nsinit-c1.scope",
    });
  });
});

Deno.test("factory: every registered driver has a constructor", () => {
  assert.deepEqual(Object.keys(DRIVERS).sort(), ["cgroupfs", "none", "systemd"]);
});

/**
 * A fake cgroup v2 root holding uid 1000's user manager cgroup (owned by it, as systemd
 * delegates it), and a runtime directory with (or without) the manager's private socket.
 */
async function withUserManager(
  opts: { socket: boolean; delegatedRoot?: boolean },
  fn: (root: string, runtimeDir: string) => void | Promise<void>,
) {
  const root = await Deno.makeTempDir({ prefix: "nsinit-test-" });
  const runtimeDir = await Deno.makeTempDir({ prefix: "nsinit-test-run-" });
  try {
    await Deno.writeTextFile(`${root}/cgroup.controllers`, "memory pids\n");
    const mgr = `${root}/user.slice/user-1000.slice/user@1000.service`;
    await Deno.mkdir(mgr, { recursive: true });
    Deno.chownSync(mgr, 1000, 1000);
    if (opts.delegatedRoot) Deno.chownSync(root, 1000, 1000);
    if (opts.socket) {
      await Deno.mkdir(`${runtimeDir}/systemd`);
      await Deno.writeTextFile(`${runtimeDir}/systemd/private`, "");
    }
    await fn(root, runtimeDir);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(runtimeDir, { recursive: true });
  }
}

const notRoot = Deno.uid() !== 0 ? "needs root to chown the fake user manager's cgroup" : false;

Deno.test({
  name:
    "factory: rootless without a delegated directory uses the user's systemd manager, said once",
  ignore: notRoot !== false,
  async fn() {
    await withUserManager({ socket: true }, async (root, userRuntimeDir) => {
      const said: string[] = [];
      const opts = { root, uid: 1000, userRuntimeDir, onWarning: (m: string) => said.push(m) };
      const m = await createCgroupManager({ id: "c1", rootless: true }, opts);
      assert.equal(m.driver, "systemd");
      const mgr = "/user.slice/user-1000.slice/user@1000.service";
      assert.deepEqual(m.paths(), { "": `${root}${mgr}/user.slice/nsinit-c1.scope` });
      assert.deepEqual(m.saved().extra?.user, {
        address: `unix:path=${userRuntimeDir}/systemd/private`,
        cgroup: mgr,
      });
      assert.deepEqual((await loadCgroupManager({ id: "c1" }, m.saved(), opts)).paths(), m.paths());
      await createCgroupManager({ id: "c2", rootless: true }, opts);
      assert.equal(said.length, 1, said.join("\n"));
      assert.match(said[0]!, /systemd user manager at unix:path=.*systemd\/private/);
      // --systemd-cgroup as a user: the user manager, with a cgroupsPath of runc's form.
      const flagged = await createCgroupManager(
        { id: "c3", driver: "systemd", cgroupsPath: "user.slice:p:x" },
        opts,
      );
      assert.deepEqual(flagged.paths(), { "": `${root}${mgr}/user.slice/p-x.scope` });
    });
  },
});

Deno.test({
  name: "factory: rootless prefers a delegated directory; without one nor a manager, none",
  ignore: notRoot !== false,
  async fn() {
    await withUserManager({ socket: true, delegatedRoot: true }, async (root, userRuntimeDir) => {
      const m = await createCgroupManager({ id: "c1", rootless: true }, {
        root,
        uid: 1000,
        userRuntimeDir,
      });
      assert.equal(m.driver, "cgroupfs");
    });
    await withUserManager({ socket: false }, async (root, userRuntimeDir) => {
      const opts = { root, uid: 1000, userRuntimeDir };
      assert.equal((await createCgroupManager({ id: "c1", rootless: true }, opts)).driver, "none");
      await assert.rejects(
        () => createCgroupManager({ id: "c1", driver: "systemd" }, opts),
        (e: unknown) =>
          e instanceof CgroupError && e.field === "--systemd-cgroup" &&
          /as uid 1000: no systemd user manager for uid 1000/.test(e.message),
      );
    });
  },
});

Deno.test("factory: no user manager on a v1 or hybrid host", async () => {
  await withTree(["memory", "pids"], {}, async (root) => {
    assert.equal(
      (await createCgroupManager({ id: "c1", rootless: true }, { root, uid: 1000 })).driver,
      "none",
    );
    await assert.rejects(
      () => createCgroupManager({ id: "c1", driver: "systemd" }, { root, uid: 1000 }),
      /cgroup v2 only/,
    );
  });
});
