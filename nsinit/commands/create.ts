/**
 * `nsinit create [--bundle DIR] [--pid-file F] [--console-socket S] [--pidfd-socket S]
 * [--preserve-fds N] [--no-pivot] [--no-new-keyring] ID`: sets up a container whose init waits for `start`.
 *
 * @module
 */

import type { GlobalOptions } from "../global.ts";
import { launch } from "../launch.ts";

/** Runs `nsinit create`; resolves to the exit code. */
export function run(args: string[], g: GlobalOptions): Promise<number> {
  return launch(args, g, "create");
}
