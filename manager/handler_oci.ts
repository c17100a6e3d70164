/**
 * The `oci` runtime handler: a runtime binary (runc, crun, nsinit's CLI)
 * driven through {@link OciRuntimeClient}, with Debian's conmon as the monitor,
 * started and spoken to the way CRI-O's `runtime_oci.go` does it:
 *
 * - create: `conmon -b BUNDLE -c ID -u ID -n NAME -r RUNTIME --runtime-arg --root=R
 *   --exit-dir D -l LOG -P CONMON_PIDFILE -p BUNDLE/pidfile --persist-dir P
 *   --socket-dir-path S [--log-size-max N] [-t | -i] [-s]`, its working directory
 *   the bundle, `_OCI_SYNCPIPE=3` and `_OCI_STARTPIPE=4`; one byte on the start
 *   pipe lets it go; it double-forks (the first process is reaped), runs the
 *   runtime's `create`, and reports `{"pid": N}` (or -1 and a message) on the
 *   sync pipe. It then holds the container's stdio, writes the Kubernetes log,
 *   serves the attach socket `S/ID/attach`, writes `D/ID` with the exit code
 *   and an `oom` file in P/ID when the OOM killer fires.
 * - execSync: `conmon -e --sync -c ID -n NAME -r RUNTIME -p PIDFILE -l LOG
 *   --exec-process-spec F [-T SECONDS] --log-global-size-max N`, the exit code
 *   (or -1 and "command timed out") on the sync pipe, output from the log.
 * - resize and log reopen: `1 ROWS COLS` and `2 0 0` lines on BUNDLE/ctl.
 * - everything else: the runtime's own commands.
 *
 * @module
 */

import { ConsoleSocket } from "../client/console.ts";
import { OciRuntimeClient, OciRuntimeError } from "../client/client.ts";
import { PipeIO } from "../client/io.ts";
import { closeFd, lookPath, makePipe, O, openFd, RawFd, spawnProcess } from "../client/process.ts";
import { exitCode as shellExitCode } from "../native/reaper.ts";
import { check, cstr, native } from "../native/ffi.ts";
import type { LinuxResources, Process } from "../spec/config.ts";
import { joinEntries, parseKubernetesLog } from "./k8s_log.ts";
import { isAlive, processStartTime, waitForExit } from "./proc.ts";
import {
  type AttachSession,
  type ExecSession,
  type ExecStreamOptions,
  type ExecSyncResponse,
  type HandlerContext,
  type ManagerCheckpointOptions,
  type ManagerRestoreOptions,
  MAX_EXEC_SYNC_SIZE,
  readExitRecord,
  removeRecords,
  type RuntimeImpl,
  TIMED_OUT_MESSAGE,
} from "./runtime_impl.ts";
import type { ContainerRecord } from "./store.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** conmon's limit for an execSync log: both streams' 16 MiB plus the entries' prefixes. */
const EXEC_SYNC_LOG_MAX = 2 * MAX_EXEC_SYNC_SIZE + 8 * 1024 * 1024;

/** Creates the `oci` handler. */
export function ociHandler(ctx: HandlerContext): RuntimeImpl {
  return new OciHandler(ctx);
}

class OciHandler implements RuntimeImpl {
  #ctx: HandlerContext;
  #client: OciRuntimeClient;
  #monitor: string;

  constructor(ctx: HandlerContext) {
    this.#ctx = ctx;
    this.#client = new OciRuntimeClient({
      command: ctx.config.runtimePath ?? "runc",
      root: ctx.runtimeRoot,
      systemdCgroup: ctx.config.cgroupManager === "systemd",
      ...(ctx.config.criu ? { criu: ctx.config.criu } : {}),
    });
    this.#monitor = lookPath(ctx.config.monitorPath ?? "conmon");
  }

  #env(): Record<string, string> {
    const env: Record<string, string> = { ...this.#ctx.config.monitorEnv };
    env.PATH ??= Deno.env.get("PATH") ??
      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    const xdg = Deno.env.get("XDG_RUNTIME_DIR");
    if (xdg) env.XDG_RUNTIME_DIR = xdg;
    env._OCI_SYNCPIPE = "3";
    env._OCI_STARTPIPE = "4";
    return env;
  }

  #runtimeArgs(): string[] {
    return [
      "-r",
      this.#client.path,
      "--runtime-arg",
      `--root=${this.#ctx.runtimeRoot}`,
      ...(this.#ctx.config.cgroupManager === "systemd" ? ["-s"] : []),
    ];
  }

  /**
   * Starts conmon with the sync and start pipes, lets it go, waits for its first process.
   * Returns the sync pipe's read end (the caller closes it) and conmon's first exit status.
   */
  async #conmon(args: string[], cwd: string | undefined, stdout: number, stderr: number) {
    const [syncR, syncW] = makePipe();
    const [startR, startW] = makePipe();
    const nul = openFd("/dev/null", O.RDWR);
    let child;
    try {
      child = spawnProcess(this.#monitor, {
        args: [this.#monitor, ...args],
        env: this.#env(),
        ...(cwd ? { cwd } : {}),
        fds: [nul, stdout, stderr, syncW, startR],
      });
    } catch (e) {
      [syncR, startW].forEach(closeFd);
      throw e;
    } finally {
      [syncW, startR, nul].forEach(closeFd);
    }
    const start = new RawFd(startW);
    await start.write(new Uint8Array([0])).catch(() => {});
    await start.close();
    return { sync: new RawFd(syncR), child };
  }

  async createContainer(
    c: ContainerRecord,
    signal: AbortSignal,
    restore?: ManagerRestoreOptions,
  ): Promise<void> {
    const persist = `${this.#ctx.persistDir}/${c.id}`;
    await Deno.mkdir(persist, { recursive: true, mode: 0o700 });
    await Deno.mkdir(this.#ctx.exitsDir, { recursive: true, mode: 0o700 });
    await Deno.mkdir(this.#ctx.attachDir, { recursive: true, mode: 0o700 });
    await Deno.mkdir(this.#ctx.runtimeRoot, { recursive: true, mode: 0o700 });
    for (const f of ["attach", "ctl", "winsz", "oom", "pidfile"]) {
      await Deno.remove(`${c.bundle}/${f}`).catch(() => {});
    }
    const args = [
      "-b",
      c.bundle,
      "-c",
      c.id,
      "--exit-dir",
      this.#ctx.exitsDir,
      "-l",
      c.logPath,
      "--log-level",
      "error",
      "-n",
      c.name,
      "-P",
      `${persist}/conmon-pidfile`,
      "-p",
      `${c.bundle}/pidfile`,
      "--persist-dir",
      persist,
      ...this.#runtimeArgs(),
      "--socket-dir-path",
      this.#ctx.attachDir,
      "-u",
      c.id,
    ];
    if (c.logSizeMax > 0) args.push("--log-size-max", String(c.logSizeMax));
    if (c.terminal) args.push("-t");
    else if (c.stdin) args.push("--leave-stdin-open", "-i");
    if (restore) {
      args.push("--restore", restore.imagePath);
      if (restore.workPath) args.push("--runtime-opt", `--work-path=${restore.workPath}`);
    }
    const errFd = openFd(`${persist}/conmon.stderr`, O.WRONLY | O.CREAT | O.APPEND);
    let sync: RawFd | undefined;
    try {
      const started = await this.#conmon(args, c.bundle, errFd, errFd);
      sync = started.sync;
      const first = shellExitCode(await started.child.status);
      if (first !== 0) {
        throw new Error(`conmon exited with status ${first}: ${await this.#stderr(persist)}`);
      }
      const msg = await readSyncMessage(sync, signal);
      if (!msg || typeof msg.pid !== "number" || msg.pid <= 0) {
        const why = msg?.message ?? (await this.#stderr(persist) || "no message from conmon");
        throw new Error(`container ${restore ? "restore" : "create"} failed: ${why}`);
      }
      c.pid = msg.pid;
      const st = processStartTime(msg.pid);
      if (st !== undefined) c.startTime = st;
      c.status = restore ? "running" : "created";
      if (restore) c.started = new Date().toISOString();
    } catch (e) {
      await this.#killMonitor(c);
      await this.#client.delete(c.id, { force: true, timeout: 30_000 }).catch(() => {});
      await removeRecords(this.#ctx, c.id);
      throw e;
    } finally {
      closeFd(errFd);
      await sync?.close();
    }
  }

  async #stderr(persist: string): Promise<string> {
    return (await Deno.readTextFile(`${persist}/conmon.stderr`).catch(() => "")).trim().split("\n")
      .at(-1) ?? "";
  }

  /** SIGKILLs the container's conmon (if it still runs as the one recorded in its pid file). */
  async #killMonitor(c: ContainerRecord): Promise<void> {
    const pid = Number(
      await Deno.readTextFile(`${this.#ctx.persistDir}/${c.id}/conmon-pidfile`).catch(() => "0"),
    );
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid, undefined)) return;
    const fd = native().nsi_pidfd_open(pid);
    if (fd < 0) return;
    native().nsi_pidfd_signal(fd, 9);
    native().nsi_close(fd);
    await waitForExit(pid, undefined, AbortSignal.timeout(5000));
  }

  async startContainer(c: ContainerRecord): Promise<void> {
    await this.#client.start(c.id);
    c.status = "running";
    c.started = new Date().toISOString();
  }

  async signalContainer(c: ContainerRecord, sig: number, all = false): Promise<void> {
    await this.#client.kill(c.id, sig, { all });
  }

  async deleteContainer(c: ContainerRecord): Promise<void> {
    await this.#client.delete(c.id, { force: true }).catch((e) => {
      if (!(e instanceof OciRuntimeError && /not exist|does not exist|no such/i.test(e.message))) {
        throw e;
      }
    });
    // conmon writes the exit file once it has reaped the container: let it finish first
    const pid = Number(
      await Deno.readTextFile(`${this.#ctx.persistDir}/${c.id}/conmon-pidfile`).catch(() => "0"),
    );
    if (pid > 0) await waitForExit(pid, undefined, AbortSignal.timeout(10_000));
    await removeRecords(this.#ctx, c.id);
  }

  async updateContainerStatus(c: ContainerRecord): Promise<void> {
    if (c.status === "stopped" && c.exitCode !== undefined) return;
    let runtimeStatus: string | undefined;
    try {
      runtimeStatus = (await this.#client.state(c.id)).status;
    } catch { /* gone from the runtime: the exit file says how it ended */ }
    if (runtimeStatus && runtimeStatus !== "stopped" && isAlive(c.pid, c.startTime)) {
      c.status = runtimeStatus as ContainerRecord["status"];
      return;
    }
    // stopped: conmon writes the exit file once it has reaped the init (CRI-O waits ~3 s)
    for (let delay = 50; delay < 1600; delay *= 2) {
      if (await readExitRecord(this.#ctx, c)) return;
      await new Promise((r) => setTimeout(r, delay));
    }
    if (await readExitRecord(this.#ctx, c)) return;
    c.status = "stopped";
    c.exitCode = 255;
    c.finished = new Date().toISOString();
    c.reason = "no exit file from the monitor";
  }

  async pauseContainer(c: ContainerRecord): Promise<void> {
    await this.#client.pause(c.id);
    c.status = "paused";
  }

  async unpauseContainer(c: ContainerRecord): Promise<void> {
    await this.#client.resume(c.id);
    c.status = "running";
  }

  async updateContainer(c: ContainerRecord, resources: LinuxResources): Promise<void> {
    await this.#client.update(c.id, resources);
  }

  containerStats(c: ContainerRecord): Promise<Record<string, unknown>> {
    return this.#client.stats(c.id);
  }

  async execContainer(
    c: ContainerRecord,
    process: Process,
    opts: ExecStreamOptions,
  ): Promise<ExecSession> {
    if (opts.tty) {
      // The runtime sends the pty master to our console socket and detaches; the process is
      // not our child, so its end is seen through a pidfd and its exit code is not known.
      const socket = await ConsoleSocket.temp();
      const dir = await Deno.makeTempDir({ prefix: "nsinit-exec-" });
      try {
        await this.#client.exec(c.id, process, {
          consoleSocket: socket,
          detach: true,
          pidFile: `${dir}/pid`,
        });
        const con = await socket.receiveMaster({ timeout: 30_000 });
        const pid = Number(await Deno.readTextFile(`${dir}/pid`));
        const start = processStartTime(pid);
        return {
          terminal: {
            readable: con.readable,
            writable: con.writable,
            resize: (rows, cols) => con.resize({ rows, cols }),
          },
          exitCode: waitForExit(pid, start).then(() => undefined),
        };
      } finally {
        await socket.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
    const io = PipeIO.create({
      uid: process.user?.uid ?? 0,
      gid: process.user?.gid ?? 0,
      stdin: !!opts.stdin,
    });
    const done = this.#client.exec(c.id, process, { io }).then(
      () => 0,
      (e) => e instanceof OciRuntimeError ? e.exitStatus : Promise.reject(e),
    );
    return {
      ...(io.stdin ? { stdin: io.stdin } : {}),
      ...(io.stdout ? { stdout: io.stdout } : {}),
      ...(io.stderr ? { stderr: io.stderr } : {}),
      exitCode: done,
    };
  }

  async execSyncContainer(
    c: ContainerRecord,
    process: Process,
    timeoutSeconds: number,
  ): Promise<ExecSyncResponse> {
    const dir = await Deno.makeTempDir({ prefix: "nsinit-execsync-" });
    const out = openFd(`${dir}/conmon.out`, O.WRONLY | O.CREAT);
    let sync: RawFd | undefined;
    try {
      await Deno.writeTextFile(`${dir}/process.json`, JSON.stringify(process));
      const args = [
        "-c",
        c.id,
        "-n",
        c.name,
        ...this.#runtimeArgs(),
        "-p",
        `${dir}/pidfile`,
        "-e",
        "-l",
        `${dir}/exec.log`,
        "--socket-dir-path",
        this.#ctx.attachDir,
        "--log-level",
        "error",
        "--sync",
        "--log-global-size-max",
        String(EXEC_SYNC_LOG_MAX),
        "--exec-process-spec",
        `${dir}/process.json`,
      ];
      if (process.terminal) args.push("-t");
      if (timeoutSeconds > 0) args.push("-T", String(Math.ceil(timeoutSeconds)));
      const started = await this.#conmon(args, undefined, out, out);
      sync = started.sync;
      await started.child.status;
      const msgs = await readAllSyncMessages(sync);
      const last = msgs.findLast((m) => typeof m.exit_code === "number");
      if (last?.exit_code === -1 && last.message === TIMED_OUT_MESSAGE) {
        return { stdout: new Uint8Array(), stderr: enc.encode(TIMED_OUT_MESSAGE), exitCode: -1 };
      }
      if (!last || last.exit_code === -1) {
        const why = last?.message ??
          (await Deno.readTextFile(`${dir}/conmon.out`).catch(() => "")).trim();
        throw new Error(`exec in container ${c.id} failed: ${why || "no exit code from conmon"}`);
      }
      const log = await Deno.readTextFile(`${dir}/exec.log`).catch(() => "");
      const { stdout, stderr } = joinEntries(parseKubernetesLog(log));
      return {
        stdout: cap(enc.encode(stdout)),
        stderr: cap(enc.encode(stderr)),
        exitCode: last.exit_code!,
      };
    } finally {
      closeFd(out);
      await sync?.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  attachContainer(c: ContainerRecord): Promise<AttachSession> {
    const path = `${this.#ctx.attachDir}/${c.id}/attach`;
    const fd = check(native().nsi_unix_connect(cstr(path), 1), "connect", path);
    const raw = new RawFd(fd);
    let outC!: ReadableStreamDefaultController<Uint8Array>,
      errC!: ReadableStreamDefaultController<Uint8Array>;
    const stdout = new ReadableStream<Uint8Array>({ start: (ctl) => void (outC = ctl) });
    const stderr = new ReadableStream<Uint8Array>({ start: (ctl) => void (errC = ctl) });
    (async () => {
      const buf = new Uint8Array(8192 + 1);
      for (;;) {
        const n = await raw.read(buf).catch(() => null);
        if (n === null) break;
        // conmon's packets: one byte naming the pipe (2 stdout, 3 stderr), then the data
        if (buf[0] === 2) outC.enqueue(buf.slice(1, n));
        else if (buf[0] === 3) errC.enqueue(buf.slice(1, n));
      }
      for (const ctl of [outC, errC]) {
        try {
          ctl.close();
        } catch { /* closed */ }
      }
    })();
    const stdin = c.stdin || c.terminal
      ? new WritableStream<Uint8Array>({
        write: (chunk) => raw.write(chunk),
        close: () => void native().nsi_shutdown_write(fd),
      })
      : undefined;
    return Promise.resolve({
      stdout,
      stderr,
      ...(stdin ? { stdin } : {}),
      resize: (rows: number, cols: number) => this.#control(c, `1 ${rows} ${cols}\n`),
      close: () => raw.close(),
    });
  }

  /** Writes a line to conmon's control FIFO (BUNDLE/ctl). */
  async #control(c: ContainerRecord, line: string): Promise<void> {
    const f = await Deno.open(`${c.bundle}/ctl`, { write: true });
    try {
      await f.write(enc.encode(line));
    } finally {
      f.close();
    }
  }

  async reopenContainerLog(c: ContainerRecord): Promise<void> {
    await this.#control(c, "2 0 0\n");
    // conmon reopens the path (creating it if it was moved away)
    for (let i = 0; i < 200; i++) {
      try {
        await Deno.stat(c.logPath);
        return;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`container ${c.id}: conmon did not reopen ${c.logPath}`);
  }

  async checkpointContainer(c: ContainerRecord, opts: ManagerCheckpointOptions): Promise<void> {
    await this.#client.checkpoint(c.id, {
      imagePath: opts.imagePath,
      workDir: opts.workPath ?? opts.imagePath,
      fileLocks: true,
      ...(opts.leaveRunning ? { leaveRunning: true } : {}),
    });
    c.checkpointedAt = new Date().toISOString();
    if (!opts.leaveRunning) {
      // conmon saw the init end; its exit file is not this checkpoint's result
      await this.#killMonitor(c);
      await removeRecords(this.#ctx, c.id);
      c.status = "stopped";
      c.exitCode = 0;
      c.finished = c.checkpointedAt;
    }
  }

  async restoreContainer(c: ContainerRecord, opts: ManagerRestoreOptions): Promise<void> {
    await Deno.stat(`${opts.imagePath}/inventory.img`).catch(() => {
      throw new Error(`a complete checkpoint cannot be found in ${opts.imagePath}`);
    });
    await this.#client.delete(c.id, { force: true }).catch(() => {});
    delete c.exitCode;
    delete c.finished;
    delete c.oomKilled;
    await this.createContainer(c, AbortSignal.timeout(240_000), opts);
  }

  async adopt(c: ContainerRecord): Promise<void> {
    if (c.status === "stopped" && c.exitCode !== undefined) return;
    if (isAlive(c.pid, c.startTime)) return; // conmon still watches it
    await this.updateContainerStatus(c);
  }

  close(): Promise<void> {
    return Promise.resolve(); // conmon keeps the containers: they outlive the manager
  }
}

interface SyncMessage {
  pid?: number;
  exit_code?: number;
  message?: string;
}

/** Reads the first JSON message from conmon's sync pipe (null at EOF). */
async function readSyncMessage(sync: RawFd, signal: AbortSignal): Promise<SyncMessage | null> {
  const stop = () => sync.close();
  signal.addEventListener("abort", stop, { once: true });
  try {
    let text = "";
    const buf = new Uint8Array(4096);
    while (!text.includes("\n")) {
      const n = await sync.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
    }
    signal.throwIfAborted();
    const line = text.split("\n")[0].trim();
    return line ? JSON.parse(line) as SyncMessage : null;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/** Reads every JSON message until EOF (conmon has exited). */
async function readAllSyncMessages(sync: RawFd): Promise<SyncMessage[]> {
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await sync.read(buf);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n));
  }
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as SyncMessage);
}

function cap(b: Uint8Array): Uint8Array {
  return b.length > MAX_EXEC_SYNC_SIZE ? b.slice(0, MAX_EXEC_SYNC_SIZE) : b;
}
