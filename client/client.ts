/**
 * {@link OciRuntimeClient}: drives any OCI runtime binary (runc, crun,
 * nsinit's own CLI) from Deno, as containerd's go-runc does from Go: the same
 * fields, the same commands and options objects, without the context argument
 * (every options object takes an `AbortSignal` and a timeout instead).
 *
 * @module
 */

import type { LinuxResources, Process } from "../spec/config.ts";
import { signalByName } from "../nsinit/signals.ts";
import { exitCode } from "../native/reaper.ts";
import type { ConsoleSocket, PidfdSocket } from "./console.ts";
import type { RuntimeIO } from "./io.ts";
import {
  lastErrorLine,
  parsePsOutput,
  parseVersion,
  type RuntimeVersion,
  type TopResults,
} from "./parse.ts";
import {
  type ChildProcess,
  closeFd,
  killTree,
  lookPath,
  makePipe,
  O,
  openFd,
  RawFd,
  spawnProcess,
} from "./process.ts";

/** A failed runtime command: its exit status and the runtime's own error message. */
export class OciRuntimeError extends Error {
  /** The runtime binary. */
  readonly command: string;
  /** The arguments it was given (global flags included). */
  readonly args: string[];
  /** Its exit status (128 + signal if a signal ended it). */
  readonly exitStatus: number;
  /** The last error the runtime wrote to its JSON log, if any. */
  readonly logMessage?: string;
  /** What it wrote to stderr (when the client captured it). */
  readonly stderr: string;

  /**
   * Makes the error; the message is the log's error, else stderr's last line.
   *
   * @example
   * ```ts
   * import { OciRuntimeError } from "./client.ts";
   * import assert from "node:assert/strict";
   *
   * const e = new OciRuntimeError({
   *   command: "runc", args: ["--root", "/r", "start", "c1"], exitStatus: 1,
   *   logMessage: "container c1 does not exist", stderr: "",
   * });
   * assert.equal(e.message, "runc start: container c1 does not exist (exit status 1)");
   * ```
   */
  constructor(
    opts: {
      command: string;
      args: string[];
      exitStatus: number;
      logMessage?: string;
      stderr: string;
    },
  ) {
    const sub =
      opts.args.find((a, i) => SUBCOMMANDS.has(a) && !opts.args[i - 1]?.startsWith("--")) ?? "";
    const lastStderr = opts.stderr.trim().split("\n").filter(Boolean).at(-1);
    const why = opts.logMessage ?? lastStderr ?? "failed";
    const name = opts.command.split("/").at(-1);
    super(`${name}${sub ? " " + sub : ""}: ${why} (exit status ${opts.exitStatus})`);
    this.name = "OciRuntimeError";
    this.command = opts.command;
    this.args = opts.args;
    this.exitStatus = opts.exitStatus;
    if (opts.logMessage !== undefined) this.logMessage = opts.logMessage;
    this.stderr = opts.stderr;
  }
}

const SUBCOMMANDS = new Set([
  "list",
  "state",
  "create",
  "start",
  "run",
  "exec",
  "delete",
  "kill",
  "pause",
  "resume",
  "ps",
  "events",
  "update",
  "checkpoint",
  "restore",
  "features",
  "--version",
]);

/** Cancellation and time limit, taken by every call. */
export interface CallOptions {
  /** Cancels the call: the runtime process (and anything it started for this call) is killed. */
  signal?: AbortSignal;
  /** Cancels the call after this many milliseconds. */
  timeout?: number;
}

/** How the client runs the runtime: go-runc's `Runc` fields. */
export interface OciRuntimeClientOptions {
  /** The runtime binary, a name looked up in PATH or a path; default `runc`. */
  command?: string;
  /** `--root`: the runtime's state directory. */
  root?: string;
  /** `--debug`. */
  debug?: boolean;
  /** `--log`: the runtime's log file. Unset, each call gets a private JSON log it reads errors from. */
  log?: string;
  /** `--log-format`. */
  logFormat?: "text" | "json";
  /** `--systemd-cgroup`. */
  systemdCgroup?: boolean;
  /** `--rootless=true|false`; unset lets the runtime detect it. */
  rootless?: boolean;
  /** `--criu`: the criu binary. */
  criu?: string;
  /** A signal the runtime process gets if this process dies (Linux's parent-death signal). */
  pdeathSignal?: number | string;
  /** Start each runtime process in a new process group. */
  setpgid?: boolean;
  /** The runtime process's working directory. */
  workDir?: string;
  /** Flags added after the global flags of every command. */
  extraArgs?: string[];
  /** Environment added to (and overriding) this process's for the runtime (NOTIFY_SOCKET is dropped). */
  env?: Record<string, string>;
}

/** Options that start a process: go-runc's `CreateOpts`. */
export interface CreateOpts extends CallOptions {
  /** The stdio of the runtime process, which the container inherits. Unset: output is captured. */
  io?: RuntimeIO;
  /** `--pid-file`: where the runtime writes the container's pid (made absolute). */
  pidFile?: string;
  /** `--console-socket`: where a container with `process.terminal` sends its pty master. */
  consoleSocket?: ConsoleSocket | { path: string };
  /** `--pidfd-socket` (runc 1.2+): where the runtime sends a pidfd of the container's process. */
  pidfdSocket?: PidfdSocket | { path: string };
  /** `--detach` (for run). */
  detach?: boolean;
  /** `--no-pivot`. */
  noPivot?: boolean;
  /** `--no-new-keyring`. */
  noNewKeyring?: boolean;
  /** Raw fds passed to the container as 3, 4, ... (`--preserve-fds N`). */
  extraFiles?: number[];
  /** Called with the runtime process's pid once it has started. */
  started?: (pid: number) => void;
  /** Flags added before the container id. */
  extraArgs?: string[];
}

/** Options of {@link OciRuntimeClient.exec}: go-runc's `ExecOpts`. */
export interface ExecOpts extends CallOptions {
  /** The exec'd process's stdio. Unset: output is captured (and put in errors). */
  io?: RuntimeIO;
  /** `--pid-file`. */
  pidFile?: string;
  /** `--console-socket`, for a process with `terminal: true`. */
  consoleSocket?: ConsoleSocket | { path: string };
  /** `--pidfd-socket`. */
  pidfdSocket?: PidfdSocket | { path: string };
  /** `--detach`: return once the process has started. */
  detach?: boolean;
  /** Called with the runtime process's pid once it has started. */
  started?: (pid: number) => void;
  /** Flags added before the container id. */
  extraArgs?: string[];
}

/** Options of {@link OciRuntimeClient.delete}: go-runc's `DeleteOpts`. */
export interface DeleteOpts extends CallOptions {
  /** `--force`: kill a running container first. */
  force?: boolean;
  /** Flags added before the container id. */
  extraArgs?: string[];
}

/** Options of {@link OciRuntimeClient.kill}: go-runc's `KillOpts`. */
export interface KillOpts extends CallOptions {
  /** `--all`: signal every process of the container. */
  all?: boolean;
  /** Flags added before the container id. */
  extraArgs?: string[];
}

/** How CRIU treats cgroups (`--manage-cgroups-mode`). */
export type CgroupMode = "soft" | "full" | "strict" | "ignore";

/** Options of {@link OciRuntimeClient.checkpoint}: go-runc's `CheckpointOpts`. */
export interface CheckpointOpts extends CallOptions {
  /** `--image-path`: where CRIU writes the images. */
  imagePath?: string;
  /** `--work-path`: CRIU's working directory (logs). */
  workDir?: string;
  /** `--parent-path`: a pre-dump's images, relative to the image path. */
  parentPath?: string;
  /** `--tcp-established`. */
  allowOpenTCP?: boolean;
  /** `--ext-unix-sk`. */
  allowExternalUnixSockets?: boolean;
  /** `--shell-job`: allow a terminal. */
  allowTerminal?: boolean;
  /** `--page-server ADDRESS:PORT`. */
  criuPageServer?: string;
  /** `--file-locks`. */
  fileLocks?: boolean;
  /** `--manage-cgroups-mode`. */
  cgroups?: CgroupMode;
  /** `--empty-ns NS` for each. */
  emptyNamespaces?: string[];
  /** `--lazy-pages`. */
  lazyPages?: boolean;
  /** A raw fd CRIU writes `\0` to once lazy pages are served (`--status-fd`). */
  statusFile?: number;
  /** `--leave-running` (go-runc's `LeaveRunning` action). */
  leaveRunning?: boolean;
  /** `--pre-dump` (go-runc's `PreDump` action). */
  preDump?: boolean;
  /** Flags added before the container id. */
  extraArgs?: string[];
}

/** Options of {@link OciRuntimeClient.restore}: go-runc's `RestoreOpts`. */
/**
 * Options of `restore`: a checkpoint's, less those only `checkpoint` has (runc's restore has no
 * `--status-fd`: the lazy-pages readiness is the checkpointing side's).
 */
export interface RestoreOpts
  extends Omit<CheckpointOpts, "leaveRunning" | "preDump" | "statusFile"> {
  /** The restored container's stdio. */
  io?: RuntimeIO;
  /** `--detach`: return once restored; otherwise resolve to its exit status. */
  detach?: boolean;
  /** `--pid-file`. */
  pidFile?: string;
  /** `--no-subreaper`. */
  noSubreaper?: boolean;
  /** `--no-pivot`. */
  noPivot?: boolean;
  /** `--console-socket`. */
  consoleSocket?: ConsoleSocket | { path: string };
  /** Called with the runtime process's pid once it has started. */
  started?: (pid: number) => void;
}

/** go-runc's checkpoint actions, for those who write `checkpoint(id, opts, leaveRunning)`. */
export type CheckpointAction = (args: string[]) => string[];
/**
 * Keeps the container running after the checkpoint (go-runc's `LeaveRunning`).
 *
 * @example
 * ```ts
 * import { leaveRunning } from "./client.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(leaveRunning(["checkpoint"]), ["checkpoint", "--leave-running"]);
 * ```
 */
export function leaveRunning(args: string[]): string[] {
  return [...args, "--leave-running"];
}

/**
 * Makes a pre-dump, completed by a later checkpoint with `parentPath` (go-runc's `PreDump`).
 *
 * @example
 * ```ts
 * import { preDump } from "./client.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(preDump(["checkpoint"]), ["checkpoint", "--pre-dump"]);
 * ```
 */
export function preDump(args: string[]): string[] {
  return [...args, "--pre-dump"];
}

/** A container as `list` and `state` describe it (the OCI state plus runc's fields). */
export interface RuntimeContainer {
  /** OCI version of the state. */
  ociVersion?: string;
  /** The container id. */
  id: string;
  /** Its init's pid (0 when stopped). */
  pid: number;
  /** created, running, paused, stopped. */
  status: string;
  /** The bundle directory. */
  bundle: string;
  /** Annotations from the config. */
  annotations?: Record<string, string>;
  /** runc: the rootfs path. */
  rootfs?: string;
  /** runc: creation time (RFC 3339). */
  created?: string;
  /** runc: the owner's user name. */
  owner?: string;
}

/** One event of `events` (runc's `types.Event`): `stats` with data, `oom`, or an error. */
export interface RuntimeEvent {
  /** `stats`, `oom`, ... */
  type: string;
  /** The container id. */
  id: string;
  /** The stats, for `stats` events. */
  data?: Record<string, unknown>;
}

/** Options of {@link OciRuntimeClient.events}. */
export interface EventsOpts extends CallOptions {
  /** Milliseconds between stats events (`--interval`); default the runtime's (5 s). */
  interval?: number;
}

/** What a finished runtime command left. */
interface Finished {
  status: number;
  stdout: string;
  stderr: string;
  logMessage?: string;
}

/** How {@link OciRuntimeClient} runs one command. */
interface ExecPlan extends CallOptions {
  io?: RuntimeIO;
  extraFiles?: number[];
  stdinData?: string;
  started?: (pid: number) => void;
  /** What else to undo when the call is cancelled (after the runtime's process tree is killed). */
  onCancel?: () => Promise<void>;
  /** Resolve (not throw) when it exits non-zero without a logged runtime error (run, restore). */
  statusIsResult?: boolean;
}

const dec = new TextDecoder();

/**
 * A client for an OCI runtime's command line (runc, crun, `nsinit`), with
 * go-runc's methods. Runtime processes are started through the native helper
 * (with their fds, a pidfd and an optional parent-death signal) and reaped
 * through pidfds; a cancelled call leaves none of them behind.
 *
 * @example Ask runc (installed by scripts/install_test_deps.sh) what it is and what it runs
 * ```ts
 * import { OciRuntimeClient } from "./client.ts";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * const runc = new OciRuntimeClient({ command: "runc", root });
 * assert.equal((await runc.version({ timeout: 10_000 })).name, "runc");
 * assert.deepEqual(await runc.list(), []);
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @example Run a container and get its exit status
 * ```ts ignore
 * import { OciRuntimeClient } from "./client.ts";
 *
 * const runc = new OciRuntimeClient({ command: "runc", root: "/run/my-engine" });
 * const status = await runc.run("job-1", "/path/to/bundle", { timeout: 60_000 });
 * await runc.delete("job-1");
 * ```
 */
export class OciRuntimeClient {
  /** The options it was made with. */
  readonly options: Readonly<OciRuntimeClientOptions>;
  #path?: string;

  /**
   * A client for `options.command` (default `runc`); nothing runs until the first call.
   *
   * @example
   * ```ts
   * import { OciRuntimeClient } from "./client.ts";
   * import assert from "node:assert/strict";
   *
   * const c = new OciRuntimeClient({ command: "runc", root: "/tmp/state", rootless: false });
   * assert.deepEqual(c.globalArgs(), ["--root", "/tmp/state", "--rootless=false"]);
   * ```
   */
  constructor(options: OciRuntimeClientOptions = {}) {
    this.options = Object.freeze({ ...options });
    if (options.pdeathSignal !== undefined) signalNumber(options.pdeathSignal);
  }

  /** The runtime binary's absolute path (looked up once). */
  get path(): string {
    return this.#path ??= lookPath(this.options.command ?? "runc");
  }

  /** The global flags every command gets, in go-runc's order. */
  globalArgs(): string[] {
    const o = this.options, out: string[] = [];
    if (o.root) out.push("--root", o.root);
    if (o.debug) out.push("--debug");
    if (o.log) out.push("--log", o.log);
    if (o.logFormat) out.push("--log-format", o.logFormat);
    if (o.criu) out.push("--criu", o.criu);
    if (o.systemdCgroup) out.push("--systemd-cgroup");
    if (o.rootless !== undefined) out.push(`--rootless=${o.rootless}`);
    if (o.extraArgs) out.push(...o.extraArgs);
    return out;
  }

  /** Every container under the root (`list --format=json`). */
  async list(opts: CallOptions = {}): Promise<RuntimeContainer[]> {
    const r = await this.#run(["list", "--format=json"], opts);
    return (JSON.parse(r.stdout.trim() || "null") ?? []) as RuntimeContainer[];
  }

  /** The container's state (`state ID`). */
  async state(id: string, opts: CallOptions = {}): Promise<RuntimeContainer> {
    return JSON.parse((await this.#run(["state", id], opts)).stdout) as RuntimeContainer;
  }

  /** Creates a container from a bundle (`create --bundle B ID`); it waits for {@link start}. */
  async create(id: string, bundle: string, opts: CreateOpts = {}): Promise<void> {
    await this.#run(["create", "--bundle", bundle, ...launchArgs(opts), id], {
      ...opts,
      onCancel: () => this.#forceDelete(id),
    });
  }

  /** Starts a created container. */
  async start(id: string, opts: CallOptions = {}): Promise<void> {
    await this.#run(["start", id], opts);
  }

  /**
   * Creates, starts and (unless `detach`) waits for a container; resolves to
   * its exit status (128 + signal if a signal ended it). A runtime failure (an
   * error in its log) throws an {@link OciRuntimeError} instead.
   */
  async run(id: string, bundle: string, opts: CreateOpts = {}): Promise<number> {
    const r = await this.#run(["run", "--bundle", bundle, ...launchArgs(opts), id], {
      ...opts,
      onCancel: () => this.#forceDelete(id),
      statusIsResult: true,
    });
    return r.status;
  }

  /**
   * Runs another process in a container, from an OCI `process` object
   * (`exec --process FILE ID`). Resolves when it exits (or, with `detach`,
   * when it has started); a non-zero exit throws, as in go-runc.
   */
  async exec(id: string, process: Process, opts: ExecOpts = {}): Promise<void> {
    const dir = await Deno.makeTempDir({ prefix: "nsinit-client-" });
    try {
      const file = `${dir}/process.json`;
      await Deno.writeTextFile(file, JSON.stringify(process));
      const args = ["exec", "--process", file];
      if (opts.consoleSocket) args.push("--console-socket", opts.consoleSocket.path);
      if (opts.pidfdSocket) args.push("--pidfd-socket", opts.pidfdSocket.path);
      if (opts.detach) args.push("--detach");
      if (opts.pidFile) args.push("--pid-file", absolute(opts.pidFile));
      if (opts.extraArgs) args.push(...opts.extraArgs);
      await this.#run([...args, id], opts);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  /** Deletes a container (`--force` kills it first if it runs). */
  async delete(id: string, opts: DeleteOpts = {}): Promise<void> {
    const args = ["delete"];
    if (opts.force) args.push("--force");
    if (opts.extraArgs) args.push(...opts.extraArgs);
    await this.#run([...args, id], opts);
  }

  /** Sends a signal (a number or a name such as `"TERM"` or `"SIGKILL"`) to the container. */
  async kill(id: string, signal: number | string, opts: KillOpts = {}): Promise<void> {
    const args = ["kill"];
    if (opts.all) args.push("--all");
    if (opts.extraArgs) args.push(...opts.extraArgs);
    await this.#run([...args, id, String(signalNumber(signal))], opts);
  }

  /** Freezes the container. */
  async pause(id: string, opts: CallOptions = {}): Promise<void> {
    await this.#run(["pause", id], opts);
  }

  /** Thaws a paused container. */
  async resume(id: string, opts: CallOptions = {}): Promise<void> {
    await this.#run(["resume", id], opts);
  }

  /** The pids of the container's processes (`ps --format json`). */
  async ps(id: string, opts: CallOptions = {}): Promise<number[]> {
    return JSON.parse(
      (await this.#run(["ps", "--format", "json", id], opts)).stdout || "[]",
    ) as number[];
  }

  /**
   * The container's processes as `ps` shows them (`ps --format table ID PS_OPTIONS`), parsed
   * into headers and rows (go-runc's `Top`). `psOptions` is a string split at spaces, or a list.
   */
  async top(
    id: string,
    psOptions: string | string[] = [],
    opts: CallOptions = {},
  ): Promise<TopResults> {
    const extra = typeof psOptions === "string"
      ? psOptions.split(/\s+/).filter(Boolean)
      : psOptions;
    return parsePsOutput((await this.#run(["ps", "--format", "table", id, ...extra], opts)).stdout);
  }

  /** One set of cgroup stats (`events --stats`): runc's `types.Stats`. */
  async stats(id: string, opts: CallOptions = {}): Promise<Record<string, unknown>> {
    const out = (await this.#run(["events", "--stats", id], opts)).stdout;
    const first = out.split("\n").find((l) => l.trim() !== "");
    if (!first) throw new SyntaxError(`${this.path} events --stats printed nothing`);
    const e = JSON.parse(first) as RuntimeEvent;
    return e.data ?? {};
  }

  /**
   * The container's events (`events --interval`): stats every interval, `oom`
   * when the kernel kills in its cgroup. Ends when the container goes away,
   * the loop breaks, or the signal aborts; the runtime process is then killed.
   */
  async *events(id: string, opts: EventsOpts = {}): AsyncGenerator<RuntimeEvent> {
    const args = ["events"];
    if (opts.interval !== undefined) args.push(`--interval=${formatDuration(opts.interval)}`);
    const [r, w] = makePipe();
    const reader = new RawFd(r);
    const child = this.#spawn([...args, id], { io: { fds: [nullFd(), w, 2] } });
    closeFd(w);
    const signal = callSignal(opts);
    const stop = () => reader.close();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      let buf = "";
      const chunk = new Uint8Array(65536);
      for (;;) {
        const n = await reader.read(chunk);
        if (n === null) break;
        buf += dec.decode(chunk.subarray(0, n), { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) yield JSON.parse(line) as RuntimeEvent;
        }
      }
      signal?.throwIfAborted();
    } finally {
      signal?.removeEventListener("abort", stop);
      await reader.close();
      child.kill(9);
      await child.status;
    }
  }

  /** Changes the container's resources (`update --resources - ID`, the JSON on stdin). */
  async update(id: string, resources: LinuxResources, opts: CallOptions = {}): Promise<void> {
    await this.#run(["update", "--resources", "-", id], {
      ...opts,
      stdinData: JSON.stringify(resources),
    });
  }

  /** Checkpoints the container with CRIU (every go-runc `CheckpointOpts` field). */
  async checkpoint(
    id: string,
    opts: CheckpointOpts = {},
    ...actions: CheckpointAction[]
  ): Promise<void> {
    let args = ["checkpoint", ...criuArgs(opts)];
    const extraFiles: number[] = [];
    if (opts.statusFile !== undefined) {
      extraFiles.push(opts.statusFile);
      args.push("--status-fd", "3");
    }
    if (opts.leaveRunning) args = leaveRunning(args);
    if (opts.preDump) args = preDump(args);
    for (const a of actions) args = a(args);
    if (opts.extraArgs) args.push(...opts.extraArgs);
    await this.#run([...args, id], { ...opts, extraFiles });
  }

  /**
   * Restores a container from a checkpoint; resolves to its exit status (0 with `detach`, once
   * it runs).
   */
  async restore(id: string, bundle: string, opts: RestoreOpts = {}): Promise<number> {
    const args = ["restore", ...criuArgs(opts)];
    if (opts.detach) args.push("--detach");
    if (opts.pidFile) args.push("--pid-file", absolute(opts.pidFile));
    if (opts.consoleSocket) args.push("--console-socket", opts.consoleSocket.path);
    if (opts.noPivot) args.push("--no-pivot");
    if (opts.noSubreaper) args.push("--no-subreaper");
    if (opts.extraArgs) args.push(...opts.extraArgs);
    const r = await this.#run([...args, "--bundle", bundle, id], {
      ...opts,
      onCancel: () => this.#forceDelete(id),
      statusIsResult: true,
    });
    return r.status;
  }

  /** The runtime's version (`--version`). */
  async version(opts: CallOptions = {}): Promise<RuntimeVersion> {
    return parseVersion((await this.#run(["--version"], opts)).stdout);
  }

  /** What the runtime supports (`features`, runtime-spec's features document). */
  async features(opts: CallOptions = {}): Promise<Record<string, unknown>> {
    return JSON.parse((await this.#run(["features"], opts)).stdout) as Record<string, unknown>;
  }

  async #forceDelete(id: string): Promise<void> {
    await this.#run(["delete", "--force", id], { timeout: 30_000 }).catch(() => {});
  }

  #env(): Record<string, string> {
    const env = { ...Deno.env.toObject(), ...this.options.env };
    delete env.NOTIFY_SOCKET;
    return env;
  }

  #spawn(
    args: string[],
    plan: { io?: { fds: readonly number[] }; extraFiles?: number[]; log?: string },
  ): ChildProcess {
    const global = this.globalArgs();
    if (plan.log !== undefined) global.push("--log", plan.log, "--log-format", "json");
    const pdeath = this.options.pdeathSignal;
    const fds = [...(plan.io?.fds ?? [0, 1, 2]), ...(plan.extraFiles ?? [])];
    return spawnProcess(this.path, {
      args: [this.path, ...global, ...args],
      env: this.#env(),
      ...(this.options.workDir !== undefined ? { cwd: this.options.workDir } : {}),
      fds,
      setpgid: this.options.setpgid ?? false,
      ...(pdeath !== undefined ? { pdeathSignal: signalNumber(pdeath) } : {}),
    });
  }

  /**
   * Runs one command: its stdio from `io`, or captured into private files; a private JSON log
   * unless the client has its own; cancellation kills the runtime's whole process tree and
   * runs `onCancel`. Throws {@link OciRuntimeError} on failure.
   */
  async #run(args: string[], plan: ExecPlan): Promise<Finished> {
    const signal = callSignal(plan);
    signal?.throwIfAborted();
    const dir = await Deno.makeTempDir({ prefix: "nsinit-client-" });
    const opened: number[] = [];
    let logOffset = 0;
    try {
      const ownLog = this.options.log === undefined && args[0] !== "--version";
      const logPath = ownLog ? `${dir}/log.json` : this.options.log;
      if (!ownLog && logPath) logOffset = await Deno.stat(logPath).then((s) => s.size, () => 0);
      let fds: [number, number, number];
      if (plan.io) {
        fds = [...plan.io.fds] as [number, number, number];
      } else {
        let stdin: number;
        if (plan.stdinData !== undefined) {
          await Deno.writeTextFile(`${dir}/stdin`, plan.stdinData);
          stdin = openFd(`${dir}/stdin`, O.RDONLY);
        } else stdin = openFd("/dev/null", O.RDONLY);
        opened.push(stdin);
        const out = openFd(`${dir}/stdout`, O.WRONLY | O.CREAT | O.TRUNC);
        opened.push(out);
        const err = openFd(`${dir}/stderr`, O.WRONLY | O.CREAT | O.TRUNC);
        opened.push(err);
        fds = [stdin, out, err];
      }
      const child = this.#spawn(args, {
        io: { fds },
        ...(plan.extraFiles ? { extraFiles: plan.extraFiles } : {}),
        ...(ownLog ? { log: `${dir}/log.json` } : {}),
      });
      opened.splice(0).forEach(closeFd);
      plan.io?.closeAfterStart();
      plan.started?.(child.pid);
      const status = await waitOrCancel(child, signal, plan.onCancel);
      const read = (f: string) => Deno.readTextFile(`${dir}/${f}`).catch(() => "");
      const stdout = plan.io ? "" : await read("stdout");
      const stderr = plan.io ? "" : await read("stderr");
      let logMessage: string | undefined;
      if (logPath && (ownLog || this.options.logFormat === "json")) {
        const log = await Deno.readFile(logPath).catch(() => new Uint8Array());
        logMessage = lastErrorLine(dec.decode(log.subarray(logOffset)));
      }
      if (status !== 0 && !(plan.statusIsResult && logMessage === undefined)) {
        throw new OciRuntimeError({
          command: this.path,
          args: [...this.globalArgs(), ...args],
          exitStatus: status,
          ...(logMessage !== undefined ? { logMessage } : {}),
          stderr,
        });
      }
      return { status, stdout, stderr, ...(logMessage !== undefined ? { logMessage } : {}) };
    } finally {
      opened.forEach(closeFd);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

/** Waits for the runtime process; on abort kills its process tree, reaps it, runs `onCancel`, throws. */
async function waitOrCancel(
  child: ChildProcess,
  signal: AbortSignal | undefined,
  onCancel?: () => Promise<void>,
): Promise<number> {
  if (!signal) return exitCode(await child.status);
  let onAbort!: () => void;
  const aborted = new Promise<"aborted">((resolve) => {
    onAbort = () => resolve("aborted");
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const first = await Promise.race([child.status, aborted]);
    if (first !== "aborted") return exitCode(first);
    if (!child.exited) killTree(child.pid);
    await child.status;
    await onCancel?.();
    throw signal.reason;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

function callSignal(o: CallOptions): AbortSignal | undefined {
  const s: AbortSignal[] = [];
  if (o.signal) s.push(o.signal);
  if (o.timeout !== undefined) {
    if (!(o.timeout >= 0)) throw new RangeError(`invalid timeout ${o.timeout}`);
    s.push(AbortSignal.timeout(o.timeout));
  }
  return s.length === 0 ? undefined : s.length === 1 ? s[0] : AbortSignal.any(s);
}

function launchArgs(o: CreateOpts): string[] {
  const out: string[] = [];
  if (o.pidFile) out.push("--pid-file", absolute(o.pidFile));
  if (o.consoleSocket) out.push("--console-socket", o.consoleSocket.path);
  if (o.pidfdSocket) out.push("--pidfd-socket", o.pidfdSocket.path);
  if (o.noPivot) out.push("--no-pivot");
  if (o.noNewKeyring) out.push("--no-new-keyring");
  if (o.detach) out.push("--detach");
  if (o.extraFiles && o.extraFiles.length > 0) {
    out.push("--preserve-fds", String(o.extraFiles.length));
  }
  if (o.extraArgs) out.push(...o.extraArgs);
  return out;
}

function criuArgs(o: Omit<CheckpointOpts, "leaveRunning" | "preDump">): string[] {
  const out: string[] = [];
  if (o.imagePath) out.push("--image-path", o.imagePath);
  if (o.workDir) out.push("--work-path", o.workDir);
  if (o.parentPath) out.push("--parent-path", o.parentPath);
  if (o.allowOpenTCP) out.push("--tcp-established");
  if (o.allowExternalUnixSockets) out.push("--ext-unix-sk");
  if (o.allowTerminal) out.push("--shell-job");
  if (o.criuPageServer) out.push("--page-server", o.criuPageServer);
  if (o.fileLocks) out.push("--file-locks");
  if (o.cgroups) out.push("--manage-cgroups-mode", o.cgroups);
  for (const ns of o.emptyNamespaces ?? []) out.push("--empty-ns", ns);
  if (o.lazyPages) out.push("--lazy-pages");
  return out;
}

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}

function formatDuration(ms: number): string {
  if (!(ms > 0)) throw new RangeError(`invalid events interval ${ms} ms`);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

/**
 * A signal number from a number or a name (`9`, `"KILL"`, `"SIGKILL"`, `"sigterm"`).
 *
 * @example
 * ```ts
 * import { signalNumber } from "./client.ts";
 * import assert from "node:assert/strict";
 * assert.equal(signalNumber("term"), 15);
 * assert.equal(signalNumber("SIGKILL"), 9);
 * assert.equal(signalNumber(10), 10);
 * assert.throws(() => signalNumber("NOPE"), RangeError);
 * ```
 */
export function signalNumber(sig: number | string): number {
  if (typeof sig === "number" || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (Number.isInteger(n) && n >= 1 && n <= 64) return n;
  } else {
    const n = signalByName(sig);
    if (n !== undefined) return n;
  }
  throw new RangeError(`unknown signal ${JSON.stringify(sig)}`);
}

let devNull = -1;
function nullFd(): number {
  if (devNull < 0) devNull = openFd("/dev/null", O.RDWR);
  return devNull;
}
