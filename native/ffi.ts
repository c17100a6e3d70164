/**
 * With `ffi_systemd.ts`, the only modules that call `Deno.dlopen`: this one for libnsinit,
 * that one for libsystemd's sd-bus. Both load lazily, on first use, never at import.
 *
 * - libnsinit: the library directory (holding `libnsinit.so` and `nsinit-init`) comes
 *   from {@link configureNative}, then the environment variable `NSINIT_LIBDIR`, then
 *   the bundled build in `dist/lib`, which is compiled from `native/src` on first use
 *   if it is missing.
 * - libsystemd (`ffi_systemd.ts`): `configureLibsystemd`, then `NSINIT_LIBSYSTEMD`, then
 *   the system's `libsystemd.so.0`; a host without it imports that module fine.
 *
 * Raw pointers stay inside `native/` (`sdbus.ts` wraps the sd-bus calls).
 *
 * @module
 */

import { SyscallError } from "../errors.ts";
import { exists } from "../util/fs.ts";
import { utf8 } from "../util/bytes.ts";
import type { SYMBOLS } from "./ffi_symbols.ts";

/**
 * The symbols, one `name[=c_name]:parameters:result[:n]` per entry (`n`: nonblocking), read
 * into a table on the first bind; the same as ffi_symbols.ts's SYMBOLS (ffi_test.ts checks).
 */
const SYMBOL_TABLE =
  "nsi_spawn:buffer,buffer,u32,buffer,i32,buffer:i32:n|nsi_recv:i32,buffer,buffer:i32:n" +
  "|nsi_helper_start:buffer,u64,buffer:i32:n" +
  "|nsi_spawn_on:i32,i32,buffer,u32,buffer,i32,buffer:i32:n|nsi_helper_stop:i32,i32,i32:i32:n" +
  "|nsi_send_go:i32,i32:i32|nsi_close:i32:i32|nsi_pidfd_open:i32:i32" +
  "|nsi_pidfd_signal:i32,i32:i32|nsi_kill:i32,i32:i32|nsi_waitid:i32,i32,buffer:i32" +
  "|nsi_epoll_create::i32|nsi_epoll_watch:i32,i32,u32,u64:i32|nsi_epoll_del:i32,i32:i32" +
  "|nsi_epoll_wait:i32,buffer,i32,i32:i32:n|nsi_eventfd::i32|nsi_eventfd_signal:i32:i32" +
  "|nsi_eventfd_drain:i32:i32|nsi_pipe:buffer:i32|nsi_open:buffer,i32,i32:i32" +
  "|nsi_dup:i32:i32|nsi_write:i32,buffer,u64:i64:n|nsi_read_now=nsi_read:i32,buffer,u64:i64" +
  "|nsi_write_now=nsi_write:i32,buffer,u64:i64" +
  "|nsi_init_start:buffer,i32,u64,buffer,i32:i32:n|nsi_init_signal:i32,u64,i32:i32:n" +
  "|nsi_hook:buffer,buffer,u32,buffer,u32,buffer,u32,i32:i32:n" +
  "|nsi_send_fd:buffer,i32,buffer:i32|nsi_set_winsize:i32,i32,i32:i32" +
  "|nsi_ns_owner:buffer,i32:i64|nsi_mkfifo:buffer,i32:i32|nsi_sizeof_msg::i32" +
  "|nsi_proc_spawn:buffer,buffer,u32,buffer,u32,buffer,buffer,i32,i32,i32,buffer:i32" +
  "|nsi_unix_listen:buffer:i32|nsi_unix_recv_fd:i32,buffer:i32" +
  "|nsi_unix_connect:buffer,i32:i32|nsi_unix_send_fd:i32,buffer,u32,i32:i32" +
  "|nsi_shutdown_write:i32:i32|nsi_fchown:i32,i32,i32:i32|nsi_set_nonblock:i32,i32:i32" +
  "|nsi_cg_files:buffer,u32,buffer,i32,i32:i32:n" +
  "|nsi_cg_files_now=nsi_cg_files:buffer,u32,buffer,i32,i32:i32" +
  "|nsi_cg_event_register:buffer,buffer,buffer:i32|nsi_ev_poll:buffer,i32,i32:i32:n" +
  "|nsi_ev_counter:i32:i64|nsi_ev_read:i32,i32,i32:i64:n|nsi_inotify_init::i32" +
  "|nsi_inotify_add:i32,buffer,u32:i32|nsi_inotify_read:i32,buffer,i32:i32" +
  "|nsi_psi_trigger:buffer,buffer:i32|nsi_landlock_abi::i32" +
  "|nsi_bpf_prog_load_dev:buffer,u32,buffer,buffer,u32:i32" +
  "|nsi_bpf_prog_query_dev:i32,buffer,u32:i32|nsi_bpf_prog_attach_dev:i32,i32,i32:i32" +
  "|nsi_bpf_prog_get_fd:u32:i32|nsi_bpf_prog_detach_dev:i32,i32:i32" +
  "|nsi_seqpacket_pair:buffer:i32|nsi_spawn_fds:buffer,buffer,u32,buffer,i32,buffer:i32" +
  "|nsi_recv_packet:i32,buffer,u64,buffer:i64:n|nsi_bind_mount:buffer,buffer:i32" +
  "|nsi_umount_detach:buffer:i32";

let symbolDefs: Map<string, Deno.ForeignFunction> | undefined;

/**
 * {@link SYMBOL_TABLE} as `Deno.dlopen` definitions, by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { symbolTable } from "./ffi.ts";
 * assert.deepEqual(symbolTable().get("nsi_kill"), { parameters: ["i32", "i32"], result: "i32" });
 * ```
 */
export function symbolTable(): ReadonlyMap<string, Deno.ForeignFunction> {
  if (!symbolDefs) {
    symbolDefs = new Map();
    for (const entry of SYMBOL_TABLE.split("|")) {
      const [name, def] = parseEntry(entry);
      symbolDefs.set(name, def);
    }
  }
  return symbolDefs;
}

/** One `name[=c_name]:parameters:result[:n]` entry of {@link SYMBOL_TABLE}, parsed. */
function parseEntry(entry: string): [string, Deno.ForeignFunction] {
  const [names, params, result, flags] = entry.split(":");
  const [name, cName] = names.split("=");
  const def: Deno.ForeignFunction = {
    ...(cName ? { name: cName } : {}),
    parameters: (params === "" ? [] : params.split(",")) as Deno.NativeType[],
    result: result as Deno.NativeResultType,
  };
  if (flags === "n") def.nonblocking = true;
  return [name, def];
}

/**
 * The definition of the one symbol `name`, found in {@link SYMBOL_TABLE} without parsing the
 * rest: a CLI verb binds two or three, and the whole table's first parse took 1.1 ms of a
 * `kill` (cold code in a new process, on a day an empty `deno run` took 69 ms; measured).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { symbolDef, symbolTable } from "./ffi.ts";
 * assert.deepEqual(symbolDef("nsi_read_now"), symbolTable().get("nsi_read_now"));
 * assert.equal(symbolDef("nsi_read"), undefined); // a C name, not a binding's
 * ```
 */
export function symbolDef(name: string): Deno.ForeignFunction | undefined {
  for (const sep of [":", "="]) {
    const key = `|${name}${sep}`;
    const at = `|${SYMBOL_TABLE}`.indexOf(key);
    if (at < 0) continue;
    const end = SYMBOL_TABLE.indexOf("|", at);
    return parseEntry(SYMBOL_TABLE.slice(at, end < 0 ? undefined : end))[1];
  }
  return undefined;
}

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let configuredDir: string | undefined;
let loaded: { lib: Lib; dir: string } | undefined;

/**
 * Sets the directory holding `libnsinit.so` and `nsinit-init`, before first use.
 *
 * @example
 * ```ts
 * import { configureNative } from "./ffi.ts";
 * configureNative({ libDir: "/opt/nsinit/lib" });
 * configureNative({}); // back to the default search
 * ```
 */
export function configureNative(opts: { libDir?: string }): void {
  configuredDir = opts.libDir;
}


function load(): { lib: Lib; dir: string } {
  if (loaded) return loaded;
  const tried: string[] = [];
  const env = Deno.env.get("NSINIT_LIBDIR");
  // The default directory is worked out only when it is reached (a URL, ~0.3 ms the first
  // time in a process): the CLI's launcher always names the directory.
  const candidates: (() => { dir: string; isDefault: boolean })[] = [];
  if (configuredDir) {
    const dir = configuredDir;
    candidates.push(() => ({ dir, isDefault: false }));
  }
  if (env) candidates.push(() => ({ dir: env, isDefault: false }));
  candidates.push(() => ({ dir: defaultDir(), isDefault: !configuredDir && !env }));
  for (const candidate of candidates) {
    const { dir, isDefault } = candidate();
    const so = `${dir}/libnsinit.so`;
    // A named directory is not looked at first: dlopen says what is missing, and the helper
    // is checked before the first spawn (spawn.ts). A CLI verb that only signals spares the
    // two lstats (~0.3 ms, the first in a process).
    if (isDefault && (!exists(so) || !exists(`${dir}/nsinit-init`) || staleBuild(dir))) {
      try {
        if (!builder) {
          throw new Error("no build, or an old one: call ensureNative() first, which builds it");
        }
        builder.buildNative(dir);
      } catch (e) {
        tried.push(`${dir} (build failed: ${(e as Error).message})`);
        continue;
      }
    }
    try {
      // The struct check (a stale or foreign build) is spawn.ts's, before the first spawn: the
      // verbs that only signal or start never bind that symbol (~0.15 ms).
      loaded = { lib: bindLazily(so), dir };
      return loaded;
    } catch (e) {
      tried.push(`${so} (${(e as Error).message})`);
    }
  }
  throw new Error(`cannot load the nsinit native library; tried: ${tried.join("; ")}`);
}

/**
 * native/build.ts, imported by {@link ensureNative} when the library may have to be built
 * (no directory named): the CLI, whose launcher names one, never loads the compiler driver.
 */
let builder: typeof import("./build.ts") | undefined;

/**
 * Where the bundled build lives: `dist/lib` beside a checkout's sources, or (a remote module)
 * the cache directory build.ts works out, once {@link ensureNative} has loaded it.
 */
function defaultDir(): string {
  if (builder) return builder.defaultLibDir();
  if (!import.meta.url.startsWith("file:")) {
    throw new Error("the native library is not built yet: call ensureNative() first");
  }
  return decodeURIComponent(new URL("../dist/lib", import.meta.url).pathname);
}

/** Whether a source checkout's native sources are newer than its build. */
function staleBuild(dir: string): boolean {
  try {
    const built = Deno.statSync(`${dir}/libnsinit.so`).mtime?.getTime() ?? 0;
    const src = decodeURIComponent(new URL("./src/", import.meta.url).pathname);
    for (const e of Deno.readDirSync(src)) {
      if ((Deno.statSync(`${src}${e.name}`).mtime?.getTime() ?? 0) > built) return true;
    }
  } catch {
    return false; // not a source checkout: use what is there
  }
  return false;
}

/**
 * Binds each symbol on first use. Deno compiles a trampoline per bound symbol
 * (~0.3 ms each, measured), so binding all of them at load cost every CLI
 * command ~8 ms; a command uses a handful. dlopen of a loaded library is cheap.
 */
function bindLazily(so: string): Lib {
  // Fail now, not at first call, if the library cannot be loaded at all; with no symbol
  // (the first one bound costs ~0.6 ms, measured; an empty dlopen ~0.3 ms).
  Deno.dlopen(so, {});
  const bound: Record<string, unknown> = {};
  return new Proxy(bound, {
    get(target, name) {
      if (typeof name !== "string") return undefined;
      if (!(name in target)) {
        const def = symbolDef(name);
        if (!def) return undefined;
        target[name] = Deno.dlopen(so, { [name]: def }).symbols[name];
      }
      return target[name];
    },
  }) as unknown as Lib;
}

/**
 * Makes sure the native library can be loaded: for a module imported from a
 * remote URL (JSR, https) with no build yet, downloads the C sources from the
 * module itself and compiles them into a cache directory (needs `cc`). The
 * factory calls it; from a checkout it only loads.
 *
 * @example
 * ```ts ignore
 * import { ensureNative } from "./ffi.ts";
 * await ensureNative();
 * ```
 */
export async function ensureNative(): Promise<void> {
  if (loaded) return;
  if (!configuredDir && !Deno.env.get("NSINIT_LIBDIR")) {
    builder ??= await import("./build.ts");
    if (!builder.localSources()) {
      const dir = builder.defaultLibDir();
      if (!exists(`${dir}/libnsinit.so`) || !exists(`${dir}/nsinit-init`)) {
        builder.buildNative(dir, await builder.sourcesDir());
      }
    }
  }
  load();
}

/**
 * Whether this process has loaded libnsinit yet: a caller with a cheap way around it (a few
 * rmdirs) may spare a process that needs it for nothing else its load (~1 ms the first time).
 */
export function nativeLoaded(): boolean {
  return loaded !== undefined;
}

/** The loaded library's symbols (loads on first call). */
export function native(): Lib {
  return load().lib;
}

/** Path of the `nsinit-init` helper next to the loaded library. */
export function helperPath(): string {
  return `${load().dir}/nsinit-init`;
}

/** A NUL-terminated C string buffer. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return utf8(s, 1);
}

/** NUL-terminated strings one after the other (an argv or envp for the C helper). */
export function cstrList(items: string[]): Uint8Array<ArrayBuffer> {
  const parts = items.map((s) => utf8(s, 1));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Throws a SyscallError if a native call returned a negative errno. */
export function check(ret: number | bigint, syscall: string, path?: string): number {
  const n = Number(ret);
  if (n < 0) {
    throw new SyscallError(path === undefined ? { syscall, errno: -n } : { syscall, errno: -n, path });
  }
  return n;
}
