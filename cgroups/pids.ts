/**
 * The processes of a cgroup, for the verbs that list or signal them (`ps`, `kill --all`,
 * `delete --force`): recursive pid listing and signalling by number.
 *
 * @module
 */

import { readCgroupFile, toSyscallError } from "./fs_base.ts";

/**
 * Pids listed in `cgroup.procs` of `dir` and of every cgroup below it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readPidsRecursive } from "./pids.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/cgroup.procs`, "12\n34\n");
 * assert.equal((await readPidsRecursive(dir)).join(), "12,34");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readPidsRecursive(dir: string): Promise<number[]> {
  const pids: number[] = [];
  const walk = async (d: string) => {
    const procs = await readCgroupFile(d, "cgroup.procs");
    for (const line of (procs ?? "").split("\n")) {
      const pid = Number(line.trim());
      if (line.trim() !== "" && Number.isInteger(pid) && pid > 0) pids.push(pid);
    }
    try {
      for (const e of Deno.readDirSync(d)) if (e.isDirectory) await walk(`${d}/${e.name}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw toSyscallError(e, "readdir", d);
    }
  };
  await walk(dir);
  return [...new Set(pids)].sort((a, b) => a - b);
}

/** Linux x86_64 signal numbers to Deno's signal names. */
const SIGNAL_NAMES: Record<number, Deno.Signal> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
};

/**
 * The Deno name of a signal number; `RangeError` for numbers `Deno.kill` cannot send.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { signalName } from "./pids.ts";
 * assert.equal(signalName(9), "SIGKILL");
 * ```
 */
export function signalName(signal: number): Deno.Signal {
  const name = SIGNAL_NAMES[signal];
  if (name === undefined) throw new RangeError(`signal ${signal} cannot be sent`);
  return name;
}

/**
 * Sends `signal` to each pid. Pids <= 0 and this process's own pid are never
 * signalled; processes that are already gone are skipped.
 *
 * @example
 * ```ts
 * import { signalPids } from "./pids.ts";
 * signalPids([0, -1], 9); // does nothing: never kill(0) or kill(-1)
 * ```
 */
export function signalPids(pids: number[], signal: number): void {
  const name = signalName(signal);
  for (const pid of pids) {
    if (!Number.isInteger(pid) || pid <= 0 || pid === Deno.pid) continue;
    try {
      Deno.kill(pid, name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // ESRCH: already gone
      throw toSyscallError(e, "kill", String(pid));
    }
  }
}
