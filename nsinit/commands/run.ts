/**
 * `nsinit run [create's flags] [--detach] [--keep] ID`: creates and starts a
 * container; in the foreground, waits for it, deletes it (unless `--keep`) and
 * exits with its exit code.
 *
 * @module
 */

import type { GlobalOptions } from "../global.ts";
import { launch } from "../launch.ts";

/** Runs `nsinit run`; resolves to the exit code (the container's, in the foreground). */
export function run(args: string[], g: GlobalOptions): Promise<number> {
  return launch(args, g, "run");
}
