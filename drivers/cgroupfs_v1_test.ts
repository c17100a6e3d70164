/**
 * Real end-to-end tests on this host's cgroup v1 (hybrid) hierarchies. Every
 * cgroup is created below the test process's own cgroup (a relative cgroupsPath
 * with a unique name) and removed in `finally`; every process is one the test
 * started, killed by its pid.
 */

import assert from "node:assert/strict";
import { testRun } from "../tests/helpers/paths.ts";
import { CgroupError } from "../errors.ts";
import { readCgroupHost } from "../cgroups/paths.ts";
import { createCgroupManager, loadCgroupManager } from "./factory.ts";
import { CgroupfsV1Manager } from "./cgroupfs_v1.ts";
import type { CgroupManager } from "./driver.ts";

// Processes these tests start carry the run marker scripts/leftovers.sh looks for.
testRun();

const host = (() => {
  try {
    return readCgroupHost();
  } catch {
    return undefined;
  }
})();
const skipReason = host === undefined
  ? "no cgroups mounted"
  : host.mode === "v2"
  ? "host is pure cgroup v2 (v1 driver needs v1 or hybrid)"
  : Deno.uid() !== 0
  ? "needs root to create cgroups"
  : undefined;
const ignore = skipReason !== undefined;
const suffix = skipReason ? ` [skipped: ${skipReason}]` : "";

let counter = 0;
function uniqueName(): string {
  return `nsinit-test-${Deno.pid}-${Date.now().toString(36)}-${counter++}`;
}

const MiB = 1024 * 1024;
const SIGKILL = 9;
const SIGTERM = 15;

function read(dir: string, file: string): string {
  return Deno.readTextFileSync(`${dir}/${file}`).trim();
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The unified root's subtree_control, to put back what apply() enabled on hybrid hosts. */
function unifiedSubtree(): string | undefined {
  if (!host?.unified) return undefined;
  try {
    return read(host.unified.mountPoint, "cgroup.subtree_control");
  } catch {
    return undefined;
  }
}

function restoreUnifiedSubtree(before: string | undefined): void {
  if (before === undefined || !host?.unified) return;
  // Someone else's cgroups (a concurrent test run) may rely on it: then leave it.
  if ([...Deno.readDirSync(host.unified.mountPoint)].some((e) => e.isDirectory)) return;
  const now = unifiedSubtree() ?? "";
  const keep = new Set(before.split(/\s+/));
  for (const c of now.split(/\s+/).filter((c) => c !== "" && !keep.has(c))) {
    try {
      Deno.writeTextFileSync(`${host.unified.mountPoint}/cgroup.subtree_control`, `-${c}`);
    } catch {
      // Another cgroup still uses it; leave it.
    }
  }
}

/** Starts `cmd`, runs `fn` with a manager for a fresh cgroup, cleans up everything. */
async function withContainer(
  cmd: string[],
  cgroupsPath: string,
  fn: (m: CgroupManager, child: Deno.ChildProcess) => Promise<void>,
): Promise<void> {
  const before = unifiedSubtree();
  const m = await createCgroupManager({ id: "unused", cgroupsPath });
  const child = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  try {
    await fn(m, child);
  } finally {
    try {
      if (await m.exists()) await m.killAll(SIGKILL);
    } catch {
      // best effort; the pid kill below still runs
    }
    // Anything left in any of the container's hierarchies was started by this test.
    const leftovers = new Set<number>([child.pid]);
    for (const dir of new Set(Object.values(m.paths()))) {
      try {
        for (const l of read(dir, "cgroup.procs").split("\n")) {
          if (Number(l) > 0) leftovers.add(Number(l));
        }
      } catch {
        // not created or already removed
      }
    }
    for (const pid of leftovers) {
      try {
        if (pid > 0 && pid !== Deno.pid) Deno.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await child.status;
    await m.destroy();
    restoreUnifiedSubtree(before);
  }
}

Deno.test({
  name: `cgroupfs v1: apply, set, freeze, stats, killAll, destroy on real hierarchies${suffix}`,
  ignore,
  async fn() {
    const top = uniqueName();
    await withContainer(["sleep", "60"], `${top}/c1`, async (m, child) => {
      assert.equal(m.view().layout, "v1");
      const paths = m.paths();
      const dirs = [...new Set(Object.values(paths))];
      for (const d of dirs) assert.ok(!exists(d), `${d} must not exist yet`);

      await m.apply(child.pid);
      assert.ok(await m.exists());
      for (const d of dirs) {
        assert.ok(read(d, "cgroup.procs").split("\n").includes(String(child.pid)), d);
      }
      // /proc/<pid>/cgroup agrees for memory (the nested hierarchy).
      const procCgroup = Deno.readTextFileSync(`/proc/${child.pid}/cgroup`);
      const memLine = procCgroup.split("\n").find((l) => /^\d+:memory:/.test(l))!;
      assert.ok(paths.memory!.endsWith(memLine.split(":")[2]!), `${memLine} vs ${paths.memory}`);
      assert.ok(memLine.endsWith(`/${top}/c1`));
      // The intermediate directory was created in every hierarchy and is recorded.
      const created = (m as CgroupfsV1Manager).createdDirs();
      for (const d of dirs) {
        assert.ok(created.includes(d));
        assert.ok(created.includes(d.slice(0, d.lastIndexOf("/"))));
      }
      // cpuset got its cpus/mems from the parent.
      assert.notEqual(read(paths.cpuset!, "cpuset.cpus"), "");
      assert.notEqual(read(paths.cpuset!, "cpuset.mems"), "");

      const hugetlbDir = paths.hugetlb ??
        (host!.unifiedControllers.includes("hugetlb") ? paths[""] : undefined);
      const hugeFile = paths.hugetlb ? "hugetlb.2MB.limit_in_bytes" : "hugetlb.2MB.max";
      const withHuge = hugetlbDir !== undefined && exists(`${hugetlbDir}/${hugeFile}`);
      await m.set({
        memory: { limit: 64 * MiB, swap: 128 * MiB, reservation: 32 * MiB },
        cpu: { shares: 512, quota: 20000, period: 100000, cpus: "0", mems: "0" },
        pids: { limit: 10 },
        ...(withHuge ? { hugepageLimits: [{ pageSize: "2MB", limit: 4 * MiB }] } : {}),
      });
      assert.equal(read(paths.memory!, "memory.limit_in_bytes"), String(64 * MiB));
      assert.equal(read(paths.memory!, "memory.soft_limit_in_bytes"), String(32 * MiB));
      if (exists(`${paths.memory}/memory.memsw.limit_in_bytes`)) {
        assert.equal(read(paths.memory!, "memory.memsw.limit_in_bytes"), String(128 * MiB));
      }
      assert.equal(read(paths.cpu!, "cpu.shares"), "512");
      assert.equal(read(paths.cpu!, "cpu.cfs_quota_us"), "20000");
      assert.equal(read(paths.cpu!, "cpu.cfs_period_us"), "100000");
      assert.equal(read(paths.cpuset!, "cpuset.cpus"), "0");
      assert.equal(read(paths.cpuset!, "cpuset.mems"), "0");
      assert.equal(read(paths.pids!, "pids.max"), "10");
      if (withHuge) assert.equal(read(hugetlbDir!, hugeFile), String(4 * MiB));

      // An update lowering the limits (runc's write order handles memsw vs memory).
      await m.set({ memory: { limit: 48 * MiB, swap: 96 * MiB } });
      assert.equal(read(paths.memory!, "memory.limit_in_bytes"), String(48 * MiB));

      await m.freeze(true);
      assert.equal(read(paths.freezer!, "freezer.state"), "FROZEN");
      assert.equal(await m.frozen(), true);
      await m.freeze(false);
      assert.equal(read(paths.freezer!, "freezer.state"), "THAWED");
      assert.equal(await m.frozen(), false);

      assert.deepEqual(await m.pids(), [child.pid]);
      const stats = await m.stats();
      assert.equal(stats.pids.current, 1);
      assert.equal(stats.pids.limit, 10);
      assert.equal(stats.memory.usage.limit, 48 * MiB);
      assert.ok(stats.cpu.usage.total >= 0);
      assert.ok(Object.keys(stats.memory.raw).length > 0);
      if (withHuge) assert.ok("2MB" in stats.hugetlb);

      // Events: the watch registers on the real memory cgroup; aborting ends it.
      const ac = new AbortController();
      const it = m.events({ signal: ac.signal })[Symbol.asyncIterator]();
      const pending = it.next();
      setTimeout(() => ac.abort(), 20);
      assert.equal((await pending).done, true);

      await m.killAll(SIGKILL);
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      assert.equal(read(paths.freezer!, "freezer.state"), "THAWED");

      await m.destroy();
      assert.equal(await m.exists(), false);
      for (const d of dirs) {
        assert.ok(!exists(d), `${d} remains`);
        assert.ok(!exists(d.slice(0, d.lastIndexOf("/"))), `intermediate of ${d} remains`);
      }
      await m.destroy(); // idempotent
    });
  },
});

Deno.test({
  name:
    `cgroupfs v1: fields the host cannot honour are refused before anything is written${suffix}`,
  ignore,
  async fn() {
    await withContainer(["sleep", "60"], uniqueName(), async (m, child) => {
      await m.apply(child.pid);
      const paths = m.paths();
      const refused = async (resources: Parameters<CgroupManager["set"]>[0], field: string) => {
        await assert.rejects(() => m.set(resources), (e: unknown) => {
          assert.ok(e instanceof CgroupError, String(e));
          assert.equal(e.field, field);
          return true;
        });
        // pids.limit came first in every attempt and must not have been written.
        assert.equal(read(paths.pids!, "pids.max"), "max");
      };
      const blkioHasWeight = exists(`${paths.blkio}/blkio.weight`) ||
        exists(`${paths.blkio}/blkio.bfq.weight`);
      if (!blkioHasWeight) {
        await refused(
          { pids: { limit: 5 }, blockIO: { weight: 500 } },
          "linux.resources.blockIO.weight",
        );
      }
      if (!paths.net_cls) {
        await refused(
          { pids: { limit: 5 }, network: { classID: 1 } },
          "linux.resources.network.classID",
        );
      }
      await refused(
        { pids: { limit: 5 }, unified: { "memory.high": "1G" } },
        'linux.resources.unified["memory.high"]',
      );
      await refused(
        { pids: { limit: 5 }, hugepageLimits: [{ pageSize: "3MB", limit: 1 }] },
        "linux.resources.hugepageLimits[0].pageSize",
      );
      await refused(
        { pids: { limit: 5 }, memory: { swappiness: 200 } },
        "linux.resources.memory.swappiness",
      );
    });
  },
});

Deno.test({
  name: `cgroupfs v1: device rules reach devices.list${suffix}`,
  ignore,
  async fn() {
    await withContainer(["sleep", "60"], uniqueName(), async (m, child) => {
      await m.apply(child.pid);
      await m.set({
        devices: [
          { allow: false, access: "rwm" },
          { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
          { allow: true, type: "c", major: 1, minor: 5, access: "r" },
        ],
      });
      const list = read(m.paths().devices!, "devices.list").split("\n").sort();
      assert.deepEqual(list, ["c 1:3 rwm", "c 1:5 r"]);
    });
  },
});

Deno.test({
  name: `cgroupfs v1: killAll(SIGTERM) reaches every process, including children${suffix}`,
  ignore,
  async fn() {
    const go = await Deno.makeTempFile({ prefix: "nsinit-test-go-" });
    await Deno.remove(go);
    // The shell forks its children only once apply() has moved it into every hierarchy.
    const script = `while [ ! -e ${go} ]; do sleep 0.01; done; sleep 60 & sleep 60 & wait`;
    await withContainer(["sh", "-c", script], uniqueName(), async (m, child) => {
      await m.apply(child.pid);
      await Deno.writeTextFile(go, "");
      // The shell's children are forked after it joined: wait until they show up.
      let pids: number[] = [];
      for (let i = 0; i < 200 && pids.length < 3; i++) {
        pids = await m.pids();
        if (pids.length < 3) await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(pids.length, 3, `pids: ${pids}`);
      assert.ok(pids.includes(child.pid));
      await m.killAll(SIGTERM);
      await child.status;
      for (let i = 0; i < 200 && (await m.pids()).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(await m.pids(), []);
    }).finally(() => Deno.remove(go).catch(() => {}));
  },
});

Deno.test({
  name: `cgroupfs v1: a manager that never applied destroys and kills nothing${suffix}`,
  ignore,
  async fn() {
    const m = await createCgroupManager({ id: uniqueName() });
    assert.equal(await m.exists(), false);
    await m.killAll(SIGKILL);
    await m.destroy();
    assert.deepEqual(await m.pids(), []);
    await assert.rejects(() => m.set({ pids: { limit: 1 } }), CgroupError);
  },
});

Deno.test({
  name: `cgroupfs v1: a later manager destroys what an earlier one created${suffix}`,
  ignore,
  async fn() {
    const top = uniqueName();
    const first = (await createCgroupManager({
      id: "x",
      cgroupsPath: `${top}/c`,
    })) as CgroupfsV1Manager;
    const before = unifiedSubtree();
    const child = new Deno.Command("sleep", { args: ["60"], stdin: "null" }).spawn();
    let created: string[] = [];
    try {
      await first.apply(child.pid);
      created = first.createdDirs();
      Deno.kill(child.pid, "SIGKILL");
      await child.status;
      const second = await loadCgroupManager({ id: "x", cgroupsPath: `${top}/c` }, first.saved());
      assert.ok(await second.exists());
      await second.destroy();
      for (const d of created) assert.ok(!exists(d), `${d} remains`);
    } finally {
      try {
        Deno.kill(child.pid, "SIGKILL");
      } catch {
        // gone
      }
      await child.status;
      await first.destroy();
      restoreUnifiedSubtree(before);
    }
  },
});

Deno.test({
  name: `cgroupfs v1: destroy removes cgroups made below the container's too${suffix}`,
  ignore,
  async fn() {
    const m = (await createCgroupManager({ id: uniqueName() })) as CgroupfsV1Manager;
    const before = unifiedSubtree();
    try {
      await m.create();
      // As a container's own process may make them: rmdir of the container's cgroup then
      // fails with EBUSY until they are gone.
      const dirs = [...new Set(Object.values(m.paths()))];
      for (const d of dirs) Deno.mkdirSync(`${d}/sub/deeper`, { recursive: true });
      await m.destroy();
      for (const d of dirs) assert.ok(!exists(d), `${d} remains`);
    } finally {
      await m.destroy();
      restoreUnifiedSubtree(before);
    }
  },
});

Deno.test({
  name:
    `cgroupfs v1: a later command's destroy reads the host's layout only when a leaf does not go${suffix}`,
  ignore,
  async fn() {
    const before = unifiedSubtree();
    const first = (await createCgroupManager({
      id: "unused",
      cgroupsPath: uniqueName(),
    })) as CgroupfsV1Manager;
    let reads = 0;
    const later = (paths: Record<string, string>, created: string[]) =>
      new CgroupfsV1Manager({
        config: { id: "unused" },
        host: () => {
          reads++;
          return host!;
        },
        paths,
        created,
        removeTimeoutMs: 100,
      });
    try {
      await first.create();
      const dirs = [...new Set(Object.values(first.paths()))];
      assert.ok(dirs.length > 1 && dirs.every(exists));
      // From the saved state, as `nsinit delete` loads it: every directory goes, unread.
      const saved = first.saved();
      await later(saved.paths!, saved.created!).destroy();
      assert.equal(reads, 0);
      assert.deepEqual(dirs.filter(exists), []);
      // A saved path that is a hierarchy's mount point is refused by rmdir (EBUSY): then
      // the layout is read, which says so, and it is left alone, not retried until timeout.
      const cpu = host!.v1.find((h) => h.controllers.includes("cpu"))!;
      await later({ cpu: cpu.mountPoint }, []).destroy();
      assert.equal(reads, 1);
      assert.ok(exists(`${cpu.mountPoint}/cgroup.procs`));
    } finally {
      await first.destroy();
      restoreUnifiedSubtree(before);
    }
  },
});

Deno.test({
  name:
    `cgroupfs v1: containers made at once under a new parent all get cpuset's cpus and mems${suffix}`,
  ignore: ignore || !host?.v1.some((h) => h.controllers.includes("cpuset")),
  async fn() {
    // The first to make the parent fills its cpuset from the grandparent; the others, finding
    // it made, must not copy it while it is still empty (a join then fails with ENOSPC).
    const top = uniqueName();
    const before = unifiedSubtree();
    const managers = await Promise.all(
      Array.from(
        { length: 16 },
        (_, i) => createCgroupManager({ id: `c${i}`, cgroupsPath: `${top}/c${i}` }),
      ),
    );
    try {
      await Promise.all(managers.map((m) => m.create()));
      for (const m of managers) {
        const dir = m.paths()["cpuset"];
        assert.ok(dir, "no cpuset directory");
        for (const d of [dir.slice(0, dir.lastIndexOf("/")), dir]) {
          assert.notEqual(read(d, "cpuset.cpus"), "", `${d}/cpuset.cpus is empty`);
          assert.notEqual(read(d, "cpuset.mems"), "", `${d}/cpuset.mems is empty`);
        }
      }
    } finally {
      await Promise.allSettled(managers.map((m) => m.destroy()));
      for (const m of managers) await m.destroy().catch(() => {});
      for (const dir of new Set(managers.flatMap((m) => Object.values(m.paths())))) {
        const parent = dir.slice(0, dir.lastIndexOf("/"));
        if (parent.endsWith(`/${top}`) && exists(parent)) Deno.removeSync(parent);
      }
      restoreUnifiedSubtree(before);
    }
  },
});
