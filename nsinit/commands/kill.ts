/**
 * `nsinit kill [--all] ID [SIGNAL]`: signals the init (default SIGTERM), or with
 * `--all` every process of the container. Signals are names (with or without
 * `SIG`) or numbers.
 *
 * With `--all`, the init may die from the signal sent to the whole cgroup before
 * the library signals it on its own (containerd's `ctr task kill --all` hits
 * this): a container found stopped, or an init gone (ESRCH), in that last step
 * has been killed, which is success, as `runc kill --all` reports it.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { StateError, SyscallError } from "../../errors.ts";
import { bool, checkArgs, parseFlags } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { parseSignal } from "../signals.ts";

const ESRCH = 3;

/** Runs `nsinit kill`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, { all: { type: "boolean", short: "a" } });
  checkArgs("kill", positionals, 1, "min");
  checkArgs("kill", positionals, 2, "max");
  const [id, raw = "SIGTERM"] = positionals;
  const signal = parseSignal(raw);
  const container = await new Factory({ root: g.root }).load(id);
  const all = bool(values, "all");
  try {
    await container.signal(signal, { all });
  } catch (e) {
    const gone = (e instanceof StateError && e.from === "stopped") ||
      (e instanceof SyscallError && e.errno === ESRCH);
    if (!all || !gone) throw e;
    g.logger.debug(`kill --all ${id}: the init exited while the container was being signalled`);
  }
  return 0;
}
