/**
 * Where tests put things, and the marker that lets `scripts/leftovers.sh` find what they leave.
 *
 * Conventions every test follows:
 * - Everything a test creates on disk lives in a directory named `/tmp/nsinit-test-*`
 *   ({@linkcode TEST_DIR_PREFIX}); {@linkcode makeTempDir} and `makeBundle` make them.
 * - Every process a test starts carries `NSINIT_TEST_RUN=<run>` in its environment
 *   ({@linkcode testRun}): children inherit it, and bundles put it in the container's env.
 * - Cgroups are relative paths (below the test process's own cgroup) named `nsinit-test-*`.
 *
 * @module
 */

import { uniqueId } from "./ids.ts";

/** The repository root (absolute, no trailing slash). */
export const REPO_ROOT: string = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** Every test directory starts with this; `scripts/leftovers.sh` reports any left behind. */
export const TEST_DIR_PREFIX = "/tmp/nsinit-test-";

/**
 * The file in each test directory that names the test run which made it ({@linkcode testRun}),
 * so `scripts/leftovers.sh` does not blame one run for another's leftovers.
 */
export const RUN_MARKER_FILE = ".nsinit-test-run";

/**
 * Creates the test directory `path` (mode 0755, so an unprivileged test user can read it)
 * holding the {@linkcode RUN_MARKER_FILE}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTestDir, removeTestDir, RUN_MARKER_FILE, testRun } from "./paths.ts";
 * const dir = `/tmp/nsinit-test-doc-${Deno.pid}`;
 * await createTestDir(dir);
 * assert.equal(Deno.readTextFileSync(`${dir}/${RUN_MARKER_FILE}`), testRun());
 * await removeTestDir(dir);
 * ```
 */
export async function createTestDir(path: string): Promise<void> {
  if (!path.startsWith(TEST_DIR_PREFIX)) {
    throw new RangeError(`createTestDir: ${path} does not start with ${TEST_DIR_PREFIX}`);
  }
  await Deno.mkdir(path, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  await Deno.writeTextFile(`${path}/${RUN_MARKER_FILE}`, testRun());
}

/**
 * The marker of this test run: `$NSINIT_TEST_RUN` (scripts/test.sh sets it). When unset (a bare
 * `deno test`), it becomes `manual-<pid>` and is set in this process's environment, so the
 * processes the tests start inherit it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { testRun } from "./paths.ts";
 * assert.equal(Deno.env.get("NSINIT_TEST_RUN"), testRun());
 * ```
 */
export function testRun(): string {
  let run = Deno.env.get("NSINIT_TEST_RUN");
  if (!run) {
    run = `manual-${Deno.pid}`;
    Deno.env.set("NSINIT_TEST_RUN", run);
  }
  return run;
}

/**
 * Mount points at or below `dir` in this process's mount namespace.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mountsUnder } from "./paths.ts";
 * assert.ok(mountsUnder("/proc").includes("/proc"));
 * ```
 */
export function mountsUnder(dir: string): string[] {
  const base = dir.replace(/\/+$/, "");
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return Deno.readTextFileSync("/proc/self/mountinfo")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => unescape(line.split(" ")[4]))
    .filter((mp) => mp === base || mp.startsWith(base + "/"));
}

/**
 * Removes a test directory recursively, refusing (with an Error naming them) while anything is
 * mounted below it: a recursive delete would descend into the mounted file systems.
 *
 * @example
 * ```ts
 * import { removeTestDir } from "./paths.ts";
 * const dir = Deno.makeTempDirSync({ prefix: "nsinit-test-doc-" });
 * await removeTestDir(dir);
 * ```
 */
export async function removeTestDir(dir: string): Promise<void> {
  if (!dir.startsWith("/tmp/") || dir.includes("/../")) {
    throw new RangeError(`removeTestDir: refusing to remove ${dir}`);
  }
  const mounts = mountsUnder(dir);
  if (mounts.length > 0) {
    throw new Error(`${dir}: not removed, still mounted: ${mounts.join(", ")}`);
  }
  try {
    await Deno.remove(dir, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** A directory that is removed by `await using`. */
export interface TempDir extends AsyncDisposable {
  /** Absolute path, `/tmp/nsinit-test-<label>-...`. */
  readonly path: string;
}

/**
 * Creates a directory `/tmp/nsinit-test-<label>-<unique>` (see {@linkcode createTestDir}),
 * removed on dispose.
 *
 * @example A state root for one test
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeTempDir } from "./paths.ts";
 * await using root = await makeTempDir("state");
 * assert.ok(root.path.startsWith("/tmp/nsinit-test-state-"));
 * ```
 */
export async function makeTempDir(label = "dir"): Promise<TempDir> {
  const path = TEST_DIR_PREFIX + uniqueId(label);
  await createTestDir(path);
  return { path, [Symbol.asyncDispose]: () => removeTestDir(path) };
}

/**
 * Root's sandboxes keep their state under the default root (/run/nsinit, as runc's under
 * /run/runc), which the first one makes. A test file that runs them calls this at load: when
 * the directory did not exist then, it is removed at the end of the test process if it is
 * empty again (a non-empty one is left for the leftover check to report).
 */
export function removeDefaultRootAtExit(root = "/run/nsinit"): void {
  try {
    Deno.statSync(root);
    return;
  } catch { /* it does not exist yet: this process may make it */ }
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(root);
    } catch { /* never made, or not empty */ }
  });
}
