/**
 * `deno task build`: compiles the native helper into dist/lib, bundles the CLI into
 * dist/cli (`main.js`: the command line and the verbs a shim runs per container, in one
 * file; the code only other commands use in chunks loaded when they run, which import from
 * main.js, see scripts/chunks.ts), and builds the `dist/nsinit` launcher that OCI clients can
 * be pointed at.
 *
 * `deno compile` cannot work on these machines (it downloads denort), so the launcher runs
 * the bundle with Deno, without a config file, a lock file or type-checking. It is a static
 * binary (native/src/launcher.c, with this Deno's path, the flags and the entry compiled
 * in), not a shell script: every command pays its exec, and /bin/sh's start cost ~2 ms more.
 *
 * Tests and the benchmark that run `dist/nsinit` call {@link ensureBuild} first, which
 * rebuilds the bundle when a source file is newer than it.
 *
 * @module
 */
import { buildLauncher, buildNative } from "../native/build.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const DIST = `${ROOT}/dist`;
/** The bundled CLI's entry point. */
export const CLI_ENTRY = `${DIST}/cli/main.js`;
/** The launcher. */
export const LAUNCHER = `${DIST}/nsinit`;
/** The folders whose TypeScript the CLI bundle is made of. */
const SOURCE_DIRS = [
  "nsinit",
  "core",
  "spec",
  "seccomp",
  "drivers",
  "cgroups",
  "native",
  "util",
  "criu",
];
const SOURCE_FILES = [
  "errors.ts",
  "mod.ts",
  "deno.json",
  "scripts/build.ts",
  "scripts/chunks.ts",
  "native/src/launcher.c",
];

/**
 * The `deno run` flags the launcher runs the bundle with (the benchmark's empty `deno run`
 * uses the same). `--v8-flags=--no-lazy`: V8 compiles every function of a module when it
 * compiles the module, so Deno's code cache (made right after that compile) holds the
 * bytecode of every function; lazily, each function a command calls was parsed and
 * compiled again on its first call in every process. Interleaved, 20-30 runs, medians:
 * `run` 103.5 -> 88.2 ms (CPU 91 -> 77 ms), `state` 36.2 -> 34.5 ms; an empty `deno run`
 * is unchanged (25.7 vs 26.6 ms), peak RSS of a `run` +1 MiB.
 */
export const LAUNCHER_DENO_FLAGS: readonly string[] = [
  "run",
  "-A",
  "--no-config",
  "--no-lock",
  "--quiet",
  "--no-prompt",
  "--v8-flags=--no-lazy",
];

function mtime(path: string): number {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

/** The newest modification time of the files the bundle is made of. */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
        newest = Math.max(newest, mtime(p));
      }
    }
  };
  for (const d of SOURCE_DIRS) {
    try {
      walk(`${ROOT}/${d}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  for (const f of SOURCE_FILES) newest = Math.max(newest, mtime(`${ROOT}/${f}`));
  return newest;
}

/**
 * The bundle's `import("./chunk.js")` calls, with the specifier hidden from Deno's
 * module graph (`import(String("./chunk.js"))`, which resolves the same at run time).
 * Deno reads and analyses every module a literal dynamic import names when it loads
 * the entry point, so main.js's command table made every command read all ~600 kB of
 * chunks (every other command's too) before it ran: ~7 ms of its start-up, measured.
 * Hidden, a chunk is read when its command imports it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unprefetched } from "./build.ts";
 * assert.equal(
 *   unprefetched('load: () => import("./state-AB12.js")'),
 *   'load: () => import(String("./state-AB12.js"))',
 * );
 * assert.equal(unprefetched("import('./run-X1.js')"), 'import(String("./run-X1.js"))');
 * ```
 */
export function unprefetched(js: string): string {
  return js.replace(/\bimport\((["'])(\.\/[^"']+\.js)\1\)/g, 'import(String("$2"))');
}

/**
 * Bundles nsinit/cli.ts into dist/cli (`deno bundle`, then scripts/chunks.ts regroups the
 * chunks). Chunk names carry a hash of their content, so
 * the new chunks are moved in beside the old ones and main.js is renamed over last: a
 * command running meanwhile loads one build or the other, never half of each. Chunks no
 * longer referenced are removed once they are a minute old.
 */
export function bundleCli(): void {
  const out = `${DIST}/cli`;
  const tmp = `${DIST}/cli.tmp-${Deno.pid}-${Date.now()}`;
  const raw = `${tmp}.raw`;
  const run = (what: string, args: string[]) => {
    const r = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
      .outputSync();
    if (!r.success) {
      throw new Error(`${what} failed: ${new TextDecoder().decode(r.stderr).trim()}`);
    }
  };
  try {
    run("deno bundle", [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--code-splitting",
      "--no-lock",
      "--config",
      `${ROOT}/deno.json`,
      "--outdir",
      raw,
      `${ROOT}/nsinit/cli.ts`,
    ]);
    // Fewer, larger chunks: the entry and the per-container verbs in one (scripts/chunks.ts).
    run("regrouping the chunks", [
      "run",
      "-A",
      "--no-lock",
      "--no-config",
      `${ROOT}/scripts/chunks.ts`,
      raw,
      tmp,
    ]);
    Deno.mkdirSync(out, { recursive: true });
    const fresh = new Set<string>();
    for (const e of Deno.readDirSync(tmp)) {
      fresh.add(e.name);
      if (e.name.endsWith(".js")) {
        const path = `${tmp}/${e.name}`;
        Deno.writeTextFileSync(path, unprefetched(Deno.readTextFileSync(path)));
      }
      if (e.name !== "main.js") Deno.renameSync(`${tmp}/${e.name}`, `${out}/${e.name}`);
    }
    Deno.renameSync(`${tmp}/main.js`, `${out}/main.js`);
    const old = Date.now() - 60_000;
    for (const e of Deno.readDirSync(out)) {
      if (!fresh.has(e.name) && mtime(`${out}/${e.name}`) < old) {
        Deno.removeSync(`${out}/${e.name}`);
      }
    }
  } finally {
    for (const dir of [tmp, raw]) {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* moved, or never made */ }
    }
  }
}

/** Writes the launcher (atomically). */
function writeLauncher(): void {
  buildLauncher(LAUNCHER, [Deno.execPath(), ...LAUNCHER_DENO_FLAGS, CLI_ENTRY], `${DIST}/lib`);
}

/** Whether dist/cli is missing or older than a source file it is made of. */
export function cliBuildIsStale(): boolean {
  const built = Math.min(mtime(CLI_ENTRY), mtime(LAUNCHER));
  return built === 0 || newestSource() > built;
}

/** Whether dist/lib is missing or older than a file of native/src. */
function nativeBuildIsStale(): boolean {
  const built = Math.min(mtime(`${DIST}/lib/libnsinit.so`), mtime(`${DIST}/lib/nsinit-init`));
  let newest = 0;
  for (const e of Deno.readDirSync(`${ROOT}/native/src`)) {
    newest = Math.max(newest, mtime(`${ROOT}/native/src/${e.name}`));
  }
  return built === 0 || newest > built;
}

let ensured = false;

/**
 * Rebuilds what is missing or stale of dist/ (once per process): for tests and the
 * benchmark that run `dist/nsinit`, which runs the bundle, not the sources. Returns
 * whether it built anything.
 */
export function ensureBuild(): boolean {
  if (ensured) return false;
  let built = false;
  if (nativeBuildIsStale()) {
    buildNative(`${DIST}/lib`);
    built = true;
  }
  if (cliBuildIsStale()) {
    bundleCli();
    writeLauncher();
    built = true;
  }
  ensured = true;
  return built;
}

if (import.meta.main) {
  buildNative(`${DIST}/lib`);
  bundleCli();
  writeLauncher();
  console.log(
    `built ${DIST}/lib/libnsinit.so, ${DIST}/lib/nsinit-init, ${DIST}/cli and ${LAUNCHER}`,
  );
}
