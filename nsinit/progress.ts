/**
 * Progress of a checkpoint or restore for people: one line on stderr, redrawn in
 * place when stderr is a terminal (phase, pages, size, elapsed); debug log lines
 * for each phase otherwise.
 *
 * @module
 */

import type { CriuProgress } from "../criu/options.ts";
import type { GlobalOptions } from "./global.ts";
import { writeAllSync } from "./log.ts";

/**
 * One progress line, e.g. `checkpoint c1: post-dump, 2048 pages, 8.1 MB, 1.3 s`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatProgress } from "./progress.ts";
 * const line = formatProgress("checkpoint c1", { phase: "post-dump", operation: "dump", pages: 2048, bytes: 8_500_000, elapsedMs: 1300 });
 * assert.equal(line, "checkpoint c1: post-dump, 2048 pages, 8.5 MB, 1.3 s");
 * ```
 */
export function formatProgress(what: string, p: CriuProgress): string {
  const size = p.bytes >= 1e6
    ? `${(p.bytes / 1e6).toFixed(1)} MB`
    : `${(p.bytes / 1e3).toFixed(1)} kB`;
  return `${what}: ${p.phase}, ${p.pages} pages, ${size}, ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

/** A progress listener for the CLI, and `finish()` to end its line. */
export function progressPrinter(
  what: string,
  g: GlobalOptions,
): { onProgress: (p: CriuProgress) => void; finish(): void } & Disposable {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let drawn = false;
  let phase = "";
  const finish = () => {
    if (drawn) writeAllSync(Deno.stderr, enc.encode("\n"));
    drawn = false;
  };
  return {
    onProgress(p) {
      const line = formatProgress(what, p);
      if (p.phase !== phase) g.logger.debug(line);
      phase = p.phase;
      if (!tty) return;
      writeAllSync(Deno.stderr, enc.encode(`\r\x1b[K${line}`));
      drawn = true;
    },
    finish,
    [Symbol.dispose]: finish,
  };
}
