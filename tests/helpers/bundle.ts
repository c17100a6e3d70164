/**
 * OCI bundles for tests: a directory `/tmp/nsinit-test-<id>` holding `config.json` (runc's
 * default spec, from `spec/default.ts`, adjusted for tests) and `rootfs/`, a private copy of the
 * busybox rootfs, removed again by `await using`.
 *
 * @module
 */

import { defaultSpec } from "../../spec/default.ts";
import type { Spec } from "../../spec/config.ts";
import { uniqueId } from "./ids.ts";
import { createTestDir, removeTestDir, TEST_DIR_PREFIX, testRun } from "./paths.ts";
import { rootfsPath } from "./rootfs.ts";

/** Options of {@linkcode makeBundle}. */
export interface BundleOptions {
  /** Container id; default `uniqueId("ctr")`. Also names the directory and the cgroup. */
  id?: string;
  /** `process.args`; default `["true"]`. */
  args?: string[];
  /** Extra `KEY=value` entries appended to `process.env`. */
  env?: string[];
  /** `process.terminal`; default false. */
  terminal?: boolean;
  /** `root.readonly`; default as in runc's spec (true). */
  readonlyRoot?: boolean;
  /**
   * `"copy"` (default): `rootfs/` is a private copy (`cp -a`, ~2 MB) the container may change.
   * `"shared"`: `root.path` is the shared rootfs itself (absolute) and the root is read-only;
   * nothing may write into it.
   */
  rootfs?: "copy" | "shared";
  /**
   * `linux.cgroupsPath`; default `nsinit-test-<id>`, relative, so the cgroup lands below the
   * calling process's own cgroup in every hierarchy (as runc resolves it). `null` leaves it unset.
   */
  cgroupsPath?: string | null;
  /** Start from `runc spec --rootless` (user namespace mapping `owner`, or the caller, to root). */
  rootless?: boolean;
  /**
   * Chown the whole bundle (and the rootless uid/gid mapping) to this user, e.g. the unprivileged
   * test user `nsinit-test`.
   */
  owner?: { uid: number; gid: number };
}

/** A bundle on disk; `await using` removes it. */
export interface Bundle extends AsyncDisposable {
  /** The container id the bundle was made for. */
  readonly id: string;
  /** The bundle directory (absolute). */
  readonly dir: string;
  /** The rootfs directory (absolute). */
  readonly rootfs: string;
  /** `<dir>/config.json`. */
  readonly configPath: string;
  /** A state root for the runtime's `--root`: `<dir>/state` (not created). */
  readonly stateRoot: string;
  /** The config; change it, then call {@linkcode Bundle.write}. */
  config: Spec;
  /** Writes {@linkcode Bundle.config} to `config.json` (makeBundle already wrote it once). */
  write(): Promise<void>;
}

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * Makes a bundle for one test. The config is runc's default spec with: `process.terminal`
 * false, `process.args` from `opts.args` (default `["true"]`), the test run marker
 * `NSINIT_TEST_RUN=<run>` appended to `process.env`, `root.path` at the bundle's rootfs, and a
 * relative `linux.cgroupsPath` of `nsinit-test-<id>`.
 *
 * @example A bundle that runs `echo hi`
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeBundle } from "./bundle.ts";
 * await using bundle = await makeBundle({ args: ["echo", "hi"] });
 * assert.equal(bundle.config.process?.args?.[1], "hi");
 * assert.ok(Deno.statSync(`${bundle.rootfs}/bin/busybox`).isFile);
 * bundle.config.hostname = "box";
 * await bundle.write();
 * ```
 */
export async function makeBundle(opts: BundleOptions = {}): Promise<Bundle> {
  const id = opts.id ?? uniqueId("ctr");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/.test(id)) {
    throw new TypeError(`makeBundle: bad container id ${JSON.stringify(id)}`);
  }
  const shared = await rootfsPath();
  const dir = TEST_DIR_PREFIX + uniqueId("bundle");
  try {
    await createTestDir(dir);
    const mode = opts.rootfs ?? "copy";
    let rootfs: string;
    if (mode === "copy") {
      rootfs = `${dir}/rootfs`;
      await sh("cp", ["-a", "--", shared, rootfs]);
    } else if (mode === "shared") {
      rootfs = shared;
    } else {
      throw new TypeError(`makeBundle: rootfs must be "copy" or "shared", got ${mode}`);
    }

    const config = defaultSpec(
      opts.rootless ? { rootless: true, uid: opts.owner?.uid, gid: opts.owner?.gid } : {},
    );
    const proc = config.process ?? { user: { uid: 0, gid: 0 }, cwd: "/" };
    config.process = proc;
    proc.terminal = opts.terminal ?? false;
    proc.args = opts.args ?? ["true"];
    proc.env = [...(proc.env ?? []), ...(opts.env ?? []), `NSINIT_TEST_RUN=${testRun()}`];
    config.root = {
      path: mode === "copy" ? "rootfs" : rootfs,
      readonly: mode === "shared" ? true : (opts.readonlyRoot ?? config.root?.readonly ?? true),
    };
    config.linux ??= {};
    if (opts.cgroupsPath === null) delete config.linux.cgroupsPath;
    else config.linux.cgroupsPath = opts.cgroupsPath ?? `nsinit-test-${id}`;

    const configPath = `${dir}/config.json`;
    const bundle: Bundle = {
      id,
      dir,
      rootfs,
      configPath,
      stateRoot: `${dir}/state`,
      config,
      async write() {
        await Deno.writeTextFile(configPath, JSON.stringify(bundle.config, null, "\t") + "\n");
        if (opts.owner) await Deno.chown(configPath, opts.owner.uid, opts.owner.gid);
      },
      [Symbol.asyncDispose]: () => removeTestDir(dir),
    };
    await bundle.write();
    if (opts.owner) {
      await sh("chown", ["-R", `${opts.owner.uid}:${opts.owner.gid}`, "--", dir]);
    }
    return bundle;
  } catch (e) {
    await removeTestDir(dir).catch(() => {});
    throw e;
  }
}
