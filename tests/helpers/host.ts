/**
 * Looking at the host from a test: cgroup directories by name, whether a process lives,
 * polling until a condition holds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { alive, waitFor } from "./host.ts";
 * assert.ok(alive(Deno.pid));
 * await waitFor(() => true, "nothing");
 * ```
 *
 * @module
 */

/**
 * Cgroup directories named `name` (or whose name passes a test) anywhere in the first
 * `maxDepth` levels of every hierarchy below /sys/fs/cgroup.
 */
export function cgroupDirsNamed(
  name: string | ((name: string) => boolean),
  maxDepth = 5,
): string[] {
  const matches = typeof name === "string" ? (n: string) => n === name : name;
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > maxDepth) return;
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (!e.isDirectory) continue;
        if (matches(e.name)) found.push(`${dir}/${e.name}`);
        else walk(`${dir}/${e.name}`, depth + 1);
      }
    } catch { /* a hierarchy we cannot read */ }
  };
  for (const h of Deno.readDirSync("/sys/fs/cgroup")) walk(`/sys/fs/cgroup/${h.name}`, 0);
  return found;
}

/**
 * /sys/fs/cgroup is a cgroup2 mount (the unified hierarchy); false also when
 * /proc/self/mounts cannot be read.
 */
export function cgroupV2(): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/mounts").split("\n").some((l) => {
      const [, mnt, type] = l.split(" ");
      return mnt === "/sys/fs/cgroup" && type === "cgroup2";
    });
  } catch {
    return false;
  }
}

/** Whether `pid` is a live process (not a zombie). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** Polls `cond` every 20 ms until it holds, or fails naming `what` after `ms`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 20_000,
): Promise<void> {
  for (const end = Date.now() + ms; !(await cond());) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
