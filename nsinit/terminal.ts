/**
 * Terminals for container processes: sending the pty master to a console
 * socket (runc's `--console-socket`), or attaching it to the host's stdio in
 * the foreground.
 *
 * @module
 */

import { resolve } from "../util/path.ts";
import { check, cstr, native } from "../native/ffi.ts";
import { UsageError } from "./flags.ts";

/**
 * runc's sanity check of `process.terminal` against `--detach` and `--console-socket`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTerminal } from "./terminal.ts";
 * checkTerminal({ terminal: true, detach: true, consoleSocket: "/run/sock" });
 * let failed = false;
 * try { checkTerminal({ terminal: true, detach: true }); } catch { failed = true; }
 * assert.ok(failed);
 * ```
 */
export function checkTerminal(
  opts: { terminal: boolean; detach: boolean; consoleSocket?: string | undefined },
): void {
  if (opts.detach && opts.terminal && !opts.consoleSocket) {
    throw new UsageError(
      "cannot allocate tty if nsinit will detach without setting console socket",
    );
  }
  if ((!opts.detach || !opts.terminal) && opts.consoleSocket) {
    throw new UsageError("cannot use console socket if nsinit will not detach or allocate tty");
  }
}

/**
 * An `onPty` callback that sends the pty master over the unix socket at `path`
 * (SCM_RIGHTS), then closes this process's copy.
 *
 * @example
 * ```ts ignore
 * import { consoleSocketSender } from "./terminal.ts";
 * await factory.create(id, { bundle, onPty: consoleSocketSender("/run/console.sock") });
 * ```
 */
export function consoleSocketSender(path: string): (fd: number) => void {
  const abs = resolve(path);
  return (fd: number) => {
    const lib = native();
    try {
      check(
        lib.nsi_send_fd(cstr(abs), fd, cstr("/dev/ptmx")),
        "send pty master to console socket",
        abs,
      );
    } finally {
      lib.nsi_close(fd);
    }
  };
}

/** A terminal attached to this process's stdio; see {@linkcode attachTerminal}. */
export interface AttachedTerminal {
  /** Resolves when the terminal's output has ended (or after `graceMs` once asked to finish). */
  finish(graceMs?: number): Promise<void>;
  /** Restores the host terminal's mode. Idempotent. */
  restore(): void;
}

/**
 * Copies stdin to a process's terminal and its output to stdout, with the host
 * terminal in raw mode when stdin is a tty.
 *
 * @example
 * ```ts ignore
 * import { attachTerminal } from "./terminal.ts";
 * const att = attachTerminal(proc.terminal!);
 * const code = await proc.exitCode();
 * await att.finish(200);
 * att.restore();
 * ```
 */
export function attachTerminal(
  term: {
    readable: ReadableStream<Uint8Array>;
    writable: WritableStream<Uint8Array>;
    resize?(rows: number, cols: number): void;
  },
): AttachedTerminal {
  let raw = false;
  // The container's pty takes the host terminal's size, now and on every SIGWINCH.
  const fit = () => {
    try {
      const { rows, columns } = Deno.consoleSize();
      term.resize?.(rows, columns);
    } catch {
      // stdout is not a terminal: keep the configured consoleSize
    }
  };
  let onWinch: (() => void) | undefined;
  if (Deno.stdout.isTerminal() && term.resize) {
    fit();
    onWinch = fit;
    Deno.addSignalListener("SIGWINCH", onWinch);
  }
  if (Deno.stdin.isTerminal()) {
    try {
      Deno.stdin.setRaw(true);
      raw = true;
    } catch {
      // not a terminal after all
    }
  }
  const restore = () => {
    if (onWinch) {
      Deno.removeSignalListener("SIGWINCH", onWinch);
      onWinch = undefined;
    }
    if (!raw) return;
    raw = false;
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // stdin is gone
    }
  };
  Deno.stdin.readable.pipeTo(term.writable, { preventClose: true }).catch(() => {});
  const output = term.readable.pipeTo(Deno.stdout.writable, { preventClose: true }).catch(() => {});
  return {
    restore,
    async finish(graceMs = 200) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((r) => timer = setTimeout(r, graceMs));
      await Promise.race([output, grace]);
      clearTimeout(timer);
    },
  };
}
