/**
 * The source's static import graph (`deno info --json`), for tests of where code lands in
 * the CLI bundle (`scripts/chunks.ts`) without building it: a module a chunk's roots import
 * statically is in that chunk (or in one it loads).
 *
 * @module
 */

import assert from "node:assert/strict";
import { REPO_ROOT } from "./paths.ts";
import { CORE_COMMANDS } from "../../scripts/chunks.ts";

/**
 * The roots of the bundle's core (main.js): the CLI's entry and the verbs a shim runs per
 * container (scripts/chunks.ts's CORE_COMMANDS).
 */
export const CORE_ROOTS: readonly string[] = [
  "nsinit/cli.ts",
  ...CORE_COMMANDS.map((c) => `nsinit/commands/${c}.ts`),
];

/** Each module's static code imports (no type-only, no dynamic ones), by path in the repository. */
export async function staticGraph(roots: readonly string[]): Promise<Map<string, string[]>> {
  const prefix = `file://${REPO_ROOT}/`;
  const rel = (url: string) => url.startsWith(prefix) ? url.slice(prefix.length) : url;
  const graph = new Map<string, string[]>();
  for (const root of roots) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      cwd: REPO_ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, `deno info ${root}: ${new TextDecoder().decode(out.stderr)}`);
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
      }[];
    };
    for (const m of info.modules) {
      graph.set(
        rel(m.specifier),
        (m.dependencies ?? []).filter((d) => d.code && !d.isDynamic)
          .map((d) => rel(d.code!.specifier)),
      );
    }
  }
  return graph;
}

/** What `roots` (paths in the repository) import statically, themselves included. */
export async function staticClosure(roots: readonly string[]): Promise<Set<string>> {
  const graph = await staticGraph(roots);
  const seen = new Set<string>();
  const visit = (m: string) => {
    if (seen.has(m)) return;
    seen.add(m);
    for (const d of graph.get(m) ?? []) visit(d);
  };
  roots.forEach(visit);
  return seen;
}
