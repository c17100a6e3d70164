/**
 * Container logs in Kubernetes' CRI format, as conmon writes them and
 * `kubectl logs` reads them: one entry per line,
 * `<RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <content>`, where
 * `P` marks a partial line (its content continues in the next entry of that
 * stream) and `F` a full one.
 *
 * @module
 */

/** One entry of a container log. */
export interface LogEntry {
  /** The time as written (RFC 3339 with nanoseconds). */
  time: string;
  /** Which stream. */
  stream: "stdout" | "stderr";
  /** `F` full line, `P` partial line. */
  tag: "F" | "P";
  /** The content, without the newline. */
  content: string;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/**
 * The time as conmon writes it: RFC 3339, nanoseconds, a numeric zone.
 *
 * @example
 * ```ts
 * import { logTime } from "./k8s_log.ts";
 * import assert from "node:assert/strict";
 * assert.equal(logTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), 7), "2026-01-02T03:04:05.006000007+00:00");
 * ```
 */
export function logTime(d: Date = new Date(), extraNanos = 0): string {
  const ns = pad(d.getUTCMilliseconds(), 3) + pad(extraNanos % 1_000_000, 6);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${ns}+00:00`;
}

/**
 * Parses a log's text into entries (lines that are not entries are skipped).
 *
 * @example
 * ```ts
 * import { parseKubernetesLog } from "./k8s_log.ts";
 * import assert from "node:assert/strict";
 *
 * const e = parseKubernetesLog("2026-01-01T00:00:00.000000001+00:00 stdout P ab\n" +
 *   "2026-01-01T00:00:00.000000002+00:00 stdout F c d\n");
 * assert.deepEqual(e.map((x) => [x.stream, x.tag, x.content]), [["stdout", "P", "ab"], ["stdout", "F", "c d"]]);
 * ```
 */
export function parseKubernetesLog(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+) (stdout|stderr) ([FP]) ?(.*)$/.exec(line);
    if (m) {
      out.push({
        time: m[1],
        stream: m[2] as LogEntry["stream"],
        tag: m[3] as "F" | "P",
        content: m[4],
      });
    }
  }
  return out;
}

/**
 * Reads a container log back as what each stream wrote: partial entries are
 * joined to the line they continue (as `kubectl logs` shows them).
 *
 * @example
 * ```ts
 * import { readContainerLog } from "./k8s_log.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "t stdout P ab\nt stderr F oops\nt stdout F c\n");
 * assert.deepEqual(await readContainerLog(path), { stdout: "abc\n", stderr: "oops\n" });
 * await Deno.remove(path);
 * ```
 */
export async function readContainerLog(path: string): Promise<{ stdout: string; stderr: string }> {
  return joinEntries(parseKubernetesLog(await Deno.readTextFile(path)));
}

/**
 * Joins entries into each stream's text (P entries without a newline).
 *
 * @example
 * ```ts
 * import { joinEntries } from "./k8s_log.ts";
 * import assert from "node:assert/strict";
 * const out = joinEntries([
 *   { time: "t", stream: "stdout", tag: "P", content: "a" },
 *   { time: "t", stream: "stdout", tag: "F", content: "b" },
 * ]);
 * assert.deepEqual(out, { stdout: "ab\n", stderr: "" });
 * ```
 */
export function joinEntries(entries: LogEntry[]): { stdout: string; stderr: string } {
  const out = { stdout: "", stderr: "" };
  for (const e of entries) out[e.stream] += e.content + (e.tag === "F" ? "\n" : "");
  return out;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Writes a container's output in Kubernetes' format, as conmon does for the
 * runtime handlers without conmon: each chunk's complete lines as `F`
 * entries, a trailing piece without a newline as a `P` entry. When the file
 * outgrows `maxSize` it is truncated and writing goes on; {@link reopen}
 * starts a new file at the path (after the caller rotated the old one).
 *
 * @example
 * ```ts
 * import { KubernetesLogWriter, readContainerLog } from "./k8s_log.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * const w = await KubernetesLogWriter.open(path);
 * await w.write("stdout", new TextEncoder().encode("one\ntw"));
 * await w.write("stdout", new TextEncoder().encode("o\n"));
 * await w.close();
 * assert.deepEqual(await readContainerLog(path), { stdout: "one\ntwo\n", stderr: "" });
 * await Deno.remove(path);
 * ```
 */
export class KubernetesLogWriter {
  /** The log file. */
  readonly path: string;
  /** The size limit in bytes (<= 0: none). */
  readonly maxSize: number;
  #file: Deno.FsFile;
  #size: number;
  #queue: Promise<void> = Promise.resolve();
  #seq = 0;

  private constructor(path: string, file: Deno.FsFile, size: number, maxSize: number) {
    this.path = path;
    this.#file = file;
    this.#size = size;
    this.maxSize = maxSize;
  }

  /** Opens (appending to) the log at `path`; `maxSize` <= 0 means no limit. */
  static async open(path: string, maxSize = -1): Promise<KubernetesLogWriter> {
    const file = await Deno.open(path, { create: true, append: true, mode: 0o640 });
    const size = (await file.stat()).size;
    return new KubernetesLogWriter(path, file, size, maxSize);
  }

  /** Appends what `stream` wrote (in order with every other write). */
  write(stream: "stdout" | "stderr", chunk: Uint8Array): Promise<void> {
    const text = dec.decode(chunk);
    this.#queue = this.#queue.then(() => this.#write(stream, text)).catch(() => {});
    return this.#queue;
  }

  async #write(stream: "stdout" | "stderr", text: string): Promise<void> {
    const parts = text.split("\n");
    const now = new Date();
    let out = "";
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      if (last && parts[i] === "") break;
      out += `${logTime(now, this.#seq++)} ${stream} ${last ? "P" : "F"} ${parts[i]}\n`;
    }
    const bytes = enc.encode(out);
    if (this.maxSize > 0 && this.#size + bytes.length > this.maxSize) {
      await this.#file.truncate(0);
      this.#size = 0;
    }
    await this.#file.write(bytes);
    this.#size += bytes.length;
  }

  /** Closes the file and opens `path` anew (log rotation: the old file was moved away). */
  async reopen(): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      this.#file.close();
      this.#file = await Deno.open(this.path, { create: true, append: true, mode: 0o640 });
      this.#size = (await this.#file.stat()).size;
    });
    await this.#queue;
  }

  /** Flushes pending writes and closes the file. */
  async close(): Promise<void> {
    await this.#queue;
    try {
      this.#file.close();
    } catch { /* closed */ }
  }
}
