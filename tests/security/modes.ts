/**
 * The two ways the escape tests run a container: as root (runc's default spec, with cgroups),
 * and rootless (runc's `spec --rootless`: a user namespace mapping the unprivileged test user
 * `nsinit-test` to root, run by that user). A test is written once, against {@linkcode Mode},
 * and registered for each mode with {@linkcode MODES}; a mode that cannot run here is skipped
 * with its reason.
 *
 * @module
 */

import { makeBundle } from "../helpers/bundle.ts";
import type { Bundle } from "../helpers/bundle.ts";
import { run, runNsinit, type RunOptions, type RunResult } from "../helpers/run.ts";
import { isRoot, skipIf, skipUnless } from "../helpers/skip.ts";
import { cannotRunAsTestUser, runAs, runNsinitAs, testUser } from "../helpers/user.ts";

/** Options of {@linkcode Mode.bundle}. */
export interface ModeBundleOptions {
  /** `root.readonly` false: the container may write its rootfs. */
  writable?: boolean;
}

/** How one mode makes bundles and runs the runtime. */
export interface Mode {
  /** `root` or `rootless`. */
  readonly name: "root" | "rootless";
  /** Deno.test's `ignore` for this mode (the reason was printed). */
  readonly ignore: boolean;
  /** The host uid and gid the runtime runs as (root: 0). */
  readonly uid: number;
  readonly gid: number;
  /** A bundle running `args`, owned by the runtime's user; default cgroupsPath (root) or none. */
  bundle(args: string[], opts?: ModeBundleOptions): Promise<Bundle>;
  /** Runs the CLI as the runtime's user with `--root <bundle's state root>` first. */
  nsinit(b: Bundle, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Runs a command as the runtime's user. */
  command(cmd: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Makes a file or directory that root made the runtime user's. */
  own(path: string): Promise<void>;
}

const rootlessReason = cannotRunAsTestUser();
const user = testUser();

const root: Mode = {
  name: "root",
  ignore: skipUnless(isRoot(), "real containers need root"),
  uid: 0,
  gid: 0,
  bundle: (args, opts = {}) => makeBundle({ args, readonlyRoot: opts.writable ? false : true }),
  nsinit: (b, args, opts) => runNsinit(["--root", b.stateRoot, ...args], opts),
  command: (cmd, args, opts) => run(cmd, args, opts),
  own: () => Promise.resolve(),
};

const rootless: Mode = {
  name: "rootless",
  ignore: skipIf(rootlessReason !== undefined, rootlessReason ?? ""),
  uid: user?.uid ?? -1,
  gid: user?.gid ?? -1,
  bundle: (args, opts = {}) =>
    makeBundle({
      args,
      rootless: true,
      owner: { uid: user!.uid, gid: user!.gid },
      cgroupsPath: null,
      readonlyRoot: opts.writable ? false : true,
    }),
  nsinit: (b, args, opts) => runNsinitAs(user!, ["--root", b.stateRoot, ...args], opts),
  command: (cmd, args, opts) => runAs(user!, cmd, args, opts),
  own: (path) => Deno.chown(path, user!.uid, user!.gid),
};

/** Both modes, root first. */
export const MODES: readonly Mode[] = [root, rootless];
