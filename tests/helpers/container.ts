/**
 * Runs containers from the library for end-to-end tests.
 *
 * @module
 */

import { Factory } from "../../mod.ts";
import type { Bundle } from "./bundle.ts";

/** Output of a container run to completion. */
export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the bundle's config to completion with piped stdout/stderr and deletes the
 * container afterwards, whatever happens.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { makeBundle } from "./bundle.ts";
 * import { runToExit } from "./container.ts";
 * await using b = await makeBundle({ args: ["echo", "hi"] });
 * assert.equal((await runToExit(b)).stdout, "hi\n");
 * ```
 */
export async function runToExit(b: Bundle, opts: { noPivot?: boolean } = {}): Promise<RunOutput> {
  const factory = new Factory({ root: b.stateRoot });
  const c = await factory.run(b.id, {
    bundle: b.dir,
    spec: b.config,
    stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
    ...(opts.noPivot ? { noPivot: true } : {}),
  });
  try {
    return await c.init!.output();
  } finally {
    await c.destroy({ force: true });
  }
}

/** Parses `key=value` lines (the first `=` splits); later keys win. */
export function facts(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
