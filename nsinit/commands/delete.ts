/**
 * `nsinit delete [--force] ID`: removes a container's cgroups and state.
 *
 * As the OCI runtime spec requires ("Attempting to `delete` a container that is
 * not `stopped` MUST have no effect on the container and MUST generate an
 * error", runtime.md), a container that is created, running or paused is
 * refused; `--force` kills every process first. (runc 1.1 also deletes a
 * *created* container without `--force`; OCI clients do not rely on that:
 * containerd's shim kills first or passes `--force`, podman passes `--force`.)
 * A container that does not exist is an error, except with `--force`. Failing
 * poststop hooks are logged as warnings.
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
    container = await new Factory({ root: g.root, onWarning: (m) => g.logger.warn(m) })
      .load(positionals[0]);
  } catch (e) {
    if (force && e instanceof NotFoundError) return 0;
    throw e;
  }
  // The status is worked out for the debug line only when it is written (the look costs a
  // fresh process a failed read of the init's /proc entry).
  if (g.logger.debugEnabled) {
    g.logger.debug(`delete ${container.id}: status ${await container.status()}`);
  }
  await container.destroy({ force });
  return 0;
}
