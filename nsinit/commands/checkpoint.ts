/**
 * `nsinit checkpoint [flags] ID`: checkpoints a running container with CRIU, with
 * runc's flags. Without `--leave-running` or `--pre-dump` the container is deleted
 * once its processes are in the images (as runc does). On a terminal, progress
 * (phase, pages, size, elapsed) is shown on stderr.
 *
 * @module
 */

import { resolve } from "../../util/path.ts";
import { Factory } from "../../core/factory.ts";
import { bool, checkArgs, type FlagSpecs, list, parseFlags, str } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import type { CheckpointOptions, ManageCgroupsMode } from "../../criu/options.ts";
import { progressPrinter } from "../progress.ts";

/** The flags checkpoint and restore share, read by {@linkcode commonCriuOptions}. */
export const CRIU_FLAGS: FlagSpecs = {
  "image-path": { type: "string" },
  "work-path": { type: "string" },
  "tcp-established": { type: "boolean" },
  "ext-unix-sk": { type: "boolean" },
  "shell-job": { type: "boolean" },
  "lazy-pages": { type: "boolean" },
  "file-locks": { type: "boolean" },
  "manage-cgroups-mode": { type: "string" },
  "empty-ns": { type: "string", multiple: true },
  "auto-dedup": { type: "boolean" },
};

/** Flags of `nsinit checkpoint` (runc's). */
export const CHECKPOINT_FLAGS: FlagSpecs = {
  ...CRIU_FLAGS,
  "parent-path": { type: "string" },
  "leave-running": { type: "boolean" },
  "status-fd": { type: "string" },
  "page-server": { type: "string" },
  "pre-dump": { type: "boolean" },
};

/** The options both commands share, from their {@linkcode CRIU_FLAGS}. */
export function commonCriuOptions(
  values: Record<string, unknown>,
  g: GlobalOptions,
): Omit<CheckpointOptions, "imagePath"> & { imagePath: string } {
  const v = values as Parameters<typeof str>[0];
  const opts: CheckpointOptions = {
    // runc's default: ./checkpoint
    imagePath: resolve(str(v, "image-path") || "checkpoint"),
    tcpEstablished: bool(v, "tcp-established"),
    extUnixSk: bool(v, "ext-unix-sk"),
    shellJob: bool(v, "shell-job"),
    fileLocks: bool(v, "file-locks"),
    autoDedup: bool(v, "auto-dedup"),
    lazyPages: bool(v, "lazy-pages"),
    emptyNs: list(v, "empty-ns"),
  };
  const work = str(v, "work-path");
  if (work) opts.workPath = resolve(work);
  const mode = str(v, "manage-cgroups-mode");
  if (mode) opts.manageCgroupsMode = mode as ManageCgroupsMode;
  if (g.criu) opts.criu = g.criu;
  return opts;
}

/** Runs `nsinit checkpoint`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, CHECKPOINT_FLAGS);
  checkArgs("checkpoint", positionals, 1, "exact");
  const opts: CheckpointOptions = {
    ...commonCriuOptions(values, g),
    leaveRunning: bool(values, "leave-running"),
    preDump: bool(values, "pre-dump"),
  };
  const parent = str(values, "parent-path");
  if (parent) opts.parentPath = parent;
  const ps = str(values, "page-server");
  if (ps) opts.pageServer = ps;
  const statusFd = str(values, "status-fd");
  if (statusFd !== undefined) {
    const n = Number(statusFd);
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`--status-fd: "${statusFd}" is not a file descriptor number`);
    }
    opts.statusFd = n;
  }
  const factory = new Factory({ root: g.root, onWarning: (m) => g.logger.warn(m) });
  const container = await factory.load(positionals[0]);
  using printer = progressPrinter(`checkpoint ${container.id}`, g);
  opts.onProgress = printer.onProgress;
  await container.checkpoint(opts);
  printer.finish();
  if (!opts.leaveRunning && !opts.preDump) await container.destroy({ force: true });
  return 0;
}
