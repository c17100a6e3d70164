/**
 * Runs an untrusted Deno script in a sandbox and reports what it did: the script may read the
 * system and its own directory and write there, nothing else: no network, no secrets
 * (`~/.ssh`, tokens in the environment), the host read-only, half a gigabyte of memory, 30 s.
 * Works as root or as an unprivileged user (limits then need a delegated cgroup: drop
 * `memory` if there is none).
 *
 *   deno run -A examples/sandbox_script.ts path/to/untrusted.ts
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import { runSandbox } from "../mod.ts";

const [script] = Deno.args;
if (!script) {
  console.error("usage: deno run -A examples/sandbox_script.ts SCRIPT.ts");
  Deno.exit(2);
}
const path = resolve(script);
const result = await runSandbox(
  [Deno.execPath(), "run", "-A", "--no-config", "--no-lock", path],
  {
    cwd: dirname(path),
    // Deno's cache under the sandbox's private /tmp: the script's own imports only.
    env: ["DENO_DIR=/tmp/deno", "NO_COLOR=1"],
    memory: Deno.uid() === 0 ? "512m" : undefined,
    timeout: 30,
    onWarning: (m) => console.error(`warning: ${m}`),
  },
);
console.log(result.stdout);
console.error(result.stderr);
console.log(
  result.timedOut ? "timed out" : `exit code ${result.code}`,
);
Deno.exit(result.code);
