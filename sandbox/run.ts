/**
 * Running a command in a sandbox from a program: {@linkcode spawnSandbox}
 * streams its stdio, {@linkcode runSandbox} collects its output. The same
 * settings as `nsinit sandbox` and its profile file (see sandbox/profile.ts).
 *
 * @module
 */

import { Factory } from "../core/factory.ts";
import type { Container } from "../core/container.ts";
import type { ContainerProcess } from "../core/process.ts";
import type { StdioOptions } from "../core/stdio.ts";
import { defaultRoot } from "../core/state_root.ts";
import { createCgroupManager } from "../drivers/factory.ts";
import { CgroupError, ConfigError } from "../errors.ts";
import { isDirectory } from "../util/fs.ts";
import { parseSize } from "../util/size.ts";
import { resolve } from "../util/path.ts";
import { mark } from "../util/trace.ts";
import { expandPath, readProfile, type SandboxSettings } from "./profile.ts";
import { type ResolvedSandbox, sandboxSpec } from "./spec.ts";
import { landlockPlan, landlockSupport } from "./landlock.ts";

/** Options of {@linkcode spawnSandbox} and {@linkcode runSandbox}. */
export interface SandboxOptions extends SandboxSettings {
  /** Working directory, read-write in the sandbox; default the caller's. */
  cwd?: string;
  /** A profile file whose settings come first (lists extend, values are overridden by these options). */
  profile?: string;
  /** Standard streams; default inherit (spawnSandbox) or piped stdout/stderr (runSandbox). */
  stdio?: StdioOptions;
  /** Give the command a terminal (read and write it through `SandboxProcess.terminal`). */
  terminal?: boolean;
  /** State directory; default `$XDG_RUNTIME_DIR/nsinit` (or /run/nsinit for root), else a temp dir. */
  root?: string;
  /** Hears warnings (Landlock unavailable, ...). Default: ignored. */
  onWarning?: (msg: string) => void;
  /** Aborting kills the command. */
  signal?: AbortSignal;
}

/** How a sandboxed command ended. */
export interface SandboxStatus {
  /** Shell-style exit code: the code, or 128 + signal. With a timeout: 124, as timeout(1). */
  code: number;
  /** The `timeout` ended it. */
  timedOut: boolean;
}

/** A sandboxed command's status and collected output. */
export interface SandboxOutput extends SandboxStatus {
  /** Standard output (piped), as text. */
  stdout: string;
  /** Standard error (piped), as text. */
  stderr: string;
}

/** Exit code of a command the timeout ended (as timeout(1)). */
export const TIMEOUT_EXIT_CODE = 124;

let seq = 0;

/** The longest delay setTimeout honours (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

function hostFacts() {
  const env = Deno.env.toObject();
  return {
    uid: Deno.uid() ?? 0,
    gid: Deno.gid() ?? 0,
    ...(env.HOME ? { home: env.HOME } : {}),
    env,
    exists(p: string) {
      try {
        Deno.lstatSync(p);
        return true;
      } catch {
        return false;
      }
    },
  };
}

function positive(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!(typeof v === "number" && v > 0 && Number.isFinite(v))) {
    throw new RangeError(`sandbox: ${name} must be a positive number, got ${v}`);
  }
  return v;
}

/** Merges a profile and options into a resolved sandbox (absolute paths, numbers). */
export async function resolveSandbox(
  args: string[],
  opts: SandboxOptions,
): Promise<ResolvedSandbox & { timeout?: number; landlock?: boolean }> {
  if (!Array.isArray(args) || args.length === 0 || args.some((a) => typeof a !== "string")) {
    throw new TypeError("sandbox: the command must be a non-empty array of strings");
  }
  const prof = opts.profile ? await readProfile(opts.profile) : {};
  const home = Deno.env.get("HOME");
  const cwd = resolve(opts.cwd ?? Deno.cwd());
  const paths = (list: string[] | undefined) => (list ?? []).map((p) => expandPath(p, cwd, home));
  if (!isDirectory(cwd)) throw new ConfigError("sandbox", "cwd", `${cwd} is not a directory`);
  if (cwd === "/") {
    throw new ConfigError(
      "sandbox",
      "cwd",
      "the working directory is /, which would make the whole host writable: " +
        "run the sandbox from a project directory",
    );
  }
  const allowWrite = [...(prof.allowWrite ?? []), ...paths(opts.allowWrite)];
  for (const p of allowWrite) {
    try {
      Deno.statSync(p);
    } catch {
      throw new ConfigError("sandbox", "allowWrite", `${p}: no such file or directory`);
    }
  }
  const memory = opts.memory ?? prof.memory;
  let bytes: number | undefined;
  if (memory !== undefined) {
    try {
      bytes = typeof memory === "number" ? memory : parseSize(memory);
    } catch (e) {
      throw new ConfigError("sandbox", "memory", `"${memory}": ${(e as Error).message}`);
    }
    if (!(bytes > 0)) throw new ConfigError("sandbox", "memory", `must be positive, got ${memory}`);
  }
  const pids = positive("pids", opts.pids ?? prof.pids);
  if (pids !== undefined && !Number.isInteger(pids)) {
    throw new ConfigError("sandbox", "pids", `must be a whole number, got ${pids}`);
  }
  const out: ResolvedSandbox & { timeout?: number; landlock?: boolean } = {
    args,
    cwd,
    allowWrite,
    allowRead: [...(prof.allowRead ?? []), ...paths(opts.allowRead)],
    denyRead: [...(prof.denyRead ?? []), ...paths(opts.denyRead)],
    net: opts.net ?? prof.net ?? false,
    env: [...(prof.env ?? []), ...(opts.env ?? [])],
    seccomp: opts.seccomp ?? prof.seccomp ?? true,
    terminal: opts.terminal ?? false,
  };
  if (bytes !== undefined) out.memory = bytes;
  const cpus = positive("cpus", opts.cpus ?? prof.cpus);
  if (cpus !== undefined) out.cpus = cpus;
  if (pids !== undefined) out.pids = pids;
  const timeout = positive("timeout", opts.timeout ?? prof.timeout);
  // A timer longer than 2^31-1 ms fires at once: refuse it rather than kill the command.
  if (timeout !== undefined && timeout * 1000 > MAX_TIMER_MS) {
    throw new ConfigError(
      "sandbox",
      "timeout",
      `must be at most ${Math.floor(MAX_TIMER_MS / 1000)} seconds, got ${timeout}`,
    );
  }
  if (timeout !== undefined) out.timeout = timeout;
  const landlock = opts.landlock ?? prof.landlock;
  if (landlock !== undefined) out.landlock = landlock;
  return out;
}

/** The limit options, by the name a caller used. */
function limitNames(r: ResolvedSandbox): string[] {
  const names: string[] = [];
  if (r.memory !== undefined) names.push("memory");
  if (r.cpus !== undefined) names.push("cpus");
  if (r.pids !== undefined) names.push("pids");
  return names;
}

/**
 * A command running in a sandbox. Its stdio streams are those asked for; `status`
 * resolves when it ends, after the sandbox is cleaned up.
 */
export class SandboxProcess implements AsyncDisposable {
  /** The sandbox's pid 1 (which forwards signals to the command). */
  readonly pid: number;
  /** Write end of a piped stdin. */
  readonly stdin?: WritableStream<Uint8Array>;
  /** Read end of a piped stdout. */
  readonly stdout?: ReadableStream<Uint8Array>;
  /** Read end of a piped stderr. */
  readonly stderr?: ReadableStream<Uint8Array>;
  /** The command's terminal, with `terminal: true`. */
  readonly terminal?: ContainerProcess["terminal"];
  /** Resolves when the command has ended and the sandbox is gone. */
  readonly status: Promise<SandboxStatus>;
  #proc: ContainerProcess;

  /** @internal */
  constructor(proc: ContainerProcess, status: Promise<SandboxStatus>) {
    this.#proc = proc;
    this.pid = proc.pid;
    if (proc.stdin) this.stdin = proc.stdin;
    if (proc.stdout) this.stdout = proc.stdout;
    if (proc.stderr) this.stderr = proc.stderr;
    if (proc.terminal) this.terminal = proc.terminal;
    this.status = status;
  }

  /** Sends a signal (forwarded to the command). False when it has ended. */
  kill(signal = 15): boolean {
    return this.#proc.kill(signal);
  }

  /** Collects piped stdout and stderr as text and waits for the end. */
  async output(): Promise<SandboxOutput> {
    const text = (s?: ReadableStream<Uint8Array>) =>
      s ? new Response(s).text() : Promise.resolve("");
    const [stdout, stderr, st] = await Promise.all([
      text(this.stdout),
      text(this.stderr),
      this.status,
    ]);
    return { ...st, stdout, stderr };
  }

  /** Kills the command if still running and waits for the cleanup. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#proc.kill(9);
    await this.status.catch(() => {});
  }
}

/**
 * Starts `args` in a sandbox: the host's files read-only, the working
 * directory writable, secrets hidden, no network, Landlock and seccomp as
 * further walls, limits if asked (see docs/sandbox.md). Works for root and for
 * unprivileged users.
 *
 * @example Stream a command's output
 * ```ts ignore
 * import { spawnSandbox } from "./run.ts";
 * await using p = await spawnSandbox(["sh", "-c", "echo hi; touch /etc/x"], {
 *   stdio: { stdout: "piped", stderr: "piped" },
 * });
 * for await (const chunk of p.stdout!) console.log(new TextDecoder().decode(chunk));
 * console.log((await p.status).code); // 1: /etc is read-only
 * ```
 */
export async function spawnSandbox(
  args: string[],
  opts: SandboxOptions = {},
): Promise<SandboxProcess> {
  mark("sandbox: start");
  const r = await resolveSandbox(args, opts);
  mark("sandbox: options resolved");
  const warn = opts.onWarning ?? (() => {});
  const host = hostFacts();
  const { spec, landlock: rules } = sandboxSpec(r, host);
  let landlock;
  if (r.landlock !== false) {
    const support = await landlockSupport();
    if (support.abi > 0) {
      landlock = landlockPlan(support.abi, rules);
    } else if (r.landlock === true) {
      throw new ConfigError(
        "sandbox",
        "landlock",
        `required, but ${"reason" in support ? support.reason : ""}`,
      );
    } else {
      warn(
        `Landlock is unavailable (${"reason" in support ? support.reason : ""}): ` +
          "the sandbox relies on its mounts alone",
      );
    }
  }
  const id = `sandbox-${Deno.pid}-${Date.now().toString(36)}-${(seq++).toString(36)}`;
  const limits = limitNames(r);
  if (limits.length && host.uid !== 0) {
    const probe = await createCgroupManager({ id, rootless: true });
    if (probe.driver === "none") {
      throw new ConfigError(
        "sandbox",
        limits[0],
        `needs a cgroup, and no cgroup delegated to uid ${host.uid} is writable and no ` +
          "systemd user manager answers: on a cgroup v2 host start one (loginctl " +
          "enable-linger), or run inside a delegated cgroup v2 subtree (e.g. systemd-run " +
          `--user --scope -p Delegate=yes nsinit sandbox ...), or drop ${
            limits.map((l) => `--${l}`).join(", ")
          }`,
      );
    }
  }
  const useXdg = host.uid === 0 || Deno.env.get("XDG_RUNTIME_DIR");
  mark("sandbox: spec built, Landlock negotiated");
  const work = await Deno.makeTempDir({ prefix: "nsinit-sandbox-" });
  await Deno.mkdir(`${work}/rootfs`);
  mark("sandbox: bundle directory made");
  const root = opts.root ?? (useXdg ? defaultRoot() : `${work}/state`);
  const factory = new Factory({ root, onWarning: warn });
  let container: Container;
  try {
    container = await factory.run(id, {
      bundle: work,
      spec,
      stdio: opts.stdio ?? {},
      reaperInit: true,
      loopback: !r.net,
      // Without limits no cgroup is needed (the pid namespace holds every process), and
      // none is made: it costs a directory per hierarchy to create and remove.
      ...(limits.length ? {} : { cgroupDriver: "none" as const }),
      ...(landlock ? { landlock } : {}),
    });
  } catch (e) {
    await Deno.remove(work, { recursive: true }).catch(() => {});
    if (e instanceof CgroupError && limits.length) {
      throw new ConfigError("sandbox", limits[0], e.message);
    }
    if (e instanceof ConfigError && e.file === "config.json") {
      // The spec is ours, not the caller's: say it about the sandbox.
      throw new ConfigError("sandbox", "", e.message.slice(`config.json: ${e.field}: `.length));
    }
    throw e;
  }
  const proc = container.init!;
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (r.timeout !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      proc.kill(9);
    }, r.timeout * 1000);
  }
  const onAbort = () => proc.kill(9);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) onAbort();
  const status = (async () => {
    try {
      const code = await proc.exitCode();
      mark("sandbox: command exited");
      return { code: timedOut ? TIMEOUT_EXIT_CODE : code, timedOut };
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      await container.destroy({ force: true }).catch(() => {});
      await Deno.remove(work, { recursive: true }).catch(() => {});
      mark("sandbox: cleaned up");
    }
  })();
  return new SandboxProcess(proc, status);
}

/**
 * Runs `args` in a sandbox and collects its output (stdout and stderr piped,
 * stdin /dev/null unless `stdio` says otherwise).
 *
 * @example Run an untrusted script with Deno, and see what it could not do
 * ```ts ignore
 * import { runSandbox } from "./run.ts";
 * const r = await runSandbox(["deno", "run", "-A", "untrusted.ts"], {
 *   allowRead: ["~/.cache/deno"], memory: "512m", timeout: 30,
 * });
 * console.log(r.code, r.stdout, r.stderr, r.timedOut);
 * ```
 */
export async function runSandbox(
  args: string[],
  opts: SandboxOptions = {},
): Promise<SandboxOutput> {
  const p = await spawnSandbox(args, {
    ...opts,
    stdio: opts.stdio ?? { stdin: "null", stdout: "piped", stderr: "piped" },
  });
  return await p.output();
}
