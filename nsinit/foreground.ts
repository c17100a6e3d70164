/**
 * Running a container process in the foreground: signals this process gets
 * are forwarded to it, its terminal (if any) is attached to stdio, and the
 * result is its shell-style exit code.
 *
 * @module
 */

import type { ContainerProcess } from "../core/process.ts";
import { SIGNALS } from "./signals.ts";
import { attachTerminal } from "./terminal.ts";

/** What runs in the foreground: a container process, or anything shaped like one. */
export type ForegroundProcess = Pick<ContainerProcess, "kill" | "terminal" | "exitCode">;

/** The signals forwarded to a foreground process. */
export const FORWARDED_SIGNALS: readonly Deno.Signal[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGWINCH",
];

/**
 * Catches the forwarded signals from the moment it is made, so none is lost
 * (or kills this process) while the container is still being created; signals
 * that arrive before {@linkcode SignalForwarder.attach} are delivered then.
 *
 * @example
 * ```ts ignore
 * import { SignalForwarder } from "./foreground.ts";
 * using fwd = new SignalForwarder();
 * const proc = await container.exec(process);
 * fwd.attach(proc);
 * ```
 */
export class SignalForwarder implements Disposable {
  #pending: number[] = [];
  #target?: ForegroundProcess;
  #handlers: [Deno.Signal, () => void][] = [];

  /** Starts catching signals; `onSignal` hears each one (for debug logs). */
  constructor(onSignal?: (sig: Deno.Signal) => void) {
    for (const sig of FORWARDED_SIGNALS) {
      const handler = () => {
        onSignal?.(sig);
        if (this.#target) this.#target.kill(SIGNALS[sig]);
        else this.#pending.push(SIGNALS[sig]);
      };
      try {
        Deno.addSignalListener(sig, handler);
        this.#handlers.push([sig, handler]);
      } catch {
        // a signal this platform does not let us catch
      }
    }
  }

  /** Forwards to `proc` from now on, after the signals that arrived before. */
  attach(proc: ForegroundProcess): void {
    this.#target = proc;
    for (const n of this.#pending.splice(0)) proc.kill(n);
  }

  /** Stops catching signals. Idempotent. */
  [Symbol.dispose](): void {
    for (const [sig, h] of this.#handlers.splice(0)) Deno.removeSignalListener(sig, h);
  }
}

/**
 * Waits for `proc` while `forwarder` forwards signals to it, with its terminal
 * (if any) attached to stdio; resolves to its exit code (128 + signal when a
 * signal ended it).
 *
 * @example
 * ```ts ignore
 * import { SignalForwarder, waitForeground } from "./foreground.ts";
 * using fwd = new SignalForwarder();
 * const code = await waitForeground(container.init!, fwd);
 * ```
 */
export async function waitForeground(
  proc: ForegroundProcess,
  forwarder: SignalForwarder,
): Promise<number> {
  forwarder.attach(proc);
  const attached = proc.terminal ? attachTerminal(proc.terminal) : undefined;
  try {
    const code = await proc.exitCode();
    await attached?.finish();
    return code;
  } finally {
    attached?.restore();
  }
}
