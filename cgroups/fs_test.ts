import assert from "node:assert/strict";
import { testRun } from "../tests/helpers/paths.ts";
import { exists } from "../util/fs.ts";
import { CgroupError, SyscallError } from "../errors.ts";
import {
  applyWrites,
  cgroupFiles,
  levelsAbove,
  makeDirs,
  toSyscallError,
  writeCgroupFile,
} from "./fs.ts";
import { removeCgroupDirs } from "./fs_remove.ts";
import { isRoot, skipUnless } from "../tests/helpers/skip.ts";
import { uniqueId } from "../tests/helpers/ids.ts";
import { ownCgroup2Dir } from "../tests/helpers/host.ts";
import { readPidsRecursive, signalName, signalPids } from "./pids.ts";

/** The controllers this process's cgroup2 directory enables for its children. */
const OFFERED = (() => {
  const own = ownCgroup2Dir();
  if (own === undefined) return [];
  try {
    return Deno.readTextFileSync(`${own}/cgroup.subtree_control`).trim().split(/\s+/)
      .filter(Boolean);
  } catch {
    return [];
  }
})();

// Processes these tests start carry the run marker scripts/leftovers.sh looks for.
testRun();

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("makeDirs records only what it made and stays below top", async () => {
  await withTemp(async (top) => {
    await Deno.mkdir(`${top}/a`);
    const seen: string[] = [];
    const made = await makeDirs(top, `${top}/a/b/c`, (d) => {
      seen.push(d);
      return Promise.resolve();
    });
    assert.deepEqual(made, [`${top}/a/b`, `${top}/a/b/c`]);
    assert.deepEqual(seen, made);
    assert.deepEqual(await makeDirs(top, `${top}/a/b/c`), []);
    await assert.rejects(() => makeDirs(top, "/elsewhere/x"), RangeError);
    await assert.rejects(() => makeDirs(top, `${top}x/y`), RangeError);
  });
});

Deno.test("removeCgroupDirs: leaves with sub-cgroups, created parents only when empty", async () => {
  await withTemp(async (top) => {
    await Deno.mkdir(`${top}/pod/c1/sub`, { recursive: true });
    await Deno.mkdir(`${top}/pod/c2`, { recursive: true });
    await removeCgroupDirs([`${top}/pod/c1`], [`${top}/pod`, `${top}/pod/c1`], new Set([top]));
    assert.deepEqual([...Deno.readDirSync(`${top}/pod`)].map((e) => e.name), ["c2"]);
    // Mount points are never removed, missing directories are fine.
    await removeCgroupDirs([top, `${top}/gone`], [], new Set([top]));
    assert.ok(Deno.statSync(top).isDirectory);
  });
});

Deno.test("removeCgroupDirs reports the directory that could not go", async () => {
  await withTemp(async (top) => {
    await Deno.mkdir(`${top}/c1`);
    await Deno.writeTextFile(`${top}/c1/file`, "x"); // not a cgroup: rmdir fails ENOTEMPTY
    await assert.rejects(
      () => removeCgroupDirs([`${top}/c1`], [], new Set([top]), 50),
      (e: unknown) => e instanceof CgroupError && e.field === `${top}/c1`,
    );
  });
});

Deno.test("writeCgroupFile never creates files and reports the path", async () => {
  await withTemp(async (dir) => {
    await assert.rejects(() => writeCgroupFile(dir, "nope", "1"), (e: unknown) => {
      assert.ok(e instanceof SyscallError);
      assert.equal(e.code, "ENOENT");
      assert.equal(e.path, `${dir}/nope`);
      return true;
    });
  });
});

Deno.test("applyWrites names the spec field of a failing write", async () => {
  await withTemp(async (dir) => {
    await Deno.writeTextFile(`${dir}/pids.max`, "");
    await assert.rejects(
      () =>
        applyWrites([
          { controller: "pids", file: "pids.max", value: "3", field: "linux.resources.pids.limit" },
          {
            controller: "memory",
            file: "memory.max",
            value: "1",
            field: "linux.resources.memory.limit",
          },
        ], () => dir),
      (e: unknown) => {
        assert.ok(e instanceof CgroupError);
        assert.equal(e.field, "linux.resources.memory.limit");
        assert.match(e.message, /writing "1" to .*memory\.max/);
        return true;
      },
    );
    assert.equal(await Deno.readTextFile(`${dir}/pids.max`), "3");
  });
});

Deno.test("applyWrites fails as writeCgroupFile did, with the same message", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/sub`);
    let old = "";
    try {
      await writeCgroupFile(dir, "sub", "1"); // a directory: EISDIR at open
    } catch (e) {
      old = (e as Error).message;
    }
    assert.match(old, /^open .*\/sub: /);
    await assert.rejects(
      () => applyWrites([{ controller: "x", file: "sub", value: "1", field: "f" }], () => dir),
      (e: unknown) => {
        assert.ok(e instanceof CgroupError);
        assert.equal(e.message, `f: writing "1" to ${dir}/sub: ${old}`);
        return true;
      },
    );
  });
});

for (const here of [false, true]) {
  Deno.test(`cgroupFiles${here ? " here (on this thread)" : ""}: each operation's result, in order; stop ends the batch`, async () => {
    await withTemp(async (dir) => {
      await Deno.mkdir(`${dir}/full`);
      await Deno.writeTextFile(`${dir}/full/f`, "");
      await Deno.writeTextFile(`${dir}/parent.cpus`, " 0-3\n");
      await Deno.writeTextFile(`${dir}/empty.cpus`, "\n");
      await Deno.writeTextFile(`${dir}/set.cpus`, "1\n");
      await Deno.writeTextFile(`${dir}/nothing`, "");
      await Deno.writeTextFile(`${dir}/w`, "old");
      const r = await cgroupFiles([
        { op: "mkdir", path: `${dir}/a` },
        { op: "mkdir", path: `${dir}/a` },
        { op: "mkdir", path: `${dir}/no/b` },
        { op: "rmdir", path: `${dir}/full` },
        { op: "rmdir", path: `${dir}/a` },
        { op: "write", path: `${dir}/w`, value: "new" },
        { op: "write", path: `${dir}/absent`, value: "1" },
        { op: "fill", path: `${dir}/empty.cpus`, from: `${dir}/parent.cpus` },
        { op: "fill", path: `${dir}/set.cpus`, from: `${dir}/parent.cpus` },
        { op: "fill", path: `${dir}/nothing`, from: `${dir}/absent` },
        { op: "fill", path: `${dir}/absent`, from: `${dir}/parent.cpus` },
        { op: "fill", path: `${dir}/full`, from: `${dir}/parent.cpus` },
      ], { here });
      assert.deepEqual(r.map((x) => [x.stage, x.errno]), [
        ["", 0],
        ["dir", 17], // EEXIST
        ["dir", 2], // ENOENT
        ["dir", 39], // ENOTEMPTY
        ["", 0],
        ["", 0],
        ["open", 2], // never created
        ["", 0],
        ["", 0],
        ["", 0],
        ["", 0],
        ["read", 21], // EISDIR
      ]);
      assert.equal(await Deno.readTextFile(`${dir}/w`), "new");
      assert.equal(await Deno.readTextFile(`${dir}/empty.cpus`), "0-3");
      assert.equal(await Deno.readTextFile(`${dir}/set.cpus`), "1\n");
      assert.equal(await Deno.readTextFile(`${dir}/nothing`), "");
      await assert.rejects(() => Deno.stat(`${dir}/absent`), Deno.errors.NotFound);
      const stopped = await cgroupFiles([
        { op: "write", path: `${dir}/w`, value: "a" },
        { op: "write", path: `${dir}/absent`, value: "b" },
        { op: "write", path: `${dir}/w`, value: "c" },
      ], { stop: true, here });
      assert.deepEqual(stopped.map((x) => x.stage), ["", "open", "skipped"]);
      assert.equal(await Deno.readTextFile(`${dir}/w`), "a");
      await assert.rejects(() => cgroupFiles([{ op: "mkdir", path: `${dir}/x\0y` }]), TypeError);
    });
  });
}

Deno.test("cgroupFiles enable: writes each listed controller not yet enabled, in one write; absent files are left alone; a failed read names the stage", async () => {
  await withTemp(async (dir) => {
    for (const d of ["some", "all", "none", "bad", "bad/cgroup.controllers"]) {
      await Deno.mkdir(`${dir}/${d}`);
    }
    await Deno.writeTextFile(`${dir}/some/cgroup.controllers`, "cpu io memory pids\n");
    await Deno.writeTextFile(`${dir}/some/cgroup.subtree_control`, "io pids\n");
    await Deno.writeTextFile(`${dir}/all/cgroup.controllers`, "cpu\n");
    await Deno.writeTextFile(`${dir}/all/cgroup.subtree_control`, "cpu\n");
    await Deno.writeTextFile(`${dir}/none/cgroup.subtree_control`, "\n");
    const r = await cgroupFiles([
      { op: "enable", path: `${dir}/some` },
      { op: "enable", path: `${dir}/all` },
      { op: "enable", path: `${dir}/none` },
      { op: "enable", path: `${dir}/absent` },
      { op: "enable", path: `${dir}/bad` },
    ]);
    assert.deepEqual(r.map((x) => [x.stage, x.errno]), [
      ["", 0],
      ["", 0],
      ["", 0],
      ["", 0],
      ["read", 21], // EISDIR: cgroup.controllers is a directory
    ]);
    // A plain file keeps what the one write wrote (the kernel's file would list them).
    assert.equal(await Deno.readTextFile(`${dir}/some/cgroup.subtree_control`), "+cpu +memory");
    assert.equal(await Deno.readTextFile(`${dir}/all/cgroup.subtree_control`), "cpu\n");
    assert.equal(await Deno.readTextFile(`${dir}/none/cgroup.subtree_control`), "\n");
  });
});

Deno.test({
  name:
    "cgroupFiles enable on the real cgroup2 tree: a new cgroup hands its children what its parent offers",
  ignore: skipUnless(
    isRoot() && OFFERED.length > 0,
    "needs root and a cgroup2 cgroup of this process that hands controllers to its children",
  ),
}, async () => {
  const own = ownCgroup2Dir()!;
  const offered = [...OFFERED];
  const dir = `${own}/${uniqueId("enable")}`;
  const r = await cgroupFiles([{ op: "mkdir", path: dir }, { op: "enable", path: dir }]);
  try {
    assert.deepEqual(r.map((x) => x.stage), ["", ""]);
    const controllers = Deno.readTextFileSync(`${dir}/cgroup.controllers`).trim().split(/\s+/)
      .filter(Boolean);
    assert.deepEqual(controllers.sort(), offered.sort());
    const enabled = Deno.readTextFileSync(`${dir}/cgroup.subtree_control`).trim().split(/\s+/)
      .filter(Boolean);
    assert.deepEqual(enabled.sort(), controllers);
  } finally {
    Deno.removeSync(dir);
  }
});

Deno.test("readPidsRecursive walks sub-cgroups and skips junk", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(`${dir}/cgroup.procs`, "5\n0\n-1\nx\n3\n");
    await Deno.writeTextFile(`${dir}/sub/cgroup.procs`, "9\n5\n");
    assert.deepEqual(await readPidsRecursive(dir), [3, 5, 9]);
    assert.deepEqual(await readPidsRecursive(`${dir}/missing`), []);
  });
});

Deno.test("signalPids never signals pid <= 0 or itself; gone pids are fine", async () => {
  signalPids([0, -1, -100, Deno.pid, 1.5], 9); // none of these may reach kill(2)
  const child = new Deno.Command("sleep", { args: ["60"], stdin: "null" }).spawn();
  try {
    signalPids([child.pid], 15);
    assert.equal((await child.status).signal, "SIGTERM");
  } finally {
    try {
      Deno.kill(child.pid, "SIGKILL");
    } catch {
      // gone
    }
    await child.status;
  }
  // A pid above pid_max cannot exist: ESRCH is ignored. (Never re-signal a reaped pid: it may be reused.)
  const pidMax = Number(Deno.readTextFileSync("/proc/sys/kernel/pid_max"));
  signalPids([pidMax + 1], 15);
  assert.throws(() => signalName(64), RangeError);
  assert.equal(signalName(15), "SIGTERM");
});

Deno.test("levelsAbove and toSyscallError", () => {
  assert.deepEqual(levelsAbove("/cg", "/cg"), []);
  assert.deepEqual(levelsAbove("/cg", "/cg/a"), ["/cg"]);
  assert.deepEqual(levelsAbove("/cg", "/cg/a/b/c"), ["/cg", "/cg/a", "/cg/a/b"]);
  const err = toSyscallError(Object.assign(new Error("busy"), { code: "EBUSY" }), "rmdir", "/x");
  assert.equal(err.code, "EBUSY");
  assert.equal(err.errno, 16);
});

Deno.test("cgroupFiles: only rmdirs in a process without the native library: done with plain rmdir, same results, library not loaded", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/full/sub`, { recursive: true });
    const fsUrl = new URL("./fs.ts", import.meta.url).href;
    const ffiUrl = new URL("../native/ffi.ts", import.meta.url).href;
    const code = `
      import { cgroupFiles } from "${fsUrl}";
      import { nativeLoaded } from "${ffiUrl}";
      const r = await cgroupFiles([
        { op: "rmdir", path: "${dir}/a" },
        { op: "rmdir", path: "${dir}/missing" },
        { op: "rmdir", path: "${dir}/full" },
      ]);
      const s = await cgroupFiles([
        { op: "rmdir", path: "${dir}/missing" },
        { op: "rmdir", path: "${dir}/full/sub" },
      ], { stop: true });
      console.log(JSON.stringify({ r, s, loaded: nativeLoaded() }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-lock", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const got = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(got.r, [
      { errno: 0, stage: "" },
      { errno: 2, stage: "dir" },
      { errno: 39, stage: "dir" },
    ]);
    assert.deepEqual(got.s, [{ errno: 2, stage: "dir" }, { errno: 0, stage: "skipped" }]);
    assert.equal(got.loaded, false);
    assert.equal(exists(`${dir}/a`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
