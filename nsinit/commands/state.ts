/**
 * `nsinit state ID`: the container's OCI state, indented as runc prints it.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { checkArgs, parseFlags } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { print } from "../log.ts";
import { runcState } from "../oci_state.ts";

/** Runs `nsinit state`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { positionals } = parseFlags(args, {});
  checkArgs("state", positionals, 1, "exact");
  const container = await new Factory({ root: g.root }).load(positionals[0]);
  // runc writes the indented JSON without a trailing newline.
  print(JSON.stringify(runcState(await container.state()), null, 2));
  return 0;
}
