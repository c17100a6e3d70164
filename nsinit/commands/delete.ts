/**
 * `nsinit delete [--force] ID`: removes a container's cgroups and state. A
 * created container is killed first, as runc does; a running or paused one only
 * with `--force`. A container that does not exist is an error, except with `--force`.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { NotFoundError } from "../../errors.ts";
import { bool, checkArgs, parseFlags } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";

/** Runs `nsinit delete`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, { force: { type: "boolean", short: "f" } });
  checkArgs("delete", positionals, 1, "exact");
  const force = bool(values, "force");
  let container;
  try {
    container = await new Factory({ root: g.root }).load(positionals[0]);
  } catch (e) {
    if (force && e instanceof NotFoundError) return 0;
    throw e;
  }
  const status = await container.status();
  g.logger.debug(`delete ${container.id}: status ${status}`);
  await container.destroy({ force: force || status === "created" });
  return 0;
}
