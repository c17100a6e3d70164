/**
 * The cgroup filesystem helpers the commands on an existing container use: reading and
 * writing one control file, the batch of file operations (`cgroupFiles`), and removing a
 * container's directories the usual way, in one batch (`removeCgroupLeaves`, on this thread
 * when nothing else is under way, with rmdir(2) when the native library is not loaded). What
 * only creating a cgroup or setting limits uses is in `fs.ts` (which re-exports these); the
 * long way of removing cgroups (busy or nested ones, created parents) in `fs_remove.ts`:
 * `state`, `kill`, `start` and `delete` load neither. Internal to the cgroup drivers.
 *
 * @module
 */

import { errnoName, errnoNumber, SyscallError } from "../errors.ts";
import { ensureNative, native, nativeLoaded } from "../native/ffi.ts";
import { utf8, utf8Into } from "../util/bytes.ts";
import { alone } from "../util/busy.ts";

const ENOENT = 2;

/**
 * The `code` (e.g. `EBUSY`) of a Deno filesystem error, if it has one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorCode } from "./fs_base.ts";
 * assert.equal(errorCode(new Deno.errors.NotFound("x")), "ENOENT");
 * assert.equal(errorCode(new Error("No such device (os error 19)")), "ENODEV");
 * ```
 */
export function errorCode(e: unknown): string | undefined {
  if (e instanceof Deno.errors.NotFound) return "ENOENT";
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "string") return code;
  // Deno gives some errnos (ENODEV from a cgroup being removed) no code, only the message.
  const m = e instanceof Error ? /\(os error (\d+)\)/.exec(e.message) : null;
  return m ? errnoName(Number(m[1])) : undefined;
}

/**
 * Turns a Deno error into a {@link SyscallError} for `syscall` on `path`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toSyscallError } from "./fs_base.ts";
 * const err = toSyscallError(new Deno.errors.NotFound("x"), "open", "/nope");
 * assert.equal(err.code, "ENOENT");
 * ```
 */
export function toSyscallError(e: unknown, syscall: string, path: string): SyscallError {
  const code = errorCode(e);
  const errno = code !== undefined ? errnoNumber(code) : undefined;
  if (errno !== undefined) return new SyscallError({ syscall, errno, path });
  return new SyscallError({
    syscall,
    errno: 5,
    path,
    detail: e instanceof Error ? e.message : String(e),
  });
}

/**
 * Writes `value` to an existing cgroup file with one write(2), as the kernel
 * parses each write on its own. Never creates the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeCgroupFile } from "./fs_base.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/pids.max`, "");
 * await writeCgroupFile(dir, "pids.max", "10");
 * assert.equal(await Deno.readTextFile(`${dir}/pids.max`), "10");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
// deno-lint-ignore require-await -- synchronous inside on purpose (see writeCgroupFile); callers keep a Promise API
export async function writeCgroupFile(dir: string, file: string, value: string): Promise<void> {
  // Synchronous on purpose: a cgroupfs write is a short kernel call, and a trip
  // through Deno's thread pool costs more than the write itself (measured ~0.1 ms).
  const path = `${dir}/${file}`;
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { write: true, truncate: true });
  } catch (e) {
    throw toSyscallError(e, "open", path);
  }
  try {
    const bytes = utf8(value);
    const n = f.writeSync(bytes);
    if (n !== bytes.length) {
      throw new SyscallError({
        syscall: "write",
        errno: 5,
        path,
        detail: `short write (${n} of ${bytes.length})`,
      });
    }
  } catch (e) {
    if (e instanceof SyscallError) throw e;
    throw toSyscallError(e, "write", path);
  } finally {
    f.close();
  }
}

/** One operation of a {@link cgroupFiles} batch. */
export type CgroupFileOp =
  | { op: "mkdir" | "rmdir"; path: string }
  | { op: "write"; path: string; value: string }
  | { op: "fill"; path: string; from: string }
  | { op: "enable"; path: string };

/** How one operation of a {@link cgroupFiles} batch ended. */
export interface CgroupFileResult {
  /** 0 when it was done (or, for `fill`, had nothing to do), else the errno it failed with. */
  errno: number;
  /**
   * Where it failed: `open`, `write`, `short` (a short write: `written` bytes), `read` (of
   * the path), `read from` (a fill's source), `dir` (mkdir or rmdir); `""` when it did not
   * fail, and `skipped` when an earlier failure ended a `stop` batch before it.
   */
  stage: "" | "open" | "write" | "short" | "read" | "read from" | "dir" | "skipped";
  /** Bytes written by a short write. */
  written?: number;
}

const STAGES: CgroupFileResult["stage"][] = [
  "",
  "open",
  "write",
  "short",
  "read",
  "read from",
  "dir",
];
const OP_CODES = { mkdir: 0x64, rmdir: 0x72, write: 0x77, fill: 0x66, enable: 0x65 } as const;

/**
 * Runs cgroup file operations in order with one native call off the event loop
 * (`native/src/lib_cgfiles.c`): mkdir (mode 0777 less the umask) and rmdir; `write`, one
 * write(2) of `value` to an existing file (as {@link writeCgroupFile}); `fill`, which
 * writes the trimmed content of `from` to `path` when `path` holds only whitespace and
 * `from` does not (a path or `from` that does not exist is left alone); `enable`, which
 * does in the cgroup v2 directory `path` what fs.ts's `enableControllers` does (every
 * controller its `cgroup.controllers` lists written to its `cgroup.subtree_control`, a
 * refused one left alone; a failed read is stage `read`). A batch of a
 * container's files costs one trip to a worker thread instead of one per file (or a
 * kernel wait on the event loop per synchronous write). With `stop`, the first failure
 * ends the batch; with `here`, it runs on this thread instead (a batch nothing else waits
 * for: the trip costs more than the calls). Never throws for a failed operation: each result
 * says how it ended.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgroupFiles } from "./fs_base.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/from`, " 0-1\n");
 * await Deno.writeTextFile(`${dir}/cpus`, "\n");
 * const r = await cgroupFiles([
 *   { op: "mkdir", path: `${dir}/a` },
 *   { op: "fill", path: `${dir}/cpus`, from: `${dir}/from` },
 *   { op: "write", path: `${dir}/missing`, value: "1" },
 * ]);
 * assert.deepEqual(r.map((x) => x.stage), ["", "", "open"]);
 * assert.equal(Deno.readTextFileSync(`${dir}/cpus`), "0-1");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function cgroupFiles(
  ops: CgroupFileOp[],
  opts: { stop?: boolean; here?: boolean } = {},
): Promise<CgroupFileResult[]> {
  if (ops.length === 0) return [];
  // Only rmdirs, in a process that has not loaded the native library (a CLI `delete` of a
  // stopped container needs it for nothing else): rmdir(2) on this thread spares its load.
  if (!nativeLoaded() && ops.every((o) => o.op === "rmdir")) return rmdirsHere(ops, opts.stop);
  // Each record: its op code, the path, NUL, the argument, NUL; all encoded into one buffer
  // (an array per string and per record cost 4x as much: 32 us for 12 writes, measured).
  const args: string[] = [];
  let size = 0;
  for (const o of ops) {
    const arg = o.op === "write" ? o.value : o.op === "fill" ? o.from : "";
    if (o.path.includes("\0") || arg.includes("\0")) {
      throw new TypeError(`cgroup file operation with a NUL byte: ${JSON.stringify(o)}`);
    }
    args.push(arg);
    size += 3 + 3 * (o.path.length + arg.length); // UTF-8: at most 3 bytes per UTF-16 unit
  }
  const buf = new Uint8Array(size);
  let off = 0;
  for (let i = 0; i < ops.length; i++) {
    buf[off++] = OP_CODES[ops[i].op];
    off += utf8Into(ops[i].path, buf.subarray(off)) + 1;
    off += utf8Into(args[i], buf.subarray(off)) + 1;
  }
  const list = buf.subarray(0, off);
  const res = new Int32Array(ops.length * 2);
  await ensureNative();
  const ran = await (opts.here ? native().nsi_cg_files_now : native().nsi_cg_files)(
    list,
    list.length,
    new Uint8Array(res.buffer),
    ops.length,
    opts.stop ? 1 : 0,
  );
  if (ran < 0) throw new SyscallError({ syscall: "cgroup file batch", errno: -ran });
  return ops.map((_, i): CgroupFileResult => {
    if (i >= ran) return { errno: 0, stage: "skipped" };
    const stage = STAGES[res[2 * i + 1]] ?? "";
    if (stage === "short") return { errno: 5, stage, written: res[2 * i] };
    return { errno: stage === "" ? 0 : -res[2 * i], stage };
  });
}

/** {@link cgroupFiles}'s rmdirs without the native library, with the same results. */
function rmdirsHere(ops: CgroupFileOp[], stop?: boolean): CgroupFileResult[] {
  let failed = false;
  return ops.map((o): CgroupFileResult => {
    if (failed) return { errno: 0, stage: "skipped" };
    try {
      Deno.removeSync(o.path);
      return { errno: 0, stage: "" };
    } catch (e) {
      failed = stop === true;
      const code = errorCode(e);
      return { errno: (code !== undefined ? errnoNumber(code) : undefined) ?? 5, stage: "dir" };
    }
  });
}

/**
 * Reads a cgroup file, trimmed; undefined when it does not exist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCgroupFile } from "./fs_base.ts";
 * assert.equal(await readCgroupFile("/nonexistent", "x"), undefined);
 * ```
 */
// deno-lint-ignore require-await -- synchronous inside on purpose (see writeCgroupFile); callers keep a Promise API
export async function readCgroupFile(dir: string, file: string): Promise<string | undefined> {
  try {
    return Deno.readTextFileSync(`${dir}/${file}`).trim();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw toSyscallError(e, "read", `${dir}/${file}`);
  }
}

/**
 * Whether `path` exists (as anything).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathExists } from "./fs_base.ts";
 * assert.ok(await pathExists("/"));
 * assert.ok(!(await pathExists("/nonexistent")));
 * ```
 */
// deno-lint-ignore require-await -- synchronous inside on purpose (see writeCgroupFile); callers keep a Promise API
export async function pathExists(path: string): Promise<boolean> {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * How directories are made and removed: the real syscalls by default; tests on temp
 * trees pass a fake that also creates (and clears) the control files the kernel would.
 */
export interface DirOps {
  /** mkdir(2) of one directory; throws `Deno.errors.AlreadyExists` if it exists. */
  mkdir(path: string): Promise<void>;
  /** rmdir(2) of one directory. */
  rmdir(path: string): Promise<void>;
}

/**
 * The real mkdir/rmdir.
 *
 * @example
 * ```ts
 * import { realDirOps } from "./fs_base.ts";
 * const top = await Deno.makeTempDir();
 * await realDirOps.mkdir(`${top}/a`);
 * await realDirOps.rmdir(`${top}/a`);
 * await realDirOps.rmdir(top);
 * ```
 */
export const realDirOps: DirOps = {
  // Off the event loop: a cgroup mkdir or rmdir can sleep in the kernel (memory cgroups
  // above all), and containers set up concurrently must not wait for each other's.
  mkdir: (path) => Deno.mkdir(path),
  rmdir: (path) => Deno.remove(path),
};

/**
 * Resolves after `ms` milliseconds.
 *
 * @example
 * ```ts
 * import { sleep } from "./fs_base.ts";
 * await sleep(1);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A container's cgroup directories removed the usual way, in one batch of rmdirs off the
 * event loop ({@link cgroupFiles}), or on it when no other container operation is under way
 * in this process (util/busy.ts): `true` when each leaf went with its rmdir (or was gone)
 * and `created` names no directory besides the leaves. Otherwise `false`: what is left (a
 * leaf busy, not empty or failing; intermediate directories made for the container) is for
 * `removeCgroupDirs` (`fs_remove.ts`), which the caller imports then and which does the
 * whole removal as it would have from the start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeCgroupLeaves } from "./fs_base.ts";
 * const top = await Deno.makeTempDir();
 * await Deno.mkdir(`${top}/c1`);
 * assert.ok(await removeCgroupLeaves([`${top}/c1`, `${top}/gone`], [`${top}/c1`]));
 * assert.equal([...Deno.readDirSync(top)].length, 0);
 * assert.ok(!(await removeCgroupLeaves([`${top}/c1`], [top])));
 * await Deno.remove(top);
 * ```
 */
export async function removeCgroupLeaves(leaves: string[], created: string[]): Promise<boolean> {
  const todo = [...new Set(leaves)];
  if (created.some((dir) => !todo.includes(dir))) return false;
  if (todo.length === 0) return true;
  const res = await cgroupFiles(todo.map((path) => ({ op: "rmdir", path })), { here: alone() });
  return res.every((r) => r.errno === 0 || r.errno === ENOENT);
}
