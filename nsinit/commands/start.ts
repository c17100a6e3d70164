/**
 * `nsinit start ID`: executes the user defined process in a created container.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { checkArgs, parseFlags } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";

/** Runs `nsinit start`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { positionals } = parseFlags(args, {});
  checkArgs("start", positionals, 1, "exact");
  const container = await new Factory({ root: g.root }).load(positionals[0]);
  await container.start();
  return 0;
}
