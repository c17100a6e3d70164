/**
 * `--pidfd-socket` (runc 1.2): a pidfd of the container's init (`create`, `run`) or of the
 * exec'd process (`exec`) goes over the unix socket at the given path, in SCM_RIGHTS, as
 * one message named after runc's init type (`standard` for an init, `setns` for an exec).
 * As runc, the socket is connected before anything is made, so an unreachable path fails
 * the command with nothing to undo.
 *
 * @module
 */

import { resolve } from "../util/path.ts";
import { cstr, native } from "../native/ffi.ts";
import { SyscallError } from "../errors.ts";

/** A connection to a `--pidfd-socket`; `using` closes it. */
export class PidfdSocketSender implements Disposable {
  readonly path: string;
  #sock: number;
  #name: string;

  private constructor(path: string, sock: number, name: string) {
    this.path = path;
    this.#sock = sock;
    this.#name = name;
  }

  /**
   * Connects to the socket at `path`; `kind` names the message as runc does.
   * Throws a {@link SyscallError} naming the flag and the path when it cannot.
   */
  static connect(path: string, kind: "standard" | "setns"): PidfdSocketSender {
    const abs = resolve(path);
    const sock = native().nsi_unix_connect(cstr(abs), 0);
    if (sock < 0) {
      throw new SyscallError({
        syscall: "connect",
        errno: -sock,
        path: abs,
        step: "--pidfd-socket",
      });
    }
    return new PidfdSocketSender(abs, sock, kind);
  }

  /** Sends `pidfd` (this process keeps its copy), then closes the connection. */
  send(pidfd: number): void {
    if (this.#sock < 0) throw new Error(`--pidfd-socket ${this.path}: already sent`);
    const name = new TextEncoder().encode(this.#name);
    const rc = native().nsi_unix_send_fd(this.#sock, name, name.length, pidfd);
    this[Symbol.dispose]();
    if (rc < 0) {
      throw new SyscallError({
        syscall: "sendmsg",
        errno: -rc,
        path: this.path,
        step: "--pidfd-socket",
      });
    }
  }

  /** Closes the connection (idempotent). */
  [Symbol.dispose](): void {
    if (this.#sock < 0) return;
    native().nsi_close(this.#sock);
    this.#sock = -1;
  }
}
