/**
 * Small probes of the host for the security tests: the runtime's own cgroups, what a state
 * root holds, cgroup directories left behind.
 *
 * @module
 */

/** A file's text, or `""` when it cannot be read. */
export function read(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * This process's cgroup in a v1 hierarchy (`memory`, `devices`, ...) or, for `""`, the unified
 * tree, from /proc/self/cgroup; `/` when it is not listed.
 *
 * @example
 * ```ts
 * import { ownCgroup } from "./helpers.ts";
 * if (!ownCgroup("").startsWith("/")) throw new Error("not a cgroup path");
 * ```
 */
export function ownCgroup(controller: string): string {
  for (const line of read("/proc/self/cgroup").split("\n")) {
    const [, ctrls, path] = line.split(/:(.*?):/);
    if (path === undefined) continue;
    const list = ctrls.split(",").filter((c) => c !== "");
    if (controller === "" ? list.length === 0 : list.includes(controller)) {
      return path.replace(/(.)\/$/, "$1");
    }
  }
  return "/";
}

/** Names in a state root (none when it does not exist). */
export function stateEntries(root: string): string[] {
  try {
    return [...Deno.readDirSync(root)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * Cgroup directories named `name` (or whose name passes a test) anywhere in the first levels
 * of every hierarchy.
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
 * Pids of processes whose root directory is `rootfs` (a bundle's containers).
 *
 * @example
 * ```ts
 * import { processesIn } from "./helpers.ts";
 * if (processesIn("/nonexistent-rootfs").length !== 0) throw new Error("found some");
 * ```
 */
export function processesIn(rootfs: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readLinkSync(`/proc/${e.name}/root`) === rootfs) pids.push(Number(e.name));
    } catch {
      // gone, or a kernel thread
    }
  }
  return pids;
}

/** Whether `pid` is a live process (not a zombie). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}
