/**
 * Test helpers: bundles, the busybox rootfs, unique ids, temp dirs, skipping, running commands.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeBundle, run } from "./mod.ts";
 * await using bundle = await makeBundle({ args: ["sh", "-c", "echo hi"] });
 * const r = await run("chroot", [bundle.rootfs, "/bin/sh", "-c", "echo hi"]);
 * assert.equal(r.stdout, "hi\n");
 * ```
 *
 * @module
 */

export { type Bundle, type BundleOptions, makeBundle } from "./bundle.ts";
export { type ConsoleSocket, consoleSocket } from "./console_socket.ts";
export { uniqueId } from "./ids.ts";
export {
  createTestDir,
  makeTempDir,
  mountsUnder,
  removeTestDir,
  REPO_ROOT,
  RUN_MARKER_FILE,
  type TempDir,
  TEST_DIR_PREFIX,
  testRun,
} from "./paths.ts";
export { rootfsPath } from "./rootfs.ts";
export { nsinitCommand, run, runNsinit, type RunOptions, type RunResult } from "./run.ts";
export { hasCgroup, hasCommand, isRoot, skipIf, skipUnless } from "./skip.ts";
export {
  cannotRunAsTestUser,
  runAs,
  runNsinitAs,
  TEST_USER,
  type TestUser,
  testUser,
} from "./user.ts";
