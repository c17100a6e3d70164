/**
 * Freezing and thawing a cgroup, v1 (`freezer.state`) and v2 (`cgroup.freeze`, watched
 * through `cgroup.events`), waiting until the state is reached: for `pause`, `resume`, and
 * signalling every process (`kill --all`, `delete --force`). Reading the state is in
 * `freezer.ts`.
 *
 * @module
 */

import { CgroupError } from "../errors.ts";
import { readCgroupFile, sleep, writeCgroupFile } from "./fs_base.ts";
import { DEFAULT_FREEZE_TIMEOUT_MS, eventsFrozen } from "./freezer.ts";

/**
 * Freezes (`true`) or thaws (`false`) a v1 freezer cgroup and waits for `FROZEN` /
 * `THAWED`. As runc does, a freeze stuck in `FREEZING` is retried (rewriting
 * `FROZEN`, with an occasional thaw to let new processes settle), and when it
 * cannot complete the cgroup is thawed again before the error is thrown.
 *
 * @example Against a fake freezer directory
 * ```ts
 * import assert from "node:assert/strict";
 * import { setFreezerV1 } from "./freezer_set.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/freezer.state`, "THAWED\n");
 * await setFreezerV1(dir, true); // a plain file reads back what was written
 * assert.equal(await Deno.readTextFile(`${dir}/freezer.state`), "FROZEN");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function setFreezerV1(
  dir: string,
  frozen: boolean,
  timeoutMs = DEFAULT_FREEZE_TIMEOUT_MS,
): Promise<void> {
  const want = frozen ? "FROZEN" : "THAWED";
  const deadline = Date.now() + timeoutMs;
  for (let i = 0;; i++) {
    if (frozen && i % 50 === 49) {
      await writeCgroupFile(dir, "freezer.state", "THAWED");
      await sleep(10);
    }
    await writeCgroupFile(dir, "freezer.state", want);
    const state = await readCgroupFile(dir, "freezer.state");
    if (state === want) return;
    if (state !== "FREEZING" && state !== "THAWED" && state !== "FROZEN") {
      throw new CgroupError(`${dir}/freezer.state`, `unexpected state ${JSON.stringify(state)}`);
    }
    if (Date.now() >= deadline) break;
    await sleep(i < 10 ? 1 : 10);
  }
  if (frozen) await writeCgroupFile(dir, "freezer.state", "THAWED").catch(() => {});
  throw new CgroupError(
    `${dir}/freezer.state`,
    `timed out after ${timeoutMs} ms waiting for ${want}`,
  );
}

/**
 * Freezes or thaws a v2 cgroup through `cgroup.freeze` and waits until
 * `cgroup.events` says `frozen 1` / `frozen 0`. A freeze that times out is undone.
 *
 * @example Against a fake v2 directory that is already frozen
 * ```ts
 * import assert from "node:assert/strict";
 * import { setFreezerV2 } from "./freezer_set.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/cgroup.freeze`, "0\n");
 * await Deno.writeTextFile(`${dir}/cgroup.events`, "populated 1\nfrozen 1\n");
 * await setFreezerV2(dir, true);
 * assert.equal(await Deno.readTextFile(`${dir}/cgroup.freeze`), "1");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function setFreezerV2(
  dir: string,
  frozen: boolean,
  timeoutMs = DEFAULT_FREEZE_TIMEOUT_MS,
): Promise<void> {
  if ((await readCgroupFile(dir, "cgroup.freeze")) === undefined) {
    throw new CgroupError(
      `${dir}/cgroup.freeze`,
      "the cgroup v2 freezer is not available (kernel 5.2+ needed)",
    );
  }
  await writeCgroupFile(dir, "cgroup.freeze", frozen ? "1" : "0");
  const deadline = Date.now() + timeoutMs;
  for (let i = 0;; i++) {
    const state = await eventsFrozen(dir);
    if (state === undefined) {
      throw new CgroupError(`${dir}/cgroup.events`, "cannot read the freezer state");
    }
    if (state === frozen) return;
    if (Date.now() >= deadline) break;
    await sleep(i < 10 ? 1 : 10);
  }
  if (frozen) await writeCgroupFile(dir, "cgroup.freeze", "0").catch(() => {});
  throw new CgroupError(
    `${dir}/cgroup.events`,
    `timed out after ${timeoutMs} ms waiting for frozen ${frozen ? 1 : 0}`,
  );
}
