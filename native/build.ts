/**
 * Compiles the native helper (`libnsinit.so`, `nsinit-init`) from `native/src`
 * with the system C compiler. Used by `deno task build` and, on first use, by
 * `native/ffi.ts` when no build is found.
 *
 * @module
 */

const SRC = new URL("./src/", import.meta.url);

/** Where the bundled build lives: `dist/lib` beside the sources. */
export function defaultLibDir(): string {
  if (SRC.protocol !== "file:") {
    const home = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
    return `${home}/nsinit/lib`;
  }
  return decodeURIComponent(new URL("../dist/lib", import.meta.url).pathname);
}

const CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror", "-D_FORTIFY_SOURCE=2"];

function cc(args: string[]): void {
  const compiler = Deno.env.get("CC") ?? "cc";
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
export function buildNative(dir: string): void {
  if (SRC.protocol !== "file:") {
    throw new Error(`native sources are not local (${SRC.href}): run "deno task build" from a checkout`);
  }
  const src = decodeURIComponent(SRC.pathname);
  Deno.mkdirSync(dir, { recursive: true });
  const tag = `.tmp-${Deno.pid}-${Date.now()}`;
  const init = `${dir}/nsinit-init${tag}`;
  const so = `${dir}/libnsinit.so${tag}`;
  try {
    // The init helper is static: it starts fast and needs nothing from the host once running.
    cc([...CFLAGS, "-static", "-o", init, `${src}init.c`, `${src}child.c`, `${src}fs.c`]);
    // libnsinit.so: lib.c plus one lib_<concern>.c file per further concern.
    const libSources = [...Deno.readDirSync(src)]
      .map((e) => e.name)
      .filter((n) => n === "lib.c" || /^lib_[a-z0-9_]+\.c$/.test(n))
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
