/**
 * The filesystem helpers of creating a cgroup and of setting limits: directory creation
 * that records what it made, joining a cgroup, enabling controllers, listing a cgroup's
 * files, and the thin writer that applies a translated write list; with the helpers of
 * `fs_base.ts` (re-exported here), which the commands on an existing container use.
 * Internal to the cgroup drivers.
 *
 * @module
 */

import { CgroupError, SyscallError } from "../errors.ts";
import type { CgroupWrite } from "./resources.ts";
import {
  type CgroupFileResult,
  cgroupFiles,
  type DirOps,
  readCgroupFile,
  realDirOps,
  toSyscallError,
  writeCgroupFile,
} from "./fs_base.ts";

export * from "./fs_base.ts";

const encoder = new TextEncoder();

/**
 * The names of the entries of `dir`; empty when it does not exist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listDir } from "./fs.ts";
 * assert.equal((await listDir("/nonexistent")).size, 0);
 * ```
 */
// deno-lint-ignore require-await -- synchronous inside on purpose (see writeCgroupFile); callers keep a Promise API
export async function listDir(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  try {
    for (const e of Deno.readDirSync(dir)) names.add(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw toSyscallError(e, "readdir", dir);
  }
  return names;
}

/**
 * The error {@link writeCgroupFile} throws, from the result of a batch's `write` of `value`
 * to `path`.
 */
export function writeError(r: CgroupFileResult, path: string, value: string): SyscallError {
  if (r.stage === "short") {
    return new SyscallError({
      syscall: "write",
      errno: 5,
      path,
      detail: `short write (${r.written} of ${encoder.encode(value).length})`,
    });
  }
  return new SyscallError({ syscall: r.stage === "open" ? "open" : "write", errno: r.errno, path });
}

/**
 * Moves process `pid` into the cgroup `dir` (a `cgroup.procs` write), off the event
 * loop: the kernel may wait for an RCU grace period before it takes the lock for it
 * (milliseconds after an idle spell), and other containers' work goes on meanwhile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinCgroup } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/cgroup.procs`, "");
 * await joinCgroup(dir, 42);
 * assert.equal(await Deno.readTextFile(`${dir}/cgroup.procs`), "42");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function joinCgroup(dir: string, pid: number): Promise<void> {
  const path = `${dir}/cgroup.procs`;
  // An FsFile's write, not Deno.writeTextFile: both run on Deno's blocking pool, but the
  // first writeFile/writeTextFile of a process loads Deno's web streams (it checks for a
  // ReadableStream argument), ~3.5 ms of a CLI create measured.
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { write: true });
  } catch (e) {
    throw toSyscallError(e, "open", path);
  }
  try {
    await f.write(encoder.encode(String(pid)));
  } catch (e) {
    throw toSyscallError(e, "write", path);
  } finally {
    f.close();
  }
}

/** {@link listCgroupOnce}'s listings, by key; bounded (oldest dropped first). */
const listings = new Map<string, Set<string>>();

/**
 * The names in a cgroup directory that exists (made by the caller): the kernel gives every
 * cgroup of one kind the same control files (a v1 hierarchy's non-root cgroups; a v2
 * cgroup's depend on its parent's `cgroup.subtree_control`), so one listing per `key`
 * (naming that kind) serves every container of the process. A directory that does not
 * exist lists empty and is not remembered. The set is shared: never change it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listCgroupOnce } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/pids.max`, "");
 * assert.ok((await listCgroupOnce(dir, `example ${dir}`)).has("pids.max"));
 * await Deno.remove(`${dir}/pids.max`);
 * assert.ok((await listCgroupOnce(dir, `example ${dir}`)).has("pids.max")); // remembered
 * await Deno.remove(dir);
 * ```
 */
export async function listCgroupOnce(dir: string, key: string): Promise<Set<string>> {
  const hit = listings.get(key);
  if (hit) return hit;
  const names = await listDir(dir);
  if (names.size === 0) return names;
  if (listings.size >= 64) listings.delete(listings.keys().next().value!);
  listings.set(key, names);
  return names;
}

/**
 * Creates `dir` and any missing parents below `top` (which must exist), one level
 * at a time, calling `onCreate` for each directory made, top-down. Returns the
 * directories it made.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeDirs } from "./fs.ts";
 * const top = await Deno.makeTempDir();
 * const made = await makeDirs(top, `${top}/a/b`);
 * assert.equal(made.length, 2);
 * assert.equal(made[1], `${top}/a/b`);
 * await Deno.remove(top, { recursive: true });
 * ```
 */
export async function makeDirs(
  top: string,
  dir: string,
  onCreate?: (dir: string) => Promise<void>,
  ops: DirOps = realDirOps,
): Promise<string[]> {
  if (dir !== top && !dir.startsWith(top.endsWith("/") ? top : `${top}/`)) {
    throw new RangeError(`${dir} is not below ${top}`);
  }
  const made: string[] = [];
  // Mostly only the leaf is missing: one mkdir, not one per level (each level that exists
  // was an AlreadyExists error). Anything else goes level by level, as it always did.
  if (dir !== top) {
    let leaf = false;
    try {
      await ops.mkdir(dir);
      leaf = true;
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return made;
    }
    if (leaf) {
      made.push(dir);
      if (onCreate) await onCreate(dir);
      return made;
    }
  }
  let current = top;
  for (const part of dir.slice(top.length).split("/").filter((p) => p !== "")) {
    current = `${current}/${part}`;
    try {
      await ops.mkdir(current);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) continue;
      throw toSyscallError(e, "mkdir", current);
    }
    made.push(current);
    if (onCreate) await onCreate(current);
  }
  return made;
}

/**
 * Applies translated writes in order. `dirOf` maps a write's controller to the
 * container's directory for it. A failing write becomes a `CgroupError` naming the
 * spec field, with the file, the value and the errno.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyWrites } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/pids.max`, "");
 * await applyWrites([{ controller: "pids", file: "pids.max", value: "5", field: "linux.resources.pids.limit" }], () => dir);
 * assert.equal(await Deno.readTextFile(`${dir}/pids.max`), "5");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function applyWrites(
  writes: CgroupWrite[],
  dirOf: (controller: string) => string,
): Promise<void> {
  // All in one batch off the event loop (a dozen synchronous writes of device rules each
  // took the kernel's cgroup locks on it), stopping at the first failure.
  const dirs = writes.map((w) => dirOf(w.controller));
  const results = await cgroupFiles(
    writes.map((w, i) => ({ op: "write", path: `${dirs[i]}/${w.file}`, value: w.value })),
    { stop: true },
  );
  const i = results.findIndex((r) => r.stage !== "" && r.stage !== "skipped");
  if (i < 0) return;
  const w = writes[i];
  const e = writeError(results[i], `${dirs[i]}/${w.file}`, w.value);
  throw new CgroupError(
    w.field,
    `writing ${JSON.stringify(w.value)} to ${dirs[i]}/${w.file}: ${e.message}`,
    {
      cause: e,
    },
  );
}

/**
 * Enables every controller listed in `dir`'s `cgroup.controllers` in its
 * `cgroup.subtree_control` (all at once, then one by one if that fails). Best
 * effort, as runc: a controller that cannot be enabled shows up later as a missing
 * file when resources are set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { enableControllers } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/cgroup.controllers`, "cpu memory\n");
 * await Deno.writeTextFile(`${dir}/cgroup.subtree_control`, "");
 * await enableControllers(dir);
 * assert.equal(await Deno.readTextFile(`${dir}/cgroup.subtree_control`), "+cpu +memory");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function enableControllers(dir: string): Promise<void> {
  const words = (s: string | undefined) => (s ?? "").split(/\s+/).filter((c) => c !== "");
  const available = words(await readCgroupFile(dir, "cgroup.controllers"));
  const enabled = new Set(words(await readCgroupFile(dir, "cgroup.subtree_control")));
  const missing = available.filter((c) => !enabled.has(c));
  if (missing.length === 0) return;
  try {
    await writeCgroupFile(dir, "cgroup.subtree_control", missing.map((c) => `+${c}`).join(" "));
  } catch {
    for (const c of missing) {
      await writeCgroupFile(dir, "cgroup.subtree_control", `+${c}`).catch(() => {});
    }
  }
}

/**
 * The directories from `top` down to the parent of `leaf`, top first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { levelsAbove } from "./fs.ts";
 * assert.equal(levelsAbove("/cg", "/cg/a/b").join(), "/cg,/cg/a");
 * ```
 */
export function levelsAbove(top: string, leaf: string): string[] {
  const levels: string[] = [];
  if (leaf === top) return levels;
  const rel = leaf.slice(top.length).split("/").filter((p) => p !== "");
  let current = top;
  levels.push(current);
  for (const part of rel.slice(0, -1)) {
    current = `${current}/${part}`;
    levels.push(current);
  }
  return levels;
}
