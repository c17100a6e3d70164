/**
 * `nsinit resume ID`: thaws a paused container.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { checkArgs, parseFlags } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";

/** Runs `nsinit resume`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { positionals } = parseFlags(args, {});
  checkArgs("resume", positionals, 1, "exact");
  const container = await new Factory({ root: g.root }).load(positionals[0]);
  await container.resume();
  return 0;
}
