/**
 * A small binding to the system's libseccomp (`libseccomp.so.2`) through `Deno.dlopen`.
 *
 * This is the only module that calls `Deno.dlopen` for seccomp. Libraries load lazily on first
 * use, never at import. Raw pointers (the filter context, the memfd used to export the BPF
 * program, errno) never leave this module: callers see numbers, byte arrays and a
 * {@linkcode SeccompFilter} handle with an idempotent `close()`.
 *
 * Only non-variadic functions are bound (`seccomp_rule_add_array`, not `seccomp_rule_add`).
 *
 * @module
 */

import { SyscallError } from "../errors.ts";

/** Symbols of libseccomp 2.5 (see /usr/include/seccomp.h). */
const LIBSECCOMP_SYMBOLS = {
  /** scmp_filter_ctx seccomp_init(uint32_t def_action); */
  seccomp_init: { parameters: ["u32"], result: "pointer" },
  /** void seccomp_release(scmp_filter_ctx ctx); */
  seccomp_release: { parameters: ["pointer"], result: "void" },
  /** int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token); */
  seccomp_arch_add: { parameters: ["pointer", "u32"], result: "i32" },
  /** int seccomp_arch_remove(scmp_filter_ctx ctx, uint32_t arch_token); */
  seccomp_arch_remove: { parameters: ["pointer", "u32"], result: "i32" },
  /** uint32_t seccomp_arch_native(void); */
  seccomp_arch_native: { parameters: [], result: "u32" },
  /** uint32_t seccomp_arch_resolve_name(const char *arch_name); */
  seccomp_arch_resolve_name: { parameters: ["buffer"], result: "u32" },
  /** int seccomp_syscall_resolve_name(const char *name); */
  seccomp_syscall_resolve_name: { parameters: ["buffer"], result: "i32" },
  /** int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name); */
  seccomp_syscall_resolve_name_arch: { parameters: ["u32", "buffer"], result: "i32" },
  /**
   * int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
   *                            unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
   */
  seccomp_rule_add_array: {
    parameters: ["pointer", "u32", "i32", "u32", "buffer"],
    result: "i32",
  },
  /** int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value); */
  seccomp_attr_set: { parameters: ["pointer", "i32", "u32"], result: "i32" },
  /** int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd); */
  seccomp_export_bpf: { parameters: ["pointer", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Symbols of glibc used to read the exported program back from a memfd. */
const LIBC_SYMBOLS = {
  /** int memfd_create(const char *name, unsigned int flags); */
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  /** off_t lseek(int fd, off_t offset, int whence); */
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  /** ssize_t read(int fd, void *buf, size_t count); */
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  /** int close(int fd); */
  close: { parameters: ["i32"], result: "i32" },
  /** int *__errno_location(void); */
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

type Libseccomp = Deno.DynamicLibrary<typeof LIBSECCOMP_SYMBOLS>["symbols"];
type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** Default library name, found through the dynamic linker's search path. */
const DEFAULT_LIBSECCOMP = "libseccomp.so.2";
/** Environment variable naming the libseccomp to load. */
const LIBSECCOMP_ENV = "NSINIT_LIBSECCOMP";
const LIBC = "libc.so.6";

/** Where to load libseccomp from. */
export interface LibseccompOptions {
  /**
   * Path of libseccomp.so. Tried first; then `$NSINIT_LIBSECCOMP`; then `libseccomp.so.2`
   * from the dynamic linker's search path.
   */
  libraryPath?: string;
}

/**
 * libseccomp (or libc) could not be loaded from any of the paths tried.
 *
 * @example Reading the paths that were tried
 * ```ts
 * import assert from "node:assert/strict";
 * import { LibraryLoadError } from "./libseccomp.ts";
 * const err = new LibraryLoadError("libseccomp", [{ path: "/nope.so", error: "not found" }]);
 * assert.ok(err.message.includes("/nope.so: not found"));
 * assert.equal(err.tried[0].path, "/nope.so");
 * ```
 */
export class LibraryLoadError extends Error {
  /** Every path tried, in order, with the reason it failed. */
  readonly tried: readonly { path: string; error: string }[];
  /** Creates a load error for `library` after trying `tried`. */
  constructor(library: string, tried: { path: string; error: string }[]) {
    super(
      `cannot load ${library}; tried: ${tried.map((t) => `${t.path}: ${t.error}`).join("; ")}`,
    );
    this.name = "LibraryLoadError";
    this.tried = tried;
  }
}

const seccompLibs = new Map<string, Libseccomp>();
let libc: Libc | undefined;

/** The candidate paths for libseccomp, in the order they are tried, without duplicates. */
function candidatePaths(opts?: LibseccompOptions): string[] {
  const paths: string[] = [];
  if (opts?.libraryPath) paths.push(opts.libraryPath);
  let env: string | undefined;
  try {
    env = Deno.env.get(LIBSECCOMP_ENV);
  } catch {
    env = undefined; // no --allow-env: behave as if it were unset
  }
  if (env) paths.push(env);
  paths.push(DEFAULT_LIBSECCOMP);
  return [...new Set(paths)];
}

function loadLibseccomp(opts?: LibseccompOptions): Libseccomp {
  const tried: { path: string; error: string }[] = [];
  for (const path of candidatePaths(opts)) {
    const cached = seccompLibs.get(path);
    if (cached) return cached;
    try {
      const lib = Deno.dlopen(path, LIBSECCOMP_SYMBOLS).symbols;
      seccompLibs.set(path, lib);
      return lib;
    } catch (err) {
      tried.push({ path, error: err instanceof Error ? err.message : String(err) });
    }
  }
  throw new LibraryLoadError("libseccomp", tried);
}

function loadLibc(): Libc {
  if (libc) return libc;
  try {
    libc = Deno.dlopen(LIBC, LIBC_SYMBOLS).symbols;
  } catch (err) {
    throw new LibraryLoadError("libc", [{
      path: LIBC,
      error: err instanceof Error ? err.message : String(err),
    }]);
  }
  return libc;
}

/** The calling thread's errno, right after a failed libc call. */
function lastErrno(c: Libc): number {
  const p = c.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** NUL-terminated copy of `s` for a `const char *` parameter. */
function cString(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new TypeError(`string contains a NUL byte: ${JSON.stringify(s)}`);
  return new TextEncoder().encode(s + "\0");
}

/**
 * libseccomp filter actions (`SCMP_ACT_*`), as the 32-bit values `seccomp_init` and
 * `seccomp_rule_add_array` take. `ERRNO` and `TRACE` carry 16 bits of data: use
 * {@linkcode actErrno} and {@linkcode actTrace}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SCMP_ACT } from "./libseccomp.ts";
 * assert.equal(SCMP_ACT.ALLOW, 0x7fff0000);
 * ```
 */
export const SCMP_ACT = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  KILL: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  NOTIFY: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/**
 * `SCMP_ACT_ERRNO(errno)`: fail the syscall with `errno` (0 to 65535).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { actErrno } from "./libseccomp.ts";
 * assert.equal(actErrno(1), 0x00050001);
 * ```
 */
export function actErrno(errno: number): number {
  checkU16(errno, "errno");
  return (SCMP_ACT.ERRNO | errno) >>> 0;
}

/**
 * `SCMP_ACT_TRACE(msg)`: notify a ptrace tracer with `msg` (0 to 65535).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { actTrace } from "./libseccomp.ts";
 * assert.equal(actTrace(1), 0x7ff00001);
 * ```
 */
export function actTrace(msg: number): number {
  checkU16(msg, "trace message");
  return (SCMP_ACT.TRACE | msg) >>> 0;
}

function checkU16(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
    throw new RangeError(`${what} must be an integer from 0 to 65535, got ${v}`);
  }
}

/**
 * Comparison operators (`enum scmp_compare`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SCMP_CMP } from "./libseccomp.ts";
 * assert.equal(SCMP_CMP.EQ, 4);
 * ```
 */
export const SCMP_CMP = {
  NE: 1,
  LT: 2,
  LE: 3,
  EQ: 4,
  GE: 5,
  GT: 6,
  MASKED_EQ: 7,
} as const;

/**
 * Filter attributes (`enum scmp_filter_attr`) for {@linkcode SeccompFilter.setAttr}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SCMP_FLTATR } from "./libseccomp.ts";
 * assert.equal(SCMP_FLTATR.CTL_NNP, 3);
 * ```
 */
export const SCMP_FLTATR = {
  ACT_DEFAULT: 1,
  ACT_BADARCH: 2,
  CTL_NNP: 3,
  CTL_TSYNC: 4,
  API_TSKIP: 5,
  CTL_LOG: 6,
  CTL_SSB: 7,
  CTL_OPTIMIZE: 8,
  API_SYSRAWRC: 9,
} as const;

/**
 * One argument comparison (`struct scmp_arg_cmp`): argument `arg` (0 to 5) compared with
 * `datumA` by `op`; for `MASKED_EQ`, `(value & datumA) == datumB`.
 */
export interface ArgCmp {
  /** Argument index, 0 to 5. */
  arg: number;
  /** One of {@linkcode SCMP_CMP}. */
  op: number;
  /** First operand (the mask for `MASKED_EQ`). */
  datumA: bigint;
  /** Second operand (used by `MASKED_EQ`). */
  datumB: bigint;
}

/** sizeof(struct scmp_arg_cmp): unsigned int arg; enum op; u64 datum_a; u64 datum_b. */
const ARG_CMP_SIZE = 24;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function packArgs(args: readonly ArgCmp[]): Uint8Array<ArrayBuffer> | null {
  if (args.length === 0) return null;
  const buf = new Uint8Array(ARG_CMP_SIZE * args.length);
  const view = new DataView(buf.buffer);
  args.forEach((a, i) => {
    const o = i * ARG_CMP_SIZE;
    if (!Number.isInteger(a.arg) || a.arg < 0 || a.arg > 5) {
      throw new RangeError(`argument index must be 0 to 5, got ${a.arg}`);
    }
    view.setUint32(o, a.arg, LITTLE_ENDIAN);
    view.setInt32(o + 4, a.op, LITTLE_ENDIAN);
    view.setBigUint64(o + 8, BigInt.asUintN(64, a.datumA), LITTLE_ENDIAN);
    view.setBigUint64(o + 16, BigInt.asUintN(64, a.datumB), LITTLE_ENDIAN);
  });
  return buf;
}

/**
 * The audit arch token of this machine (`seccomp_arch_native()`), e.g. `0xc000003e` on x86_64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { archNative, resolveArchName } from "./libseccomp.ts";
 * if (Deno.build.arch === "x86_64") assert.equal(archNative(), resolveArchName("x86_64"));
 * ```
 */
export function archNative(opts?: LibseccompOptions): number {
  return loadLibseccomp(opts).seccomp_arch_native();
}

/**
 * The arch token for a libseccomp arch name (`"x86_64"`, `"aarch64"`, `"x32"`, ...), or
 * `undefined` if libseccomp does not know it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveArchName } from "./libseccomp.ts";
 * assert.equal(resolveArchName("x86_64"), 0xc000003e);
 * assert.equal(resolveArchName("vax"), undefined);
 * ```
 */
export function resolveArchName(name: string, opts?: LibseccompOptions): number | undefined {
  const token = loadLibseccomp(opts).seccomp_arch_resolve_name(cString(name));
  return token === 0 ? undefined : token;
}

/**
 * The syscall number of `name` for `arch` (an arch token; the native arch when omitted), or
 * `undefined` if libseccomp does not know the name. Syscalls absent on the arch but known to
 * libseccomp resolve to negative pseudo numbers, which rules accept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveSyscallName } from "./libseccomp.ts";
 * if (Deno.build.arch === "x86_64") assert.equal(resolveSyscallName("getpid"), 39);
 * assert.equal(resolveSyscallName("no_such_syscall"), undefined);
 * ```
 */
export function resolveSyscallName(
  name: string,
  arch?: number,
  opts?: LibseccompOptions,
): number | undefined {
  const lib = loadLibseccomp(opts);
  const nr = arch === undefined
    ? lib.seccomp_syscall_resolve_name(cString(name))
    : lib.seccomp_syscall_resolve_name_arch(arch, cString(name));
  return nr === -1 ? undefined : nr; // __NR_SCMP_ERROR
}

/**
 * A libseccomp filter context. Build it with rules, then {@linkcode SeccompFilter.exportBpf}
 * the program; `close()` (or `using`) releases it.
 *
 * @example Exporting a filter that fails mkdir with EPERM
 * ```ts
 * import assert from "node:assert/strict";
 * import { actErrno, resolveSyscallName, SCMP_ACT, SeccompFilter } from "./libseccomp.ts";
 * using filter = SeccompFilter.create(SCMP_ACT.ALLOW);
 * filter.addRule(actErrno(1), resolveSyscallName("mkdir")!);
 * const bpf = filter.exportBpf();
 * assert.ok(bpf.length > 0);
 * assert.equal(bpf.length % 8, 0);
 * ```
 */
export class SeccompFilter implements Disposable {
  #lib: Libseccomp;
  #ctx: Deno.PointerValue;

  private constructor(lib: Libseccomp, ctx: Deno.PointerObject) {
    this.#lib = lib;
    this.#ctx = ctx;
  }

  /**
   * Creates a filter (`seccomp_init`) whose default action is `defaultAction`, with the
   * native arch already added.
   */
  static create(defaultAction: number, opts?: LibseccompOptions): SeccompFilter {
    const lib = loadLibseccomp(opts);
    const ctx = lib.seccomp_init(defaultAction >>> 0);
    if (ctx === null) {
      throw new SyscallError({
        syscall: "seccomp_init",
        errno: 22,
        detail: `invalid default action 0x${(defaultAction >>> 0).toString(16)}`,
      });
    }
    return new SeccompFilter(lib, ctx);
  }

  #handle(): Deno.PointerObject {
    if (this.#ctx === null) throw new TypeError("seccomp filter is closed");
    return this.#ctx;
  }

  #check(rc: number, syscall: string, path?: string): void {
    if (rc < 0) {
      throw new SyscallError(
        path === undefined ? { syscall, errno: -rc } : {
          syscall,
          errno: -rc,
          path,
        },
      );
    }
  }

  /** Adds an arch token to the filter; returns false if it was already there. */
  addArch(arch: number): boolean {
    const rc = this.#lib.seccomp_arch_add(this.#handle(), arch >>> 0);
    if (rc === -17) return false; // EEXIST
    this.#check(rc, "seccomp_arch_add", `0x${(arch >>> 0).toString(16)}`);
    return true;
  }

  /** Removes an arch token from the filter. */
  removeArch(arch: number): void {
    const rc = this.#lib.seccomp_arch_remove(this.#handle(), arch >>> 0);
    this.#check(rc, "seccomp_arch_remove", `0x${(arch >>> 0).toString(16)}`);
  }

  /**
   * Adds a rule (`seccomp_rule_add_array`): when `syscall` is called and every comparison in
   * `args` holds, take `action`. libseccomp adapts the rule to each arch of the filter.
   * Throws a {@linkcode SyscallError} (errno from libseccomp) if it is rejected.
   */
  addRule(action: number, syscall: number, args: readonly ArgCmp[] = []): void {
    const rc = this.#lib.seccomp_rule_add_array(
      this.#handle(),
      action >>> 0,
      syscall,
      args.length,
      packArgs(args),
    );
    this.#check(rc, "seccomp_rule_add_array", `syscall ${syscall}`);
  }

  /** Sets a filter attribute (`seccomp_attr_set`), one of {@linkcode SCMP_FLTATR}. */
  setAttr(attr: number, value: number): void {
    const rc = this.#lib.seccomp_attr_set(this.#handle(), attr, value >>> 0);
    this.#check(rc, "seccomp_attr_set", `attribute ${attr}`);
  }

  /**
   * The filter as a classic BPF program: `struct sock_filter[]` bytes (8 bytes each), ready
   * for `seccomp(SECCOMP_SET_MODE_FILTER, flags, &(struct sock_fprog){len, filter})`.
   */
  exportBpf(): Uint8Array {
    const ctx = this.#handle();
    const c = loadLibc();
    const fd = c.memfd_create(cString("nsinit-seccomp"), 1 /* MFD_CLOEXEC */);
    if (fd < 0) throw new SyscallError({ syscall: "memfd_create", errno: lastErrno(c) });
    try {
      this.#check(this.#lib.seccomp_export_bpf(ctx, fd), "seccomp_export_bpf");
      const size = Number(c.lseek(fd, 0n, 2 /* SEEK_END */));
      if (size < 0) throw new SyscallError({ syscall: "lseek", errno: lastErrno(c) });
      if (Number(c.lseek(fd, 0n, 0 /* SEEK_SET */)) < 0) {
        throw new SyscallError({ syscall: "lseek", errno: lastErrno(c) });
      }
      const out = new Uint8Array(size);
      let done = 0;
      while (done < size) {
        const chunk = out.subarray(done);
        const n = Number(c.read(fd, chunk, BigInt(chunk.length)));
        if (n < 0) {
          const errno = lastErrno(c);
          if (errno === 4) continue; // EINTR
          throw new SyscallError({ syscall: "read", errno });
        }
        if (n === 0) break;
        done += n;
      }
      return out.subarray(0, done);
    } finally {
      c.close(fd);
    }
  }

  /** Releases the filter context (`seccomp_release`). Idempotent. */
  close(): void {
    if (this.#ctx === null) return;
    this.#lib.seccomp_release(this.#ctx);
    this.#ctx = null;
  }

  /** Same as {@linkcode SeccompFilter.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
