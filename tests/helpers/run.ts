/**
 * Running commands from tests: output captured, a timeout, and no hang on pipes that a
 * background grandchild (a detached container) keeps open.
 *
 * @module
 */

import { REPO_ROOT, testRun } from "./paths.ts";

/** Options of {@linkcode run}. */
export interface RunOptions {
  /** Working directory; default the current one. */
  cwd?: string;
  /** Extra environment variables (the test run marker `NSINIT_TEST_RUN` is always added). */
  env?: Record<string, string>;
  /** Start from an empty environment (plus `env` and the marker). */
  clearEnv?: boolean;
  /** Bytes or text for stdin; without it stdin is /dev/null. */
  stdin?: string | Uint8Array;
  /** Kill the command (SIGKILL) after this many ms; default 60000. */
  timeoutMs?: number;
  /** After the command exits, wait at most this long for its stdout/stderr to close; default 1000. */
  pipeGraceMs?: number;
}

/** What a command did. */
export interface RunResult {
  /** Exit code (128 + signal number when killed by a signal, as a shell reports it). */
  code: number;
  /** The signal that killed it, or null. */
  signal: Deno.Signal | null;
  /** Exit code 0. */
  success: boolean;
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
  /** Whether the timeout killed it. */
  timedOut: boolean;
}

async function collect(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  chunks: Uint8Array[],
): Promise<void> {
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      chunks.push(value);
    }
  } catch {
    // cancelled
  }
}

function decode(chunks: Uint8Array[]): string {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}

function sleep(ms: number): Promise<"timeout"> & { cancel(): void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const p = new Promise<"timeout">((resolve) => {
    id = setTimeout(() => resolve("timeout"), ms);
  });
  return Object.assign(p, { cancel: () => clearTimeout(id) });
}

/**
 * Runs `cmd args...`, capturing stdout and stderr, and never waits longer than the timeout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { run } from "./run.ts";
 * const r = await run("sh", ["-c", "echo out; echo err >&2; exit 3"]);
 * assert.equal(r.code, 3);
 * assert.equal(r.stdout, "out\n");
 * assert.equal(r.stderr, "err\n");
 * const slow = await run("sleep", ["10"], { timeoutMs: 100 });
 * assert.ok(slow.timedOut);
 * assert.equal(slow.signal, "SIGKILL");
 * ```
 */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  if (!(timeoutMs > 0)) throw new RangeError(`run: timeoutMs must be positive, got ${timeoutMs}`);
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: { ...opts.env, NSINIT_TEST_RUN: testRun() },
    clearEnv: opts.clearEnv ?? false,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const readers = [child.stdout.getReader(), child.stderr.getReader()];
  const reading = Promise.all([collect(readers[0], out), collect(readers[1], err)]);
  if (opts.stdin !== undefined) {
    const data = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
    const writer = child.stdin.getWriter();
    await writer.write(data).catch(() => {});
    await writer.close().catch(() => {});
  }

  let timedOut = false;
  const timer = sleep(timeoutMs);
  const first = await Promise.race([child.status, timer]);
  if (first === "timeout") {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  timer.cancel();
  const status = await child.status;

  const grace = sleep(opts.pipeGraceMs ?? 1000);
  if (await Promise.race([reading, grace]) === "timeout") {
    // A grandchild holds the pipes open: stop reading, keep what arrived.
    await Promise.allSettled(readers.map((r) => r.cancel()));
  }
  grace.cancel();
  await reading;
  return {
    code: status.signal ? 128 + signalNumber(status.signal) : status.code,
    signal: status.signal,
    success: status.success,
    stdout: decode(out),
    stderr: decode(err),
    timedOut,
  };
}

function signalNumber(sig: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGILL: 4,
    SIGTRAP: 5,
    SIGABRT: 6,
    SIGBUS: 7,
    SIGFPE: 8,
    SIGKILL: 9,
    SIGUSR1: 10,
    SIGSEGV: 11,
    SIGUSR2: 12,
    SIGPIPE: 13,
    SIGALRM: 14,
    SIGTERM: 15,
  };
  return numbers[sig] ?? 0;
}

/**
 * The command line that runs the nsinit CLI: `$NSINIT_TEST_BIN` when set (e.g. `dist/nsinit`,
 * or `runc` to compare behaviour), else `deno run -A <repo>/nsinit/main.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nsinitCommand } from "./run.ts";
 * const [cmd, ...args] = nsinitCommand(["--version"]);
 * assert.ok(cmd.length > 0);
 * assert.equal(args.at(-1), "--version");
 * ```
 */
export function nsinitCommand(args: string[]): [string, ...string[]] {
  const bin = Deno.env.get("NSINIT_TEST_BIN");
  if (bin) return [bin, ...args];
  return [Deno.execPath(), "run", "-A", `${REPO_ROOT}/nsinit/main.ts`, ...args];
}

/**
 * Runs the nsinit CLI with `args` (see {@linkcode nsinitCommand}) from the repository root.
 *
 * @example
 * ```ts ignore
 * import { runNsinit } from "./run.ts";
 * const r = await runNsinit(["--root", stateRoot, "run", "--bundle", bundle.dir, bundle.id]);
 * ```
 */
export function runNsinit(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...rest] = nsinitCommand(args);
  return run(cmd, rest, { cwd: REPO_ROOT, ...opts });
}
