/**
 * Stopping a container as CRI-O does: its stop signal, a grace period, then
 * SIGKILL retried with exponential backoff until it is gone. A process stuck
 * in uninterruptible sleep (`D`) cannot die until the kernel lets it: that is
 * reported as a {@link StopError}, not waited for forever.
 *
 * @module
 */

/** A container that would not stop. */
export class StopError extends Error {
  /** The container id. */
  readonly id: string;
  /** The init's pid. */
  readonly pid: number;
  /** Its state letter when the kill loop gave up (`D`: uninterruptible sleep). */
  readonly state?: string;

  /**
   * Makes the error for container `id` whose `pid` was in `state` after `seconds` of SIGKILLs.
   *
   * @example
   * ```ts
   * import { StopError } from "./stop.ts";
   * import assert from "node:assert/strict";
   * const e = new StopError("c1", 42, "D", 10);
   * assert.match(e.message, /c1: process 42 is blocked in uninterruptible sleep \(D\)/);
   * ```
   */
  constructor(id: string, pid: number, state: string | undefined, seconds: number) {
    super(
      state === "D"
        ? `container ${id}: process ${pid} is blocked in uninterruptible sleep (D) and survived SIGKILL for ${seconds} s`
        : `container ${id}: process ${pid} survived SIGKILL for ${seconds} s (state ${
          state ?? "unknown"
        })`,
    );
    this.name = "StopError";
    this.id = id;
    this.pid = pid;
    if (state !== undefined) this.state = state;
  }
}

/** What {@link stopLoop} acts on (the manager passes the real container; tests pass fakes). */
export interface StopTarget {
  /** The container id (for errors). */
  id: string;
  /** The init's pid (for errors). */
  pid: number;
  /** Sends a signal to the container (errors when it is already gone are ignored). */
  signal(sig: number): Promise<void>;
  /** Whether the init still runs. */
  alive(): boolean;
  /** The init's state letter. */
  state(): string | undefined;
  /** Resolves when the init ends or `ms` have passed. */
  waitExit(ms: number): Promise<void>;
}

/** Timing of {@link stopLoop}. */
export interface StopTiming {
  /** The stop signal. */
  stopSignal: number;
  /** Grace period in ms before SIGKILL. */
  graceMs: number;
  /** How long SIGKILL is retried before giving up (ms). */
  killTimeoutMs: number;
  /** First backoff between SIGKILLs (ms); doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  /** Longest backoff (ms). */
  maxBackoffMs?: number;
}

/**
 * Stops `t`: stop signal, grace period, SIGKILL with backoff. Resolves once it is gone;
 * throws {@link StopError} if it outlives `killTimeoutMs` of SIGKILLs.
 *
 * @example A process that ignores SIGTERM is killed after the grace period
 * ```ts
 * import { stopLoop } from "./stop.ts";
 * import assert from "node:assert/strict";
 *
 * let alive = true;
 * const sent: number[] = [];
 * await stopLoop({
 *   id: "c1", pid: 7,
 *   signal: async (s) => { sent.push(s); if (s === 9) alive = false; },
 *   alive: () => alive, state: () => (alive ? "S" : undefined),
 *   waitExit: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
 * }, { stopSignal: 15, graceMs: 10, killTimeoutMs: 1000 });
 * assert.deepEqual(sent, [15, 9]);
 * ```
 */
export async function stopLoop(t: StopTarget, timing: StopTiming): Promise<void> {
  if (!t.alive()) return;
  await t.signal(timing.stopSignal).catch(() => {});
  if (timing.graceMs > 0) await t.waitExit(timing.graceMs);
  if (!t.alive()) return;
  const start = Date.now();
  let backoff = timing.initialBackoffMs ?? 20;
  const maxBackoff = timing.maxBackoffMs ?? 2000;
  for (;;) {
    await t.signal(9).catch(() => {});
    await t.waitExit(backoff);
    if (!t.alive()) return;
    if (Date.now() - start >= timing.killTimeoutMs) {
      throw new StopError(t.id, t.pid, t.state(), Math.round((Date.now() - start) / 1000));
    }
    backoff = Math.min(backoff * 2, maxBackoff);
  }
}
