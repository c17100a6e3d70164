/**
 * `nsinit kill [--all] ID [SIGNAL]`: signals the init (default SIGTERM), or with
 * `--all` every process of the container. Signals are names (with or without
 * `SIG`) or numbers.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { bool, checkArgs, parseFlags } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { parseSignal } from "../signals.ts";

/** Runs `nsinit kill`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, { all: { type: "boolean", short: "a" } });
  checkArgs("kill", positionals, 1, "min");
  checkArgs("kill", positionals, 2, "max");
  const [id, raw = "SIGTERM"] = positionals;
  const signal = parseSignal(raw);
  const container = await new Factory({ root: g.root }).load(id);
  await container.signal(signal, { all: bool(values, "all") });
  return 0;
}
