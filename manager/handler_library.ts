/**
 * The `library` runtime handler: nsinit in this process, through core's
 * {@link Factory} and {@link Container} (no runtime binary, no monitor
 * process: the fastest). The manager's process is the monitor: it holds the
 * init's stdio and writes the Kubernetes log, waits for the init through its
 * pidfd and writes the same exit file conmon writes, and marks OOM kills from
 * the cgroup's events. Containers live while the manager's process lives: a
 * new manager finds their records, kills any survivor (nothing holds its
 * stdio any more) and records how each ended.
 *
 * @module
 */

import { Console } from "../client/console.ts";
import type { Container } from "../core/container.ts";
import { Factory } from "../core/factory.ts";
import type { ContainerProcess } from "../core/process.ts";
import type { LinuxResources, Process } from "../spec/config.ts";
import { concatBytes } from "../util/bytes.ts";
import { KubernetesLogWriter } from "./k8s_log.ts";
import { isAlive, waitForExit } from "./proc.ts";
import {
  type AttachSession,
  type ExecSession,
  type ExecStreamOptions,
  type ExecSyncResponse,
  type HandlerContext,
  type ManagerCheckpointOptions,
  type ManagerRestoreOptions,
  MAX_EXEC_SYNC_SIZE,
  oomFilePath,
  readExitRecord,
  removeRecords,
  type RuntimeImpl,
  TIMED_OUT_MESSAGE,
  writeExitRecord,
} from "./runtime_impl.ts";
import type { ContainerRecord } from "./store.ts";

const enc = new TextEncoder();

/** Creates the `library` handler. */
export function libraryHandler(ctx: HandlerContext): RuntimeImpl {
  return new LibraryHandler(ctx);
}

type Stream = "stdout" | "stderr";

/** A running container this process monitors. */
interface Live {
  container: Container;
  writer: KubernetesLogWriter;
  /** Attach subscribers. */
  subscribers: Set<(stream: Stream, chunk: Uint8Array) => void>;
  stdin?: WritableStream<Uint8Array>;
  console?: Console;
  abort: AbortController;
  /** Resolves when the init's exit is recorded. */
  exited: Promise<void>;
}

class LibraryHandler implements RuntimeImpl {
  #ctx: HandlerContext;
  #factory: Factory;
  #live = new Map<string, Live>();

  constructor(ctx: HandlerContext) {
    this.#ctx = ctx;
    this.#factory = new Factory({ root: ctx.runtimeRoot, onWarning: ctx.warn });
  }

  #get(c: ContainerRecord): Live {
    const l = this.#live.get(c.id);
    if (!l) throw new Error(`container ${c.id} is not running in this manager (library handler)`);
    return l;
  }

  async createContainer(c: ContainerRecord, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await Deno.mkdir(`${this.#ctx.persistDir}/${c.id}`, { recursive: true, mode: 0o700 });
    let ptyFd: number | undefined;
    const container = await this.#factory.create(c.id, {
      bundle: c.bundle,
      stdio: c.terminal
        ? { stdin: "null", stdout: "null", stderr: "null" }
        : { stdin: c.stdin ? "piped" : "null", stdout: "piped", stderr: "piped" },
      systemdCgroup: this.#ctx.config.cgroupManager === "systemd",
      ...(c.terminal ? { onPty: (fd: number) => void (ptyFd = fd) } : {}),
    });
    try {
      signal.throwIfAborted();
      await this.#monitor(c, container, ptyFd);
    } catch (e) {
      await container.destroy({ force: true }).catch(() => {});
      await removeRecords(this.#ctx, c.id);
      throw e;
    }
    c.status = "created";
  }

  /** Holds the init's stdio, writes its log, records its exit and OOM kills. */
  async #monitor(c: ContainerRecord, container: Container, ptyFd?: number): Promise<void> {
    const init = container.init!;
    const st = container.persisted;
    c.pid = st.initPid;
    c.startTime = String(st.initStartTime);
    const writer = await KubernetesLogWriter.open(c.logPath, c.logSizeMax);
    const abort = new AbortController();
    const subscribers = new Set<(s: Stream, b: Uint8Array) => void>();
    const console = ptyFd !== undefined ? new Console(ptyFd) : undefined;
    const pump = async (stream: Stream, s?: ReadableStream<Uint8Array>) => {
      if (!s) return;
      for await (const chunk of s) {
        await writer.write(stream, chunk);
        for (const fn of subscribers) fn(stream, chunk);
      }
    };
    const pumps = Promise.allSettled([
      pump("stdout", console ? console.readable : init.stdout),
      pump("stderr", init.stderr),
    ]);
    this.#watchOom(c, container, abort.signal);
    const exited = (async () => {
      const code = await init.exitCode().catch(() => 255);
      // an OOM event is delivered around the kill: give it a moment to land
      await new Promise((r) => setTimeout(r, 100));
      await Promise.race([pumps, new Promise((r) => setTimeout(r, 2000))]);
      await writer.close();
      await writeExitRecord(this.#ctx, c.id, code);
      abort.abort();
      await console?.close();
    })();
    this.#live.set(c.id, {
      container,
      writer,
      subscribers,
      ...(init.stdin ? { stdin: init.stdin } : {}),
      ...(console ? { console } : {}),
      abort,
      exited,
    });
  }

  #watchOom(c: ContainerRecord, container: Container, signal: AbortSignal): void {
    if (!container.cgroup.capabilities?.events) return;
    (async () => {
      for await (const e of container.cgroup.events({ signal })) {
        if (e.type === "oom") await Deno.writeTextFile(oomFilePath(this.#ctx, c.id), "");
      }
    })().catch(() => {});
  }

  async startContainer(c: ContainerRecord): Promise<void> {
    await this.#get(c).container.start();
    c.status = "running";
    c.started = new Date().toISOString();
  }

  async signalContainer(c: ContainerRecord, sig: number, all = false): Promise<void> {
    await this.#get(c).container.signal(sig, { all });
  }

  async deleteContainer(c: ContainerRecord): Promise<void> {
    const l = this.#live.get(c.id);
    if (l) {
      await l.container.destroy({ force: true });
      await l.exited;
      this.#live.delete(c.id);
    } else {
      await this.#factory.load(c.id).then((ct) => ct.destroy({ force: true }), () => {});
    }
    await removeRecords(this.#ctx, c.id);
  }

  async updateContainerStatus(c: ContainerRecord): Promise<void> {
    if (c.status === "stopped" && c.exitCode !== undefined) return;
    const l = this.#live.get(c.id);
    if (l) {
      const s = await l.container.status();
      if (s !== "stopped") {
        c.status = s === "creating" ? "created" : s;
        return;
      }
      await l.exited;
    }
    if (await readExitRecord(this.#ctx, c)) return;
    c.status = "stopped";
    c.exitCode = 255;
    c.finished = new Date().toISOString();
    c.reason ??= "no exit record";
  }

  async pauseContainer(c: ContainerRecord): Promise<void> {
    await this.#get(c).container.pause();
    c.status = "paused";
  }

  async unpauseContainer(c: ContainerRecord): Promise<void> {
    await this.#get(c).container.resume();
    c.status = "running";
  }

  updateContainer(c: ContainerRecord, resources: LinuxResources): Promise<void> {
    return this.#get(c).container.set(resources);
  }

  async containerStats(c: ContainerRecord): Promise<Record<string, unknown>> {
    return { ...(await this.#get(c).container.stats()) } as Record<string, unknown>;
  }

  async execContainer(
    c: ContainerRecord,
    process: Process,
    opts: ExecStreamOptions,
  ): Promise<ExecSession> {
    const proc = await this.#get(c).container.exec(process, {
      stdio: opts.tty
        ? { stdin: "null", stdout: "null", stderr: "null" }
        : { stdin: opts.stdin ? "piped" : "null", stdout: "piped", stderr: "piped" },
    });
    const exitCode = proc.exitCode();
    if (proc.terminal) {
      const t = proc.terminal;
      return {
        terminal: { readable: t.readable, writable: t.writable, resize: (r, c) => t.resize(r, c) },
        exitCode,
      };
    }
    return {
      ...(proc.stdin ? { stdin: proc.stdin } : {}),
      ...(proc.stdout ? { stdout: proc.stdout } : {}),
      ...(proc.stderr ? { stderr: proc.stderr } : {}),
      exitCode,
    };
  }

  async execSyncContainer(
    c: ContainerRecord,
    process: Process,
    timeoutSeconds: number,
  ): Promise<ExecSyncResponse> {
    const proc: ContainerProcess = await this.#get(c).container.exec({
      ...process,
      terminal: false,
    }, {
      stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
    });
    let timedOut = false;
    const timer = timeoutSeconds > 0
      ? setTimeout(() => {
        timedOut = true;
        proc.kill(9);
      }, timeoutSeconds * 1000)
      : undefined;
    try {
      const [stdout, stderr, code] = await Promise.all([
        readCapped(proc.stdout),
        readCapped(proc.stderr),
        proc.exitCode(),
      ]);
      if (timedOut) {
        return { stdout: new Uint8Array(), stderr: enc.encode(TIMED_OUT_MESSAGE), exitCode: -1 };
      }
      return { stdout, stderr, exitCode: code };
    } finally {
      clearTimeout(timer);
    }
  }

  attachContainer(c: ContainerRecord): Promise<AttachSession> {
    const l = this.#get(c);
    let outC!: ReadableStreamDefaultController<Uint8Array>,
      errC!: ReadableStreamDefaultController<Uint8Array>;
    const stdout = new ReadableStream<Uint8Array>({ start: (ctl) => void (outC = ctl) });
    const stderr = new ReadableStream<Uint8Array>({ start: (ctl) => void (errC = ctl) });
    const fn = (s: Stream, b: Uint8Array) => (s === "stdout" ? outC : errC).enqueue(b.slice());
    l.subscribers.add(fn);
    const close = () => {
      l.subscribers.delete(fn);
      for (const ctl of [outC, errC]) {
        try {
          ctl.close();
        } catch { /* closed */ }
      }
      return Promise.resolve();
    };
    l.exited.then(close);
    const stdin = l.console?.writable ?? l.stdin;
    return Promise.resolve({
      stdout,
      stderr,
      ...(stdin ? { stdin } : {}),
      resize: (rows, cols) => Promise.resolve(l.console?.resize({ rows, cols })),
      close,
    });
  }

  async reopenContainerLog(c: ContainerRecord): Promise<void> {
    await this.#get(c).writer.reopen();
  }

  async checkpointContainer(c: ContainerRecord, opts: ManagerCheckpointOptions): Promise<void> {
    const l = this.#get(c);
    await l.container.checkpoint({
      imagePath: opts.imagePath,
      ...(opts.workPath ? { workPath: opts.workPath } : {}),
      ...(opts.leaveRunning ? { leaveRunning: true } : {}),
      ...(this.#ctx.config.criu ? { criu: this.#ctx.config.criu } : {}),
    });
    c.checkpointedAt = new Date().toISOString();
    if (!opts.leaveRunning) {
      await l.exited;
      await l.container.destroy({ force: true }).catch(() => {});
      this.#live.delete(c.id);
      await removeRecords(this.#ctx, c.id);
      c.status = "stopped";
      c.exitCode = 0;
      c.finished = c.checkpointedAt;
    }
  }

  async restoreContainer(c: ContainerRecord, opts: ManagerRestoreOptions): Promise<void> {
    const l = this.#live.get(c.id);
    if (l) {
      await l.container.destroy({ force: true }).catch(() => {});
      await l.exited;
      this.#live.delete(c.id);
    }
    await removeRecords(this.#ctx, c.id);
    await Deno.mkdir(`${this.#ctx.persistDir}/${c.id}`, { recursive: true, mode: 0o700 });
    let ptyFd: number | undefined;
    const container = await this.#factory.restore(c.id, {
      imagePath: opts.imagePath,
      bundle: c.bundle,
      ...(opts.workPath ? { workPath: opts.workPath } : {}),
      ...(this.#ctx.config.criu ? { criu: this.#ctx.config.criu } : {}),
      stdio: c.terminal
        ? { stdin: "null", stdout: "null", stderr: "null" }
        : { stdin: c.stdin ? "piped" : "null", stdout: "piped", stderr: "piped" },
      ...(c.terminal ? { onPty: (fd: number) => void (ptyFd = fd) } : {}),
    });
    delete c.exitCode;
    delete c.finished;
    delete c.oomKilled;
    await this.#monitor(c, container, ptyFd);
    c.status = "running";
    c.started = new Date().toISOString();
  }

  async adopt(c: ContainerRecord): Promise<void> {
    if (c.status === "stopped" && c.exitCode !== undefined) return;
    if (await readExitRecord(this.#ctx, c)) return;
    if (isAlive(c.pid, c.startTime)) {
      // nothing holds its stdio any more: it cannot be monitored, so it ends here
      const ct = await this.#factory.load(c.id).catch(() => undefined);
      await ct?.destroy({ force: true }).catch(() => {});
      await waitForExit(c.pid!, c.startTime, AbortSignal.timeout(10_000));
      c.exitCode = 137;
      c.reason = "ManagerRestarted";
    } else {
      c.exitCode = 255;
      c.reason = "ManagerRestarted: the exit code was lost with the manager";
      await this.#factory.load(c.id).then((ct) => ct.destroy({ force: true }), () => {});
    }
    c.status = "stopped";
    c.finished = new Date().toISOString();
  }

  async close(): Promise<void> {
    for (const [id, l] of this.#live) {
      await l.container.destroy({ force: true }).catch(() => {});
      await l.exited.catch(() => {});
      this.#live.delete(id);
    }
  }
}

/** Reads a stream to its end, keeping at most 16 MiB (the rest is read and dropped). */
async function readCapped(s?: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  if (!s) return new Uint8Array();
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of s) {
    if (size >= MAX_EXEC_SYNC_SIZE) continue;
    const keep = chunk.subarray(0, MAX_EXEC_SYNC_SIZE - size);
    parts.push(keep.slice());
    size += keep.length;
  }
  return concatBytes(parts);
}
