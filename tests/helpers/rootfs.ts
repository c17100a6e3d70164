/**
 * The shared busybox root filesystem tests run containers in (built by scripts/make_rootfs.sh).
 *
 * @module
 */

import { REPO_ROOT } from "./paths.ts";

/** The stamp file make_rootfs.sh writes last, so its presence means a complete tree. */
const STAMP = ".nsinit-rootfs-stamp";

let building: Promise<string> | undefined;

/**
 * Absolute path of the busybox rootfs (`$NSINIT_TEST_ROOTFS`, else `<repo>/.cache/rootfs`),
 * building it with `scripts/make_rootfs.sh` when it is missing. Treat it as read-only: copy it
 * (as `makeBundle` does) before a container may write to it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rootfsPath } from "./rootfs.ts";
 * const root = await rootfsPath();
 * assert.ok(Deno.lstatSync(`${root}/bin/sh`).isSymlink);
 * ```
 */
export function rootfsPath(): Promise<string> {
  building ??= build().catch((e) => {
    building = undefined;
    throw e;
  });
  return building;
}

async function build(): Promise<string> {
  const dir = Deno.env.get("NSINIT_TEST_ROOTFS") || `${REPO_ROOT}/.cache/rootfs`;
  try {
    await Deno.stat(`${dir}/${STAMP}`);
    return dir;
  } catch {
    // missing: build it
  }
  const out = await new Deno.Command("bash", {
    args: [`${REPO_ROOT}/scripts/make_rootfs.sh`, dir],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`scripts/make_rootfs.sh ${dir} failed (exit code ${out.code}): ${text}`);
  }
  return dir;
}
