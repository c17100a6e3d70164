/**
 * A container's persisted state (`<root>/<id>/state.json`): what it holds, reading it,
 * and a per-container lock so concurrent commands serialize; the status checks' process
 * facts. Writing it (atomically) is `state_write.ts`'s.
 *
 * @module
 */

import type { NamespaceType, Spec } from "../spec/config.ts";
import type { DriverState } from "../drivers/driver.ts";
import { ContainerIdError } from "../errors.ts";

/** What nsinit keeps about a container between commands. */
export interface ContainerState {
  /** The container id. */
  id: string;
  /** Absolute bundle path. */
  bundle: string;
  /** Absolute rootfs path. */
  rootfs: string;
  /** Pid of the init, 0 before it exists. */
  initPid: number;
  /** The init's start time (clock ticks since boot, /proc/<pid>/stat field 22), to detect pid reuse. */
  initStartTime: number;
  /** Creation time, RFC 3339. */
  created: string;
  /** The validated spec the container was created from. */
  config: Spec;
  /** Namespace types the container has (created or joined). */
  namespaces: NamespaceType[];
  /**
   * The cgroup driver that made the container and what it needs to re-create its
   * manager (paths, directories it created: removed by delete, even from another
   * process). Every later command loads the same driver from it.
   */
  cgroup: DriverState;
  /**
   * The work directory a restore gave CRIU: CRIU mounts its cgroup yard there
   * (`.criu.cgyard.*`), and a CRIU killed mid-restore leaves it mounted, so delete detaches it.
   */
  criuWorkDir?: string;
  /** The Intel RDT (resctrl) group, and whether the create made it (then delete removes it). */
  resctrl?: { dir: string; created: boolean; monitor?: string };
  /** Whether it was created by an unprivileged user. */
  rootless: boolean;
  /**
   * The init nested a user namespace (and a mount namespace) to lock its mounts
   * (`nestsUserNamespace` in core/init_plan.ts): exec joins the container's namespaces from
   * the nested one's parent. Absent: one user namespace (root-run, or older states).
   */
  nestedUserns?: boolean;
  /** Owner (runc prints the user name; empty when unknown). */
  owner: string;
}

/**
 * Container ids as runc accepts them: letters, digits, `_`, `+`, `-`, `.`;
 * not `.` or `..`; at most 1024 characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateId } from "./state.ts";
 * validateId("web-1");
 * let failed = false;
 * try { validateId("../etc"); } catch { failed = true; }
 * assert.ok(failed);
 * ```
 */
export function validateId(id: string): void {
  if (typeof id !== "string" || id === "") {
    throw new ContainerIdError(String(id), "invalid id: empty");
  }
  if (id === "." || id === ".." || !/^[\w+\-.]+$/.test(id) || id.length > 1024) {
    throw new ContainerIdError(
      id,
      "invalid id format: only letters, digits, '_', '+', '-' and '.' are allowed, and not '.' or '..'",
    );
  }
}

/**
 * The mode bit (`S_ISVTX`, the sticky bit) a container directory made by `Factory.run` carries
 * until its init has exec'd: there it stands for the exec fifo that `Factory.create` makes
 * (`exec.fifo`, which the init of `create` waits on), so that the status is the same
 * ("creating", then "created", also for what a crashed `run` leaves) without a file made
 * and removed per container (see `writeNew` in state_write.ts for what a file costs on /run here).
 */
export const NOT_STARTED_MODE = 0o1000;

/**
 * Whether a container directory carries {@link NOT_STARTED_MODE}; false when it is gone.
 * The first stat in a process costs a CLI command ~0.3 ms (measured), so the verbs that treat
 * created and running alike never ask (Container's status for a verb).
 */
export function markedNotStarted(dir: string): boolean {
  try {
    return ((Deno.lstatSync(dir).mode ?? 0) & NOT_STARTED_MODE) !== 0;
  } catch {
    return false;
  }
}

/** The fields state.json had before it recorded the driver (`cgroupPaths`, `cgroupCreated`, `systemd`). */
interface LegacyState {
  cgroupPaths?: Record<string, string>;
  cgroupCreated?: string[];
  systemd?: boolean;
}

/**
 * Reads and parses a state.json. One written before the state recorded its driver
 * gets the driver those fields imply.
 */
// deno-lint-ignore require-await -- synchronous inside on purpose; callers keep a Promise API
export async function readState(path: string): Promise<ContainerState> {
  return parseState(readStateText(path));
}

/**
 * The text of a state.json. A few kilobytes from a local file: a synchronous read costs less
 * than the first hop through Deno's thread pool, which a CLI command would otherwise pay for it.
 */
export function readStateText(path: string): string {
  return Deno.readTextFileSync(path);
}

/**
 * Parses a state.json's text (see {@link readState}); a SyntaxError when it is not JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseState } from "./state.ts";
 * const s = parseState('{"id":"a","cgroupPaths":{"memory":"/sys/fs/cgroup/memory/a"}}');
 * assert.equal(s.cgroup.driver, "cgroupfs");
 * ```
 */
export function parseState(text: string): ContainerState {
  const state = JSON.parse(text) as ContainerState & LegacyState;
  if (state.cgroup === undefined) {
    const paths = state.cgroupPaths ?? {};
    state.cgroup = {
      driver: state.systemd ? "systemd" : Object.keys(paths).length > 0 ? "cgroupfs" : "none",
      paths,
      ...(state.cgroupCreated ? { created: state.cgroupCreated } : {}),
    };
    delete state.cgroupPaths;
    delete state.cgroupCreated;
    delete state.systemd;
  }
  return state;
}

/**
 * Takes an exclusive flock on a container directory until released. Commands
 * on the same container serialize; a lock dies with its process, so a killed
 * runtime never leaves one behind.
 */
export async function lockDir(dir: string): Promise<Disposable & { release(): void }> {
  // Opened synchronously (a local directory; the pool's trip costs more). An uncontended
  // lock is taken synchronously too; only a held one is waited for, off the event loop.
  const f = Deno.openSync(dir, { read: true });
  try {
    if (!f.tryLockSync(true)) await f.lock(true);
  } catch (e) {
    f.close();
    throw e;
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    try {
      f.unlockSync();
    } catch { /* closing drops the lock anyway */ }
    f.close();
  };
  return { release, [Symbol.dispose]: release };
}

/** Process facts from /proc/<pid>/stat: state letter and start time; undefined if gone. */
export function procStat(pid: number): { state: string; startTime: number } | undefined {
  if (!(pid > 0)) return undefined;
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19].
  return { state: rest[0], startTime: Number(rest[19]) };
}

/**
 * Whether process `pid` has SIGKILL pending, for the thread group or its main thread
 * (`ShdPnd`, `SigPnd` in /proc/<pid>/status); false when it is gone (or pid <= 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { killPending } from "./state.ts";
 * assert.equal(killPending(Deno.pid), false);
 * assert.equal(killPending(0), false);
 * ```
 */
export function killPending(pid: number): boolean {
  if (!(pid > 0)) return false;
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return false;
  }
  const SIGKILL_BIT = 1n << 8n; // signal 9
  for (const field of ["SigPnd", "ShdPnd"]) {
    const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "m").exec(text);
    if (m && (BigInt(`0x${m[1]}`) & SIGKILL_BIT) !== 0n) return true;
  }
  return false;
}
