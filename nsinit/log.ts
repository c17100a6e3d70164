/**
 * The CLI's log: runc's `--log FILE --log-format text|json` and `--debug`.
 * containerd reads the last `error` line of the JSON log to report why a
 * runtime call failed, so every error the CLI reports also lands there.
 *
 * @module
 */

import { utf8 } from "../util/bytes.ts";

/** Log line formats, as runc's `--log-format`. */
export type LogFormat = "text" | "json";

/** Log levels the CLI writes. */
export type LogLevel = "debug" | "info" | "warning" | "error";

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  /** Append lines to this file; without it lines go to stderr. */
  file?: string;
  /** Line format; default `text`. */
  format?: LogFormat;
  /** Write `debug` lines too. */
  debug?: boolean;
  /** The clock (tests pin it). */
  now?: () => Date;
}

/**
 * RFC 3339 time with seconds, as logrus writes it (`2026-11-22T09:25:39Z`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rfc3339 } from "./log.ts";
 * assert.equal(rfc3339(new Date(0)), "1970-01-01T00:00:00Z");
 * ```
 */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * Formats one log line (with its newline).
 *
 * @example Both formats
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLine } from "./log.ts";
 * const t = new Date(0);
 * assert.equal(
 *   formatLine("json", "error", "boom", t),
 *   '{"level":"error","msg":"boom","time":"1970-01-01T00:00:00Z"}\n');
 * assert.equal(
 *   formatLine("text", "error", 'say "hi"', t),
 *   'time="1970-01-01T00:00:00Z" level=error msg="say \\"hi\\""\n');
 * ```
 */
export function formatLine(format: LogFormat, level: LogLevel, msg: string, time: Date): string {
  const t = rfc3339(time);
  if (format === "json") return JSON.stringify({ level, msg, time: t }) + "\n";
  return `time="${t}" level=${level} msg=${JSON.stringify(msg)}\n`;
}

/**
 * Writes log lines to the `--log` file (appending) or to stderr. Writing is
 * best effort: a log that cannot be written never hides the command's own result.
 *
 * @example Logging an error to a JSON log
 * ```ts
 * import assert from "node:assert/strict";
 * import { Logger } from "./log.ts";
 * const file = Deno.makeTempFileSync();
 * new Logger({ file, format: "json" }).error("container does not exist");
 * const line = JSON.parse(Deno.readTextFileSync(file));
 * assert.equal(line.level, "error");
 * assert.equal(line.msg, "container does not exist");
 * Deno.removeSync(file);
 * ```
 */
export class Logger {
  /** The log file, if any. */
  readonly file?: string;
  /** The line format. */
  readonly format: LogFormat;
  /** Whether debug lines are written. */
  readonly debugEnabled: boolean;
  #now: () => Date;

  /** A logger; see {@linkcode LoggerOptions}. */
  constructor(opts: LoggerOptions = {}) {
    if (opts.file !== undefined) this.file = opts.file;
    this.format = opts.format ?? "text";
    this.debugEnabled = opts.debug === true;
    this.#now = opts.now ?? (() => new Date());
  }

  /** Writes a line at `level`. */
  write(level: LogLevel, msg: string): void {
    if (level === "debug" && !this.debugEnabled) return;
    const bytes = utf8(formatLine(this.format, level, msg, this.#now()));
    try {
      if (this.file !== undefined) {
        Deno.writeFileSync(this.file, bytes, { append: true, create: true, mode: 0o644 });
      } else {
        writeAllSync(Deno.stderr, bytes);
      }
    } catch {
      // best effort
    }
  }

  /** A debug line (only with `--debug`). */
  debug(msg: string): void {
    this.write("debug", msg);
  }

  /** A warning line. */
  warn(msg: string): void {
    this.write("warning", msg);
  }

  /** An error line. */
  error(msg: string): void {
    this.write("error", msg);
  }
}

/**
 * Writes every byte to a synchronous writer (stdout and stderr may take partial writes).
 *
 * @example
 * ```ts
 * import { writeAllSync } from "./log.ts";
 * writeAllSync(Deno.stdout, new TextEncoder().encode(""));
 * ```
 */
export function writeAllSync(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}

/**
 * Prints text to stdout as is (no newline added).
 *
 * @example
 * ```ts
 * import { print } from "./log.ts";
 * print("");
 * ```
 */
export function print(text: string): void {
  writeAllSync(Deno.stdout, utf8(text));
}
