/**
 * The entry point of the bundled CLI (`deno task build` makes dist/cli/main.js of it): runs
 * the command line of {@link runCli} when imported, wherever the bundler puts main.ts's code.
 *
 * @module
 */

import { runCli } from "./main.ts";

runCli();
