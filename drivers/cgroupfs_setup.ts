/**
 * What the cgroupfs managers (`cgroupfs_v1.ts`, `cgroupfs_v2.ts`) do only when a cgroup is
 * made, joined or given limits (`create`, `run`, `update`): making the directories (cpuset
 * filled from the parent, controllers enabled on the way down), moving the init in, and
 * writing resource limits. The managers import it when one of those methods runs, so the
 * commands on an existing container (`state`, `kill`, `start`, `delete`) never load it.
 *
 * @module
 */

import type { LinuxResources } from "../spec/config.ts";
import type { CgroupHost } from "../cgroups/paths.ts";
import type { CgroupHostFiles } from "../cgroups/resources.ts";
import type { DeviceFilterProgram } from "../cgroups/devicefilter.ts";
import { CgroupError, errnoName, SyscallError } from "../errors.ts";
import { alone } from "../util/busy.ts";
import {
  applyWrites,
  type CgroupFileOp,
  type CgroupFileResult,
  cgroupFiles,
  type DirOps,
  enableControllers,
  errorCode,
  joinCgroup,
  levelsAbove,
  listCgroupOnce,
  listDir,
  makeDirs,
  readCgroupFile,
  realDirOps,
  writeCgroupFile,
  writeError,
} from "../cgroups/fs.ts";
import {
  type CgroupfsV1State,
  type Hierarchy,
  v1Hierarchies,
  v1Host,
  v1ProcsDir,
} from "./cgroupfs_v1.ts";
import { type CgroupfsV2State, v2MountPoint } from "./cgroupfs_v2.ts";

/** What a new v1 cpuset cgroup gets from its parent when empty. */
const CPUSET_FILES = ["cpuset.cpus", "cpuset.mems"] as const;

/** Fills an empty `cpuset.cpus` / `cpuset.mems` from the parent, as runc does. */
async function copyCpusetFromParent(dir: string): Promise<void> {
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  for (const file of CPUSET_FILES) {
    const own = await readCgroupFile(dir, file);
    if (own === undefined || own !== "") continue;
    const value = await readCgroupFile(parent, file);
    if (value) await writeCgroupFile(dir, file, value);
  }
}

/**
 * Creates the container's directory in each v1/hybrid hierarchy (every hierarchy at once:
 * each mkdir may sleep in the kernel), pushing the directories it made onto `created`.
 * One result per hierarchy: the caller decides which failures a rootless container
 * tolerates.
 */
export async function createV1(
  hs: Hierarchy[],
  created: string[],
  ops: DirOps,
): Promise<PromiseSettledResult<void>[]> {
  return ops === realDirOps
    ? await createBatched(hs, created)
    : await Promise.allSettled(hs.map((h) => prepare(h, created, ops)));
}

/**
 * {@link createV1}'s usual case in one batch off the event loop ({@link cgroupFiles}): each
 * hierarchy's directory made (or found) with one mkdir, and cpuset's filled from its
 * parent. A hierarchy whose directory needs more (missing parents) or fails goes
 * {@link prepare}'s way, level by level, which also gives its error.
 */
async function createBatched(
  hs: Hierarchy[],
  created: string[],
): Promise<PromiseSettledResult<void>[]> {
  const ops: CgroupFileOp[] = hs.map((h) => ({ op: "mkdir", path: h.dir }));
  // The ops each hierarchy owns after its mkdir (its index range in `ops`).
  const own = new Map<Hierarchy, [number, number]>();
  const cpuset = hs.find((h) => h.version === 1 && h.controllers.includes("cpuset"));
  if (cpuset) {
    // Every level from the top down, not the leaf alone: a parent that another container
    // made at the same moment may not be filled yet (a fill skips what is already set).
    const from = ops.length;
    for (const dir of cpusetLevels(cpuset)) {
      const parent = dir.slice(0, dir.lastIndexOf("/"));
      for (const file of CPUSET_FILES) {
        ops.push({ op: "fill", path: `${dir}/${file}`, from: `${parent}/${file}` });
      }
    }
    own.set(cpuset, [from, ops.length]);
  }
  for (const h of hs) {
    if (h.version !== 2) continue;
    // Hybrid: the unified tree's controllers (hugetlb here) enabled on the way down, in
    // the same trip (each read here takes the kernel's cgroup lock, which a batch of
    // containers holds in turn: off the event loop, measured ~75 us a container there).
    const from = ops.length;
    for (const level of levelsAbove(h.mountPoint, h.dir)) ops.push({ op: "enable", path: level });
    own.set(h, [from, ops.length]);
  }
  const res = await cgroupFiles(ops);
  return await Promise.allSettled(hs.map(async (h, i) => {
    const code = errnoName(res[i].errno);
    if (h.dir === h.mountPoint || (res[i].errno !== 0 && code !== "EEXIST")) {
      return await prepare(h, created, realDirOps);
    }
    if (res[i].errno === 0) created.push(h.dir);
    try {
      const [from, to] = own.get(h) ?? [0, 0];
      for (let j = from; j < to; j++) {
        if (res[j].stage !== "") throw opError(ops[j], res[j]);
      }
    } catch (e) {
      throw new CgroupError(h.dir, `cannot create the cgroup: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }));
}

/** The cpuset directories below the mount point down to the container's, top first. */
function cpusetLevels(h: Hierarchy): string[] {
  return [...levelsAbove(h.mountPoint, h.dir).slice(1), h.dir];
}

/** One hierarchy's directory, level by level. */
async function prepare(h: Hierarchy, created: string[], ops: DirOps): Promise<void> {
  const isCpuset = h.version === 1 && h.controllers.includes("cpuset");
  try {
    await makeDirs(h.mountPoint, h.dir, (dir) => {
      created.push(dir);
      return Promise.resolve();
    }, ops);
    // Top down, each level that is still empty (see createBatched).
    if (isCpuset) { for (const dir of cpusetLevels(h)) await copyCpusetFromParent(dir); }
    // Hybrid: enable the unified tree's controllers (hugetlb here) on the way down.
    if (h.version === 2) {
      for (const level of levelsAbove(h.mountPoint, h.dir)) await enableControllers(level);
    }
  } catch (e) {
    throw new CgroupError(h.dir, `cannot create the cgroup: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/**
 * Writes `pid` to `cgroup.procs` of every hierarchy in one batch, off the event loop (the
 * first write may wait for an RCU grace period, the others then find the lock's fast path).
 * One result per hierarchy.
 */
export async function joinV1(hs: Hierarchy[], pid: number): Promise<PromiseSettledResult<void>[]> {
  // On this thread when nothing else is under way (util/busy.ts): the child waits for these
  // writes, and the trip to a worker thread and back was most of their time (measured: a
  // library create to destroy 0.09-0.2 ms sooner, medians of 145, three runs).
  const joined = await cgroupFiles(
    hs.map((h) => ({ op: "write", path: `${h.dir}/cgroup.procs`, value: String(pid) })),
    { here: alone() },
  );
  return joined.map((r, i): PromiseSettledResult<void> =>
    r.stage === "" ? { status: "fulfilled", value: undefined } : {
      status: "rejected",
      // As joinCgroup says it.
      reason: new SyscallError({
        syscall: "write",
        errno: r.errno,
        path: `${hs[i].dir}/cgroup.procs`,
      }),
    }
  );
}

/** What {@link setV1} needs of a v1/hybrid manager. */
export interface V1Target {
  hierarchies: Hierarchy[];
  host: CgroupHost;
  /** Controller name (`""` for the unified tree) to directory. */
  paths: Record<string, string>;
  /** create() made (or found) every directory and destroy() has not run since. */
  fresh: boolean;
  /** The directory the error names when no directory exists. */
  procsDir: () => string;
}

/**
 * What decides which control files a hierarchy's cgroup directory has: for a v1 hierarchy
 * its controllers, and whether the directory is the root; for the unified tree its parent
 * (whose `cgroup.subtree_control` enables them).
 */
function kindOf(h: Hierarchy): string {
  if (h.version === 2) return `v2 ${h.dir.slice(0, h.dir.lastIndexOf("/"))}`;
  return `v1 ${h.mountPoint}${h.dir === h.mountPoint ? " (root)" : ""}`;
}

/** A v1/hybrid manager's `set()`: checks the host can honour every limit, then writes them. */
export async function setV1(resources: LinuxResources, t: V1Target): Promise<void> {
  const { host, paths } = t;
  // A hierarchy whose directory is missing (a rootless apply() skipped it) makes
  // its controllers unavailable; none at all means apply() never ran.
  // Right after create() the directories exist, and their files are those of every cgroup
  // of their kind: listed once per process (10 directories took 0.4 ms of the event loop).
  const listings = new Map<string, Set<string>>();
  for (const h of t.hierarchies) {
    listings.set(h.dir, t.fresh ? await listCgroupOnce(h.dir, kindOf(h)) : await listDir(h.dir));
  }
  if ([...listings.values()].every((names) => names.size === 0)) {
    throw new CgroupError(t.procsDir(), "the cgroup does not exist (apply() first)");
  }
  const dirOf = (controller: string): string | undefined => {
    let dir: string | undefined;
    if (host.v1.some((m) => m.controllers.includes(controller))) {
      dir = paths[controller];
    } else if (controller === "cgroup" || host.unifiedControllers.includes(controller)) {
      dir = paths[""];
    }
    return dir !== undefined && (listings.get(dir)?.size ?? 0) > 0 ? dir : undefined;
  };
  const files: CgroupHostFiles = {
    versionOf: (c) => {
      const dir = dirOf(c);
      if (dir === undefined) return undefined;
      return dir === paths[""] && !host.v1.some((m) => m.controllers.includes(c)) ? 2 : 1;
    },
    has: (c, file) => listings.get(dirOf(c) ?? "")?.has(file) ?? false,
  };
  const m = resources.memory;
  let currentMemoryLimit: number | undefined;
  if (m?.limit && m.swap && paths.memory) {
    const cur = await readCgroupFile(paths.memory, "memory.limit_in_bytes");
    if (cur !== undefined) currentMemoryLimit = Number(cur);
  }
  // Imported here: only the verbs that set limits (create, run, update) load it.
  const { translateResources } = await import("../cgroups/resources.ts");
  const writes = translateResources(
    resources,
    files,
    currentMemoryLimit === undefined ? {} : { currentMemoryLimit },
  );
  await applyWrites(writes, (c) => dirOf(c)!);
}

/**
 * Creates a v2 container's directory below `mountPoint`, as runc's fs2: the controllers
 * enabled in each level, then the next one made; the directories it makes are pushed onto
 * `created` as they are made.
 */
export async function createV2(
  mountPoint: string,
  dir: string,
  created: string[],
  ops: DirOps,
): Promise<void> {
  try {
    const levels = levelsAbove(mountPoint, dir);
    if (ops === realDirOps && levels.length > 0) return await createV2Batched(levels, dir, created);
    for (const [i, level] of levels.entries()) {
      await enableControllers(level);
      const child = levels[i + 1] ?? dir;
      const made = await makeDirs(level, child, undefined, ops);
      created.push(...made);
    }
  } catch (e) {
    throw new CgroupError(dir, `cannot create the cgroup: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/**
 * {@link createV2}'s usual case in one trip off the event loop ({@link cgroupFiles}): each
 * level's controllers enabled, then the next level made, in order. Every directory made is
 * pushed onto `created`, also when a later step fails; the first failure is thrown.
 */
async function createV2Batched(levels: string[], dir: string, created: string[]): Promise<void> {
  const ops: CgroupFileOp[] = [];
  for (const [i, level] of levels.entries()) {
    ops.push({ op: "enable", path: level }, { op: "mkdir", path: levels[i + 1] ?? dir });
  }
  const res = await cgroupFiles(ops);
  let failure: Error | undefined;
  for (const [j, r] of res.entries()) {
    const op = ops[j];
    if (op.op === "mkdir" && r.errno === 0) created.push(op.path);
    if (failure || r.stage === "") continue;
    if (op.op === "mkdir" && errnoName(r.errno) === "EEXIST") continue;
    failure = opError(op, r);
  }
  if (failure) throw failure;
}

/** The error a failed operation of a creation's {@link cgroupFiles} batch stands for. */
function opError(op: CgroupFileOp, r: CgroupFileResult): SyscallError {
  const read = (path: string) => new SyscallError({ syscall: "read", errno: r.errno, path });
  switch (op.op) {
    case "mkdir":
    case "rmdir":
      return new SyscallError({ syscall: op.op, errno: r.errno, path: op.path });
    case "enable":
      return r.stage === "read"
        ? read(`${op.path}/cgroup.controllers`)
        : writeError(r, `${op.path}/cgroup.subtree_control`, "");
    case "fill":
      if (r.stage === "read from") return read(op.from);
  }
  return r.stage === "read" ? read(op.path) : writeError(r, op.path, "");
}

/** Moves `pid` into a v2 cgroup, unless it was cloned into it already (`cloneTarget`). */
export async function joinV2(dir: string, pid: number, cloneTarget: boolean): Promise<void> {
  // Cloned into it already (the kernel may have refused: then it is not listed).
  if (
    cloneTarget &&
    (await readCgroupFile(dir, "cgroup.procs"))?.split("\n").includes(String(pid))
  ) {
    return;
  }
  try {
    await joinCgroup(dir, pid);
  } catch (e) {
    throw new CgroupError(dir, `cannot join pid ${pid}: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** Whether this process runs in a user namespace other than the initial one. */
function inUserNamespace(): boolean {
  try {
    const map = Deno.readTextFileSync("/proc/self/uid_map").trim().split(/\s+/);
    return !(map.length === 3 && map[0] === "0" && map[1] === "0" && map[2] === "4294967295");
  } catch {
    return false;
  }
}

/**
 * A v2 manager's `set()`: device rules attached first, as an eBPF program (attaching one
 * that allows every device may fail silently: rootless, in a user namespace, or not a real
 * cgroup2 directory, as runc), then the limits written after checking the host can honour
 * all of them.
 */
export async function setV2(
  dir: string,
  resources: LinuxResources,
  opts: {
    attachDeviceFilter?: ((dir: string, program: DeviceFilterProgram) => void) | undefined;
    rootless: boolean;
    /**
     * The cgroup2 mount `dir` is in: its cgroups' listings are shared by kind (without it,
     * `dir` is listed for itself).
     */
    mountPoint?: string;
  },
): Promise<void> {
  const { devices, ...others } = resources;
  if (devices && devices.length > 0 && Object.values(others).every((v) => v === undefined)) {
    // Device rules and no limit (runc spec's default config): nothing to write, so neither
    // the controllers nor the files are read (a read of the cgroup's cgroup.controllers took
    // ~1.5 ms a container in the emulated VM, measured); a missing cgroup shows in the attach.
    const filter = await import("../cgroups/devicefilter.ts");
    attachDevices(dir, filter.deviceFilterProgram(devices), filter, opts);
    return;
  }
  const text = await readCgroupFile(dir, "cgroup.controllers");
  if (text === undefined) {
    throw new CgroupError(dir, "the cgroup does not exist (apply() first)");
  }
  const controllers = new Set(text.split(/\s+/).filter((c) => c !== ""));
  // The files of a cgroup2 directory follow from its controllers (and whether it is the
  // root): listed once per process for each such kind of a mount (a listing of ~50 names
  // took 4 ms a container in the emulated VM, measured).
  const mount = opts.mountPoint ?? dir;
  const kind = `v2 ${mount} ${[...controllers].sort().join(" ")}${dir === mount ? " (root)" : ""}`;
  const names = await listCgroupOnce(dir, kind);
  // Imported here: only the verbs that set limits (create, run, update) load them.
  const [{ translateResources }, filter] = await Promise.all([
    import("../cgroups/resources.ts"),
    devices && devices.length > 0 ? import("../cgroups/devicefilter.ts") : undefined,
  ]);
  // Validates the rules (CgroupError on linux.resources.devices[i]) before any write.
  const program = filter && devices ? filter.deviceFilterProgram(devices) : undefined;
  const writes = translateResources(others, {
    versionOf: (c) => (c === "cgroup" || controllers.has(c) ? 2 : undefined),
    has: (_c, file) => names.has(file),
  });
  const m = resources.memory;
  if (m?.checkBeforeUpdate && m.limit !== undefined && m.limit > 0) {
    const current = Number(await readCgroupFile(dir, "memory.current"));
    if (Number.isFinite(current) && current > m.limit) {
      throw new CgroupError(
        "linux.resources.memory.limit",
        `rejecting memory limit ${m.limit}: below the current usage ${current}`,
      );
    }
  }
  if (program && filter) attachDevices(dir, program, filter, opts);
  await applyWrites(writes, () => dir);
}

/** Attaches `setV2`'s device filter `program` to `dir`, failing as runc does. */
function attachDevices(
  dir: string,
  program: DeviceFilterProgram,
  filter: typeof import("../cgroups/devicefilter.ts"),
  opts: {
    attachDeviceFilter?: ((dir: string, program: DeviceFilterProgram) => void) | undefined;
    rootless: boolean;
  },
): void {
  const attach = opts.attachDeviceFilter ?? filter.attachDeviceFilter;
  const { defaultAllow, exceptions } = program.ruleSet;
  try {
    attach(dir, program);
  } catch (e) {
    if (e instanceof SyscallError && e.errno === ENOENT_ERRNO) {
      throw new CgroupError(dir, "the cgroup does not exist (apply() first)", { cause: e });
    }
    // As runc: nothing is lost when the program would allow everything, and a process in a
    // user namespace (rootless) can neither load programs nor reach devices the host denies it.
    if (!((defaultAllow && exceptions.length === 0) || opts.rootless || inUserNamespace())) {
      throw new CgroupError(
        "linux.resources.devices",
        `cannot attach the eBPF device filter to ${dir}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
}

const ENOENT_ERRNO = 2;

/** As runc: rootless with no explicit path tolerates hierarchies it may not use. */
function tolerable(s: CgroupfsV1State, e: unknown): boolean {
  const code = errorCode((e as Error).cause ?? e);
  return s.config.rootless === true && !s.config.cgroupsPath &&
    (code === "EACCES" || code === "EPERM" || code === "EROFS");
}

/** Drops the hierarchies a rootless container may not use from `s`. */
function skip(s: CgroupfsV1State, hs: Hierarchy[], skipped: Hierarchy[]): void {
  if (skipped.length === 0) return;
  s.hierarchies = hs.filter((h) => !skipped.includes(h));
  for (const [k, dir] of Object.entries(s.paths)) {
    if (skipped.some((h) => h.dir === dir)) delete s.paths[k];
  }
}

/** `CgroupfsV1Manager.create()`: see there. */
export async function createCgroupV1(s: CgroupfsV1State): Promise<void> {
  if (s.ready) return;
  const hs = await v1Hierarchies(s);
  const results = await createV1(hs, s.created, s.ops);
  const skipped: Hierarchy[] = [];
  for (const [i, r] of results.entries()) {
    if (r.status === "fulfilled") continue;
    if (!tolerable(s, r.reason)) throw r.reason;
    skipped.push(hs[i]);
  }
  skip(s, hs, skipped);
  s.ready = true;
  s.fresh = true;
}

/** `CgroupfsV1Manager.apply()` of a valid pid: see there. */
export async function applyCgroupV1(s: CgroupfsV1State, pid: number): Promise<void> {
  await createCgroupV1(s);
  const hs = await v1Hierarchies(s);
  const results = await joinV1(hs, pid);
  const skipped: Hierarchy[] = [];
  for (const [i, r] of results.entries()) {
    if (r.status === "fulfilled") continue;
    const h = hs[i];
    if (tolerable(s, r.reason)) {
      skipped.push(h);
      continue;
    }
    throw new CgroupError(h.dir, `cannot join pid ${pid}: ${(r.reason as Error).message}`, {
      cause: r.reason,
    });
  }
  skip(s, hs, skipped);
}

/** `CgroupfsV1Manager.set()`: see there. */
export async function setCgroupV1(s: CgroupfsV1State, resources: LinuxResources): Promise<void> {
  await setV1(resources, {
    hierarchies: await v1Hierarchies(s),
    host: await v1Host(s),
    paths: s.paths,
    fresh: s.fresh,
    procsDir: () => v1ProcsDir(s.paths),
  });
}

/** `CgroupfsV2Manager.create()`: see there. */
export async function createCgroupV2(s: CgroupfsV2State): Promise<void> {
  if (s.ready) return;
  // As runc's fs2: enable the controllers in each level, then make the next one.
  await createV2(await v2MountPoint(s), s.dir, s.created, s.ops);
  s.ready = true;
}

/** `CgroupfsV2Manager.apply()` of a valid pid: see there. */
export async function applyCgroupV2(
  s: CgroupfsV2State,
  pid: number,
  clonedInto = false,
): Promise<void> {
  await createCgroupV2(s);
  // Born in it, as the spawn reported: nothing to check (a read of cgroup.procs) or move.
  if (clonedInto && s.cloneTarget) return;
  await joinV2(s.dir, pid, s.cloneTarget);
}

/** `CgroupfsV2Manager.set()`: see there. */
export async function setCgroupV2(s: CgroupfsV2State, resources: LinuxResources): Promise<void> {
  await setV2(s.dir, resources, {
    attachDeviceFilter: s.attachDeviceFilter,
    rootless: s.rootless,
    mountPoint: await v2MountPoint(s),
  });
}
