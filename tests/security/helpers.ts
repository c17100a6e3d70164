/**
 * Small probes of the host for the security tests: the runtime's own cgroups, what a state
 * root holds, cgroup directories left behind.
 *
 * @module
 */

export { alive, cgroupDirsNamed } from "../helpers/host.ts";

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
