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
 * goes into the entry's own file, main.js (`core`: one file for those verbs; as a chunk of
 * its own beside main.js it cost them ~0.6 ms more to load, measured); what `create` and
 * `run` add to it
 * (the create path, the spec validator, the plan builder, the spawn) a second one, `create`
 * (19 files -> 3 for a `run`); what only some configs, hosts or other commands need (the
 * systemd driver, seccomp's compiler, CRIU, the sandbox ...) stays in chunks of its own,
 * loaded when they run. rollup, unlike a concatenation, renames what two chunks both
 * declare.
 *
 * Usage: `deno run -A scripts/chunks.ts RAW_DIR OUT_DIR` (RAW_DIR: `deno bundle`'s output of
 * nsinit/cli.ts, whose `cli.js` runs the CLI when imported); OUT_DIR gets `main.js` and the
 * chunks.
 *
 * @module
 */

/** The pinned rollup (npm). */
const ROLLUP = "npm:rollup@4.28.1";

/**
 * The pinned esbuild (npm; the binary comes in its @esbuild/linux-x64 package), which
 * minifies each chunk rollup writes: the CLI's start-up reads and compiles main.js on every
 * command, and a minified main.js (48 kB against 86 kB) came out 1.3-1.9 ms sooner at
 * `cli: exit` for `nsinit list` on this host (median of 25, on a day an empty `deno run`
 * took 69 ms). Whitespace and comments go and local names are shortened; nothing is
 * otherwise rewritten (no `minifySyntax`), exported names stay, and the error classes name
 * themselves (errors.ts sets `name`), so nothing the CLI prints changes. (terser cannot
 * parse `await using`.)
 */
const ESBUILD = "npm:esbuild@0.24.2";

/** The entry point's file in `deno bundle`'s output (nsinit/cli.ts). */
export const RAW_ENTRY = "cli.js";

/** The subcommands whose code goes into main.js (core): the verbs a shim runs per container. */
export const CORE_COMMANDS: readonly string[] = ["start", "state", "kill", "delete"];

/** The subcommands whose code goes into the create chunk (besides what core has). */
export const CREATE_COMMANDS: readonly string[] = ["create", "run"];

/**
 * The modules a create imports when it runs (dynamic imports in the bundle, from core's code
 * or the ops chunk's) that go into the create chunk: what every create uses (the cgroup
 * drivers' create-time code, the state's writing among it),
 * and what most configs ask for (resources, device rules). What only some hosts or configs need stays apart: the systemd driver, seccomp's
 * compiler (libseccomp), CRIU.
 */
export const CREATE_MODULES: readonly string[] = [
  "create",
  "cgroupfs_setup",
  "factory_create",
  "validate",
  "init_plan",
  "host_features",
  "spawn",
  "stdio",
  "reaper",
  "process",
  "seccomp_notify",
  "resources",
  "devicefilter",
  "state_write",
];

/**
 * The modules the core verbs import only on their rare paths (exec, checkpoint, pause, a
 * paused or crashed container, `--all`, `--force`, tracing ...): dynamic imports from core's
 * code. They and what they import (that core has not) go into a chunk of their own, `ops`,
 * which neither core nor create contains, so that `state`, `kill`, `start` and `delete` load
 * ~20 us less per kB they never run (measured: the whole of a chunk is read and deserialized,
 * used or not), and a `delete --force` does not load the create chunk for them.
 */
export const OPS_MODULES: readonly string[] = [
  "cgroupfs_ops",
  "container_ops",
  "factory_ops",
];

const STATIC_IMPORT =
  /^(?:import|export)\s[^;]*?\sfrom\s*["']\.\/([^"']+)["'];|^import\s*["']\.\/([^"']+)["'];/gm;
const DYNAMIC_IMPORT = /\bimport\(["']\.\/(([a-z_]+)-[A-Z0-9]+\.js)["']\)/g;

/** What {@link groups} puts together. */
export interface Groups {
  /** The entry's static imports, the core commands and theirs. */
  core: Set<string>;
  /** The create commands, the {@link CREATE_MODULES} they import, and theirs (not in core). */
  create: Set<string>;
  /** The {@link OPS_MODULES} core imports, and theirs (not in core). */
  ops: Set<string>;
}

/**
 * The chunk files of `raw` (deno bundle's output) that go into the core and the create
 * chunks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { groups } from "./chunks.ts";
 * const files: Record<string, string> = {
 *   "cli.js": 'import { a } from "./chunk-A.js";\nconst c = { kill: () => import("./kill-K.js"), run: () => import("./run-R.js") };',
 *   "chunk-A.js": "export { a };",
 *   "kill-K.js": 'import {\n  b\n} from "./chunk-B.js";\nconst x = () => import("./exec-E.js");',
 *   "exec-E.js": 'import { d } from "./chunk-D.js";\nconst w = () => import("./write-W.js");',
 *   "write-W.js": "export {};",
 *   "chunk-D.js": "export { d };",
 *   "chunk-B.js": 'export { b };\nconst p = () => import("./plan-P.js");',
 *   "plan-P.js": "export {};",
 *   "run-R.js": 'import { b } from "./chunk-B.js";\nimport { c } from "./chunk-C.js";\nimport { d } from "./chunk-D.js";\nimport("./spawn-S.js"); import("./systemd-D.js");',
 *   "chunk-C.js": "export { c };",
 *   "spawn-S.js": "export {};",
 *   "systemd-D.js": "export {};",
 * };
 * const g = groups((f) => files[f], {
 *   core: ["kill"],
 *   create: ["run"],
 *   createModules: ["spawn", "plan", "write"],
 *   opsModules: ["exec"],
 * });
 * assert.deepEqual([...g.core].sort(), ["chunk-A.js", "chunk-B.js", "cli.js", "kill-K.js"]);
 * assert.deepEqual(
 *   [...g.create].sort(),
 *   ["chunk-C.js", "plan-P.js", "run-R.js", "spawn-S.js", "write-W.js"],
 * );
 * assert.deepEqual([...g.ops].sort(), ["chunk-D.js", "exec-E.js"]);
 * ```
 */
export function groups(
  read: (file: string) => string,
  opts: {
    core?: readonly string[];
    create?: readonly string[];
    createModules?: readonly string[];
    opsModules?: readonly string[];
  } = {},
): Groups {
  const main = read(RAW_ENTRY);
  const commandFile = (command: string) => {
    const m = new RegExp(`import\\(["']\\./(${command}-[A-Z0-9]+\\.js)["']\\)`).exec(main);
    if (!m) {
      throw new Error(`the bundle's ${RAW_ENTRY} imports no chunk for the ${command} command`);
    }
    return m[1];
  };
  const collect = (roots: string[], skip: Set<string>, follow: ReadonlySet<string>) => {
    const found = new Set<string>();
    const visit = (file: string) => {
      if (found.has(file) || skip.has(file)) return;
      found.add(file);
      const js = read(file);
      for (const m of js.matchAll(STATIC_IMPORT)) visit(m[1] ?? m[2]);
      for (const m of js.matchAll(DYNAMIC_IMPORT)) if (follow.has(m[2])) visit(m[1]);
    };
    roots.forEach(visit);
    return found;
  };
  const core = collect(
    [RAW_ENTRY, ...(opts.core ?? CORE_COMMANDS).map(commandFile)],
    new Set(),
    new Set(),
  );
  // The entry stays in core: core's modules go into the entry's file (main.js), and the
  // other chunks import them from it.
  const dynamicFrom = (files: Set<string>, names: Set<string>) =>
    [...files].flatMap((f) =>
      [...read(f).matchAll(DYNAMIC_IMPORT)].filter((m) => names.has(m[2])).map((m) => m[1])
    );
  const opsModules = new Set(opts.opsModules ?? OPS_MODULES);
  const ops = collect(dynamicFrom(core, opsModules), new Set([...core, RAW_ENTRY]), opsModules);
  // A create's modules are imported from core's code too (Factory.create imports create.ts),
  // and from ops' (an exec imports the plan builder): else rollup would put what they export
  // to a dynamic import (their namespaces) into main.js, which then imports the create chunk.
  const createModules = new Set(opts.createModules ?? CREATE_MODULES);
  const create = collect(
    [
      ...(opts.create ?? CREATE_COMMANDS).map(commandFile),
      ...dynamicFrom(new Set([...core, ...ops]), createModules),
    ],
    new Set([...core, ...ops, RAW_ENTRY]),
    createModules,
  );
  return { core, create, ops };
}

/** Regroups `raw`'s chunks into `out` (see the module's documentation). */
export async function regroup(raw: string, out: string): Promise<void> {
  const { core, create, ops } = groups((f) => Deno.readTextFileSync(`${raw}/${f}`));
  const { rollup } = await import(ROLLUP);
  const esbuild = await import(ESBUILD);
  const bundle = await rollup({
    input: `${raw}/${RAW_ENTRY}`,
    plugins: [{
      name: "minify",
      async renderChunk(code: string) {
        const r = await esbuild.transform(code, {
          format: "esm",
          target: "esnext",
          minifyWhitespace: true,
          minifyIdentifiers: true,
        });
        return { code: r.code, map: null };
      },
    }],
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
      manualChunks: (id: string) => {
        const file = id.slice(id.lastIndexOf("/") + 1);
        return core.has(file)
          ? "core"
          : create.has(file)
          ? "create"
          : ops.has(file)
          ? "ops"
          : undefined;
      },
    });
  } finally {
    await bundle.close();
    await esbuild.stop(); // its service process
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
