/**
 * The v2 driver on a temp directory tree with a fake kernel (this VM has no v2
 * controllers): mkdir populates the control files a real cgroup2 directory has,
 * limited to the controllers the parent enabled; rmdir clears them first.
 */

import assert from "node:assert/strict";
import { testRun } from "../tests/helpers/paths.ts";
import { CgroupError, ConfigError } from "../errors.ts";
import { describeCgroupRoot, resolveCgroupPaths } from "../cgroups/paths.ts";
import type { DirOps } from "../cgroups/fs.ts";
import { CgroupfsV2Manager } from "./cgroupfs_v2.ts";

// Processes these tests start carry the run marker scripts/leftovers.sh looks for.
testRun();

const CONTROLLERS = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"];

const CONTROLLER_FILES: Record<string, Record<string, string>> = {
  cpu: {
    "cpu.weight": "100",
    "cpu.max": "max 100000",
    "cpu.max.burst": "0",
    "cpu.idle": "0",
    "cpu.stat": "usage_usec 7\nuser_usec 4\nsystem_usec 3\n",
  },
  memory: {
    "memory.max": "max",
    "memory.low": "0",
    "memory.high": "max",
    "memory.swap.max": "max",
    "memory.current": "0",
    "memory.stat": "anon 0\nfile 0\n",
    "memory.events": "max 0\n",
  },
  pids: { "pids.max": "max", "pids.current": "0" },
  io: { "io.weight": "default 100", "io.max": "", "io.stat": "" },
  cpuset: { "cpuset.cpus": "", "cpuset.mems": "" },
  hugetlb: {
    "hugetlb.2MB.max": "max",
    "hugetlb.2MB.current": "0",
    "hugetlb.1GB.max": "max",
    "hugetlb.1GB.current": "0",
  },
};

const CORE_FILES: Record<string, string> = {
  "cgroup.procs": "",
  "cgroup.subtree_control": "",
  "cgroup.freeze": "0",
  "cgroup.events": "populated 0\nfrozen 0\n",
  "cgroup.kill": "",
  "cgroup.max.descendants": "max",
};

function enabledIn(dir: string): string[] {
  const text = Deno.readTextFileSync(`${dir}/cgroup.subtree_control`);
  return text.split(/\s+/).filter((w) => w.startsWith("+") || /^[a-z]/.test(w)).map((w) =>
    w.replace(/^\+/, "")
  );
}

const fakeKernel: DirOps = {
  async mkdir(path) {
    await Deno.mkdir(path);
    const enabled = enabledIn(path.slice(0, path.lastIndexOf("/")));
    const files: Record<string, string> = {
      ...CORE_FILES,
      "cgroup.controllers": enabled.join(" "),
    };
    for (const c of enabled) Object.assign(files, CONTROLLER_FILES[c] ?? {});
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${path}/${name}`, text);
    }
  },
  async rmdir(path) {
    for await (const e of Deno.readDir(path)) {
      if (e.isFile) await Deno.remove(`${path}/${e.name}`);
    }
    await Deno.remove(path);
  },
};

/** Makes a fake v2 root, runs `fn`, removes the tree. */
async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "nsinit-test-cg2-" });
  try {
    await Deno.writeTextFile(`${root}/cgroup.controllers`, CONTROLLERS.join(" ") + "\n");
    for (const [name, text] of Object.entries(CORE_FILES)) {
      await Deno.writeTextFile(`${root}/${name}`, text);
    }
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function manager(root: string, cgroupsPath: string, freezeTimeoutMs = 2000): CgroupfsV2Manager {
  const host = describeCgroupRoot(root);
  const config = { id: "c1", cgroupsPath };
  return new CgroupfsV2Manager({
    config,
    host,
    paths: resolveCgroupPaths(host, config),
    dirOps: fakeKernel,
    freezeTimeoutMs,
  });
}

/** Plays the kernel's freezer: mirrors cgroup.freeze into cgroup.events. */
function emulateFreezer(dir: string): () => void {
  const id = setInterval(() => {
    try {
      const f = Deno.readTextFileSync(`${dir}/cgroup.freeze`).trim();
      // Atomically, as the kernel's file never reads half-written.
      Deno.writeTextFileSync(`${dir}/.events.tmp`, `populated 1\nfrozen ${f === "1" ? 1 : 0}\n`);
      Deno.renameSync(`${dir}/.events.tmp`, `${dir}/cgroup.events`);
    } catch {
      // removed
    }
  }, 2);
  return () => clearInterval(id);
}

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

Deno.test("cgroupfs v2: apply creates the path, enables controllers on the way down, joins the pid", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "pod/c1");
    assert.equal(m.view().layout, "v2");
    assert.deepEqual(m.paths(), { "": `${root}/pod/c1` });
    await assert.rejects(() => m.apply(0), RangeError);
    await assert.rejects(() => m.apply(-1), RangeError);
    await m.apply(4242);
    assert.deepEqual(m.createdDirs(), [`${root}/pod`, `${root}/pod/c1`]);
    assert.deepEqual(enabledIn(root), CONTROLLERS);
    assert.deepEqual(enabledIn(`${root}/pod`), CONTROLLERS);
    assert.equal(read(`${root}/pod/c1`, "cgroup.procs"), "4242");
    assert.equal(read(`${root}/pod/c1`, "cgroup.subtree_control"), ""); // the leaf enables nothing
    assert.equal(await m.exists(), true);
    await m.destroy();
    assert.equal(await m.exists(), false);
    assert.ok(!exists(`${root}/pod`));
  });
});

Deno.test("cgroupfs v2: set writes every resource in v2 form", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "c1");
    await m.apply(4242);
    const dir = m.paths()[""]!;
    await m.set({
      memory: { limit: 100 * 1024 * 1024, swap: 300 * 1024 * 1024, reservation: 1024 },
      cpu: { shares: 1024, quota: 50000, period: 100000, cpus: "0-1", mems: "0", idle: 1 },
      pids: { limit: -1 },
      blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }] },
      hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }],
      devices: [{ allow: true, access: "rwm" }],
      unified: { "memory.high": "50M" },
    });
    assert.equal(read(dir, "memory.max"), String(100 * 1024 * 1024));
    assert.equal(read(dir, "memory.swap.max"), String(200 * 1024 * 1024));
    assert.equal(read(dir, "memory.low"), "1024");
    assert.equal(read(dir, "memory.high"), "50M");
    assert.equal(read(dir, "cpu.weight"), "39");
    assert.equal(read(dir, "cpu.max"), "50000 100000");
    assert.equal(read(dir, "cpu.idle"), "1");
    assert.equal(read(dir, "cpuset.cpus"), "0-1");
    assert.equal(read(dir, "cpuset.mems"), "0");
    assert.equal(read(dir, "pids.max"), "max");
    assert.equal(read(dir, "io.weight"), "4950");
    assert.equal(read(dir, "io.max"), "8:0 rbps=1000");
    assert.equal(read(dir, "hugetlb.2MB.max"), "4194304");
    await m.destroy();
  });
});

Deno.test("cgroupfs v2: refused fields write nothing", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "c1");
    await m.apply(4242);
    const dir = m.paths()[""]!;
    const refused = async (
      resources: Parameters<CgroupfsV2Manager["set"]>[0],
      field: string,
      text: RegExp,
    ) => {
      await assert.rejects(() => m.set(resources), (e: unknown) => {
        assert.ok(e instanceof CgroupError, String(e));
        assert.equal(e.field, field);
        assert.match(e.message, text);
        return true;
      });
      assert.equal(read(dir, "pids.max"), "max");
    };
    await refused(
      {
        pids: { limit: 5 },
        devices: [{ allow: false, access: "rwm" }, { allow: true, type: "x", access: "r" }],
      },
      "linux.resources.devices[1].type",
      /invalid device type/,
    );
    // A temp tree is no cgroup: attaching the filter fails, and nothing was written.
    await refused(
      { pids: { limit: 5 }, devices: [{ allow: false, access: "rwm" }] },
      "linux.resources.devices",
      /cannot attach the eBPF device filter/,
    );
    await refused(
      { pids: { limit: 5 }, memory: { swappiness: 10 } },
      "linux.resources.memory.swappiness",
      /v1/,
    );
    await refused(
      { pids: { limit: 5 }, network: { classID: 7 } },
      "linux.resources.network.classID",
      /net_cls cgroup controller is not available/,
    );
    await refused(
      { pids: { limit: 5 }, hugepageLimits: [{ pageSize: "64KB", limit: 1 }] },
      "linux.resources.hugepageLimits[0].pageSize",
      /"64KB" is not supported/,
    );
    await refused(
      { pids: { limit: 5 }, rdma: { mlx4_0: { hcaHandles: 1 } } },
      'linux.resources.rdma["mlx4_0"]',
      /rdma cgroup controller is not available/,
    );
    await refused(
      { pids: { limit: 5 }, unified: { "misc.max": "x" } },
      'linux.resources.unified["misc.max"]',
      /not available/,
    );
    await m.destroy();
  });
});

Deno.test("cgroupfs v2: set before apply, and checkBeforeUpdate", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "c1");
    await assert.rejects(() => m.set({ pids: { limit: 1 } }), /does not exist/);
    // Device rules alone take a way of their own (no file is read): the same refusal.
    await assert.rejects(
      () => m.set({ devices: [{ allow: true, access: "rwm" }] }),
      (e: unknown) =>
        e instanceof CgroupError && /does not exist \(apply\(\) first\)/.test(e.message),
    );
    await m.apply(4242);
    const dir = m.paths()[""]!;
    await Deno.writeTextFile(`${dir}/memory.current`, "5000\n");
    await assert.rejects(
      () => m.set({ memory: { limit: 4096, checkBeforeUpdate: true } }),
      (e: unknown) => e instanceof CgroupError && e.field === "linux.resources.memory.limit",
    );
    assert.equal(read(dir, "memory.max"), "max");
    await m.set({ memory: { limit: 4096 } }); // without the check, the kernel decides
    assert.equal(read(dir, "memory.max"), "4096");
    await m.destroy();
  });
});

Deno.test("cgroupfs v2: freeze and thaw wait for cgroup.events", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "c1");
    await m.apply(4242);
    const dir = m.paths()[""]!;
    const stop = emulateFreezer(dir);
    try {
      await m.freeze(true);
      assert.equal(read(dir, "cgroup.freeze"), "1");
      assert.equal(await m.frozen(), true);
      await m.freeze(false);
      assert.equal(read(dir, "cgroup.freeze"), "0");
      assert.equal(await m.frozen(), false);
    } finally {
      stop();
    }
    await m.destroy();
  });
});

Deno.test("cgroupfs v2: a freeze that never completes times out and is undone", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "c1", 50);
    await m.apply(4242);
    const dir = m.paths()[""]!;
    await assert.rejects(() => m.freeze(true), /timed out after 50 ms waiting for frozen 1/);
    assert.equal(read(dir, "cgroup.freeze"), "0");
    await m.destroy();
  });
});

Deno.test("cgroupfs v2: killAll(SIGKILL) uses cgroup.kill", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "c1");
    await m.apply(4242);
    await m.killAll(9);
    assert.equal(read(m.paths()[""]!, "cgroup.kill"), "1");
    await m.destroy();
  });
});

Deno.test("cgroupfs v2: killAll(SIGTERM) freezes, signals the listed pids, thaws", async () => {
  await withRoot(async (root) => {
    const child = new Deno.Command("sleep", { args: ["60"], stdin: "null" }).spawn();
    const m = manager(root, "c1");
    const stop = () => {};
    let stopFreezer = stop;
    try {
      await m.apply(child.pid); // the fake kernel just records it in cgroup.procs
      const dir = m.paths()[""]!;
      assert.deepEqual(await m.pids(), [child.pid]);
      stopFreezer = emulateFreezer(dir);
      await m.killAll(15);
      const status = await child.status;
      assert.equal(status.signal, "SIGTERM");
      assert.equal(read(dir, "cgroup.freeze"), "0");
    } finally {
      stopFreezer();
      try {
        Deno.kill(child.pid, "SIGKILL");
      } catch {
        // gone
      }
      await child.status;
      await m.destroy();
    }
  });
});

Deno.test("cgroupfs v2: stats come from the directory", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "c1");
    await m.apply(4242);
    await m.set({ pids: { limit: 10 } });
    const stats = await m.stats();
    assert.equal(stats.cpu.usage.total, 7000);
    assert.equal(stats.pids.limit, 10);
    assert.deepEqual(Object.keys(stats.hugetlb).sort(), ["1GB", "2MB"]);
    await m.destroy();
  });
});

Deno.test("cgroupfs v2: destroy removes exactly what apply created", async () => {
  await withRoot(async (root) => {
    await fakeKernel.mkdir(`${root}/shared`);
    const m = manager(root, "shared/pod/c1");
    await m.apply(4242);
    // The container made a child cgroup of its own.
    await fakeKernel.mkdir(`${root}/shared/pod/c1/sub`);
    await fakeKernel.mkdir(`${root}/shared/pod/sibling`);
    await m.destroy();
    assert.ok(!exists(`${root}/shared/pod/c1`));
    assert.ok(exists(`${root}/shared/pod/sibling`), "a sibling keeps its shared parent");
    assert.ok(exists(`${root}/shared`), "pre-existing directories stay");
    await m.destroy(); // idempotent
    await fakeKernel.rmdir(`${root}/shared/pod/sibling`);
    await fakeKernel.rmdir(`${root}/shared/pod`);
    await fakeKernel.rmdir(`${root}/shared`);
  });
});

Deno.test("cgroupfs v2: the root cgroup is never mass-killed or removed; it has no memory events", async () => {
  await withRoot(async (root) => {
    // A cgroupsPath naming the root is refused outright ...
    assert.throws(
      () => manager(root, "/"),
      (e) => e instanceof ConfigError && e.field === "linux.cgroupsPath",
    );
    // ... and a manager given the root as saved paths (a state file edited by hand) still
    // never kills or removes it.
    const m = new CgroupfsV2Manager({
      config: { id: "c1", cgroupsPath: "/" },
      host: describeCgroupRoot(root),
      paths: { "": root },
      dirOps: fakeKernel,
    });
    assert.equal(m.paths()[""], root);
    await assert.rejects(() => m.killAll(9), /refusing/);
    await m.destroy();
    assert.ok(exists(root));
    // As in the kernel, the root has no memory.events to watch.
    await assert.rejects(
      async () => {
        for await (const _ of m.events()) { /* none */ }
      },
      (e: unknown) => e instanceof CgroupError && e.field === `${root}/memory.events`,
    );
  });
});

Deno.test("createV2 in one batch (the real file operations): each level enabled, then the next made; what it made is listed, also when a later level fails", async () => {
  const { createV2 } = await import("./cgroupfs_setup.ts");
  const { realDirOps } = await import("../cgroups/fs.ts");
  const top = await Deno.makeTempDir({ prefix: "nsinit-test-cg2b-" });
  try {
    await Deno.writeTextFile(`${top}/cgroup.controllers`, "cpu memory\n");
    await Deno.writeTextFile(`${top}/cgroup.subtree_control`, "\n");
    await Deno.mkdir(`${top}/a`);
    const created: string[] = [];
    await createV2(top, `${top}/a/b/c`, created, realDirOps);
    assert.deepEqual(created, [`${top}/a/b`, `${top}/a/b/c`]);
    assert.equal(read(top, "cgroup.subtree_control"), "+cpu +memory");
    // A level made, the next refused (a name over 255 bytes): the made one is listed, the
    // refusal named.
    const long = "z".repeat(300);
    const partial: string[] = [];
    const err = await createV2(top, `${top}/m/${long}/leaf`, partial, realDirOps).catch((e) => e);
    assert.deepEqual(partial, [`${top}/m`]);
    assert.ok(err instanceof CgroupError, String(err));
    assert.match(err.message, /cannot create the cgroup/);
    assert.match(err.message, /mkdir/);
    assert.match(err.message, /ENAMETOOLONG/);
    assert.ok(err.message.includes(`${top}/m/${long}`), err.message);
  } finally {
    await Deno.remove(top, { recursive: true });
  }
});

Deno.test("cgroupfs v2: apply() of a pid the spawn reports born in the clone target neither reads nor writes cgroup.procs; otherwise it moves the pid", async () => {
  await withRoot(async (root) => {
    const m = manager(root, "c1");
    assert.equal(m.cloneTarget(), `${root}/c1`);
    await m.create();
    await m.apply(4242, { clonedInto: true });
    assert.equal(read(`${root}/c1`, "cgroup.procs"), "", "nothing written for a pid born there");
    await m.apply(4343);
    assert.equal(
      read(`${root}/c1`, "cgroup.procs"),
      "4343",
      "a pid the spawn did not report is moved",
    );
    await m.destroy();
  });
});
