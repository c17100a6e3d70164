/**
 * {@link RuntimeManager}: what CRI-O's `internal/oci` package is for Kubernetes,
 * as a Deno library. Named runtime handlers (CRI-O's `runtimes` table) run
 * containers: `library` (nsinit in this process) or `oci` (a runtime binary
 * through OciRuntimeClient, with conmon as the monitor). Container records live
 * on disk, so a new manager after a crash re-adopts running containers (pid
 * plus start time) and learns how the others ended from the monitors' exit and
 * OOM files. Method names are CRI-O's, in camelCase.
 *
 * @module
 */

import { signalNumber } from "../client/client.ts";
import { readBundleSpec } from "../core/bundle_spec.ts";
import { validateId } from "../core/state.ts";
import type { LinuxResources } from "../spec/config.ts";
import { libraryHandler } from "./handler_library.ts";
import { ociHandler } from "./handler_oci.ts";
import { isAlive, processState, waitForExit } from "./proc.ts";
import {
  type AttachSession,
  execProcess,
  type ExecSession,
  type ExecSyncResponse,
  type HandlerContext,
  type ManagerCheckpointOptions,
  type ManagerRestoreOptions,
  type RuntimeHandlerConfig,
  type RuntimeImpl,
} from "./runtime_impl.ts";
import { stopLoop } from "./stop.ts";
import { type ContainerRecord, Store } from "./store.ts";

/**
 * The handler types: adding one is a file that exports a `(ctx) => RuntimeImpl` and a line here.
 *
 * @example
 * ```ts
 * import { HANDLER_TYPES } from "./manager.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(Object.keys(HANDLER_TYPES), ["library", "oci"]);
 * ```
 */
export const HANDLER_TYPES: Readonly<Record<string, (ctx: HandlerContext) => RuntimeImpl>> = Object
  .freeze({
    library: libraryHandler,
    oci: ociHandler,
  });

/** Options of {@link RuntimeManager.open}. */
export interface RuntimeManagerOptions {
  /** Where records, exit files, logs and attach sockets live. */
  root: string;
  /** The runtime handlers by name. */
  runtimes: Record<string, RuntimeHandlerConfig>;
  /** The handler of containers that name none (default: the first). */
  defaultRuntime?: string;
  /** How long SIGKILL is retried by stopContainer before it reports the container stuck (ms). */
  stopKillTimeout?: number;
  /** Receives warnings (a container that could not be re-adopted, ...). */
  onWarning?: (msg: string) => void;
}

/** What createContainer needs. */
export interface ContainerConfig {
  /** The container id. */
  id: string;
  /** A name (default the id). */
  name?: string;
  /** The bundle (config.json and rootfs). */
  bundle: string;
  /** The runtime handler (default the manager's default). */
  handler?: string;
  /** The log file (default `<root>/logs/<id>.log`). */
  logPath?: string;
  /** Keep a stdin open for attach. */
  stdin?: boolean;
  /** Annotations (only those the handler allows are kept). */
  annotations?: Record<string, string>;
  /** The stop signal (default the image's `org.opencontainers.image.stopSignal`, the handler's, SIGTERM). */
  stopSignal?: number | string;
  /** The log size limit in bytes (default the handler's; <= 0: none). */
  logSizeMax?: number;
}

/**
 * The create timeout CRI-O uses (240 s), in ms.
 *
 * @example
 * ```ts
 * import { CONTAINER_CREATE_TIMEOUT } from "./manager.ts";
 * import assert from "node:assert/strict";
 * assert.equal(CONTAINER_CREATE_TIMEOUT, 240_000);
 * ```
 */
export const CONTAINER_CREATE_TIMEOUT = 240_000;

/**
 * Runs containers under named runtime handlers and keeps their records.
 *
 * @example Open a manager, look at its handlers
 * ```ts
 * import { RuntimeManager } from "./manager.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await using manager = await RuntimeManager.open({
 *   root,
 *   runtimes: { fast: { type: "library" }, runc: { type: "oci", runtimePath: "runc" } },
 * });
 * assert.deepEqual(Object.keys(manager.runtimes()), ["fast", "runc"]);
 * assert.equal(manager.validateRuntimeHandler("runc").type, "oci");
 * assert.deepEqual(manager.containers(), []);
 * ```
 *
 * @example A workload under runc through conmon, and its logs
 * ```ts ignore
 * import { readContainerLog, RuntimeManager } from "./mod.ts";
 *
 * const manager = await RuntimeManager.open({
 *   root: "/var/lib/my-engine",
 *   runtimes: { runc: { type: "oci", runtimePath: "runc" }, fast: { type: "library" } },
 * });
 * await manager.createContainer({ id: "job1", bundle: "/path/to/bundle", handler: "runc" });
 * await manager.startContainer("job1");
 * const r = await manager.execSyncContainer("job1", ["cat", "/etc/hostname"], 5);
 * await manager.stopContainer("job1", 10);
 * console.log((await manager.updateContainerStatus("job1")).exitCode);
 * console.log(await readContainerLog(manager.container("job1").logPath));
 * await manager.deleteContainer("job1");
 * ```
 */
export class RuntimeManager implements AsyncDisposable {
  /** The manager's root directory. */
  readonly root: string;
  #store: Store;
  #handlers = new Map<string, { config: RuntimeHandlerConfig; impl: RuntimeImpl }>();
  #default: string;
  #records = new Map<string, ContainerRecord>();
  #locks = new Map<string, Promise<unknown>>();
  #stopKillTimeout: number;
  #warn: (msg: string) => void;

  private constructor(opts: RuntimeManagerOptions) {
    this.root = opts.root;
    this.#store = new Store(`${opts.root}/containers`);
    this.#warn = opts.onWarning ?? (() => {});
    this.#stopKillTimeout = opts.stopKillTimeout ?? 10_000;
    const names = Object.keys(opts.runtimes);
    if (names.length === 0) throw new TypeError("RuntimeManager: no runtime handlers configured");
    for (const name of names) {
      const config = opts.runtimes[name];
      const make = HANDLER_TYPES[config.type];
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
        throw new TypeError(`runtime handler name ${JSON.stringify(name)} is invalid`);
      }
      if (!make) {
        throw new TypeError(
          `runtime handler ${name}: unknown type ${JSON.stringify(config.type)} (known: ${
            Object.keys(HANDLER_TYPES).join(", ")
          })`,
        );
      }
      if (config.stopSignal !== undefined) signalNumber(config.stopSignal);
      const ctx: HandlerContext = {
        name,
        config,
        exitsDir: `${opts.root}/exits`,
        persistDir: `${opts.root}/persist`,
        attachDir: `${opts.root}/attach`,
        runtimeRoot: config.runtimeRoot ?? `${opts.root}/runtimes/${name}`,
        warn: this.#warn,
      };
      this.#handlers.set(name, { config, impl: make(ctx) });
    }
    this.#default = opts.defaultRuntime ?? names[0];
    this.validateRuntimeHandler(this.#default);
  }

  /**
   * Opens a manager over `root`: loads every record and re-adopts its container (running ones
   * are found by pid and start time; for ended ones the exit code and OOM kill are read).
   */
  static async open(opts: RuntimeManagerOptions): Promise<RuntimeManager> {
    const m = new RuntimeManager(opts);
    await Deno.mkdir(`${opts.root}/logs`, { recursive: true, mode: 0o700 });
    for (const r of await m.#store.list()) {
      m.#records.set(r.id, r);
      const h = m.#handlers.get(r.handler);
      if (!h) {
        m.#warn(
          `container ${r.id}: its runtime handler ${r.handler} is not configured; left as it is`,
        );
        continue;
      }
      try {
        await h.impl.adopt(r);
        await m.#store.save(r);
      } catch (e) {
        m.#warn(`container ${r.id}: could not be re-adopted: ${(e as Error).message}`);
      }
    }
    return m;
  }

  /** The configuration of handler `name`; throws naming the known ones if there is none. */
  validateRuntimeHandler(name: string): RuntimeHandlerConfig {
    const h = this.#handlers.get(name);
    if (!h) {
      throw new TypeError(
        `runtime handler ${JSON.stringify(name)} is not configured (known: ${
          [...this.#handlers.keys()].join(", ")
        })`,
      );
    }
    return h.config;
  }

  /** Every handler's configuration, by name. */
  runtimes(): Record<string, RuntimeHandlerConfig> {
    return Object.fromEntries([...this.#handlers].map(([n, h]) => [n, h.config]));
  }

  /** The implementation that runs `container` (an id or a record). */
  runtimeImpl(container: string | Readonly<ContainerRecord>): RuntimeImpl {
    const r = typeof container === "string" ? this.#record(container) : container;
    return this.#handlers.get(r.handler)!.impl;
  }

  /** The record of `id` (a copy). */
  container(id: string): Readonly<ContainerRecord> {
    return structuredClone(this.#record(id));
  }

  /** Every container's record. */
  containers(): Readonly<ContainerRecord>[] {
    return [...this.#records.values()].map((r) => structuredClone(r));
  }

  #record(id: string): ContainerRecord {
    const r = this.#records.get(id);
    if (!r) {
      throw new Deno.errors.NotFound(
        `container ${JSON.stringify(id)} is not known to this manager`,
      );
    }
    return r;
  }

  /** Runs `fn` with the container's operation lock (CRI-O's opLock). */
  #locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.#locks.set(id, next);
    return next.finally(() => {
      if (this.#locks.get(id) === next) this.#locks.delete(id);
    });
  }

  /** Runs an operation on a record and saves it afterwards (also when it failed). */
  #op<T>(id: string, fn: (r: ContainerRecord, impl: RuntimeImpl) => Promise<T>): Promise<T> {
    return this.#locked(id, async () => {
      const r = this.#record(id);
      try {
        return await fn(r, this.runtimeImpl(r));
      } finally {
        if (this.#records.get(id) === r) await this.#store.save(r);
      }
    });
  }

  /** Creates a container (its process waits for startContainer); `timeout` in ms (default 240 s). */
  async createContainer(
    config: ContainerConfig,
    opts: { timeout?: number; signal?: AbortSignal } = {},
  ): Promise<Readonly<ContainerRecord>> {
    validateId(config.id);
    if (this.#records.has(config.id)) {
      throw new Deno.errors.AlreadyExists(`container ${config.id} exists`);
    }
    const handler = config.handler ?? this.#default;
    const hc = this.validateRuntimeHandler(handler);
    const spec = await readBundleSpec(config.bundle);
    const annotations = filterAnnotations(
      { ...spec.annotations, ...config.annotations },
      hc.allowedAnnotations,
    );
    const stopSignal = signalNumber(
      config.stopSignal ?? spec.annotations?.["org.opencontainers.image.stopSignal"] ??
        hc.stopSignal ?? 15,
    );
    const r: ContainerRecord = {
      id: config.id,
      name: config.name ?? config.id,
      handler,
      bundle: config.bundle.startsWith("/") ? config.bundle : `${Deno.cwd()}/${config.bundle}`,
      logPath: config.logPath ?? `${this.root}/logs/${config.id}.log`,
      created: new Date().toISOString(),
      status: "created",
      stopSignal,
      terminal: spec.process?.terminal ?? false,
      stdin: config.stdin ?? false,
      annotations,
      logSizeMax: config.logSizeMax ?? hc.logSizeMax ?? -1,
    };
    this.#records.set(r.id, r);
    const signals = [AbortSignal.timeout(opts.timeout ?? CONTAINER_CREATE_TIMEOUT)];
    if (opts.signal) signals.push(opts.signal);
    try {
      await this.#locked(r.id, async () => {
        await this.#store.save(r);
        await this.runtimeImpl(r).createContainer(r, AbortSignal.any(signals));
        await this.#store.save(r);
      });
    } catch (e) {
      this.#records.delete(r.id);
      await this.#store.remove(r.id);
      throw e;
    }
    return structuredClone(r);
  }

  /** Starts a created container. */
  startContainer(id: string): Promise<void> {
    return this.#op(id, (r, impl) => impl.startContainer(r));
  }

  /**
   * Stops a container: its stop signal, `timeoutSeconds` of grace, then SIGKILL retried with
   * backoff. A paused container is thawed first. A process that outlives the SIGKILLs (stuck in
   * the kernel, `D` state) is reported with a StopError.
   */
  stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    return this.#op(id, async (r, impl) => {
      if (r.status === "stopped" || !isAlive(r.pid, r.startTime)) {
        await impl.updateContainerStatus(r);
        return;
      }
      if (r.status === "paused") await impl.unpauseContainer(r).catch(() => {});
      await stopLoop({
        id: r.id,
        pid: r.pid!,
        signal: (sig) => impl.signalContainer(r, sig, sig === 9),
        alive: () => isAlive(r.pid, r.startTime),
        state: () => processState(r.pid!),
        waitExit: (ms) => waitForExit(r.pid!, r.startTime, AbortSignal.timeout(ms)),
      }, {
        stopSignal: r.stopSignal,
        graceMs: Math.max(0, timeoutSeconds) * 1000,
        killTimeoutMs: this.#stopKillTimeout,
      });
      await impl.updateContainerStatus(r);
    });
  }

  /** Deletes a container (killing it if it runs) and its record. */
  deleteContainer(id: string): Promise<void> {
    return this.#locked(id, async () => {
      const r = this.#record(id);
      await this.runtimeImpl(r).deleteContainer(r);
      this.#records.delete(id);
      await this.#store.remove(id);
    });
  }

  /** Refreshes and returns the container's status, pid, exit code, finish time and OOM kill. */
  updateContainerStatus(id: string): Promise<Readonly<ContainerRecord>> {
    return this.#op(id, async (r, impl) => {
      await impl.updateContainerStatus(r);
      return structuredClone(r);
    });
  }

  /** Freezes a container. */
  pauseContainer(id: string): Promise<void> {
    return this.#op(id, (r, impl) => impl.pauseContainer(r));
  }

  /** Thaws a paused container. */
  unpauseContainer(id: string): Promise<void> {
    return this.#op(id, (r, impl) => impl.unpauseContainer(r));
  }

  /** Changes a container's resources. */
  updateContainer(id: string, resources: LinuxResources): Promise<void> {
    return this.#op(id, (r, impl) => impl.updateContainer(r, resources));
  }

  /** A container's cgroup stats. */
  containerStats(id: string): Promise<Record<string, unknown>> {
    return this.#op(id, (r, impl) => impl.containerStats(r));
  }

  /** Sends a signal (a number or a name) to a container's init. */
  signalContainer(id: string, signal: number | string): Promise<void> {
    const sig = signalNumber(signal);
    return this.#op(id, (r, impl) => impl.signalContainer(r, sig));
  }

  /** Starts `cmd` in a container with streams (a terminal with `tty`). */
  async execContainer(
    id: string,
    cmd: string[],
    opts: { tty?: boolean; stdin?: boolean } = {},
  ): Promise<ExecSession> {
    const r = this.#record(id);
    const spec = await readBundleSpec(r.bundle);
    return this.runtimeImpl(r).execContainer(r, execProcess(spec.process, cmd, !!opts.tty), opts);
  }

  /**
   * Runs `cmd` in a container to its end. After `timeoutSeconds` (<= 0: none) the process is
   * killed and the answer is exit code -1 with "command timed out"; stdout and stderr are each
   * capped at 16 MiB.
   */
  async execSyncContainer(
    id: string,
    cmd: string[],
    timeoutSeconds = 0,
  ): Promise<ExecSyncResponse> {
    const r = this.#record(id);
    const spec = await readBundleSpec(r.bundle);
    return this.runtimeImpl(r).execSyncContainer(
      r,
      execProcess(spec.process, cmd, r.terminal),
      timeoutSeconds,
    );
  }

  /** Attaches to a running container's stdio. */
  attachContainer(id: string): Promise<AttachSession> {
    const r = this.#record(id);
    return this.runtimeImpl(r).attachContainer(r);
  }

  /** Reopens a container's log file (after the caller rotated it). */
  reopenContainerLog(id: string): Promise<void> {
    return this.#op(id, (r, impl) => impl.reopenContainerLog(r));
  }

  /** Checkpoints a container with CRIU through its handler (stopping it unless `leaveRunning`). */
  checkpointContainer(id: string, opts: ManagerCheckpointOptions): Promise<void> {
    return this.#op(id, (r, impl) => impl.checkpointContainer(r, opts));
  }

  /** Restores a checkpointed container (same id, its bundle) through its handler. */
  restoreContainer(id: string, opts: ManagerRestoreOptions): Promise<void> {
    return this.#op(id, (r, impl) => impl.restoreContainer(r, opts));
  }

  /**
   * Releases the handlers. Containers of `oci` handlers go on under conmon; containers of
   * `library` handlers end with the manager.
   */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#locks.values()]);
    for (const [, h] of this.#handlers) await h.impl.close();
    for (const r of this.#records.values()) {
      if (this.#handlers.get(r.handler)?.config.type === "library" && r.status !== "stopped") {
        await this.#handlers.get(r.handler)!.impl.updateContainerStatus(r).catch(() => {});
        await this.#store.save(r).catch(() => {});
      }
    }
  }

  /** Same as {@link RuntimeManager.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Keeps the annotations a handler allows (exact keys, or prefixes ending in `*`).
 *
 * @example
 * ```ts
 * import { filterAnnotations } from "./manager.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(filterAnnotations({ "a.b/x": "1", "c": "2" }, ["a.b/*"]), { "a.b/x": "1" });
 * assert.deepEqual(filterAnnotations({ "c": "2" }, undefined), {});
 * ```
 */
export function filterAnnotations(
  annotations: Record<string, string> | undefined,
  allowed: string[] | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations ?? {})) {
    if ((allowed ?? []).some((a) => a.endsWith("*") ? k.startsWith(a.slice(0, -1)) : a === k)) {
      out[k] = v;
    }
  }
  return out;
}
