/**
 * The library's floor ladder, run in the benchmark's process beside the library: (a) the
 * helper's bare clone + exec (scripts/bench/floor.ts); (b) the bench spec's whole init plan,
 * built once by core/init_plan.ts's `buildInitPlan` as core/create.ts builds it, run through
 * nsinit's helper with no runtime work around it (the mounts, pivot_root, masked and
 * read-only paths, /dev, the spec's cgroup mount with a bind per hierarchy as a container's
 * child makes it, {@link floorCgroupView}: what every runtime's child does); (c) (b) plus the
 * cgroups every runtime makes for a container, joins and removes (one directory per hierarchy on v1, as
 * floor_cli's `--cgroup`; on v2 the one directory, cloned into with `CLONE_INTO_CGROUP`).
 * No state files, no locks, no validation, no limits. (d) (c) run as an OCI runtime's
 * create, start and delete must: with the bookkeeping that lets another process find, start
 * and delete the container ({@link lifecycleSpawn}).
 *
 * @module
 */

import type { Spec } from "../../spec/config.ts";
import { buildInitPlan } from "../../core/init_plan.ts";
import type { PlanBuilder } from "../../native/plan.ts";
import { spawnPlan } from "../../native/spawn.ts";
import { check, cstr, native } from "../../native/ffi.ts";
import { reaper } from "../../native/reaper.ts";
import { floorSpawn, floorStdio } from "./floor.ts";
import { cpusetFills, floorCgroupDirs, type FloorCgroups, makeFloorCgroups } from "./floor_cli.ts";
import { type CgroupFileOp, cgroupFiles } from "../../cgroups/fs_base.ts";
import { readCgroupHost, resolveCgroupPaths } from "../../cgroups/paths.ts";
import type { CgroupView } from "../../drivers/driver.ts";

/**
 * What the spec's `cgroup` mount (`/sys/fs/cgroup`) shows in a floor's child, so that the
 * child makes the mounts a container's child makes for it: on cgroup v1 and hybrid a tmpfs
 * with a bind of each hierarchy (as nsinit's cgroupfs driver names them: one per
 * controller), from this process's own directory there (a bind of a directory like the
 * container's, which does not exist when the plan is built once); on v2 the directory the
 * child is cloned into, or this process's own.
 */
export function floorCgroupView(cloneInto?: string): CgroupView {
  if (cloneInto) return { layout: "v2", mounts: { "": cloneInto } };
  const host = readCgroupHost();
  const paths = resolveCgroupPaths(host, { id: "floor", cgroupsPath: "floor" });
  const parent = (dir: string) => dir.slice(0, dir.lastIndexOf("/")) || "/";
  if (host.mode === "v2") return { layout: "v2", mounts: { "": parent(paths[""]!) } };
  const mounts: Record<string, string> = {};
  for (const [name, dir] of Object.entries(paths)) {
    mounts[name === "" ? "unified" : name.replace(/^name=/, "")] = parent(dir);
  }
  return { layout: "v1", mounts };
}

/**
 * The init plan of `spec` (bundle `bundle`), as core/create.ts builds it for a `run` (no
 * exec fifo), optionally cloning into the v2 cgroup `cloneInto`.
 */
export function initPlanFloor(spec: Spec, bundle: string, cloneInto?: string): PlanBuilder {
  return buildInitPlan(spec, {
    bundle,
    id: "floor",
    cgroupView: floorCgroupView(cloneInto),
    ...(cloneInto ? { cloneInto } : {}),
  });
}

/**
 * Rung (b): spawns `plan` (from {@link initPlanFloor}) and waits for its exit; ms.
 */
export function initPlanSpawn(plan: PlanBuilder): Promise<number> {
  return floorSpawn(plan);
}

/**
 * Rung (c): makes the cgroups named `cgroup`, runs the spec's init plan in them (v1: the
 * child placed in each before it goes on; v2: cloned into the one) and removes them after the
 * exit; ms, all of it. On v2 the plan is built per call (it names the directory); building
 * it takes ~0.2 ms (`buildInitPlan` in the parts of the work), inside the figure, as nsinit
 * builds one per container. With `offLoop` the cgroup files are made, written and removed
 * in native batches off the event loop ({@link floorCgroupsOffLoop}): for many floors at
 * once, whose synchronous cgroup writes would otherwise wait for the kernel one after
 * another on the one event loop.
 */
export async function initPlanCgroupsSpawn(
  spec: Spec,
  bundle: string,
  plan: PlanBuilder,
  cgroup: string,
  opts: { offLoop?: boolean } = {},
): Promise<number> {
  const t0 = performance.now();
  const cg = opts.offLoop ? await floorCgroupsOffLoop(cgroup) : await makeFloorCgroups(cgroup);
  try {
    const p = cg.cloneInto ? initPlanFloor(spec, bundle, cg.cloneInto) : plan;
    await floorSpawn(p, cg.place ? { place: cg.place } : {});
  } finally {
    await cg.remove();
  }
  return performance.now() - t0;
}

/** A state directory of {@link lifecycleSpawn}'s and the init plan that waits on its fifo. */
export interface LifecycleFloor {
  /** The container's state directory (made and removed by each call). */
  dir: string;
  /** The bench spec. */
  spec: Spec;
  /** The bundle. */
  bundle: string;
  /** The init plan, waiting on `<dir>/exec.fifo` (v1; on v2 built per call). */
  plan: PlanBuilder;
}

/** The floor of {@link lifecycleSpawn} for `spec`, its state directory `dir` (not made yet). */
export function lifecycleFloor(spec: Spec, bundle: string, dir: string): LifecycleFloor {
  const fifoPath = `${dir}/exec.fifo`;
  return {
    dir,
    spec,
    bundle,
    plan: buildInitPlan(spec, { bundle, id: "floor", fifoPath, cgroupView: floorCgroupView() }),
  };
}

/** What the lifecycle floor's state.json records (as core/state.ts's, of what its verbs use). */
interface FloorState {
  id: string;
  bundle: string;
  /** The init's pid and start time (/proc/<pid>/stat field 22), against pid reuse. */
  pid: number;
  startTime: number;
  /** The container's cgroup directories (v1: one per hierarchy; v2: one). */
  cgroups: string[];
  config: Spec;
}

/** The container's directory, opened and locked (flock), as each verb takes it. */
function lockFloor(dir: string): Deno.FsFile {
  const lock = Deno.openSync(dir, { read: true });
  lock.lockSync(true);
  return lock;
}

function readFloorState(dir: string): FloorState {
  return JSON.parse(Deno.readTextFileSync(`${dir}/state.json`));
}

/** Whether the recorded init still runs: the same start time, not a zombie. */
function floorAlive(st: FloorState): boolean {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${st.pid}/stat`);
  } catch {
    return false;
  }
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[19]) === st.startTime && f[0] !== "Z" && f[0] !== "X";
}

/** Whether the container's cgroup is frozen (v2 cgroup.events, or the v1 freezer's state). */
function floorFrozen(st: FloorState): boolean {
  const v1 = st.cgroups.find((d) => d.includes("/freezer"));
  try {
    if (v1) return Deno.readTextFileSync(`${v1}/freezer.state`).startsWith("FROZEN");
    if (st.cgroups.length === 1) {
      return /^frozen 1$/m.test(Deno.readTextFileSync(`${st.cgroups[0]}/cgroup.events`));
    }
  } catch { /* no freezer */ }
  return false;
}

/** Not started yet: its exec fifo is there. */
function floorNotStarted(dir: string): boolean {
  try {
    Deno.lstatSync(`${dir}/exec.fifo`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Rung (d): rung (c) as an OCI runtime's `create`, `start` and `delete` run it, with the
 * least bookkeeping those verbs need so that another process can find, start and delete
 * the container (what runc's libcontainer does too; nothing of nsinit's core):
 * - create: the state directory made and locked (flock), the exec fifo made, the cgroups
 *   made; the helper spawned with the plan that waits on the fifo; a state.json (the
 *   config in it, as every runtime records it) written while the helper starts, and written
 *   again atomically with the init's pid while the child sets itself up;
 * - start, as another process runs it (scripts/bench/floor_verbs.js's start): the directory
 *   locked, state.json read, the init checked (alive, the same process, not frozen, its fifo
 *   there), then released through its fifo (libnsinit's one call: a checked pidfd, the fifo
 *   opened and removed), returning once it has exec'd;
 * - wait for the exit; delete, as another process runs it (floor_verbs.js's delete): the
 *   directory locked, state.json read, the init checked gone, the cgroups and the state
 *   directory removed.
 * ms, all of it. What it made is removed when it fails. With `offLoop` the cgroup files are
 * made, joined and removed in native batches off the event loop, as
 * {@link initPlanCgroupsSpawn}'s: for many at once, each from a {@link LifecycleFloor} of
 * its own (a state directory each). The state files stay on the event loop, as a runtime
 * writes them (a few short syscalls each).
 */
export async function lifecycleSpawn(
  f: LifecycleFloor,
  cgroup: string,
  opts: { offLoop?: boolean } = {},
): Promise<number> {
  const lib = native();
  const fifo = `${f.dir}/exec.fifo`;
  const enc = new TextEncoder();
  const write = (text: string, atomic: boolean) => {
    const path = `${f.dir}/state.json`;
    const target = atomic ? `${path}.tmp` : path;
    const file = Deno.openSync(target, { write: true, createNew: true, mode: 0o600 });
    try {
      file.writeSync(enc.encode(text));
    } finally {
      file.close();
    }
    if (atomic) Deno.renameSync(target, path);
  };
  const t0 = performance.now();
  Deno.mkdirSync(f.dir, { mode: 0o711 });
  let lock: Deno.FsFile | undefined;
  let cg: FloorCgroups | undefined;
  let pidfd = -1;
  try {
    lock = Deno.openSync(f.dir, { read: true });
    lock.lockSync(true);
    check(lib.nsi_mkfifo(cstr(fifo), 0o622), "mkfifo", fifo);
    cg = opts.offLoop ? await floorCgroupsOffLoop(cgroup) : await makeFloorCgroups(cgroup);
    const plan = cg.cloneInto
      ? buildInitPlan(f.spec, {
        bundle: f.bundle,
        id: "floor",
        fifoPath: fifo,
        cloneInto: cg.cloneInto,
        cgroupView: floorCgroupView(cg.cloneInto),
      })
      : f.plan;
    const state: FloorState = {
      id: "floor",
      bundle: f.bundle,
      pid: 0,
      startTime: 0,
      cgroups: floorCgroupDirs(cgroup).dirs,
      config: f.spec,
    };
    const spawning = spawnPlan(plan, {
      fds: floorStdio(),
      until: "ready",
      ...(cg.place ? { place: cg.place } : {}),
      duringSetup: (pid, startTime) => {
        state.pid = pid;
        state.startTime = startTime; // read by the native spawn (0: not there)
        write(JSON.stringify(state), true);
        return Promise.resolve();
      },
    });
    spawning.catch(() => {}); // awaited below
    write(JSON.stringify(state), false); // while the helper starts
    const s = await spawning;
    pidfd = s.pidfd;
    lock.close(); // the create is done
    lock = undefined;
    // start, as another process runs it (floor_verbs.js's): under the container's lock, the
    // state read, the init checked (alive, the same process, not paused, not started yet),
    // then released (libnsinit's one call).
    lock = lockFloor(f.dir);
    let st = readFloorState(f.dir);
    if (!floorAlive(st) || floorFrozen(st) || !floorNotStarted(f.dir)) {
      throw new Error("lifecycle floor: container not created");
    }
    const err = new Uint8Array(256);
    const rc = await lib.nsi_init_start(cstr(fifo), st.pid, BigInt(st.startTime), err, err.length);
    if (rc !== 0) throw new Error(`lifecycle floor: start failed (${rc})`);
    lock.close();
    lock = undefined;
    const status = await reaper.wait(s.pidfd);
    lib.nsi_close(s.pidfd);
    pidfd = -1;
    if (status.code !== 0) throw new Error(`lifecycle floor exited with ${JSON.stringify(status)}`);
    // delete, as another process runs it: under the lock, the state read, the init checked
    // gone, the cgroups and the state directory removed.
    lock = lockFloor(f.dir);
    st = readFloorState(f.dir);
    if (floorAlive(st)) throw new Error("lifecycle floor: container not stopped");
    await cg.remove();
    cg = undefined;
    Deno.removeSync(f.dir, { recursive: true });
    // Released before the time is taken, as a delete ends: closing the last fd of the removed
    // directory frees its inode (~0.1-0.25 ms on an ext4 /run mounted with `discard`).
    lock.close();
    lock = undefined;
    return performance.now() - t0;
  } finally {
    if (pidfd >= 0) {
      lib.nsi_pidfd_signal(pidfd, 9);
      await reaper.wait(pidfd).catch(() => {});
      lib.nsi_close(pidfd);
    }
    await cg?.remove();
    try {
      Deno.removeSync(f.dir, { recursive: true });
    } catch { /* removed */ }
    lock?.close();
  }
}

/**
 * {@link makeFloorCgroups}'s directories, made, joined and removed in native batches off the
 * event loop (cgroups/fs_base.ts cgroupFiles: one call per batch on a pool thread), as a
 * runtime running many containers at once would. v1's cpuset files are filled from the
 * parent. A directory still busy right after the exit is removed again a little later.
 */
export async function floorCgroupsOffLoop(name: string): Promise<FloorCgroups> {
  const { dirs, cloneInto } = floorCgroupDirs(name);
  const make: CgroupFileOp[] = [];
  for (const dir of dirs) {
    make.push({ op: "mkdir", path: dir });
    for (const f of cpusetFills(dir)) make.push({ op: "fill", ...f });
  }
  const remove = async () => {
    let left = [...dirs].reverse();
    for (let i = 0; left.length > 0; i++) {
      const r = await cgroupFiles(left.map((path) => ({ op: "rmdir" as const, path })));
      // ENOENT: never made or gone; EBUSY: the exit is not through yet.
      left = left.filter((_, k) => r[k].errno !== 0 && r[k].errno !== 2);
      if (left.length === 0) break;
      if (i >= 200) throw new Error(`floor: cannot remove ${left.join(", ")}`);
      await new Promise((res) => setTimeout(res, 1));
    }
  };
  const made = await cgroupFiles(make, { stop: true });
  const failed = made.findIndex((r) => r.stage !== "" && r.stage !== "skipped");
  if (failed >= 0) {
    await remove();
    throw new Error(`floor: ${make[failed].op} ${make[failed].path}: errno ${made[failed].errno}`);
  }
  if (cloneInto) return { cloneInto, remove };
  const place = async (pid: number) => {
    const r = await cgroupFiles(
      dirs.map((d) => ({ op: "write" as const, path: `${d}/cgroup.procs`, value: String(pid) })),
    );
    const bad = r.findIndex((x) => x.stage !== "");
    if (bad >= 0) {
      throw new Error(`floor: cannot place ${pid} in ${dirs[bad]}: errno ${r[bad].errno}`);
    }
  };
  return { place, remove };
}
