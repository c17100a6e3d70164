/**
 * Writing a container's state: a new container's first state, `state.json` written
 * atomically ({@link writeAtomic}) or, the first time, in place ({@link writeNew}), and the
 * directory's not-started mark. Apart from `state.ts` (reading it, the lock, the status
 * checks): the verbs a shim runs per container (`state`, `kill`, `start`, `delete`) write
 * no state, and the bundled CLI's main.js (its core) would otherwise load this code for each of
 * them (the create chunk holds it).
 *
 * @module
 */

import type { NamespaceType, Spec } from "../spec/config.ts";
import type { DriverState } from "../drivers/driver.ts";
import { type ContainerState, NOT_STARTED_MODE } from "./state.ts";

/**
 * The state of a container whose init is not started yet: no pid, created now, no owner
 * recorded (the fields in state.json's usual order).
 */
export function newState(s: {
  id: string;
  bundle: string;
  rootfs: string;
  config: Spec;
  namespaces: NamespaceType[];
  cgroup: DriverState;
  rootless: boolean;
}): ContainerState {
  return {
    id: s.id,
    bundle: s.bundle,
    rootfs: s.rootfs,
    initPid: 0,
    initStartTime: 0,
    created: new Date().toISOString(),
    config: s.config,
    namespaces: s.namespaces,
    cgroup: s.cgroup,
    rootless: s.rootless,
    owner: "",
  };
}

/**
 * Writes `data` to `path` atomically: a temp file renamed over it, so a reader (or a
 * runtime killed mid-write) sees the old content or the new, never a mix. No fsync, as
 * runc: state lives under /run and describes processes that a machine crash ends anyway,
 * and a state.json left unreadable by one is still removed by `delete --force` (it loads
 * as an orphan). An fsync here blocked the event loop for milliseconds on ext4 and made
 * containers started concurrently wait for each other's. `mode` is the file's exact mode (set
 * with fchmod, the umask aside); `"umask"`: 0o666 trimmed by the umask, as open(2) makes it.
 */
export function writeAtomic(
  path: string,
  data: string | Uint8Array,
  mode: number | "umask" = 0o600,
): Promise<void> {
  // Synchronous inside: a few short syscalls; the thread-pool hops cost more (measured). One
  // op writes the temp file (open, write, close): each op costs 0.2 ms in the emulated VM.
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    Deno.writeFileSync(
      tmp,
      bytes,
      mode === "umask" ? { createNew: true } : { createNew: true, mode },
    );
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never created */ }
    return Promise.reject(e);
  }
  return Promise.resolve();
}

/**
 * Sets or clears {@link NOT_STARTED_MODE} on a container directory, keeping its other mode
 * bits (made with the umask's). `Deno.mkdirSync` drops the bit: hence a chmod.
 */
export function markNotStarted(dir: string, on: boolean): void {
  const mode = (Deno.statSync(dir).mode ?? 0o711) & 0o7777;
  Deno.chmodSync(dir, on ? mode | NOT_STARTED_MODE : mode & ~NOT_STARTED_MODE);
}

/**
 * Writes a file that must not exist yet (`O_CREAT | O_EXCL`) in place, without
 * {@link writeAtomic}'s temp file and rename: for a container's first state.json, whose
 * directory the caller has just made. A reader that comes while it is written sees no file,
 * an empty one or a partial one, which all load as a container that is only deletable, as
 * the directory without a state.json before it does. On failure the file is removed.
 * One file made instead of two: on an ext4 without a journal (this project's hosts' /run)
 * each new inode first steps over every inode freed in the last minutes, so with containers
 * made and deleted back to back every file created costs more than its syscalls. `mode` is
 * exact (set with fchmod, the umask aside).
 */
export function writeNew(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    // One op (open with O_EXCL, write, close), as writeAtomic's temp file.
    Deno.writeFileSync(path, bytes, { createNew: true, mode });
  } catch (e) {
    // Made, then failed to write: removed. One that existed already is not ours.
    if (!(e instanceof Deno.errors.AlreadyExists)) {
      try {
        Deno.removeSync(path);
      } catch { /* never made */ }
    }
    return Promise.reject(e);
  }
  return Promise.resolve();
}
