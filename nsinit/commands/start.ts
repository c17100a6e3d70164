/**
 * `nsinit start ID`: executes the user defined process in a created container.
 * Failing poststart hooks are logged as warnings; start still succeeds.
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
  const container = await new Factory({ root: g.root, onWarning: (m) => g.logger.warn(m) })
    .load(positionals[0]);
  await container.start();
  return 0;
}
