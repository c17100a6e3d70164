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

/**
 * This process's directory in the cgroup2 tree (the unified hierarchy, on v2 or hybrid), or
 * undefined when no cgroup2 tree is mounted or the process has no cgroup2 path.
 */
export function ownCgroup2Dir(): string | undefined {
  const own = /^0::(.*)$/m.exec(Deno.readTextFileSync("/proc/self/cgroup"))?.[1];
  if (own === undefined) return undefined;
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep > 0 && f[sep + 1] === "cgroup2") return `${f[4]}${own === "/" ? "" : own}`;
  }
  return undefined;
}

/**
 * Removes an empty cgroup directory, trying again for a second while the kernel still counts
 * an exited process in it (EBUSY); gives up quietly.
 */
export async function removeCgroupDir(dir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      await Deno.remove(dir);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** The pids of this process's children (every thread's), sorted. */
export function children(): number[] {
  const pids: number[] = [];
  for (const t of Deno.readDirSync("/proc/self/task")) {
    const text = Deno.readTextFileSync(`/proc/self/task/${t.name}/children`).trim();
    if (text) pids.push(...text.split(" ").map(Number));
  }
  return pids.sort((a, b) => a - b);
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
