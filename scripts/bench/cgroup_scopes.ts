/**
 * This process's own cgroup directory in every hierarchy: where the benchmark (and the CLI
 * floor, scripts/bench/floor_cli.ts) make their cgroups, as a runtime resolves a relative
 * `cgroupsPath`. No imports, so the CLI floor's bundle stays small.
 *
 * @module
 */

/** One cgroup hierarchy and this process's own directory in it. */
export interface CgroupScope {
  /** Where the hierarchy is mounted. */
  mountPoint: string;
  /** This process's cgroup directory in it (absolute). */
  own: string;
  /** "cgroup" (a v1 hierarchy) or "cgroup2" (the unified one). */
  fstype: "cgroup" | "cgroup2";
}

/**
 * This process's cgroup directory in every hierarchy mounted under /sys/fs/cgroup.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgroupScopes } from "./cgroup_scopes.ts";
 * for (const s of cgroupScopes()) assert.ok(s.own.startsWith(s.mountPoint));
 * ```
 */
export function cgroupScopes(): CgroupScope[] {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  const mounts: { mountPoint: string; root: string; fstype: string; super: string }[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    if (!line) continue;
    const [pre, post] = line.split(" - ");
    const f = pre.split(" ");
    const [fstype, , superOpts] = post.split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    mounts.push({ mountPoint: unescape(f[4]), root: unescape(f[3]), fstype, super: superOpts });
  }
  const scopes: CgroupScope[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/cgroup").split("\n")) {
    if (!line) continue;
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    const ctrls = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    const m = mounts.find((m) =>
      ctrls === ""
        ? m.fstype === "cgroup2"
        : m.fstype === "cgroup" && ctrls.split(",").every((c) => m.super.split(",").includes(c))
    );
    if (!m || !m.mountPoint.startsWith("/sys/fs/cgroup")) continue;
    // The path is relative to the hierarchy's root; a mount of a subtree (root not "/") shows
    // it from that root down.
    const rel = m.root !== "/" && (path === m.root || path.startsWith(`${m.root}/`))
      ? path.slice(m.root.length)
      : path;
    scopes.push({
      mountPoint: m.mountPoint,
      own: `${m.mountPoint}${rel}`.replace(/\/+$/, ""),
      fstype: m.fstype === "cgroup2" ? "cgroup2" : "cgroup",
    });
  }
  return scopes;
}
