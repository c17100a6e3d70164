/**
 * Removing a container's cgroup directories the long way: cgroups made below the
 * container's own (emptied bottom-up), rmdir retried while a cgroup is busy, the
 * intermediate directories made for it, and the mount points left alone. Most removals
 * need none of it: `removeCgroupLeaves` (`fs_base.ts`) removes the leaves in one batch, and
 * the drivers import this module only when something is left (or for a fake kernel in
 * tests). Internal to the cgroup drivers.
 *
 * @module
 */

import { CgroupError } from "../errors.ts";
import {
  cgroupFiles,
  type DirOps,
  errorCode,
  realDirOps,
  sleep,
  toSyscallError,
} from "./fs_base.ts";

const ENOENT = 2, EBUSY = 16, ENOTEMPTY = 39;

/**
 * Removes a cgroup directory and every cgroup directory below it (deepest first),
 * retrying rmdir on EBUSY for up to `timeoutMs` while processes exit. A directory
 * that is already gone is fine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeCgroupDir } from "./fs_remove.ts";
 * const top = await Deno.makeTempDir();
 * await Deno.mkdir(`${top}/a/b`, { recursive: true });
 * await removeCgroupDir(`${top}/a`);
 * assert.equal([...Deno.readDirSync(top)].length, 0);
 * await Deno.remove(top);
 * ```
 */
export async function removeCgroupDir(
  dir: string,
  timeoutMs = 2000,
  ops: DirOps = realDirOps,
): Promise<void> {
  // Mostly a leaf whose processes are gone: one rmdir does it, without listing its ~30
  // control files first (0.2-0.5 ms of the event loop per container, measured). One with
  // cgroups below it refuses (EBUSY; ENOTEMPTY for a plain directory): empty it first.
  try {
    await ops.rmdir(dir);
    return;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    const code = errorCode(e);
    if (code !== "EBUSY" && code !== "ENOTEMPTY") throw toSyscallError(e, "rmdir", dir);
  }
  let entries: Deno.DirEntry[];
  try {
    entries = [];
    for (const e of Deno.readDirSync(dir)) entries.push(e);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw toSyscallError(e, "readdir", dir);
  }
  for (const e of entries) {
    if (e.isDirectory) await removeCgroupDir(`${dir}/${e.name}`, timeoutMs, ops);
  }
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10;; delay = Math.min(delay * 2, 100)) {
    try {
      await ops.rmdir(dir);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      if (errorCode(e) !== "EBUSY" || Date.now() >= deadline) throw toSyscallError(e, "rmdir", dir);
    }
    await sleep(delay);
  }
}

/**
 * Removes a container's cgroup directories: each leaf (with any cgroups below it,
 * retrying on EBUSY) except mount points, then the intermediate directories in
 * `created`, deepest first, each only if it is empty (another container may share
 * it). Tries everything, then throws the first failure as a `CgroupError`.
 *
 * `mountPoints` may be a function (asynchronous or not), called only if a leaf does not go
 * with the first batch of rmdirs (a mount point is refused with EBUSY there) or a created
 * parent is not a leaf: a driver that knows its directories from saved state then reads the
 * host's layout only when something is unusual.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeCgroupDirs } from "./fs_remove.ts";
 * const top = await Deno.makeTempDir();
 * await Deno.mkdir(`${top}/pod/c1`, { recursive: true });
 * await removeCgroupDirs([`${top}/pod/c1`], [`${top}/pod`, `${top}/pod/c1`], new Set([top]));
 * assert.equal([...Deno.readDirSync(top)].length, 0);
 * await Deno.remove(top);
 * ```
 */
export async function removeCgroupDirs(
  leaves: string[],
  created: string[],
  mountPoints: Set<string> | (() => Set<string> | Promise<Set<string>>),
  timeoutMs = 2000,
  ops: DirOps = realDirOps,
): Promise<void> {
  let first: unknown;
  const depth = (p: string) => p.split("/").length;
  let mounts = typeof mountPoints === "function" ? undefined : mountPoints;
  const mountSet = async () => mounts ??= await (mountPoints as () => Set<string>)();
  let todo = [...new Set(leaves)];
  if (mounts !== undefined || ops !== realDirOps) {
    const m = await mountSet();
    todo = todo.filter((leaf) => !m.has(leaf));
  }
  if (ops === realDirOps && todo.length > 0) {
    // Mostly every leaf goes with one rmdir: all of them in one batch off the event loop;
    // what is busy, not empty or failing takes the way below.
    const res = await cgroupFiles(todo.map((path) => ({ op: "rmdir", path })));
    todo = todo.filter((_, i) => res[i].errno !== 0 && res[i].errno !== ENOENT);
    if (todo.length > 0) {
      const m = await mountSet();
      todo = todo.filter((leaf) => !m.has(leaf));
    }
  }
  // The leaves of different hierarchies at once (each rmdir may sleep in the kernel),
  // deepest first within a hierarchy (removeCgroupDir goes bottom-up itself).
  await Promise.all(
    todo.map(async (leaf) => {
      try {
        await removeCgroupDir(leaf, timeoutMs, ops);
      } catch (e) {
        first ??= new CgroupError(leaf, `cannot remove the cgroup: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }),
  );
  // Then the parents apply() made, a level at a time from the deepest.
  const leafSet = new Set(leaves);
  const byDepth = new Map<number, string[]>();
  for (const dir of new Set(created)) {
    if (leafSet.has(dir) || (await mountSet()).has(dir)) continue;
    byDepth.set(depth(dir), [...(byDepth.get(depth(dir)) ?? []), dir]);
  }
  for (const level of [...byDepth.keys()].sort((a, b) => b - a)) {
    let dirs = byDepth.get(level)!;
    if (ops === realDirOps) {
      // In one batch; what fails otherwise than as expected is tried again below, for the error.
      const res = await cgroupFiles(dirs.map((path) => ({ op: "rmdir", path })));
      dirs = dirs.filter((_, i) => ![0, ENOENT, EBUSY, ENOTEMPTY].includes(res[i].errno));
    }
    await Promise.all(dirs.map(async (dir) => {
      try {
        await ops.rmdir(dir);
      } catch (e) {
        const code = errorCode(e);
        if (code === "ENOENT" || code === "EBUSY" || code === "ENOTEMPTY") return;
        first ??= new CgroupError(dir, `cannot remove the cgroup: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }));
  }
  if (first !== undefined) throw first;
}
