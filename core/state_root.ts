/**
 * Where container state lives by default: `$XDG_RUNTIME_DIR/nsinit` when the runtime
 * is not root and the variable is set (runc's rule for its default root), else
 * `/run/nsinit`. Apart from `rootless.ts` so that a command that only loads a container
 * does not load the rootless policy.
 *
 * @module
 */

/** The state root the runtime uses when none is given. */
export const SYSTEM_ROOT = "/run/nsinit";

/**
 * The default state root: `$XDG_RUNTIME_DIR/nsinit` for a non-root caller with
 * `XDG_RUNTIME_DIR` set, else `/run/nsinit` (runc's rule, with our name).
 *
 * @example
 * ```ts
 * import { defaultRoot } from "./state_root.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(defaultRoot({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000), "/run/user/1000/nsinit");
 * assert.deepEqual(defaultRoot({ XDG_RUNTIME_DIR: "/run/user/0" }, 0), "/run/nsinit");
 * assert.deepEqual(defaultRoot({}, 1000), "/run/nsinit");
 * ```
 */
export function defaultRoot(
  env: Record<string, string | undefined> = envObject(),
  uid: number = Deno.uid() ?? 0,
): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (uid !== 0 && xdg) return `${xdg.replace(/\/+$/, "")}/nsinit`;
  return SYSTEM_ROOT;
}

function envObject(): Record<string, string | undefined> {
  try {
    return { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") };
  } catch {
    return {};
  }
}
