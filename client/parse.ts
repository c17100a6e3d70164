/**
 * Parsers for what runtime binaries print: `ps --format table` output, `--version`
 * output, and the last error in a JSON log.
 *
 * @module
 */

/** `ps` output as a table (go-runc's `TopResults`). */
export interface TopResults {
  /** The column names, e.g. `["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]`. */
  headers: string[];
  /** One row per process, a value per header (the last column keeps its spaces). */
  processes: string[][];
}

/**
 * Parses `ps` output: whitespace-separated columns, the last one taking the rest of the line.
 *
 * @example
 * ```ts
 * import { parsePsOutput } from "./parse.ts";
 * import assert from "node:assert/strict";
 *
 * const t = parsePsOutput("UID PID CMD\nroot 1 sleep 10\n");
 * assert.deepEqual(t.headers, ["UID", "PID", "CMD"]);
 * assert.deepEqual(t.processes, [["root", "1", "sleep 10"]]);
 * ```
 */
export function parsePsOutput(text: string): TopResults {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  if (lines.length === 0) throw new SyntaxError("ps printed no header line");
  const headers = lines[0].trim().split(/\s+/);
  const processes = lines.slice(1).map((line) => {
    const row: string[] = [];
    let rest = line.trim();
    for (let i = 0; i < headers.length - 1 && rest !== ""; i++) {
      const m = /^(\S+)\s*(.*)$/.exec(rest)!;
      row.push(m[1]);
      rest = m[2];
    }
    row.push(rest);
    return row;
  });
  return { headers, processes };
}

/** A runtime's `--version` (go-runc's `Version`, plus the runtime's name). */
export interface RuntimeVersion {
  /** The runtime's name as it prints it: `runc`, `crun`, `nsinit`. */
  name: string;
  /** Its version, e.g. `1.1.5+ds1`. */
  version: string;
  /** The `commit:` line, if printed. */
  commit?: string;
  /** The runtime-spec version, if printed. */
  spec?: string;
  /** Everything it printed. */
  raw: string;
}

/**
 * Parses `<name> version <v>` and the `commit:` and `spec:` lines.
 *
 * @example
 * ```ts
 * import { parseVersion } from "./parse.ts";
 * import assert from "node:assert/strict";
 *
 * const v = parseVersion("runc version 1.1.5\ncommit: abc\nspec: 1.0.2-dev\ngo: go1.19\n");
 * assert.equal(v.name, "runc");
 * assert.equal(v.version, "1.1.5");
 * assert.equal(v.commit, "abc");
 * assert.equal(v.spec, "1.0.2-dev");
 * ```
 */
export function parseVersion(text: string): RuntimeVersion {
  const lines = text.trim().split("\n");
  const m = /^(\S+) version (\S+)/.exec(lines[0] ?? "");
  if (!m) {
    throw new SyntaxError(`unable to parse the runtime version: ${JSON.stringify(lines[0] ?? "")}`);
  }
  const v: RuntimeVersion = { name: m[1], version: m[2], raw: text };
  for (const line of lines.slice(1)) {
    const kv = /^(commit|spec):\s*(.*)$/.exec(line.trim());
    if (kv) v[kv[1] as "commit" | "spec"] = kv[2];
  }
  return v;
}

/**
 * The message of the last `"level":"error"` entry in a runtime's JSON log
 * (as containerd reads `log.json`), or undefined. Tolerates entries without a
 * newline between them.
 *
 * @example
 * ```ts
 * import { lastErrorLine } from "./parse.ts";
 * import assert from "node:assert/strict";
 *
 * const log = '{"level":"info","msg":"a"}\n{"level":"error","msg":"no rootfs"}{"level":"debug","msg":"b"}';
 * assert.equal(lastErrorLine(log), "no rootfs");
 * assert.equal(lastErrorLine(""), undefined);
 * ```
 */
export function lastErrorLine(log: string): string | undefined {
  let found: string | undefined;
  for (const line of log.split("\n")) {
    for (const part of line.trim().split(/(?<=\})(?=\{)/)) {
      if (!part.startsWith("{")) continue;
      try {
        const e = JSON.parse(part) as { level?: unknown; msg?: unknown };
        if ((e.level === "error" || e.level === "fatal") && typeof e.msg === "string") {
          found = e.msg;
        }
      } catch { /* not a JSON entry */ }
    }
  }
  return found;
}
