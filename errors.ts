/**
 * Error classes for every domain condition a caller may want to catch.
 *
 * Bad arguments are `TypeError`/`RangeError`; everything else is one of these.
 * Messages say what failed and on what.
 *
 * @module
 */

/**
 * A configuration (config.json, process.json, flags turned into a spec) is invalid.
 *
 * @example Catching a config error
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError } from "./errors.ts";
 * const err = new ConfigError("config.json", "linux.namespaces[3].type", 'unknown namespace "bogus"');
 * assert.equal(err.message, 'config.json: linux.namespaces[3].type: unknown namespace "bogus"');
 * ```
 */
export class ConfigError extends Error {
  /** The file (or source) the configuration came from. */
  readonly file: string;
  /** The JSON path of the offending field, e.g. `linux.namespaces[3].type`, or "" for the whole document. */
  readonly field: string;
  /** What is wrong with the field, e.g. `must be an integer >= 0`. */
  readonly problem: string;
  /** Creates a config error for `file` and `field`. */
  constructor(file: string, field: string, problem: string) {
    super(field ? `${file}: ${field}: ${problem}` : `${file}: ${problem}`);
    this.name = "ConfigError";
    this.file = file;
    this.field = field;
    this.problem = problem;
  }
}

/** Container statuses, as in the OCI runtime spec plus runc's `paused`. */
export type Status = "creating" | "created" | "running" | "paused" | "stopped";

/**
 * An operation is not allowed in the container's current status. `from` is the
 * status it was in, `verb` the refused operation, `to` the status the operation
 * would have led to (undefined when it keeps the status), and `allowed` the
 * statuses it needs (core's transition table, `core/transitions.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StateError } from "./errors.ts";
 * const err = new StateError("c1", "stopped", "start", { to: "running", allowed: ["created"] });
 * assert.equal(
 *   err.message,
 *   'container "c1": cannot start a stopped container (start takes a created container to running)',
 * );
 * assert.equal(err.from, "stopped");
 * assert.equal(err.to, "running");
 * ```
 */
export class StateError extends Error {
  /** The container id. */
  readonly id: string;
  /** The status the container was in. */
  readonly from: Status;
  /** The operation that was refused. */
  readonly verb: string;
  /** The status the operation leads to; undefined when it keeps the status. */
  readonly to?: Status | "deleted";
  /** The statuses the operation is allowed from. */
  readonly allowed?: readonly Status[];
  /** Creates a state error. */
  constructor(
    id: string,
    from: Status,
    verb: string,
    opts: { to?: Status | "deleted"; allowed?: readonly Status[] } = {},
  ) {
    const needs = opts.allowed?.length ? `a ${opts.allowed.join(" or ")} container` : "";
    const why = needs === ""
      ? ""
      : opts.to === undefined
      ? ` (${verb} needs ${needs})`
      : ` (${verb} takes ${needs} to ${opts.to})`;
    super(`container "${id}": cannot ${verb} a ${from} container${why}`);
    this.name = "StateError";
    this.id = id;
    this.from = from;
    this.verb = verb;
    if (opts.to !== undefined) this.to = opts.to;
    if (opts.allowed) this.allowed = opts.allowed;
  }
}

/**
 * A container id is malformed, already taken, or unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ContainerIdError } from "./errors.ts";
 * const err = new ContainerIdError("a/b", "invalid id format");
 * assert.ok(err.message.includes("a/b"));
 * ```
 */
export class ContainerIdError extends Error {
  /** The id in question. */
  readonly id: string;
  /** Creates an id error. */
  constructor(id: string, problem: string) {
    super(`container "${id}": ${problem}`);
    this.name = "ContainerIdError";
    this.id = id;
  }
}

/** Container does not exist (runc prints "container does not exist"). */
export class NotFoundError extends ContainerIdError {
  /** Creates a not-found error. */
  constructor(id: string) {
    super(id, "container does not exist");
    this.name = "NotFoundError";
  }
}

/** Map of errno numbers to their symbolic names (x86_64 Linux, the ones we meet). */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  30: "EROFS",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  95: "EOPNOTSUPP",
  110: "ETIMEDOUT",
};

/** Returns the symbolic name of an errno value, e.g. `ENOENT`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

const ERRNO_TEXT: Record<number, string> = {
  1: "operation not permitted",
  2: "no such file or directory",
  3: "no such process",
  9: "bad file descriptor",
  12: "cannot allocate memory",
  13: "permission denied",
  16: "device or resource busy",
  17: "file exists",
  20: "not a directory",
  21: "is a directory",
  22: "invalid argument",
  28: "no space left on device",
  30: "read-only file system",
  38: "function not implemented",
  40: "too many levels of symbolic links",
};

/**
 * A system call failed, in the runtime or in a container's setup before exec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SyscallError } from "./errors.ts";
 * const err = new SyscallError({ syscall: "mount", errno: 2, path: "/proc", step: "mount proc" });
 * assert.equal(err.code, "ENOENT");
 * assert.equal(err.message, "mount proc: mount /proc: no such file or directory (ENOENT)");
 * ```
 */
export class SyscallError extends Error {
  /** The failing system call or operation, e.g. `mount`. */
  readonly syscall: string;
  /** The errno value. */
  readonly errno: number;
  /** The symbolic errno, e.g. `ENOENT`. */
  readonly code: string;
  /** The path or value involved, if any. */
  readonly path?: string;
  /** The setup step that failed, e.g. `mount proc at /proc`. */
  readonly step?: string;
  /** Creates a syscall error. */
  constructor(
    opts: { syscall: string; errno: number; path?: string; step?: string; detail?: string },
  ) {
    const code = errnoName(opts.errno);
    const what = opts.path !== undefined && opts.path !== ""
      ? `${opts.syscall} ${opts.path}`
      : opts.syscall;
    const text = opts.detail ?? ERRNO_TEXT[opts.errno] ?? code.toLowerCase();
    super(`${opts.step ? opts.step + ": " : ""}${what}: ${text} (${code})`);
    this.name = "SyscallError";
    this.syscall = opts.syscall;
    this.errno = opts.errno;
    this.code = code;
    if (opts.path !== undefined) this.path = opts.path;
    if (opts.step !== undefined) this.step = opts.step;
  }
}

/**
 * A cgroup operation failed (a missing controller, an unsupported resource on this host).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CgroupError } from "./errors.ts";
 * const err = new CgroupError("linux.resources.hugepageLimits[0].pageSize", 'hugetlb page size "3MB" is not supported');
 * assert.ok(err.message.startsWith("linux.resources"));
 * ```
 */
export class CgroupError extends Error {
  /** The resource field or cgroup path involved. */
  readonly field: string;
  /** Creates a cgroup error. */
  constructor(field: string, problem: string, options?: ErrorOptions) {
    super(`${field}: ${problem}`, options);
    this.name = "CgroupError";
    this.field = field;
  }
}

/**
 * An OCI hook failed (exit status, signal, timeout, or could not run).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HookError } from "./errors.ts";
 * const err = new HookError("createRuntime", 0, "/usr/bin/hook", "exit status 1");
 * assert.equal(err.message, "createRuntime hook #0 /usr/bin/hook: exit status 1");
 * ```
 */
export class HookError extends Error {
  /** The hook kind, e.g. `createRuntime`. */
  readonly kind: string;
  /** Index of the hook in its list. */
  readonly index: number;
  /** The hook's path. */
  readonly path: string;
  /** Creates a hook error. */
  constructor(kind: string, index: number, path: string, problem: string) {
    super(`${kind} hook #${index} ${path}: ${problem}`);
    this.name = "HookError";
    this.kind = kind;
    this.index = index;
    this.path = path;
  }
}

/**
 * A D-Bus call failed: the peer answered with a D-Bus error, the connection could not
 * be made or was lost, or no answer came in time. `dbusName` is the D-Bus error name
 * (e.g. `org.freedesktop.systemd1.UnitExists`, `org.freedesktop.DBus.Error.NoReply`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DbusError } from "./errors.ts";
 * const err = new DbusError(
 *   "org.freedesktop.systemd1.Manager.StartTransientUnit",
 *   "org.freedesktop.systemd1.UnitExists",
 *   "Unit nsinit-c1.scope already exists.",
 * );
 * assert.ok(err.message.startsWith("D-Bus org.freedesktop.systemd1.Manager.StartTransientUnit"));
 * assert.equal(err.dbusName, "org.freedesktop.systemd1.UnitExists");
 * ```
 */
export class DbusError extends Error {
  /** What was attempted: `interface.Member` of the call, or `connect <address>`. */
  readonly method: string;
  /** The D-Bus error name. */
  readonly dbusName: string;
  /** The errno sd-bus returned, when there was one. */
  readonly errno: number | undefined;
  /** Creates a D-Bus error. */
  constructor(method: string, dbusName: string, problem: string, errno?: number) {
    super(`D-Bus ${method}: ${dbusName}: ${problem}`);
    this.name = "DbusError";
    this.method = method;
    this.dbusName = dbusName;
    this.errno = errno;
  }
}

/**
 * CRIU refused or failed a request (`criu swrk`): carries CRIU's errno, the request
 * type that failed (`DUMP`, `PRE_DUMP`, `RESTORE`, `CHECK`, `VERSION`, ...), CRIU's own
 * message when it sent one, and the path of CRIU's log for the details.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CriuError } from "./errors.ts";
 * const err = new CriuError({ request: "RESTORE", errno: 2, log: "/tmp/img/restore.log" });
 * assert.equal(err.code, "ENOENT");
 * assert.ok(err.message.includes("see /tmp/img/restore.log"));
 * ```
 */
export class CriuError extends Error {
  /** The request type that failed, as rpc.proto names it (e.g. `DUMP`). */
  readonly request: string;
  /** CRIU's errno (`cr_errno`); 0 when CRIU did not report one. */
  readonly errno: number;
  /** The symbolic errno, e.g. `ENOENT` ("" when errno is 0). */
  readonly code: string;
  /** CRIU's log file for this request, when there is one. */
  readonly log?: string;
  /** Creates a CRIU error; `detail` is CRIU's message or what went wrong around it. */
  constructor(
    opts: { request: string; errno?: number; detail?: string; log?: string; excerpt?: string },
    options?: ErrorOptions,
  ) {
    const errno = opts.errno ?? 0;
    const code = errno ? errnoName(errno) : "";
    const parts = [`criu ${opts.request} failed`];
    if (opts.detail) parts.push(`: ${opts.detail}`);
    if (errno) parts.push(` (${code})`);
    if (opts.log) parts.push(`; see ${opts.log}`);
    if (opts.excerpt) parts.push(`: ${opts.excerpt}`);
    super(parts.join(""), options);
    this.name = "CriuError";
    this.request = opts.request;
    this.errno = errno;
    this.code = code;
    if (opts.log !== undefined) this.log = opts.log;
  }
}
