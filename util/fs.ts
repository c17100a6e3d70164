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
 * import { exists } from "./fs.ts";
 * console.assert(exists("/") && !exists("/nonexistent"));
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
 * import { isDirectory } from "./fs.ts";
 * console.assert(isDirectory("/") && !isDirectory("/nonexistent"));
 * ```
 */
export function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
