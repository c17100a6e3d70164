/**
 * Compiles an OCI `linux.seccomp` profile into a classic BPF program with libseccomp, with the
 * semantics of runc (libcontainer/seccomp) and crun.
 *
 * @module
 */

import { ConfigError, errnoName, SyscallError } from "../errors.ts";
import type {
  LinuxSeccomp,
  LinuxSeccompAction,
  LinuxSeccompArg,
  LinuxSeccompOperator,
} from "../spec/config.ts";
import {
  actErrno,
  actTrace,
  type ArgCmp,
  type LibseccompOptions,
  resolveArchName,
  resolveSyscallName,
  SCMP_ACT,
  SCMP_CMP,
  SCMP_FLTATR,
  SeccompFilter,
} from "./libseccomp.ts";

/**
 * The `SECCOMP_FILTER_FLAG_*` bits nsinit supports in `linux.seccomp.flags`, as passed to
 * `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SECCOMP_FILTER_FLAGS } from "./compile.ts";
 * assert.equal(SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_SPEC_ALLOW, 4);
 * ```
 */
export const SECCOMP_FILTER_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
});

/** `SECCOMP_FILTER_FLAG_NEW_LISTENER`: set by nsinit itself when a rule uses `SCMP_ACT_NOTIFY`. */
export const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
/** `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19): only with a notify listener. */
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32;

/** Flags the kernel defines that nsinit does not take from `linux.seccomp.flags`, and why. */
const UNSUPPORTED_FLAGS: Record<string, string> = {
  SECCOMP_FILTER_FLAG_NEW_LISTENER:
    "nsinit sets it itself when a rule's action is SCMP_ACT_NOTIFY (with linux.seccomp.listenerPath)",
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH: "the container's process is single-threaded when it is loaded",
};

/**
 * The syscall the container's process makes after loading a notify filter and before the
 * runtime has handed the listener to the agent (it sends the listener out with it): a
 * notify rule for it could never be answered (as runc refuses `write`, which its init uses).
 */
const NOTIFY_FORBIDDEN = ["sendmsg"];

/** The `SCMP_CMP_*` operators nsinit compiles, with libseccomp's values. */
export const SECCOMP_OPERATORS: Readonly<Record<LinuxSeccompOperator, number>> = Object.freeze({
  SCMP_CMP_NE: SCMP_CMP.NE,
  SCMP_CMP_LT: SCMP_CMP.LT,
  SCMP_CMP_LE: SCMP_CMP.LE,
  SCMP_CMP_EQ: SCMP_CMP.EQ,
  SCMP_CMP_GE: SCMP_CMP.GE,
  SCMP_CMP_GT: SCMP_CMP.GT,
  SCMP_CMP_MASKED_EQ: SCMP_CMP.MASKED_EQ,
});
const OPERATORS = SECCOMP_OPERATORS;

const EPERM = 1;

/**
 * The `SCMP_ACT_*` actions nsinit compiles, each to libseccomp's action value (given the
 * rule's `errnoRet`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SECCOMP_ACTIONS } from "./compile.ts";
 * assert.equal(SECCOMP_ACTIONS.SCMP_ACT_ERRNO(38), 0x00050026);
 * assert.equal(SECCOMP_ACTIONS.SCMP_ACT_NOTIFY(), 0x7fc00000);
 * ```
 */
export const SECCOMP_ACTIONS: Readonly<Record<string, (errnoRet?: number) => number>> = Object
  .freeze({
    SCMP_ACT_KILL: () => SCMP_ACT.KILL_THREAD,
    SCMP_ACT_KILL_THREAD: () => SCMP_ACT.KILL_THREAD,
    SCMP_ACT_KILL_PROCESS: () => SCMP_ACT.KILL_PROCESS,
    SCMP_ACT_TRAP: () => SCMP_ACT.TRAP,
    SCMP_ACT_ERRNO: (errnoRet?: number) => actErrno(errnoRet ?? EPERM),
    SCMP_ACT_TRACE: (errnoRet?: number) => actTrace(errnoRet ?? EPERM),
    SCMP_ACT_ALLOW: () => SCMP_ACT.ALLOW,
    SCMP_ACT_LOG: () => SCMP_ACT.LOG,
    SCMP_ACT_NOTIFY: () => SCMP_ACT.NOTIFY,
  });

/** Actions the spec defines that nsinit refuses, and why. */
const UNSUPPORTED_ACTIONS: Record<string, string> = {};
const MAX_U64 = (1n << 64n) - 1n;

/** Options of {@linkcode compileSeccomp}. */
export interface CompileSeccompOptions extends LibseccompOptions {
  /** The file named in {@linkcode ConfigError}s; default `config.json`. */
  file?: string;
  /** JSON path of the profile, prefixed to every error's field; default `linux.seccomp`. */
  field?: string;
  /**
   * Refuse a profile that denies execve (a container's filter is loaded before its execve:
   * such a process could neither start nor report why). Default false.
   */
  requireExecve?: boolean;
}

/** A compiled seccomp profile. */
export interface CompiledSeccomp {
  /** The `struct sock_filter[]` program, 8 bytes per instruction, native byte order. */
  bpf: Uint8Array;
  /**
   * `SECCOMP_FILTER_FLAG_*` bits to pass to `seccomp(SECCOMP_SET_MODE_FILTER, ...)`; with
   * `SECCOMP_FILTER_FLAG_NEW_LISTENER` when a rule uses `SCMP_ACT_NOTIFY`.
   */
  flags: number;
  /** A rule uses `SCMP_ACT_NOTIFY`: the listener goes to this path (`listenerPath`). */
  listenerPath?: string;
  /** Things ignored as runc ignores them, e.g. syscall names libseccomp does not know. */
  warnings: string[];
}

/** A validated rule, before it reaches libseccomp. */
interface Rule {
  field: string;
  name: string;
  action: number;
  args: ArgCmp[];
  /** True when two conditions name the same argument: runc then adds one rule per condition. */
  splitArgs: boolean;
}

/**
 * Compiles `seccomp` (an OCI `linux.seccomp` object) into a BPF program for this machine's
 * native arch plus `seccomp.architectures`, with runc's semantics:
 *
 * - `SCMP_ACT_KILL` kills the thread; `SCMP_ACT_ERRNO` returns `errnoRet` (for the default
 *   action, `defaultErrnoRet`), else `EPERM`; `SCMP_ACT_TRACE` passes `errnoRet`, else `EPERM`.
 * - Syscall names libseccomp does not know are skipped and reported in `warnings`.
 * - Rules whose action equals the default action are skipped (libseccomp rejects them).
 * - Two or more conditions on the same argument index become one rule per condition.
 * - `flags` absent means `SECCOMP_FILTER_FLAG_SPEC_ALLOW`, as runc does; `[]` means none.
 * - The filter does not set no_new_privs (`SCMP_FLTATR_CTL_NNP` is 0): the init does that
 *   itself when `process.noNewPrivileges` asks.
 *
 * Note that runc treats a profile with no `defaultAction` and no `syscalls` as "no seccomp";
 * callers should check that before calling this, which requires `defaultAction`.
 *
 * - `SCMP_ACT_NOTIFY` (seccomp user notification) needs `listenerPath`, and is refused as
 *   the default action and for `sendmsg` (with which the process hands the listener out);
 *   the filter then gets `SECCOMP_FILTER_FLAG_NEW_LISTENER`. `listenerPath` without a
 *   notify rule is ignored, as the runtime spec says.
 *
 * Throws {@linkcode ConfigError} naming the JSON path of a bad field (unknown action, arch,
 * flag or operator, argument index over 5, a notify rule without `listenerPath`), and
 * {@linkcode LibraryLoadError} if libseccomp cannot be loaded.
 *
 * @example Failing mkdir with EPERM, allowing everything else
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSeccomp } from "./compile.ts";
 * const { bpf, flags, warnings } = compileSeccomp({
 *   defaultAction: "SCMP_ACT_ALLOW",
 *   syscalls: [{ names: ["mkdir", "mkdirat", "not_a_syscall"], action: "SCMP_ACT_ERRNO" }],
 * });
 * assert.ok(bpf.length > 0);
 * assert.equal(bpf.length % 8, 0);
 * assert.equal(flags, 4); // SECCOMP_FILTER_FLAG_SPEC_ALLOW, runc's default
 * assert.equal(warnings.length, 1);
 * assert.ok(warnings[0].includes("not_a_syscall"));
 * ```
 */
export function compileSeccomp(
  seccomp: LinuxSeccomp,
  opts: CompileSeccompOptions = {},
): CompiledSeccomp {
  const file = opts.file ?? "config.json";
  const base = opts.field ?? "linux.seccomp";
  const fail = (field: string, problem: string): never => {
    throw new ConfigError(file, field, problem);
  };
  if (typeof seccomp !== "object" || seccomp === null) fail(base, "must be an object");

  // Everything that needs no libseccomp is checked first.
  let flags = parseFlags(seccomp.flags, `${base}.flags`, fail);
  if (seccomp.defaultErrnoRet !== undefined) {
    checkErrnoRet(seccomp.defaultErrnoRet, `${base}.defaultErrnoRet`, fail);
  }
  const defaultAction = parseAction(
    seccomp.defaultAction,
    seccomp.defaultErrnoRet,
    `${base}.defaultAction`,
    fail,
  );
  if (defaultAction === SCMP_ACT.NOTIFY) {
    // Every syscall of the process would wait for the agent, sending it the listener too.
    fail(`${base}.defaultAction`, "SCMP_ACT_NOTIFY cannot be the default action");
  }
  const archNames = seccomp.architectures ?? [];
  if (!Array.isArray(archNames)) fail(`${base}.architectures`, "must be an array");
  const syscalls = seccomp.syscalls ?? [];
  if (!Array.isArray(syscalls)) fail(`${base}.syscalls`, "must be an array");

  const pending: Omit<Rule, "name">[] = [];
  const names: string[][] = [];
  syscalls.forEach((call, i) => {
    const field = `${base}.syscalls[${i}]`;
    if (typeof call !== "object" || call === null) fail(field, "must be an object");
    if (call.errnoRet !== undefined) checkErrnoRet(call.errnoRet, `${field}.errnoRet`, fail);
    const action = parseAction(call.action, call.errnoRet, `${field}.action`, fail);
    if (!Array.isArray(call.names)) fail(`${field}.names`, "must be an array of syscall names");
    call.names.forEach((name, j) => {
      if (typeof name !== "string" || name === "") {
        fail(`${field}.names[${j}]`, "must be a non-empty syscall name");
      }
    });
    const args = call.args ?? [];
    if (!Array.isArray(args)) fail(`${field}.args`, "must be an array");
    const seen = new Set<number>();
    let splitArgs = false;
    const conds = args.map((arg, k) => {
      const cond = parseArg(arg, `${field}.args[${k}]`, fail);
      if (seen.has(cond.arg)) splitArgs = true;
      seen.add(cond.arg);
      return cond;
    });
    if (action === SCMP_ACT.NOTIFY) {
      if (typeof seccomp.listenerPath !== "string" || seccomp.listenerPath === "") {
        fail(
          `${base}.listenerPath`,
          `is required: ${field}.action is SCMP_ACT_NOTIFY (the seccomp agent's unix socket)`,
        );
      }
      const bad = call.names.find((n) => NOTIFY_FORBIDDEN.includes(n));
      if (bad) {
        fail(
          `${field}.action`,
          `SCMP_ACT_NOTIFY cannot be used for ${bad}: the container's process sends the ` +
            `notify listener out with ${bad} before the agent has it`,
        );
      }
    }
    pending.push({ field, action, args: conds, splitArgs });
    names.push(call.names);
  });
  const notify = pending.some((r) => r.action === SCMP_ACT.NOTIFY);
  if (notify) {
    if (flags & SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_TSYNC) {
      fail(
        `${base}.flags`,
        "SECCOMP_FILTER_FLAG_TSYNC cannot be combined with SCMP_ACT_NOTIFY (the kernel refuses it)",
      );
    }
    flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  } else if (flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
    fail(`${base}.flags`, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a SCMP_ACT_NOTIFY rule");
  }

  // The filter is loaded before execve: one that denies execve leaves the process unable to
  // start, or to report why (every later syscall, exit_group included, may be denied too).
  // (A notify rule counts: the agent may let the call go on.)
  const allows = (a: number) => a === SCMP_ACT.ALLOW || a === SCMP_ACT.LOG || a === SCMP_ACT.NOTIFY;
  const execRules = pending.filter((_, i) =>
    names[i].some((n) => n === "execve" || n === "execveat")
  );
  const execAllowed = execRules.some((r) => allows(r.action)) ||
    (allows(defaultAction) && !execRules.some((r) => !allows(r.action) && r.args.length === 0));
  if (opts.requireExecve && !execAllowed) {
    fail(
      base,
      `the profile denies execve (default action ${seccomp.defaultAction}, and no rule ` +
        "allows execve): the container's process could never start",
    );
  }

  // Now libseccomp: archs, syscall names, rules.
  const archs = archNames.map((name, i) => {
    const field = `${base}.architectures[${i}]`;
    if (typeof name !== "string" || !name.startsWith("SCMP_ARCH_")) {
      fail(field, `unknown architecture ${JSON.stringify(name)}`);
    }
    const token = resolveArchName(name.slice("SCMP_ARCH_".length).toLowerCase(), opts);
    if (token === undefined) {
      fail(field, `unknown architecture ${JSON.stringify(name)} (libseccomp does not know it)`);
    }
    return token!;
  });

  const warnings: string[] = [];
  const filter = SeccompFilter.create(defaultAction, opts);
  try {
    filter.setAttr(SCMP_FLTATR.CTL_NNP, 0);
    for (const token of archs) filter.addArch(token);
    pending.forEach((rule, i) => {
      // A rule with the default action is redundant, and libseccomp rejects it.
      if (rule.action === defaultAction) return;
      names[i].forEach((name, j) => {
        const nr = resolveSyscallName(name, undefined, opts);
        if (nr === undefined) {
          warnings.push(
            `${rule.field}.names[${j}]: unknown syscall ${JSON.stringify(name)} ignored`,
          );
          return;
        }
        const add = (args: ArgCmp[]) => {
          try {
            filter.addRule(rule.action, nr, args);
          } catch (err) {
            if (!(err instanceof SyscallError)) throw err;
            fail(
              `${rule.field}.names[${j}]`,
              `libseccomp rejected the rule for ${JSON.stringify(name)}: ${errnoName(err.errno)}`,
            );
          }
        };
        if (rule.splitArgs) {
          for (const cond of rule.args) add([cond]);
        } else {
          add(rule.args);
        }
      });
    });
    const bpf = filter.exportBpf();
    return notify
      ? { bpf, flags, listenerPath: seccomp.listenerPath!, warnings }
      : { bpf, flags, warnings };
  } finally {
    filter.close();
  }
}

type Fail = (field: string, problem: string) => never;

function parseFlags(flags: unknown, field: string, fail: Fail): number {
  if (flags === undefined || flags === null) {
    return SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  }
  if (!Array.isArray(flags)) return fail(field, "must be an array");
  let bits = 0;
  flags.forEach((flag, i) => {
    const f = `${field}[${i}]`;
    if (typeof flag !== "string") fail(f, "must be a string");
    if (Object.hasOwn(SECCOMP_FILTER_FLAGS, flag)) {
      bits |= SECCOMP_FILTER_FLAGS[flag];
    } else if (Object.hasOwn(UNSUPPORTED_FLAGS, flag)) {
      fail(f, `flag ${flag} is not supported: ${UNSUPPORTED_FLAGS[flag]}`);
    } else {
      fail(
        f,
        `unknown flag ${JSON.stringify(flag)} (supported: ${
          Object.keys(SECCOMP_FILTER_FLAGS).join(", ")
        })`,
      );
    }
  });
  return bits;
}

function checkErrnoRet(value: unknown, field: string, fail: Fail): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    fail(field, `must be an integer from 0 to 65535, got ${JSON.stringify(value)}`);
  }
}

function parseAction(
  action: LinuxSeccompAction | undefined,
  errnoRet: number | undefined,
  field: string,
  fail: Fail,
): number {
  if (action === undefined) return fail(field, "is required");
  if (Object.hasOwn(SECCOMP_ACTIONS, action)) return SECCOMP_ACTIONS[action](errnoRet);
  if (Object.hasOwn(UNSUPPORTED_ACTIONS, action)) return fail(field, UNSUPPORTED_ACTIONS[action]);
  return fail(field, `unknown action ${JSON.stringify(action)}`);
}

function parseArg(arg: LinuxSeccompArg, field: string, fail: Fail): ArgCmp {
  if (typeof arg !== "object" || arg === null) fail(field, "must be an object");
  const { index, op } = arg;
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index > 5) {
    fail(`${field}.index`, `must be an integer from 0 to 5, got ${JSON.stringify(index)}`);
  }
  if (typeof op !== "string" || !Object.hasOwn(OPERATORS, op)) {
    fail(`${field}.op`, `unknown operator ${JSON.stringify(op)}`);
  }
  return {
    arg: index,
    op: OPERATORS[op],
    datumA: parseU64(arg.value, `${field}.value`, fail),
    datumB: arg.valueTwo === undefined ? 0n : parseU64(arg.valueTwo, `${field}.valueTwo`, fail),
  };
}

/** A u64 from JSON: a non-negative integer number (or a bigint, from a lossless parser). */
function parseU64(value: unknown, field: string, fail: Fail): bigint {
  if (typeof value === "bigint" && value >= 0n && value <= MAX_U64) return value;
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 2 ** 64) {
    const v = BigInt(value);
    if (v <= MAX_U64) return v;
  }
  return fail(field, `must be an integer from 0 to 2^64-1, got ${String(value)}`);
}
