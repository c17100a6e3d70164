/**
 * The second step of `deno task build`'s CLI bundle (see `bundleCli` in build.ts): regroups
 * the chunks `deno bundle --code-splitting` made into fewer files, with rollup.
 *
 * `deno bundle` (esbuild) makes a chunk for every set of entry points (each subcommand, and
 * each module imported dynamically) that shares code, so `nsinit kill` read 13-18 files.
 * Deno pays for each file a module load of its own (~0.1 ms here, besides the code), and for
 * each level of imports a round trip, measured: the same 124 kB of `kill`'s code imports in
 * 2.85 ms from one file against 4.16 ms from 13 (median of 15). So everything the entry
 * point and the verbs that act on a container (`state`, `kill`, `start`, `delete`) import
 * becomes one chunk, `core`, which the entry imports; what only `create`, `exec`, the
 * systemd driver, CRIU and the other commands need stays in chunks of its own, loaded when
 * they run. rollup, unlike a concatenation, renames what two chunks both declare.
 *
 * Usage: `deno run -A scripts/chunks.ts RAW_DIR OUT_DIR` (RAW_DIR: `deno bundle`'s output of
 * nsinit/cli.ts, whose `cli.js` runs the CLI when imported); OUT_DIR gets `main.js` and the
 * chunks.
 *
 * @module
 */

/** The pinned rollup (npm). */
const ROLLUP = "npm:rollup@4.28.1";

/** The entry point's file in `deno bundle`'s output (nsinit/cli.ts). */
export const RAW_ENTRY = "cli.js";

/** The subcommands whose code goes into the core chunk: the verbs a shim runs per container. */
export const CORE_COMMANDS: readonly string[] = ["start", "state", "kill", "delete"];

const STATIC_IMPORT =
  /^(?:import|export)\s[^;]*?\sfrom\s*["']\.\/([^"']+)["'];|^import\s*["']\.\/([^"']+)["'];/gm;

/**
 * The chunk files of `raw` (deno bundle's output) that go into the core chunk: every file
 * the entry imports statically, and the chunks of `commands` with theirs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { coreFiles } from "./chunks.ts";
 * const files: Record<string, string> = {
 *   "cli.js": 'import { a } from "./chunk-A.js";\nconst c = { kill: () => import("./kill-K.js"), run: () => import("./run-R.js") };',
 *   "chunk-A.js": "export { a };",
 *   "kill-K.js": 'import {\n  b\n} from "./chunk-B.js";',
 *   "chunk-B.js": "export { b };",
 *   "run-R.js": 'import { c } from "./chunk-C.js";',
 * };
 * const core = coreFiles((f) => files[f], ["kill"]);
 * assert.deepEqual([...core].sort(), ["chunk-A.js", "chunk-B.js", "kill-K.js"]);
 * ```
 */
export function coreFiles(
  read: (file: string) => string,
  commands: readonly string[] = CORE_COMMANDS,
): Set<string> {
  const core = new Set<string>();
  const visit = (file: string) => {
    if (core.has(file)) return;
    core.add(file);
    for (const m of read(file).matchAll(STATIC_IMPORT)) visit(m[1] ?? m[2]);
  };
  const main = read(RAW_ENTRY);
  visit(RAW_ENTRY);
  for (const command of commands) {
    const m = new RegExp(`import\\(["']\\./(${command}-[A-Z0-9]+\\.js)["']\\)`).exec(main);
    if (!m) {
      throw new Error(`the bundle's ${RAW_ENTRY} imports no chunk for the ${command} command`);
    }
    visit(m[1]);
  }
  core.delete(RAW_ENTRY);
  return core;
}

/** Regroups `raw`'s chunks into `out` (see the module's documentation). */
export async function regroup(raw: string, out: string): Promise<void> {
  const core = coreFiles((f) => Deno.readTextFileSync(`${raw}/${f}`));
  const { rollup } = await import(ROLLUP);
  const bundle = await rollup({
    input: `${raw}/${RAW_ENTRY}`,
    // The entry exports nothing anyone imports: rollup may put shared code in it.
    preserveEntrySignatures: false,
    onwarn: (w: { message: string }) => {
      throw new Error(`rollup: ${w.message}`);
    },
  });
  try {
    await bundle.write({
      dir: out,
      format: "es",
      entryFileNames: "main.js",
      chunkFileNames: "[name]-[hash].js",
      manualChunks: (id: string) =>
        core.has(id.slice(id.lastIndexOf("/") + 1)) ? "core" : undefined,
    });
  } finally {
    await bundle.close();
  }
}

if (import.meta.main) {
  const [raw, out] = Deno.args;
  if (!raw || !out) {
    console.error("usage: chunks.ts RAW_DIR OUT_DIR");
    Deno.exit(2);
  }
  await regroup(raw, out);
}
