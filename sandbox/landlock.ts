/**
 * Landlock for the sandbox: the kernel's ABI version, the filesystem access
 * rights that version knows, and the ruleset the sandbox init applies just
 * before exec (a plan step executed by native/src/landlock.c).
 *
 * Rights by ABI: 1 knows the thirteen basic rights (execute, write, read, read
 * dir, remove, make_*), 2 adds `refer` (link/rename across directories), 3
 * `truncate`, 5 `ioctl_dev` (4 added network rules, 6 IPC scoping and 7 audit
 * logging: none of them filesystem rights). The sandbox handles every right the
 * kernel knows, so anything not allowed by a rule is denied.
 *
 * @module
 */

import type { LandlockPlan } from "../core/init_plan.ts";

/** Filesystem access rights (`LANDLOCK_ACCESS_FS_*`). */
export const Access = {
  EXECUTE: 1n << 0n,
  WRITE_FILE: 1n << 1n,
  READ_FILE: 1n << 2n,
  READ_DIR: 1n << 3n,
  REMOVE_DIR: 1n << 4n,
  REMOVE_FILE: 1n << 5n,
  MAKE_CHAR: 1n << 6n,
  MAKE_DIR: 1n << 7n,
  MAKE_REG: 1n << 8n,
  MAKE_SOCK: 1n << 9n,
  MAKE_FIFO: 1n << 10n,
  MAKE_BLOCK: 1n << 11n,
  MAKE_SYM: 1n << 12n,
  REFER: 1n << 13n,
  TRUNCATE: 1n << 14n,
  IOCTL_DEV: 1n << 15n,
} as const;

/** Reading: files, directories, and executing. */
export const READ: bigint = Access.EXECUTE | Access.READ_FILE | Access.READ_DIR;

/** Everything the kernel's ABI `abi` can restrict on files (0 for no Landlock). */
export function handledAccess(abi: number): bigint {
  if (abi < 1) return 0n;
  let mask = (1n << 13n) - 1n;
  if (abi >= 2) mask |= Access.REFER;
  if (abi >= 3) mask |= Access.TRUNCATE;
  if (abi >= 5) mask |= Access.IOCTL_DEV;
  return mask;
}

/** Why Landlock is unavailable, from the errno of the ABI query. */
function unavailable(errno: number): string {
  if (errno === 38) return "this kernel is built without Landlock (CONFIG_SECURITY_LANDLOCK)";
  if (errno === 95) {
    return "Landlock is built in but not enabled: add landlock to the lsm= boot parameter";
  }
  return `the Landlock ABI query failed (errno ${errno})`;
}

/** The kernel's Landlock ABI version, or why there is none. */
export type LandlockSupport = { abi: number } | { abi: 0; reason: string };

let cached: LandlockSupport | undefined;

/**
 * Asks the kernel (once per process) which Landlock ABI it speaks.
 *
 * @example
 * ```ts ignore
 * import { landlockSupport } from "./landlock.ts";
 * const s = await landlockSupport();
 * console.log(s.abi > 0 ? `Landlock ABI ${s.abi}` : s.reason);
 * ```
 */
export async function landlockSupport(): Promise<LandlockSupport> {
  if (cached) return cached;
  const { native, ensureNative } = await import("../native/ffi.ts");
  await ensureNative();
  const v = native().nsi_landlock_abi();
  cached = v > 0 ? { abi: v } : { abi: 0, reason: unavailable(-v) };
  return cached;
}

/** A path and what the sandbox may do beneath it. */
export interface LandlockRule {
  /** Absolute path as the sandboxed process sees it. */
  path: string;
  /** `"read"` (read, list, execute) or `"write"` (everything). */
  access: "read" | "write";
}

/**
 * The ruleset for `rules` under ABI `abi`: reads and writes beneath exactly these
 * paths, nothing else. Rules on paths that may not exist are skipped by the init.
 *
 * @example
 * ```ts
 * import { landlockPlan, READ } from "./landlock.ts";
 * import assert from "node:assert/strict";
 * const plan = landlockPlan(3, [{ path: "/usr", access: "read" }, { path: "/tmp", access: "write" }]);
 * assert.equal(plan.rules[0].access, READ);
 * assert.equal(plan.rules[1].access, plan.handled);
 * ```
 */
export function landlockPlan(abi: number, rules: LandlockRule[]): LandlockPlan {
  const handled = handledAccess(abi);
  return {
    abi,
    handled,
    rules: rules.map((r) => ({
      path: r.path,
      access: r.access === "write" ? handled : READ & handled,
      optional: true,
    })),
  };
}
