/**
 * Mechanism: runs a plan through nsinit-init and follows the child's setup
 * over the sync socket, turning its reports into pids, fds and errors.
 *
 * @module
 */

import { SyscallError } from "../errors.ts";
import { check, helperPath, native } from "./ffi.ts";
import type { PlanBuilder } from "./plan.ts";
import { Msg, MSG_FIELDS, MSG_SIZE } from "./wire.ts";

/** A decoded `struct nsi_msg`. */
export interface NsiMessage {
  type: number;
  errno: number;
  opIndex: number;
  op: number;
  pid: number;
  text: string;
}

const dec = new TextDecoder();

let abiChecked = false;

/**
 * The native library, once it is known to speak this module's wire format: a stale or foreign
 * build whose `struct nsi_msg` differs is refused before anything is spawned.
 */
function spawnLib(): ReturnType<typeof native> {
  const lib = native();
  if (!abiChecked) {
    try {
      Deno.statSync(helperPath());
    } catch (e) {
      throw new Error(`the nsinit helper ${helperPath()} is missing: ${(e as Error).message}`);
    }
    const size = lib.nsi_sizeof_msg();
    if (size !== MSG_SIZE) {
      throw new Error(
        `the nsinit native library does not match this code: struct nsi_msg is ${size} ` +
          `bytes, expected ${MSG_SIZE} (rebuild it: deno task build)`,
      );
    }
    abiChecked = true;
  }
  return lib;
}

/** Decodes a `struct nsi_msg` from `buf` at `offset`. */
export function decodeMessage(buf: Uint8Array, offset = 0): NsiMessage {
  const dv = new DataView(buf.buffer, buf.byteOffset + offset, MSG_SIZE);
  const f = MSG_FIELDS;
  const textBytes = buf.subarray(offset + f.text.offset, offset + MSG_SIZE);
  const nul = textBytes.indexOf(0);
  return {
    type: dv.getUint32(f.type.offset, true),
    errno: dv.getInt32(f.err.offset, true),
    opIndex: dv.getInt32(f.op_index.offset, true),
    op: dv.getUint32(f.op.offset, true),
    pid: Number(dv.getBigInt64(f.pid.offset, true)),
    text: dec.decode(nul >= 0 ? textBytes.subarray(0, nul) : textBytes),
  };
}

/** Turns an error report into a SyscallError naming the step that failed. */
export function messageError(m: NsiMessage, steps: string[]): SyscallError {
  const step = m.opIndex >= 0 && m.opIndex < steps.length ? steps[m.opIndex] : undefined;
  const opts: ConstructorParameters<typeof SyscallError>[0] = { syscall: m.text || "setup", errno: m.errno || 5 };
  if (step !== undefined) opts.step = step;
  return new SyscallError(opts);
}

/** What `spawnPlan` waits for before it returns. */
export type SpawnUntil = "ready" | "exec";

/** A process started by a plan. */
export interface Spawned {
  /** Its pid (in the runtime's pid namespace). */
  pid: number;
  /** A pidfd for it; the caller owns it. */
  pidfd: number;
  /** The pty master if the plan set up a terminal; the caller owns it. */
  ptyFd?: number;
  /**
   * Its start time (field 22 of /proc/<pid>/stat), read by the native library while the
   * process waited for its go; 0 if it could not be read there.
   */
  startTime: number;
}

/**
 * A helper started ahead of its plan ({@link startHelper}): its exec overlaps the runtime's
 * work on the container. Given to {@link spawnPlan} (`helper`), which hands it the plan, or
 * ended by {@link stopHelper}; one or the other, exactly once.
 */
export interface EarlyHelper {
  /** The helper's socket and pid once it is started; rejects when it could not be. */
  readonly started: Promise<{ fd: number; pid: number }>;
  /**
   * The namespaces it cloned at once (its child then takes only a plan whose `earlyClone`
   * they are); 0: none, it clones once it has any plan.
   */
  readonly cloneFlags: number;
  /** Set once spawnPlan or stopHelper has it (the other then leaves it alone). */
  taken: boolean;
}

/**
 * At most this many fds go to a helper started ahead of its plan, the plan's memfd among them
 * (plan.h's NSI_PASS_FDS_MAX, the kernel's SCM_MAX_FD; plan_contract_test.ts checks the two).
 */
export const PASS_FDS_MAX = 253;

/**
 * Starts the helper ahead of its plan, off the event loop: it waits for the plan and the
 * container's fds, which {@link spawnPlan} sends it (or {@link stopHelper} ends it). The
 * helper is a child of this process from now on, with this process's environment,
 * credentials and limits as they are now, as the one spawnPlan would start.
 *
 * With `cloneFlags` (some of `EARLY_CLONE_NS`, as `earlyCloneFlags` in core/init_plan.ts
 * predicts the plan's clone), it clones those namespaces at once: the kernel makes them (a
 * network namespace takes milliseconds) while the runtime builds the plan. Its child runs only
 * a plan whose `earlyClone` they are; spawnPlan hands another to a new helper.
 */
export function startHelper(cloneFlags = 0): EarlyHelper {
  const lib = spawnLib();
  const out = new Int32Array(2);
  const flags = BigInt(cloneFlags);
  const started = lib.nsi_helper_start(cstr(helperPath()), flags, new Uint8Array(out.buffer))
    .then((rc) => {
      if (rc < 0) throw new SyscallError({ syscall: "start nsinit-init", errno: -rc });
      return { fd: out[0], pid: out[1] };
    });
  started.catch(() => {}); // observed by spawnPlan or stopHelper
  return { started, cloneFlags, taken: false };
}

/**
 * Ends a helper from {@link startHelper} that spawnPlan did not take, and reaps it (and the
 * child it cloned ahead of a plan).
 */
export async function stopHelper(h: EarlyHelper): Promise<void> {
  if (h.taken) return;
  h.taken = true;
  const s = await h.started.catch(() => undefined);
  if (s) await native().nsi_helper_stop(s.fd, s.pid, h.cloneFlags ? 1 : 0);
}

/** Options for {@link spawnPlan}. */
export interface SpawnPlanOptions {
  /** fds[i] becomes fd i of the process. */
  fds: number[];
  /**
   * A helper from {@link startHelper} to run the plan on (taken, whatever happens); without
   * one, or where it could not start, a new one is spawned with the plan.
   */
  helper?: EarlyHelper;
  /**
   * Runs once the child exists, before it starts its setup (cgroup placement).
   * `cloneRefused`: with a plan that clones into a cgroup (`H_CGROUP`), 0 when the child was
   * born in it, else the errno the kernel refused the flag with (the child must be moved).
   */
  place?: (pid: number, cloneRefused: number) => Promise<void>;
  /**
   * Runs while the child sets itself up (right after it is told to go; the runtime's own
   * bookkeeping, off the child's path); spawnPlan returns only once it has ended, and
   * fails with its error. On a failed setup it is waited for before the child is reaped.
   */
  duringSetup?: (pid: number, startTime: number) => Promise<void>;
  /** "ready": return when it reports READY (waiting on its exec fifo); "exec": when it has exec'd. */
  until: SpawnUntil;
  /** Receives the pty master as soon as the child sends it. */
  onPty?: (fd: number) => void;
  /** Runs when the child reaches a barrier (runtime-side hooks); it continues afterwards. */
  onBarrier?: (pid: number) => Promise<void>;
  /**
   * Receives the seccomp notify listener the child loaded its filter with
   * (`SECCOMP_FILTER_FLAG_NEW_LISTENER`); the child goes on once it resolves. The fd is
   * closed afterwards: keep a dup. Without it such a child is refused.
   */
  onSeccomp?: (listenerFd: number, pid: number) => Promise<void>;
}

/**
 * Spawns a plan. On any failure the child is killed and reaped, every fd this
 * function opened is closed, and the error names the step.
 */
export async function spawnPlan(plan: PlanBuilder, opts: SpawnPlanOptions): Promise<Spawned> {
  const lib = spawnLib();
  const bytes = plan.encode();
  const fds = new Int32Array(opts.fds);
  // struct nsi_spawn_out: the sync fd, the helper's status, the message, the start time.
  const out = new Uint8Array(8 + MSG_SIZE + 8);
  let early: { fd: number; pid: number } | undefined;
  if (opts.helper && !opts.helper.taken) {
    const h = opts.helper;
    h.taken = true;
    early = await h.started.catch(() => undefined);
    // Too many fds for one message, or a child cloned with other namespaces than this plan
    // asks (or for a plan with other helper steps): a new helper runs it.
    if (
      early &&
      (fds.length + 1 > PASS_FDS_MAX || (h.cloneFlags !== 0 && plan.earlyClone !== h.cloneFlags))
    ) {
      console.error(`ZZ fallback ${h.cloneFlags} ${plan.earlyClone}`);
      await lib.nsi_helper_stop(early.fd, early.pid, h.cloneFlags ? 1 : 0);
      early = undefined;
    }
  }
  const rc = early
    ? await lib.nsi_spawn_on(early.fd, early.pid, bytes, bytes.length, new Uint8Array(fds.buffer), fds.length, out)
    : await lib.nsi_spawn(cstr(helperPath()), bytes, bytes.length, new Uint8Array(fds.buffer), fds.length, out);
  const dv = new DataView(out.buffer);
  const syncFd = dv.getInt32(0, true);
  const first = decodeMessage(out, 8);
  if (rc !== 0) {
    if (first.pid > 0) await killAndReap(first.pid);
    throw messageError(first, plan.steps);
  }
  const pid = first.pid;
  const startTime = Number(dv.getBigUint64(8 + MSG_SIZE, true));
  let pidfd = -1;
  let ptyFd: number | undefined;
  let during: Promise<void> | undefined;
  try {
    if (pid <= 0) throw new Error(`nsinit-init reported an invalid pid ${pid}`);
    pidfd = check(lib.nsi_pidfd_open(pid), "pidfd_open", String(pid));
    if (opts.place) await opts.place(pid, first.errno);
    check(lib.nsi_send_go(syncFd, pid), "send go");
    if (opts.duringSetup) {
      during = opts.duringSetup(pid, startTime);
      during.catch(() => {}); // observed below: never an unhandled rejection
    }
    const msg = new Uint8Array(MSG_SIZE);
    const fdOut = new Int32Array(1);
    for (;;) {
      const n = check(await lib.nsi_recv(syncFd, msg, new Uint8Array(fdOut.buffer)), "recv sync");
      if (n === 0) {
        if (opts.until === "exec") break;
        throw new SyscallError({ syscall: "container init", errno: 5, detail: "exited during setup without a report" });
      }
      const m = decodeMessage(msg);
      if (m.type === Msg.ERROR) throw messageError(m, plan.steps);
      if (m.type === Msg.PTY) {
        ptyFd = fdOut[0];
        opts.onPty?.(ptyFd);
        continue;
      }
      if (m.type === Msg.SECCOMP) {
        const fd = fdOut[0];
        try {
          if (fd < 0) throw new SyscallError({ syscall: "receive seccomp listener", errno: 9 });
          if (!opts.onSeccomp) {
            throw new SyscallError({ syscall: "seccomp notify", errno: 22, detail: "the runtime did not ask for a listener" });
          }
          await opts.onSeccomp(fd, pid);
        } finally {
          if (fd >= 0) lib.nsi_close(fd);
        }
        check(lib.nsi_send_go(syncFd, pid), "send go");
        continue;
      }
      if (m.type === Msg.BARRIER) {
        if (opts.onBarrier) await opts.onBarrier(pid);
        check(lib.nsi_send_go(syncFd, pid), "send go");
        continue;
      }
      if (m.type === Msg.READY && opts.until === "ready") break;
    }
    if (during) await during;
  } catch (e) {
    await during?.catch(() => {});
    if (pidfd >= 0) {
      lib.nsi_pidfd_signal(pidfd, 9);
      await reapPidfd(pidfd);
      lib.nsi_close(pidfd);
    } else if (pid > 0) {
      await killAndReap(pid);
    }
    if (ptyFd !== undefined && !opts.onPty) lib.nsi_close(ptyFd);
    lib.nsi_close(syncFd);
    throw e;
  }
  lib.nsi_close(syncFd);
  return ptyFd === undefined ? { pid, pidfd, startTime } : { pid, pidfd, ptyFd, startTime };
}

async function killAndReap(pid: number): Promise<void> {
  const lib = native();
  const fd = lib.nsi_pidfd_open(pid);
  if (fd < 0) return;
  lib.nsi_pidfd_signal(fd, 9);
  await reapPidfd(fd);
  lib.nsi_close(fd);
}

/** Waits (off the event loop) for a child to exit and reaps it. */
async function reapPidfd(pidfd: number): Promise<void> {
  const { reaper } = await import("./reaper.ts");
  await reaper.wait(pidfd);
}

const enc = new TextEncoder();
function cstr(s: string): Uint8Array {
  const b = enc.encode(s);
  const o = new Uint8Array(b.length + 1);
  o.set(b);
  return o;
}
