/**
 * OCI hooks: when each kind runs, in which namespace, with the state on stdin.
 *
 * - prestart, createRuntime: runtime namespace, during create, before pivot_root
 *   (the init waits at a barrier while they run); poststart: after start;
 *   poststop: after delete. These run here, through `Syscalls.runHook` (the native
 *   `nsi_hook`).
 *
 * Imported only for a config that has hooks (or a seccomp agent): a create, a start and a
 * delete of any other config never load this module (the bundled CLI keeps it in a small
 * chunk of its own).
 * - createContainer (before pivot_root) and startContainer (just before the
 *   user's program): run by the container's init, in its namespaces, as plan
 *   steps (see init_plan.ts).
 *
 * @module
 */

import type { Hook, Hooks, Spec } from "../spec/config.ts";
import { describeErrno, HookError } from "../errors.ts";
import { realSyscalls, type Syscalls } from "./syscalls.ts";
import type { ContainerState } from "./state.ts";

/** The state a hook reads on stdin. */
export interface HookState {
  ociVersion: string;
  id: string;
  status: string;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

/** The part of a hook's state that stays the same through a container's life. */
export function hookBase(spec: Spec, id: string, bundle: string): Omit<HookState, "status"> {
  return {
    ociVersion: spec.ociVersion,
    id,
    bundle,
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
}

/** The state a container's poststart (`pid`: its init's) or poststop hooks read. */
export function containerHookState(
  state: ContainerState,
  status: string,
  pid?: number,
): HookState {
  const s: HookState = {
    ociVersion: state.config.ociVersion,
    id: state.id,
    status,
    bundle: state.bundle,
  };
  if (pid !== undefined) s.pid = pid;
  if (state.config.annotations) s.annotations = state.config.annotations;
  return s;
}

const ETIMEDOUT = 110;

/** Runs one hook with `state` on stdin. Throws HookError. */
export async function runHook(
  kind: string,
  index: number,
  hook: Hook,
  state: HookState,
  sys: Syscalls = realSyscalls,
): Promise<void> {
  const input = new TextEncoder().encode(JSON.stringify(state));
  const timeout = hook.timeout ? hook.timeout * 1000 : 0;
  const r = await sys.runHook(
    hook.path,
    hook.args?.length ? hook.args : [hook.path],
    hook.env ?? [],
    input,
    timeout,
  );
  if (r === -ETIMEDOUT) {
    throw new HookError(kind, index, hook.path, `timed out after ${hook.timeout}s`);
  }
  if (r < 0) throw new HookError(kind, index, hook.path, `cannot run: ${describeErrno(-r)}`);
  const code = (r >> 8) & 0xff, sig = r & 0x7f;
  if (sig !== 0) throw new HookError(kind, index, hook.path, `killed by signal ${sig}`);
  if (code !== 0) throw new HookError(kind, index, hook.path, `exit status ${code}`);
}

/** Runs every hook of `kind` in order; stops at the first failure. */
export async function runHooks(
  kind: keyof Hooks,
  hooks: Hooks | undefined,
  state: HookState,
  sys: Syscalls = realSyscalls,
): Promise<void> {
  for (const [i, h] of (hooks?.[kind] ?? []).entries()) await runHook(kind, i, h, state, sys);
}

/**
 * Runs hooks whose failure is only a warning (poststart, poststop): every hook
 * runs, and each failure is passed to `warn`.
 */
export async function runHooksWarn(
  kind: keyof Hooks,
  hooks: Hooks | undefined,
  state: HookState,
  warn: (msg: string) => void,
  sys: Syscalls = realSyscalls,
): Promise<void> {
  for (const [i, h] of (hooks?.[kind] ?? []).entries()) {
    try {
      await runHook(kind, i, h, state, sys);
    } catch (e) {
      warn((e as Error).message);
    }
  }
}

/** The state JSON split around the pid, for hooks the init runs (it inserts its pid). */
export function splitStateJson(state: Omit<HookState, "pid">): [string, string] {
  const { ociVersion, id, status, ...rest } = state;
  const head = JSON.stringify({ ociVersion, id, status }).slice(0, -1) + ',"pid":';
  const tail = "," + JSON.stringify(rest).slice(1);
  return [head, tail === ",}" ? "}" : tail];
}
