/**
 * A process running in a container: its pid, its stdio, and its exit status.
 *
 * @module
 */

import { exitCode, type ExitStatus } from "../native/reaper.ts";
import type { StdioParent } from "./stdio.ts";
import { realSyscalls, type Syscalls, type Terminal } from "./syscalls.ts";

/**
 * A process started by nsinit (a container's init or an exec'd process).
 * It holds a pidfd: signals go through it, so a recycled pid is never hit.
 */
export class ContainerProcess implements AsyncDisposable {
  /** The pid, in the runtime's pid namespace. */
  readonly pid: number;
  /** Write end of a piped stdin. */
  readonly stdin?: WritableStream<Uint8Array>;
  /** Read end of a piped stdout. */
  readonly stdout?: ReadableStream<Uint8Array>;
  /** Read end of a piped stderr. */
  readonly stderr?: ReadableStream<Uint8Array>;
  /** The terminal, when the process has one: write keystrokes, read output. */
  readonly terminal?: Terminal;
  #pidfd: number;
  #status?: Promise<ExitStatus>;
  #reaped = false;
  #sys: Syscalls;

  /** Wraps a spawned process. The pidfd becomes this object's. */
  constructor(
    pid: number,
    pidfd: number,
    stdio: StdioParent = {},
    ptyFd?: number,
    syscalls: Syscalls = realSyscalls,
  ) {
    this.pid = pid;
    this.#pidfd = pidfd;
    this.#sys = syscalls;
    if (stdio.stdin) this.stdin = stdio.stdin;
    if (stdio.stdout) this.stdout = stdio.stdout;
    if (stdio.stderr) this.stderr = stdio.stderr;
    if (ptyFd !== undefined) this.terminal = syscalls.terminal(ptyFd);
  }

  /** Exit status; resolves when the process ends (it must be this runtime's child). */
  get status(): Promise<ExitStatus> {
    if (this.#pidfd < 0) return Promise.reject(new Error(`process ${this.pid}: already released`));
    this.#status ??= this.#sys.waitExit(this.#pidfd).then((s) => {
      this.#reaped = true;
      return s;
    }).finally(() => this.#closeFd());
    return this.#status;
  }

  /** Whether {@link status} has resolved: the process exited and was reaped, its pid is gone. */
  get reaped(): boolean {
    return this.#reaped;
  }

  /** Resolves to the shell-style exit code: the code, or 128 + signal. */
  async exitCode(): Promise<number> {
    return exitCode(await this.status);
  }

  /** Sends a signal through the pidfd. Returns false if the process is gone. */
  kill(signal = 15): boolean {
    if (this.#pidfd < 0) return false;
    try {
      this.#sys.pidfdSignal(this.#pidfd, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** Collects piped stdout and stderr as text and waits for the exit. */
  async output(): Promise<{ code: number; stdout: string; stderr: string }> {
    const text = (s?: ReadableStream<Uint8Array>) =>
      s ? new Response(s).text() : Promise.resolve("");
    const [stdout, stderr, code] = await Promise.all([
      text(this.stdout),
      text(this.stderr),
      this.exitCode(),
    ]);
    return { code, stdout, stderr };
  }

  #closeFd(): void {
    if (this.#pidfd >= 0) {
      this.#sys.close(this.#pidfd);
      this.#pidfd = -1;
    }
  }

  /** Kills the process if still running and waits for it. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#pidfd < 0) return;
    this.kill(9);
    await this.status.catch(() => {});
  }
}
