/**
 * The global flags, which come before the subcommand (`nsinit --root R create ...`).
 *
 * @module
 */

import { bool, parseFlags, str, UsageError } from "./flags.ts";
import { type LogFormat, Logger } from "./log.ts";

import { defaultRoot } from "../core/state_root.ts";

/** Where state lives by default for root (runc uses /run/runc); see `defaultRoot()`. */
export const DEFAULT_ROOT = "/run/nsinit";

/** What every subcommand gets from the global flags. */
export interface GlobalOptions {
  /** `--root`: the state directory. */
  root: string;
  /** `--log`: the log file, if any. */
  log?: string;
  /** `--log-format`: text or json. */
  logFormat: LogFormat;
  /** `--debug`. */
  debug: boolean;
  /** `--systemd-cgroup`: use the systemd cgroup driver. */
  systemdCgroup: boolean;
  /** `--rootless`: auto, true or false. */
  rootless: "auto" | "true" | "false";
  /** `--criu`: the criu binary; unset: `$NSINIT_CRIU`, then `criu` on PATH. */
  criu?: string;
  /** Writes log lines where `--log` says. */
  logger: Logger;
}

/** The global flags, as runc names them. */
export const GLOBAL_FLAGS = {
  root: { type: "string" },
  log: { type: "string" },
  "log-format": { type: "string" },
  debug: { type: "boolean" },
  "systemd-cgroup": { type: "boolean" },
  rootless: { type: "string" },
  criu: { type: "string" },
  version: { type: "boolean", short: "v" },
  help: { type: "boolean", short: "h" },
} as const;

/** The result of {@linkcode parseGlobal}. */
export interface ParsedGlobal {
  /** The options for the subcommand. */
  options: GlobalOptions;
  /** `--version` was given. */
  version: boolean;
  /** `--help` was given. */
  help: boolean;
  /** The subcommand, if any. */
  command?: string;
  /** The subcommand's arguments. */
  args: string[];
}

/**
 * Parses the global flags and splits off the subcommand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGlobal } from "./global.ts";
 * const p = parseGlobal(["--root=/tmp/r", "--log-format", "json", "state", "c1"]);
 * assert.equal(p.options.root, "/tmp/r");
 * assert.equal(p.options.logFormat, "json");
 * assert.equal(p.command, "state");
 * assert.equal(p.args[0], "c1");
 * ```
 */
export function parseGlobal(argv: string[]): ParsedGlobal {
  const { values, positionals } = parseFlags(argv, GLOBAL_FLAGS);
  const format = str(values, "log-format") ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`invalid log format "${format}": must be text or json`);
  }
  const rootless = str(values, "rootless") ?? "auto";
  if (rootless !== "auto" && rootless !== "true" && rootless !== "false") {
    throw new UsageError(`invalid --rootless value "${rootless}": must be auto, true or false`);
  }
  const log = str(values, "log");
  const debug = bool(values, "debug");
  const options: GlobalOptions = {
    root: str(values, "root") || defaultRoot(),
    logFormat: format,
    debug,
    systemdCgroup: bool(values, "systemd-cgroup"),
    rootless,
    logger: new Logger({ ...(log ? { file: log } : {}), format, debug }),
  };
  if (log) options.log = log;
  const criu = str(values, "criu");
  if (criu) options.criu = criu;
  const [command, ...args] = positionals;
  return {
    options,
    version: bool(values, "version"),
    help: bool(values, "help"),
    ...(command !== undefined ? { command } : {}),
    args,
  };
}
