/**
 * What the cgroupfs managers (`cgroupfs_v1.ts`, `cgroupfs_v2.ts`) do on an existing
 * container besides reading the freezer's state and the usual removal: freezing and
 * thawing (`pause`, `resume`, a kill of a paused container), listing and signalling every
 * process (`ps`, `kill --all`, `delete --force`), usage and events, and the long way of
 * removing their directories (busy or nested cgroups, created parents, a fake kernel). The
 * managers import it when one of those methods runs, so `state`, `start`, a plain `kill`
 * and `delete` never load it; it works on the manager's state.
 *
 * @module
 */

import type { CgroupManager } from "./driver.ts";
import type { CgroupEvent, PressureLevel } from "../cgroups/events.ts";
import type { CgroupStats } from "../cgroups/stats.ts";
import { CgroupError } from "../errors.ts";
import { pathExists, writeCgroupFile } from "../cgroups/fs_base.ts";
import { removeCgroupDirs } from "../cgroups/fs_remove.ts";
import { setFreezerV1, setFreezerV2 } from "../cgroups/freezer_set.ts";
import { readPidsRecursive } from "../cgroups/pids.ts";
import { signalThroughFreezer } from "./signal_all.ts";
import { type CgroupfsV1State, v1Hierarchies, v1ProcsDir } from "./cgroupfs_v1.ts";
import { type CgroupfsV2State, v2MountPoint } from "./cgroupfs_v2.ts";

const SIGKILL = 9;

/** Whether any of `dirs` exists. */
export async function existsAny(dirs: string[]): Promise<boolean> {
  for (const dir of new Set(dirs)) {
    if (await pathExists(dir)) return true;
  }
  return false;
}

/** The v1/hybrid directory to freeze with, and how. */
function freezerOf(s: CgroupfsV1State): { dir: string; version: 1 | 2 } {
  if (s.paths.freezer) return { dir: s.paths.freezer, version: 1 };
  if (s.paths[""]) return { dir: s.paths[""], version: 2 };
  throw new CgroupError("freezer", "the freezer cgroup controller is not mounted");
}

/** `CgroupfsV1Manager.freeze()`. */
export async function freezeV1(s: CgroupfsV1State, frozen: boolean): Promise<void> {
  const f = freezerOf(s);
  if (f.version === 1) await setFreezerV1(f.dir, frozen, s.freezeTimeoutMs);
  else await setFreezerV2(f.dir, frozen, s.freezeTimeoutMs);
}

/** `CgroupfsV1Manager.pids()`. */
export async function pidsV1(s: CgroupfsV1State): Promise<number[]> {
  return await readPidsRecursive(v1ProcsDir(s.paths));
}

/** `CgroupfsV1Manager.killAll()` of manager `m` (freeze, signal, thaw through its methods). */
export async function killAllV1(
  m: CgroupManager,
  s: CgroupfsV1State,
  signal: number,
): Promise<void> {
  const dir = v1ProcsDir(s.paths);
  if ((await v1Hierarchies(s)).some((h) => h.mountPoint === dir)) {
    throw new CgroupError(dir, "refusing to signal every process of a root cgroup");
  }
  if (!(await pathExists(dir))) return;
  await signalThroughFreezer(m, signal);
}

/** `CgroupfsV1Manager.stats()`. */
export async function statsV1(s: CgroupfsV1State): Promise<CgroupStats> {
  const paths = { ...s.paths };
  delete paths[""];
  const { readStatsV1 } = await import("../cgroups/stats.ts");
  return await readStatsV1(paths, s.paths[""] ? { unified: s.paths[""] } : {});
}

/** `CgroupfsV1Manager.events()` of the memory cgroup `dir` (none: not mounted). */
export async function* watchV1(
  dir: string | undefined,
  opts: { pressure?: PressureLevel; signal?: AbortSignal },
): AsyncGenerator<CgroupEvent, void, undefined> {
  if (dir === undefined) {
    throw new CgroupError(
      "memory",
      "the memory cgroup controller is not mounted: no OOM or pressure events",
    );
  }
  const { watchEventsV1 } = await import("../cgroups/events.ts");
  yield* watchEventsV1(dir, opts);
}

/**
 * `CgroupfsV1Manager.destroy()` of `leaves`, when one batch of rmdirs did not do it: the
 * host's layout says which directories are mount points, never removed.
 */
export async function destroyV1(s: CgroupfsV1State, leaves: string[]): Promise<void> {
  await removeCgroupDirs(
    leaves,
    s.created,
    async () => new Set((await v1Hierarchies(s)).map((h) => h.mountPoint)),
    s.removeTimeoutMs,
    s.ops,
  );
}

/** `CgroupfsV2Manager.freeze()`. */
export async function freezeV2(s: CgroupfsV2State, frozen: boolean): Promise<void> {
  await setFreezerV2(s.dir, frozen, s.freezeTimeoutMs);
}

/** `CgroupfsV2Manager.pids()`. */
export async function pidsV2(s: CgroupfsV2State): Promise<number[]> {
  return await readPidsRecursive(s.dir);
}

/** `CgroupfsV2Manager.killAll()` of manager `m`. */
export async function killAllV2(
  m: CgroupManager,
  s: CgroupfsV2State,
  signal: number,
): Promise<void> {
  if (s.dir === (await v2MountPoint(s))) {
    throw new CgroupError(s.dir, "refusing to signal every process of the root cgroup");
  }
  if (!(await pathExists(s.dir))) return;
  if (signal === SIGKILL && (await pathExists(`${s.dir}/cgroup.kill`))) {
    await writeCgroupFile(s.dir, "cgroup.kill", "1");
    return;
  }
  const canFreeze = await pathExists(`${s.dir}/cgroup.freeze`);
  await signalThroughFreezer({
    capabilities: { freezer: canFreeze },
    frozen: () => m.frozen(),
    freeze: (f) => m.freeze(f),
    pids: () => m.pids(),
  }, signal);
}

/** `CgroupfsV2Manager.stats()`. */
export async function statsV2(s: CgroupfsV2State): Promise<CgroupStats> {
  const { readStatsV2 } = await import("../cgroups/stats.ts");
  return await readStatsV2(s.dir);
}

/** `CgroupfsV2Manager.events()` of `dir`. */
export async function* watchV2(
  dir: string,
  opts: { pressure?: PressureLevel; signal?: AbortSignal },
): AsyncGenerator<CgroupEvent, void, undefined> {
  const { watchEventsV2 } = await import("../cgroups/events.ts");
  yield* watchEventsV2(dir, opts);
}

/** `CgroupfsV2Manager.destroy()`, when one rmdir did not do it (the mount point stays). */
export async function destroyV2(s: CgroupfsV2State): Promise<void> {
  await removeCgroupDirs(
    [s.dir],
    s.created,
    async () => new Set([await v2MountPoint(s)]),
    s.removeTimeoutMs,
    s.ops,
  );
}
