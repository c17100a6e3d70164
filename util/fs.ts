/**
 * Small synchronous file-system checks shared by the runtime.
 *
 * @module
 */

/**
 * Whether something exists at `path` (a dangling symlink counts: lstat).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exists } from "./fs.ts";
 * assert.ok(exists("/"));
 * assert.ok(!exists("/nonexistent"));
 * ```
 */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `path` is a directory (following symlinks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isDirectory } from "./fs.ts";
 * assert.ok(isDirectory("/"));
 * assert.ok(!isDirectory("/nonexistent"));
 * ```
 */
export function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
