/**
 * Signal names and numbers (x86_64 Linux), as `nsinit kill` takes them.
 *
 * @module
 */

import { UsageError } from "./flags.ts";

/** Signal numbers by name (with the `SIG` prefix). */
export const SIGNALS: Readonly<Record<string, number>> = Object.freeze({
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
});

/**
 * A signal's number from its name, with or without `SIG`, in any case; undefined if unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { signalByName } from "./signals.ts";
 * assert.equal(signalByName("term"), 15);
 * assert.equal(signalByName("SIGKILL"), 9);
 * assert.equal(signalByName("NOPE"), undefined);
 * ```
 */
export function signalByName(raw: string): number | undefined {
  const name = raw.toUpperCase();
  return SIGNALS[name.startsWith("SIG") ? name : "SIG" + name];
}

/** The highest signal number (SIGRTMAX). */
const SIGRTMAX = 64;

/**
 * Parses a signal as runc does: a number, or a name with or without `SIG`, in
 * any case. Unknown names and out-of-range numbers are a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSignal } from "./signals.ts";
 * assert.equal(parseSignal("KILL"), 9);
 * assert.equal(parseSignal("sigterm"), 15);
 * assert.equal(parseSignal("10"), 10);
 * ```
 */
export function parseSignal(raw: string): number {
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n <= SIGRTMAX) return n;
  } else {
    const n = signalByName(raw);
    if (n !== undefined) return n;
  }
  throw new UsageError(`unknown signal ${JSON.stringify(raw)}`);
}
