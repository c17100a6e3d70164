/**
 * `nsinit sandbox [options] [--] COMMAND [ARGS...]`: runs a command isolated,
 * with no configuration: the host's files read-only, the current directory
 * writable, a private /tmp, a minimal /dev, a fresh /proc, no network, secrets
 * hidden, secret-looking environment variables dropped; Landlock and seccomp
 * behind the mounts. Exit code passed through, signals forwarded, a terminal
 * when stdin and stdout are one. See docs/sandbox.md.
 *
 * @module
 */

import { type SandboxOptions, spawnSandbox, TIMEOUT_EXIT_CODE } from "../../sandbox/run.ts";
import { bool, type FlagValues, list, parseFlags, str, UsageError } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { SignalForwarder, waitForeground } from "../foreground.ts";
import { writeAllSync } from "../log.ts";

const FLAGS = {
  profile: { type: "string" },
  "allow-write": { type: "string", short: "w", multiple: true },
  "allow-read": { type: "string", short: "r", multiple: true },
  "deny-read": { type: "string", multiple: true },
  net: { type: "boolean" },
  memory: { type: "string", short: "m" },
  cpus: { type: "string" },
  pids: { type: "string" },
  timeout: { type: "string", short: "t" },
  env: { type: "string", short: "e", multiple: true },
  cwd: { type: "string" },
  "no-landlock": { type: "boolean" },
  "require-landlock": { type: "boolean" },
  "no-seccomp": { type: "boolean" },
  tty: { type: "boolean" },
  "no-tty": { type: "boolean" },
} as const;

function number(values: FlagValues, flag: string): number | undefined {
  const v = str(values, flag);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`invalid value "${v}" for flag --${flag}: must be a positive number`);
  }
  return n;
}

/** The library options that the flags ask for. */
function optionsFromFlags(values: FlagValues): SandboxOptions {
  const o: SandboxOptions = {};
  const profile = str(values, "profile");
  if (profile) o.profile = profile;
  const w = list(values, "allow-write"), r = list(values, "allow-read");
  const d = list(values, "deny-read"), e = list(values, "env");
  if (w.length) o.allowWrite = w;
  if (r.length) o.allowRead = r;
  if (d.length) o.denyRead = d;
  if (e.length) o.env = e;
  if (bool(values, "net")) o.net = true;
  const memory = str(values, "memory");
  if (memory !== undefined) o.memory = memory;
  const cpus = number(values, "cpus"), pids = number(values, "pids");
  const timeout = number(values, "timeout");
  if (cpus !== undefined) o.cpus = cpus;
  if (pids !== undefined) o.pids = pids;
  if (timeout !== undefined) o.timeout = timeout;
  const cwd = str(values, "cwd");
  if (cwd) o.cwd = cwd;
  if (bool(values, "no-landlock") && bool(values, "require-landlock")) {
    throw new UsageError("--no-landlock and --require-landlock contradict each other");
  }
  if (bool(values, "no-landlock")) o.landlock = false;
  if (bool(values, "require-landlock")) o.landlock = true;
  if (bool(values, "no-seccomp")) o.seccomp = false;
  return o;
}

/** Runs `nsinit sandbox`; resolves to the command's exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (positionals.length === 0) {
    throw new UsageError('"sandbox" requires a command (nsinit sandbox [options] -- COMMAND ...)');
  }
  const opts = optionsFromFlags(values);
  const terminal = bool(values, "tty") ||
    (!bool(values, "no-tty") && Deno.stdin.isTerminal() && Deno.stdout.isTerminal());
  opts.terminal = terminal;
  // A developer tool: plain lines on stderr (and the --log file when there is one).
  const say = (level: "warning" | "error", m: string) => {
    if (g.log) g.logger.write(level, `sandbox: ${m}`);
    writeAllSync(Deno.stderr, new TextEncoder().encode(`nsinit: sandbox: ${m}\n`));
  };
  opts.onWarning = (m) => say("warning", m);
  using forwarder = new SignalForwarder((s) => g.logger.debug(`sandbox: forwarding ${s}`));
  const p = await spawnSandbox(positionals, opts);
  const code = await waitForeground({
    kill: (sig?: number) => p.kill(sig),
    ...(p.terminal ? { terminal: p.terminal } : {}),
    exitCode: async () => (await p.status).code,
  }, forwarder);
  const st = await p.status;
  if (st.timedOut) {
    say(
      "error",
      `timed out after ${opts.timeout}s (--timeout): the command was killed ` +
        `(exit code ${TIMEOUT_EXIT_CODE})`,
    );
  }
  return code;
}
