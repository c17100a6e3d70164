/**
 * Seccomp user notification (`SCMP_ACT_NOTIFY`): the container's process loads its filter
 * with `SECCOMP_FILTER_FLAG_NEW_LISTENER` and passes the listener to the runtime, which
 * connects to `linux.seccomp.listenerPath` and sends the runtime spec's "container process
 * state" with the listener in SCM_RIGHTS (one message per connection, then closes it), as
 * runc does; only then does the process go on. Sending fails: the create or exec fails.
 *
 * @module
 */

import { SyscallError } from "../errors.ts";
import type { HookState } from "./hooks.ts";
import type { Syscalls } from "./syscalls.ts";

/** The runtime spec's "Container Process State", sent to a seccomp agent. */
export interface ContainerProcessState {
  /** The runtime spec version. */
  ociVersion: string;
  /** Names of the fds sent with it, in order: `["seccompFd"]`. */
  fds: string[];
  /** The process the listener belongs to (the init, or an exec'd process). */
  pid: number;
  /** `linux.seccomp.listenerMetadata`, when set. */
  metadata?: string;
  /** The container's state (its `pid` is the init's). */
  state: HookState;
}

/**
 * The state an agent receives for process `pid` of a container whose init is `state.pid`.
 * `status` is `running`, as runc sends it (also while the container is being created).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { containerProcessState } from "./seccomp_notify.ts";
 * const s = containerProcessState(
 *   { ociVersion: "1.2.0", id: "web", bundle: "/b" },
 *   { pid: 42, initPid: 7, metadata: "m" },
 * );
 * assert.deepEqual(s.fds, ["seccompFd"]);
 * assert.equal(s.state.pid, 7);
 * assert.equal(s.state.status, "running");
 * ```
 */
export function containerProcessState(
  base: Omit<HookState, "status">,
  opts: { pid: number; initPid: number; metadata?: string | undefined },
): ContainerProcessState {
  return {
    ociVersion: base.ociVersion,
    fds: ["seccompFd"],
    pid: opts.pid,
    ...(opts.metadata ? { metadata: opts.metadata } : {}),
    state: { ...base, status: "running", pid: opts.initPid },
  };
}

/**
 * An `onSeccomp` callback for `spawnPlan`: sends the listener of process `pid` to the agent at
 * `listenerPath`. `initPid` undefined means the process is the init.
 */
export function seccompAgentSender(
  listenerPath: string,
  base: Omit<HookState, "status">,
  sys: Syscalls,
  opts: { initPid?: number; metadata?: string | undefined } = {},
): (fd: number, pid: number) => Promise<void> {
  return (fd, pid) => {
    const state = containerProcessState(base, {
      pid,
      initPid: opts.initPid ?? pid,
      metadata: opts.metadata,
    });
    try {
      sys.sendFd(listenerPath, new TextEncoder().encode(JSON.stringify(state)), fd);
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      throw new SyscallError({
        syscall: e.syscall,
        errno: e.errno,
        path: listenerPath,
        step: "send the seccomp notify listener to the agent at linux.seccomp.listenerPath",
      });
    }
    return Promise.resolve();
  };
}
