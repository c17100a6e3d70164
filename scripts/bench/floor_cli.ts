/**
 * The CLI floor: the least a container runtime that Deno runs must do to run a bundle's
 * `/bin/true`, as a program of its own. The benchmark bundles it into one file
 * ({@link buildFloorCli}, as `deno task build` bundles the CLI) and runs it with the
 * launcher's `deno run` flags and `NSINIT_LIBDIR`, side by side with `runc run` and
 * `dist/nsinit run`:
 *
 * ```sh
 * NSINIT_LIBDIR=dist/lib deno run -A ... .cache/bench/floor_cli.js BUNDLE [--cgroup NAME]
 * ```
 *
 * It reads the bundle's config.json, loads libnsinit through native/ffi.ts (the project's
 * one `Deno.dlopen`), runs the benchmark's floor plan (a clone into the spec's namespaces and
 * an exec of `/bin/true`: {@link floorPlan}) through nsinit's helper, waits for the exit
 * and exits. With `--cgroup NAME` it also does what every runtime does for a container's
 * cgroups, and no more: it makes `NAME` below its own cgroup in every hierarchy (on a v1 or
 * hybrid host one directory per mounted hierarchy, as runc does; `cpuset.cpus` and
 * `cpuset.mems` copied from the parent, without which the kernel refuses a process), places
 * the child in each (`cgroup.procs`) before it execs, or on cgroup v2 clones it straight
 * into its one directory (`CLONE_INTO_CGROUP`, as nsinit does there), and removes them after
 * the exit. No limits, no state, no mounts.
 *
 * Exit status 0 when `/bin/true` ran and every directory it made is gone; otherwise 1, with
 * the error on stderr.
 *
 * @module
 */

import { cgroupScopes } from "./cgroup_scopes.ts";
import { floorPlan, floorSpawn } from "./floor.ts";

/** The cgroup directories the floor makes for `name`, and whether to clone into them (v2). */
export function floorCgroupDirs(name: string): { dirs: string[]; cloneInto?: string } {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new RangeError(`floor_cli: bad cgroup name ${JSON.stringify(name)}`);
  }
  const scopes = cgroupScopes();
  const dirs = scopes.map((s) => `${s.own}/${name}`);
  const v2 = scopes.length === 1 && scopes[0].fstype === "cgroup2";
  return v2 ? { dirs, cloneInto: dirs[0] } : { dirs };
}

/** Removes `dirs` (once the child has exited a v1 cgroup empties at once; EBUSY: retried). */
async function removeDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    for (let i = 0;; i++) {
      try {
        Deno.removeSync(dir);
        break;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) break;
        if (!(e instanceof Deno.errors.Busy) || i >= 200) throw e;
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  }
}

/**
 * The files a new v1 cpuset directory `dir` needs copied from its parent (`cpuset.cpus`,
 * `cpuset.mems`: empty, the kernel refuses a process); none for another hierarchy.
 */
export function cpusetFills(dir: string): { path: string; from: string }[] {
  if (!dir.startsWith("/sys/fs/cgroup/cpuset/")) return [];
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  return ["cpuset.cpus", "cpuset.mems"].map((f) => ({
    path: `${dir}/${f}`,
    from: `${parent}/${f}`,
  }));
}

/** The floor's cgroups for one container: made, then how to place a child and remove them. */
export interface FloorCgroups {
  /** On cgroup v2: the directory to clone the child into (no placing then). */
  cloneInto?: string;
  /** On v1: writes the child's pid to every directory's `cgroup.procs`. */
  place?: (pid: number) => Promise<void>;
  /** Removes every directory made (call after the child's exit). */
  remove(): Promise<void>;
}

/**
 * Makes the floor's cgroups named `name` (see {@link floorCgroupDirs}): one directory per
 * hierarchy (v1: `cpuset.cpus` and `cpuset.mems` copied from the parent, without which the
 * kernel refuses a process), or the one v2 directory to clone into. What it made is removed
 * when it fails.
 */
export async function makeFloorCgroups(name: string): Promise<FloorCgroups> {
  const { dirs, cloneInto } = floorCgroupDirs(name);
  const made: string[] = [];
  const remove = () => removeDirs([...made].reverse());
  try {
    for (const dir of dirs) {
      Deno.mkdirSync(dir);
      made.push(dir);
      for (const f of cpusetFills(dir)) {
        Deno.writeTextFileSync(f.path, Deno.readTextFileSync(f.from));
      }
    }
  } catch (e) {
    await remove();
    throw e;
  }
  if (cloneInto) return { cloneInto, remove };
  const place = (pid: number) => {
    for (const dir of dirs) Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(pid));
    return Promise.resolve();
  };
  return { place, remove };
}

/** Runs the floor for `bundle`, with cgroups named `cgroup` if given. */
export async function floorCli(bundle: string, cgroup?: string): Promise<void> {
  const spec = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
  const namespaces = spec.linux?.namespaces;
  // The container's stdio is the runtime's own, as `runc run`'s is.
  const fds: [number, number, number] = [0, 1, 2];
  if (cgroup === undefined) {
    await floorSpawn(floorPlan(namespaces), { fds });
    return;
  }
  const cg = await makeFloorCgroups(cgroup);
  try {
    await floorSpawn(floorPlan(namespaces, cg.cloneInto), {
      fds,
      ...(cg.place ? { place: cg.place } : {}),
    });
  } finally {
    await cg.remove();
  }
}

if (import.meta.main) {
  const [bundle, flag, name] = Deno.args;
  if (!bundle || (flag !== undefined && (flag !== "--cgroup" || !name))) {
    console.error("usage: floor_cli BUNDLE [--cgroup NAME]");
    Deno.exit(2);
  }
  try {
    await floorCli(bundle, name);
  } catch (e) {
    console.error(`floor_cli: ${(e as Error).message}`);
    Deno.exit(1);
  }
  // The reaper's poller thread would keep the process alive: exit as the CLI does.
  Deno.exit(0);
}
