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

/**
 * errno numbers (x86_64 Linux) to their symbolic names, as one string (`n:NAME|...`) made a
 * table on first use: an object literal of 91 entries cost every command its creation at
 * import.
 */
const ERRNO_NAMES_TEXT =
  "1:EPERM|2:ENOENT|3:ESRCH|4:EINTR|5:EIO|6:ENXIO|7:E2BIG|8:ENOEXEC|9:EBADF" +
  "|10:ECHILD|11:EAGAIN|12:ENOMEM|13:EACCES|14:EFAULT|15:ENOTBLK|16:EBUSY|17:EEXIST" +
  "|18:EXDEV|19:ENODEV|20:ENOTDIR|21:EISDIR|22:EINVAL|23:ENFILE|24:EMFILE|25:ENOTTY" +
  "|26:ETXTBSY|27:EFBIG|28:ENOSPC|29:ESPIPE|30:EROFS|31:EMLINK|32:EPIPE|33:EDOM" +
  "|34:ERANGE|35:EDEADLK|36:ENAMETOOLONG|37:ENOLCK|38:ENOSYS|39:ENOTEMPTY|40:ELOOP" +
  "|42:ENOMSG|43:EIDRM|61:ENODATA|62:ETIME|71:EPROTO|74:EBADMSG|75:EOVERFLOW" +
  "|84:EILSEQ|87:EUSERS|88:ENOTSOCK|89:EDESTADDRREQ|90:EMSGSIZE|91:EPROTOTYPE" +
  "|92:ENOPROTOOPT|93:EPROTONOSUPPORT|94:ESOCKTNOSUPPORT|95:EOPNOTSUPP" +
  "|96:EPFNOSUPPORT|97:EAFNOSUPPORT|98:EADDRINUSE|99:EADDRNOTAVAIL|100:ENETDOWN" +
  "|101:ENETUNREACH|102:ENETRESET|103:ECONNABORTED|104:ECONNRESET|105:ENOBUFS" +
  "|106:EISCONN|107:ENOTCONN|108:ESHUTDOWN|109:ETOOMANYREFS|110:ETIMEDOUT" +
  "|111:ECONNREFUSED|112:EHOSTDOWN|113:EHOSTUNREACH|114:EALREADY|115:EINPROGRESS" +
  "|116:ESTALE|121:EREMOTEIO|122:EDQUOT|123:ENOMEDIUM|124:EMEDIUMTYPE|125:ECANCELED" +
  "|126:ENOKEY|127:EKEYEXPIRED|128:EKEYREVOKED|129:EKEYREJECTED|130:EOWNERDEAD" +
  "|131:ENOTRECOVERABLE|132:ERFKILL|133:EHWPOISON";

/**
 * Returns the symbolic name of an errno value, e.g. `ENOENT`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoName } from "./errors.ts";
 * assert.equal(errnoName(111), "ECONNREFUSED");
 * ```
 */
export function errnoName(errno: number): string {
  return (errnoNames ??= table(ERRNO_NAMES_TEXT)).get(errno) ?? `errno ${errno}`;
}

let errnoByName: Map<string, number> | undefined;

/**
 * The number of an errno name (`EBUSY` -> 16), from the same table as {@link errnoName}; built
 * on the first call, not at import (every command imports this module).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoNumber } from "./errors.ts";
 * assert.equal(errnoNumber("ENOENT"), 2);
 * assert.equal(errnoNumber("EWHAT"), undefined);
 * ```
 */
export function errnoNumber(name: string): number | undefined {
  errnoByName ??= new Map(
    [...(errnoNames ??= table(ERRNO_NAMES_TEXT))].map(([n, s]) => [s, n]),
  );
  return errnoByName.get(name);
}

/** What each errno means, as strerror(3) and Go's syscall.Errno say it (`n:text|...`). */
const ERRNO_TEXT_TEXT = "1:operation not permitted|2:no such file or directory|3:no such process" +
  "|4:interrupted system call|5:input/output error|6:no such device or address" +
  "|7:argument list too long|8:exec format error|9:bad file descriptor" +
  "|10:no child processes|11:resource temporarily unavailable" +
  "|12:cannot allocate memory|13:permission denied|14:bad address" +
  "|15:block device required|16:device or resource busy|17:file exists" +
  "|18:invalid cross-device link|19:no such device|20:not a directory" +
  "|21:is a directory|22:invalid argument|23:too many open files in system" +
  "|24:too many open files|25:inappropriate ioctl for device|26:text file busy" +
  "|27:file too large|28:no space left on device|29:illegal seek" +
  "|30:read-only file system|31:too many links|32:broken pipe" +
  "|33:numerical argument out of domain|34:numerical result out of range" +
  "|35:resource deadlock avoided|36:file name too long|37:no locks available" +
  "|38:function not implemented|39:directory not empty" +
  "|40:too many levels of symbolic links|42:no message of desired type" +
  "|43:identifier removed|61:no data available|62:timer expired|71:protocol error" +
  "|74:bad message|75:value too large for defined data type" +
  "|84:invalid or incomplete multibyte or wide character|87:too many users" +
  "|88:socket operation on non-socket|89:destination address required" +
  "|90:message too long|91:protocol wrong type for socket|92:protocol not available" +
  "|93:protocol not supported|94:socket type not supported" +
  "|95:operation not supported|96:protocol family not supported" +
  "|97:address family not supported by protocol|98:address already in use" +
  "|99:cannot assign requested address|100:network is down" +
  "|101:network is unreachable|102:network dropped connection on reset" +
  "|103:software caused connection abort|104:connection reset by peer" +
  "|105:no buffer space available|106:transport endpoint is already connected" +
  "|107:transport endpoint is not connected" +
  "|108:cannot send after transport endpoint shutdown" +
  "|109:too many references: cannot splice|110:connection timed out" +
  "|111:connection refused|112:host is down|113:no route to host" +
  "|114:operation already in progress|115:operation now in progress" +
  "|116:stale file handle|121:remote I/O error|122:disk quota exceeded" +
  "|123:no medium found|124:wrong medium type|125:operation canceled" +
  "|126:required key not available|127:key has expired|128:key has been revoked" +
  "|129:key was rejected by service|130:owner died|131:state not recoverable" +
  "|132:operation not possible due to RF-kill|133:memory page has hardware error";

let errnoNames: Map<number, string> | undefined;
let errnoTexts: Map<number, string> | undefined;

/** `n:text|...` as a table. */
function table(text: string): Map<number, string> {
  const m = new Map<number, string>();
  for (const entry of text.split("|")) {
    const i = entry.indexOf(":");
    m.set(Number(entry.slice(0, i)), entry.slice(i + 1));
  }
  return m;
}

function errnoText(errno: number): string | undefined {
  return (errnoTexts ??= table(ERRNO_TEXT_TEXT)).get(errno);
}

/**
 * Describes an errno value for a message: `connection refused (ECONNREFUSED)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeErrno } from "./errors.ts";
 * assert.equal(describeErrno(2), "no such file or directory (ENOENT)");
 * ```
 */
export function describeErrno(errno: number): string {
  const text = errnoText(errno);
  return text ? `${text} (${errnoName(errno)})` : `errno ${errno}`;
}

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
    const text = opts.detail ?? errnoText(opts.errno);
    super(
      `${opts.step ? opts.step + ": " : ""}${what}: ` +
        (text === undefined ? code : `${text} (${code})`),
    );
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
