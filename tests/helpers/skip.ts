/**
 * Skipping tests that cannot run on this host, visibly: the test is reported by Deno as
 * "ignored" (counted as skipped by scripts/test.sh) and the reason is printed.
 *
 * ```ts ignore
 * Deno.test({ name: "runs a container", ignore: skipUnless(isRoot(), "needs root"), fn() {} });
 * ```
 *
 * @module
 */

const printed = new Set<string>();

/**
 * Returns the value for `Deno.test`'s `ignore`: `true` when `cond` is false, printing
 * `skipped: <reason>` to stderr (once per reason).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { skipUnless } from "./skip.ts";
 * // Deno.test({ name: "...", ignore: skipUnless(Deno.uid() === 0, "needs root"), fn() {...} });
 * assert.equal(skipUnless(true, "never skipped"), false);
 * ```
 */
export function skipUnless(cond: boolean, reason: string): boolean {
  if (cond) return false;
  if (!printed.has(reason)) {
    printed.add(reason);
    console.error(`skipped: ${reason}`);
  }
  return true;
}

/**
 * The opposite of {@linkcode skipUnless}: skip when `cond` is true.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { skipIf } from "./skip.ts";
 * assert.equal(skipIf(false, "not skipped"), false);
 * ```
 */
export function skipIf(cond: boolean, reason: string): boolean {
  return skipUnless(!cond, reason);
}

/**
 * Whether this process runs as root (effective uid 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRoot } from "./skip.ts";
 * assert.equal(typeof isRoot(), "boolean");
 * ```
 */
export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/**
 * Whether an executable named `name` is on `PATH` (or, with a slash, exists at that path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasCommand } from "./skip.ts";
 * assert.ok(hasCommand("sh"));
 * assert.ok(!hasCommand("no-such-command-xyz"));
 * ```
 */
export function hasCommand(name: string): boolean {
  const candidates = name.includes("/")
    ? [name]
    : (Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin").split(":").map((d) =>
      `${d}/${name}`
    );
  for (const path of candidates) {
    try {
      const st = Deno.statSync(path);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return true;
    } catch {
      // not here
    }
  }
  return false;
}

/**
 * Whether the cgroup v1 hierarchy `name` (e.g. "memory") or, for "unified", the cgroup2 tree is
 * mounted under /sys/fs/cgroup.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasCgroup } from "./skip.ts";
 * assert.equal(typeof hasCgroup("memory"), "boolean");
 * ```
 */
export function hasCgroup(name: string): boolean {
  try {
    return Deno.readTextFileSync("/proc/self/mounts").split("\n").some((line) => {
      const [, mnt, type] = line.split(" ");
      if (type !== "cgroup" && type !== "cgroup2") return false;
      return mnt === `/sys/fs/cgroup/${name}` || (name === "unified" && type === "cgroup2");
    });
  } catch {
    return false;
  }
}
