/**
 * Compiles the native helper (`libnsinit.so`, `nsinit-init`) from `native/src`
 * with the system C compiler. Used by `deno task build` and, on first use, by
 * `native/ffi.ts` when no build is found.
 *
 * @module
 */

let src: URL | undefined;
/**
 * The C sources' URL, made on first use: the first `new URL` of a process costs ~0.3 ms,
 * which every CLI command paid at import for a value only a build needs.
 */
function srcUrl(): URL {
  return src ??= new URL("./src/", import.meta.url);
}

/**
 * Every file of native/src (a remote module cannot list its directory; a test
 * keeps this in step with the checkout).
 */
export const NATIVE_SOURCES: readonly string[] = Object.freeze([
  "child.c",
  "common.c",
  "common.h",
  "fs.c",
  "init.c",
  "init.h",
  "landlock.c",
  "launcher.c",
  "lib.c",
  "lib_bpf.c",
  "lib_cgfiles.c",
  "lib_criu.c",
  "lib_events.c",
  "lib_landlock.c",
  "lib_proc.c",
  "net.c",
  "plan.h",
  "reaper_init.c",
]);

/** Whether the sources are files here (a checkout), not remote (JSR, https). */
export function localSources(): boolean {
  return import.meta.url.startsWith("file:");
}

function cacheBase(): string {
  const home = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  // One directory per module URL, so two versions never share a build.
  let h = 0;
  for (const c of srcUrl().href) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `${home}/nsinit/${h.toString(16)}`;
}

/** Where the bundled build lives: `dist/lib` beside the sources, or a cache directory. */
export function defaultLibDir(): string {
  if (!localSources()) return `${cacheBase()}/lib`;
  return decodeURIComponent(new URL("../dist/lib", import.meta.url).pathname);
}

/**
 * For a remote module: downloads native/src into the cache (from the module's own
 * URL) and returns that directory; for a checkout, the sources' own directory.
 */
export async function sourcesDir(): Promise<string> {
  if (localSources()) return decodeURIComponent(srcUrl().pathname);
  const dir = `${cacheBase()}/src`;
  Deno.mkdirSync(dir, { recursive: true });
  for (const name of NATIVE_SOURCES) {
    const res = await fetch(new URL(name, srcUrl()));
    if (!res.ok) throw new Error(`cannot fetch ${new URL(name, srcUrl()).href}: HTTP ${res.status}`);
    Deno.writeTextFileSync(`${dir}/${name}`, await res.text());
  }
  return dir;
}

const CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-D_FORTIFY_SOURCE=2"];

function cc(args: string[], compiler = Deno.env.get("CC") ?? "cc"): void {
  const out = new Deno.Command(compiler, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`${compiler} ${args.join(" ")} failed: ${err}`);
  }
}

/**
 * Builds both artifacts into `dir` (atomically: temp names, then rename).
 *
 * @example
 * ```ts ignore
 * import { buildNative } from "./build.ts";
 * buildNative("/tmp/nsinit-lib");
 * ```
 */
export function buildNative(dir: string, srcDir?: string): void {
  if (srcDir === undefined && !localSources()) {
    throw new Error(`native sources are remote (${srcUrl().href}): fetch them first (sourcesDir())`);
  }
  const src = (srcDir ?? decodeURIComponent(srcUrl().pathname)).replace(/\/?$/, "/");
  Deno.mkdirSync(dir, { recursive: true });
  const tag = `.tmp-${Deno.pid}-${Date.now()}`;
  const init = `${dir}/nsinit-init${tag}`;
  const so = `${dir}/libnsinit.so${tag}`;
  try {
    // The init helper is static: it starts fast and needs nothing from the host once running.
    // common.c is linked into both (the one hook runner, among others).
    buildHelper(init, [
      `${src}init.c`,
      `${src}child.c`,
      `${src}fs.c`,
      `${src}landlock.c`,
      `${src}reaper_init.c`,
      `${src}common.c`,
      `${src}net.c`,
    ]);
    // libnsinit.so: lib.c plus one lib_<concern>.c file per further concern, and common.c.
    const libSources = [...Deno.readDirSync(src)]
      .map((e) => e.name)
      .filter((n) => n === "lib.c" || n === "common.c" || /^lib_[a-z0-9_]+\.c$/.test(n))
      .sort()
      .map((n) => `${src}${n}`);
    cc([...CFLAGS, "-fPIC", "-shared", "-fvisibility=hidden", "-o", so, ...libSources]);
    Deno.renameSync(init, `${dir}/nsinit-init`);
    Deno.renameSync(so, `${dir}/libnsinit.so`);
  } finally {
    for (const f of [init, so]) {
      try {
        Deno.removeSync(f);
      } catch { /* renamed or never made */ }
    }
  }
}

/**
 * Builds the CLI's launcher (`dist/nsinit`, native/src/launcher.c) into `out`: a static
 * binary that execs `argv` (the Deno binary, its flags, the bundle's entry) followed by its
 * own arguments, with `NSINIT_LIBDIR` set to `libDir` unless the caller set it. Compiled
 * like the helper (musl when installed): its exec is paid by every command. From a checkout
 * (`deno task build`); a remote module has no CLI bundle to launch.
 */
export function buildLauncher(out: string, argv: readonly string[], libDir: string): void {
  if (!localSources()) {
    throw new Error(`the launcher is built from a checkout, not from ${srcUrl().href}`);
  }
  const tmp = `${out}.tmp-${Deno.pid}-${Date.now()}`;
  const src = `${decodeURIComponent(srcUrl().pathname)}launcher.c`;
  try {
    buildHelper(tmp, [
      "-s",
      `-DNSINIT_LAUNCH_ARGV=${argv.map(cString).join(",")}`,
      `-DNSINIT_LAUNCH_LIBDIR=${cString(libDir)}`,
      src,
    ]);
    Deno.renameSync(tmp, out);
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch { /* renamed or never made */ }
  }
}

/**
 * `s` as a C string literal. Refuses what a path or flag never holds (control characters),
 * so the escaping needs only `\\` and `"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cString } from "./build.ts";
 * assert.equal(cString('/a "b"\\c'), '"/a \\"b\\"\\\\c"');
 * assert.throws(() => cString("a\nb"), /control character/);
 * ```
 */
export function cString(s: string): string {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(s)) throw new Error(`control character in ${JSON.stringify(s)}`);
  return `"${s.replace(/[\\"]/g, "\\$&")}"`;
}

/**
 * Where the kernel's uapi headers (`linux/`, `asm/`, `asm-generic/`) are, for a musl build:
 * musl-gcc searches only musl's own headers. The directories, or undefined if one is missing.
 */
function kernelHeaders(): { linux: string; asm: string; asmGeneric: string } | undefined {
  const isDir = (p: string) => {
    try {
      return Deno.statSync(p).isDirectory;
    } catch {
      return false;
    }
  };
  const linux = "/usr/include/linux", asmGeneric = "/usr/include/asm-generic";
  let asm = "/usr/include/asm";
  if (!isDir(asm)) {
    // Debian and Ubuntu keep it under the multiarch triplet.
    try {
      for (const e of Deno.readDirSync("/usr/include")) {
        if (e.isDirectory && /-linux-gnu/.test(e.name) && isDir(`/usr/include/${e.name}/asm`)) {
          asm = `/usr/include/${e.name}/asm`;
          break;
        }
      }
    } catch { /* no /usr/include */ }
  }
  return isDir(linux) && isDir(asm) && isDir(asmGeneric) ? { linux, asm, asmGeneric } : undefined;
}

/** Whether `name` is an executable on PATH. */
function onPath(name: string): boolean {
  for (const d of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!d) continue;
    try {
      if (Deno.statSync(`${d}/${name}`).isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

/**
 * The compiler of the static helper: `NSINIT_HELPER_CC` if set; else `musl-gcc` when it is
 * installed (Debian's musl-tools) and the kernel's headers are there; else `CC` or `cc`.
 * Why musl: the helper is exec'd once per container, and glibc's static start-up probes the
 * CPU's caches with dozens of `cpuid` instructions, each a trap to the hypervisor in a VM
 * (measured on this project's machines: a static glibc `main(){}` execs in ~0.33 ms, the
 * musl helper in ~0.14 ms, a binary with no libc in ~0.12 ms). If the musl build fails,
 * the helper is built with `cc` (a working helper comes first).
 */
function buildHelper(out: string, sources: string[]): void {
  const base = [...CFLAGS, "-static", "-o", out, ...sources];
  const forced = Deno.env.get("NSINIT_HELPER_CC");
  if (forced) return cc(base, forced);
  const headers = onPath("musl-gcc") ? kernelHeaders() : undefined;
  if (headers) {
    const inc = `${out}.kh`;
    try {
      Deno.mkdirSync(inc);
      Deno.symlinkSync(headers.linux, `${inc}/linux`);
      Deno.symlinkSync(headers.asm, `${inc}/asm`);
      Deno.symlinkSync(headers.asmGeneric, `${inc}/asm-generic`);
      cc(["-isystem", inc, ...base], "musl-gcc");
      return;
    } catch {
      // Falls through to the C library's own compiler.
    } finally {
      try {
        Deno.removeSync(inc, { recursive: true });
      } catch { /* never made */ }
    }
  }
  cc(base);
}
