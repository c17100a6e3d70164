/**
 * What a runtime handler implements (CRI-O's `RuntimeImpl`), the handler
 * configuration (CRI-O's `runtimes` table entry), and the records every
 * handler writes the same way: the exit file (`<root>/exits/<id>`, the exit
 * code as text, its mtime the finish time) and the OOM marker
 * (`<root>/persist/<id>/oom`), as conmon writes them.
 *
 * @module
 */

import type { LinuxResources, Process } from "../spec/config.ts";
import type { ContainerRecord } from "./store.ts";
import { writeAtomic } from "../core/state_write.ts";

/** One runtime handler: how containers that name it are run. */
export interface RuntimeHandlerConfig {
  /** The handler type: `library` (nsinit in-process) or `oci` (a runtime binary and conmon). */
  type: string;
  /** `oci`: the runtime binary (default `runc`). */
  runtimePath?: string;
  /** The runtime's state root (default `<manager root>/runtimes/<handler name>`). */
  runtimeRoot?: string;
  /** `cgroupfs` (default) or `systemd`. */
  cgroupManager?: "cgroupfs" | "systemd";
  /** `oci`: the monitor binary (default `conmon` on PATH). */
  monitorPath?: string;
  /** `oci`: environment of the monitor. */
  monitorEnv?: Record<string, string>;
  /** Annotations a container may carry (prefixes ending in `*` match more); others are dropped. */
  allowedAnnotations?: string[];
  /** Default log size limit in bytes (<= 0: none). */
  logSizeMax?: number;
  /** Default stop signal (a number or a name); default SIGTERM. */
  stopSignal?: number | string;
  /** The criu binary for checkpoint and restore. */
  criu?: string;
}

/** Directories a handler works in, under the manager's root. */
export interface HandlerContext {
  /** The handler's name. */
  name: string;
  /** Its configuration. */
  config: RuntimeHandlerConfig;
  /** `<root>/exits`: exit files, named by container id. */
  exitsDir: string;
  /** `<root>/persist`: a directory per container (the OOM marker, monitor files). */
  persistDir: string;
  /** `<root>/attach`: conmon's attach sockets. */
  attachDir: string;
  /** The runtime's state root. */
  runtimeRoot: string;
  /** Reports something worth knowing that is not an error. */
  warn(msg: string): void;
}

/** What execSyncContainer answers (the CRI's `ExecSyncResponse`). */
export interface ExecSyncResponse {
  /** stdout, at most 16 MiB. */
  stdout: Uint8Array;
  /** stderr, at most 16 MiB (or "command timed out"). */
  stderr: Uint8Array;
  /** The exit code; -1 when the command timed out. */
  exitCode: number;
}

/** A terminal of an exec or attach: write keys, read the screen, resize. */
export interface SessionTerminal {
  /** What the process writes. */
  readable: ReadableStream<Uint8Array>;
  /** What the process reads. */
  writable: WritableStream<Uint8Array>;
  /** Sets the window size. */
  resize(rows: number, cols: number): void;
}

/** A streaming exec (execContainer). */
export interface ExecSession {
  /** Write end of the process's stdin, when asked for. */
  stdin?: WritableStream<Uint8Array>;
  /** Its stdout (no terminal). */
  stdout?: ReadableStream<Uint8Array>;
  /** Its stderr (no terminal). */
  stderr?: ReadableStream<Uint8Array>;
  /** Its terminal, with `tty`. */
  terminal?: SessionTerminal;
  /** Resolves when it ends: its exit code, or undefined where the handler cannot know it. */
  exitCode: Promise<number | undefined>;
}

/** Options of execContainer. */
export interface ExecStreamOptions {
  /** Allocate a terminal. */
  tty?: boolean;
  /** Give the process a stdin pipe. */
  stdin?: boolean;
}

/** An attach to a running container's stdio (attachContainer). */
export interface AttachSession {
  /** What the container writes to stdout (with a terminal: everything). */
  stdout: ReadableStream<Uint8Array>;
  /** What it writes to stderr. */
  stderr: ReadableStream<Uint8Array>;
  /** Its stdin, if the container was created with `stdin`. */
  stdin?: WritableStream<Uint8Array>;
  /** Resizes its terminal, if it has one. */
  resize(rows: number, cols: number): Promise<void>;
  /** Detaches. */
  close(): Promise<void>;
}

/** Options of checkpointContainer. */
export interface ManagerCheckpointOptions {
  /** Where the images go. */
  imagePath: string;
  /** Where CRIU's logs go (default the image path). */
  workPath?: string;
  /** Keep the container running. */
  leaveRunning?: boolean;
}

/** Options of restoreContainer. */
export interface ManagerRestoreOptions {
  /** The images of a checkpoint. */
  imagePath: string;
  /** Where CRIU's logs go. */
  workPath?: string;
}

/** A handler's implementation of CRI-O's container operations, per container record. */
export interface RuntimeImpl {
  /** Creates the container (its init waits for start); sets `pid`, `startTime`, `status`. */
  createContainer(c: ContainerRecord, signal: AbortSignal): Promise<void>;
  /** Starts a created container. */
  startContainer(c: ContainerRecord): Promise<void>;
  /** Sends a signal to the init (`all`: every process). */
  signalContainer(c: ContainerRecord, sig: number, all?: boolean): Promise<void>;
  /** Removes the container from the runtime (killing it if it runs). */
  deleteContainer(c: ContainerRecord): Promise<void>;
  /** Refreshes status, exit code, finish time and OOM kill in `c`. */
  updateContainerStatus(c: ContainerRecord): Promise<void>;
  /** Freezes it. */
  pauseContainer(c: ContainerRecord): Promise<void>;
  /** Thaws it. */
  unpauseContainer(c: ContainerRecord): Promise<void>;
  /** Changes its resources. */
  updateContainer(c: ContainerRecord, resources: LinuxResources): Promise<void>;
  /** Its cgroup stats. */
  containerStats(c: ContainerRecord): Promise<Record<string, unknown>>;
  /** Starts a process in it with streams. */
  execContainer(
    c: ContainerRecord,
    process: Process,
    opts: ExecStreamOptions,
  ): Promise<ExecSession>;
  /** Runs a process in it to the end (timeout in seconds, <= 0: none); output capped at 16 MiB each. */
  execSyncContainer(
    c: ContainerRecord,
    process: Process,
    timeoutSeconds: number,
  ): Promise<ExecSyncResponse>;
  /** Attaches to its stdio. */
  attachContainer(c: ContainerRecord): Promise<AttachSession>;
  /** Reopens its log file (after rotation). */
  reopenContainerLog(c: ContainerRecord): Promise<void>;
  /** Checkpoints it with CRIU. */
  checkpointContainer(c: ContainerRecord, opts: ManagerCheckpointOptions): Promise<void>;
  /** Restores it from a checkpoint; sets `pid`, `startTime`, `status`. */
  restoreContainer(c: ContainerRecord, opts: ManagerRestoreOptions): Promise<void>;
  /** Called for each record found when the manager opens: re-adopts or records how it ended. */
  adopt(c: ContainerRecord): Promise<void>;
  /** Releases what the handler holds (library containers are killed). */
  close(): Promise<void>;
}

/**
 * The largest stdout or stderr execSyncContainer returns (Kubernetes' limit).
 *
 * @example
 * ```ts
 * import { MAX_EXEC_SYNC_SIZE } from "./runtime_impl.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_EXEC_SYNC_SIZE, 16 * 1024 * 1024);
 * ```
 */
export const MAX_EXEC_SYNC_SIZE = 16 * 1024 * 1024;

/**
 * What a timed-out execSyncContainer puts in stderr (conmon's message), with exit code -1.
 *
 * @example
 * ```ts
 * import { TIMED_OUT_MESSAGE } from "./runtime_impl.ts";
 * import assert from "node:assert/strict";
 * assert.equal(TIMED_OUT_MESSAGE, "command timed out");
 * ```
 */
export const TIMED_OUT_MESSAGE = "command timed out";

/** The exit file of a container. */
function exitFilePath(ctx: HandlerContext, id: string): string {
  return `${ctx.exitsDir}/${id}`;
}

/** The OOM marker of a container. */
export function oomFilePath(ctx: HandlerContext, id: string): string {
  return `${ctx.persistDir}/${id}/oom`;
}

/**
 * Reads the exit file (and OOM marker) into `c` if it exists: status stopped, exit code, finish
 * time from the file's mtime. Returns whether it did.
 */
export async function readExitRecord(ctx: HandlerContext, c: ContainerRecord): Promise<boolean> {
  const path = exitFilePath(ctx, c.id);
  let text: string, mtime: Date | null;
  try {
    text = await Deno.readTextFile(path);
    mtime = (await Deno.stat(path)).mtime;
  } catch {
    return false;
  }
  const code = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(code)) return false;
  c.status = "stopped";
  c.exitCode = code;
  c.finished = (mtime ?? new Date()).toISOString();
  for (const oom of [oomFilePath(ctx, c.id), `${c.bundle}/oom`]) {
    try {
      if ((await Deno.stat(oom)).mtime! >= new Date(c.created)) c.oomKilled = true;
    } catch { /* no OOM */ }
  }
  return true;
}

/** Writes an exit file atomically (the library handler's monitor). */
export async function writeExitRecord(
  ctx: HandlerContext,
  id: string,
  code: number,
): Promise<void> {
  await Deno.mkdir(ctx.exitsDir, { recursive: true });
  await writeAtomic(exitFilePath(ctx, id), String(code), 0o644);
}

/** Removes a container's exit file and persist directory. */
export async function removeRecords(ctx: HandlerContext, id: string): Promise<void> {
  await Deno.remove(exitFilePath(ctx, id)).catch(() => {});
  await Deno.remove(`${ctx.persistDir}/${id}`, { recursive: true }).catch(() => {});
}

/** The process object of an exec: the container's own process with other args (as CRI-O does). */
export function execProcess(base: Process | undefined, cmd: string[], tty: boolean): Process {
  if (cmd.length === 0) throw new TypeError("exec: the command is empty");
  const p: Process = structuredClone(base ?? { cwd: "/", user: { uid: 0, gid: 0 } });
  p.args = cmd;
  p.terminal = tty;
  p.user ??= { uid: 0, gid: 0 };
  p.cwd ??= "/";
  return p;
}
