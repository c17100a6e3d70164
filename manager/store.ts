/**
 * The manager's container records on disk: one JSON file per container under
 * `<root>/containers/`, written atomically (a temp file, fsync, rename), so a
 * manager killed at any moment leaves either the old record or the new one.
 *
 * @module
 */

/** Where a container is in its life. */
export type ManagedStatus = "created" | "running" | "paused" | "stopped";

/** What the manager knows about one container (CRI-O's container state). */
export interface ContainerRecord {
  /** The container id. */
  id: string;
  /** A name (default the id). */
  name: string;
  /** The runtime handler that runs it. */
  handler: string;
  /** The bundle directory. */
  bundle: string;
  /** The Kubernetes-format log file. */
  logPath: string;
  /** When it was created (RFC 3339). */
  created: string;
  /** When it was started. */
  started?: string;
  /** When it finished. */
  finished?: string;
  /** Its status as last seen. */
  status: ManagedStatus;
  /** The init's pid (host pid namespace). */
  pid?: number;
  /** The init's start time (`/proc/<pid>/stat` field 22), to tell a reused pid apart. */
  startTime?: string;
  /** The exit code, once stopped (128 + signal when a signal ended it). */
  exitCode?: number;
  /** Whether the kernel's OOM killer killed in its cgroup. */
  oomKilled?: boolean;
  /** Why it stopped when the manager, not the container, decided (e.g. a restart). */
  reason?: string;
  /** The signal `stopContainer` sends first. */
  stopSignal: number;
  /** Whether its process has a terminal. */
  terminal: boolean;
  /** Whether its stdin is kept open for attach. */
  stdin: boolean;
  /** Annotations the handler allows. */
  annotations: Record<string, string>;
  /** The log size limit in bytes (<= 0: none). */
  logSizeMax: number;
  /** When it was checkpointed, if it was. */
  checkpointedAt?: string;
}

/**
 * Reads and writes records under `dir`.
 *
 * @example
 * ```ts
 * import { Store } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new Store(dir);
 * await store.save({ id: "c1", name: "c1", handler: "runc", bundle: "/b", logPath: "/l", created: "t",
 *   status: "created", stopSignal: 15, terminal: false, stdin: false, annotations: {}, logSizeMax: -1 });
 * assert.equal((await store.load("c1"))?.status, "created");
 * assert.deepEqual((await store.list()).map((r) => r.id), ["c1"]);
 * await store.remove("c1");
 * assert.equal(await store.load("c1"), undefined);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Store {
  /** The directory holding the records. */
  readonly dir: string;

  /** A store in `dir` (made if missing, on first save). */
  constructor(dir: string) {
    this.dir = dir;
  }

  #path(id: string): string {
    return `${this.dir}/${id}.json`;
  }

  /** Writes a record atomically. */
  async save(r: ContainerRecord): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.dir}/.${r.id}.${crypto.randomUUID()}.tmp`;
    try {
      const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
      try {
        await f.write(new TextEncoder().encode(JSON.stringify(r, null, 2) + "\n"));
        await f.sync();
      } finally {
        f.close();
      }
      await Deno.rename(tmp, this.#path(r.id));
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }

  /** The record of `id`, or undefined. */
  async load(id: string): Promise<ContainerRecord | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#path(id))) as ContainerRecord;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  /** Every record (temp files of interrupted saves are removed). */
  async list(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    try {
      for await (const e of Deno.readDir(this.dir)) {
        if (e.name.endsWith(".tmp")) {
          await Deno.remove(`${this.dir}/${e.name}`).catch(() => {});
          continue;
        }
        if (!e.name.endsWith(".json")) continue;
        const r = await this.load(e.name.slice(0, -5));
        if (r) out.push(r);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Removes a record (no error if it is gone). */
  async remove(id: string): Promise<void> {
    await Deno.remove(this.#path(id)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}
