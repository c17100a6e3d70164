/**
 * `nsinit exec [flags] ID [COMMAND ARGS...]`: runs another process in a
 * container. Its defaults are the container's own process (env, cwd, user,
 * capabilities, rlimits, noNewPrivileges), overridden by flags, or the whole
 * process comes from `--process FILE`. In the foreground it waits and exits
 * with the process's code.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { probeHostFeatures } from "../../core/host_features.ts";
import type { ExecOptions } from "../../core/container.ts";
import type { Process } from "../../spec/config.ts";
import { MAX_ID, parseJson64, validateProcess } from "../../spec/validate.ts";
import { ConfigError } from "../../errors.ts";
import {
  bool,
  checkArgs,
  type FlagValues,
  list,
  parseFlags,
  str,
  uint,
  UsageError,
} from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { writePidFile } from "../launch.ts";
import { checkTerminal, consoleSocketSender } from "../terminal.ts";
import { SignalForwarder, waitForeground } from "../foreground.ts";
import { PidfdSocketSender } from "../pidfd_socket.ts";

const FLAGS = {
  process: { type: "string", short: "p" },
  tty: { type: "boolean", short: "t" },
  cwd: { type: "string" },
  env: { type: "string", short: "e", multiple: true },
  user: { type: "string", short: "u" },
  "additional-gids": { type: "string", short: "g", multiple: true },
  cap: { type: "string", short: "c", multiple: true },
  "no-new-privs": { type: "boolean" },
  "process-label": { type: "string" },
  apparmor: { type: "string" },
  detach: { type: "boolean", short: "d" },
  "pid-file": { type: "string" },
  "console-socket": { type: "string" },
  "pidfd-socket": { type: "string" },
  "preserve-fds": { type: "string" },
} as const;

/** Runs `nsinit exec`; resolves to the exit code (the process's, in the foreground). */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS);
  checkArgs("exec", positionals, 1, "min");
  if (str(values, "process-label")) {
    throw new UsageError("--process-label: SELinux is not available on this host");
  }
  const apparmor = str(values, "apparmor");
  if (apparmor && !probeHostFeatures().apparmor) {
    throw new UsageError("--apparmor: AppArmor is not enabled on this host");
  }
  const [id, ...command] = positionals;
  const container = await new Factory({ root: g.root }).load(id);
  const proc = await buildProcess(values, command, container.persisted.config.process);
  if (apparmor) proc.apparmorProfile = apparmor;

  const detach = bool(values, "detach");
  const consoleSocket = str(values, "console-socket");
  checkTerminal({ terminal: proc.terminal === true, detach, consoleSocket });
  const n = uint(values, "preserve-fds");
  const opts: ExecOptions = { preserveFds: Array.from({ length: n }, (_, i) => 3 + i) };
  if (proc.terminal && consoleSocket) opts.onPty = consoleSocketSender(consoleSocket);
  const pidfdPath = str(values, "pidfd-socket");
  using pidfdSocket = pidfdPath ? PidfdSocketSender.connect(pidfdPath, "setns") : undefined;
  if (pidfdSocket) opts.onPidfd = (fd) => pidfdSocket.send(fd);

  using forwarder = detach
    ? undefined
    : new SignalForwarder((s) => g.logger.debug(`forwarding ${s} to exec in ${id}`));
  const p = await container.exec(proc, opts);
  g.logger.debug(`exec ${id}: pid ${p.pid}`);
  const pidFile = str(values, "pid-file");
  if (pidFile) {
    try {
      await writePidFile(pidFile, p.pid);
    } catch (e) {
      await p[Symbol.asyncDispose]();
      throw e;
    }
  }
  if (!forwarder) return 0;
  return await waitForeground(p, forwarder);
}

/** The process to run: from `--process`, or the container's process with the flags applied. */
async function buildProcess(
  values: FlagValues,
  command: string[],
  base: Process | undefined,
): Promise<Process> {
  const file = str(values, "process");
  if (file) {
    let raw: unknown;
    try {
      raw = parseJson64(await Deno.readTextFile(file));
    } catch (e) {
      if (e instanceof SyntaxError) throw new ConfigError(file, "", `invalid JSON: ${e.message}`);
      if (e instanceof Deno.errors.NotFound) throw new ConfigError(file, "", "no such file");
      throw e;
    }
    return validateProcess(raw, file);
  }
  if (command.length === 0) throw new UsageError("exec args cannot be empty");
  const p: Process = structuredClone(base ?? { cwd: "/", user: { uid: 0, gid: 0 } }) as Process;
  p.args = command;
  const cwd = str(values, "cwd");
  if (cwd) p.cwd = cwd;
  const caps = list(values, "cap");
  if (caps.length > 0) {
    const c = p.capabilities ??= {};
    for (const set of ["bounding", "effective", "permitted", "ambient"] as const) {
      c[set] = [...(c[set] ?? []), ...caps];
    }
  }
  p.env = [...(p.env ?? []), ...list(values, "env")];
  p.terminal = bool(values, "tty");
  if (bool(values, "no-new-privs")) p.noNewPrivileges = true;
  const user = str(values, "user");
  p.user ??= { uid: 0, gid: 0 };
  if (user) {
    const [uid, gid] = user.split(/:(.*)/s, 2);
    if (gid !== undefined) p.user.gid = parseId(gid, "gid");
    p.user.uid = parseId(uid, "uid");
  }
  for (const gid of list(values, "additional-gids")) {
    (p.user.additionalGids ??= []).push(parseId(gid, "additional gid"));
  }
  return validateProcess(p, "exec flags");
}

function parseId(s: string, what: string): number {
  if (!/^\d+$/.test(s) || Number(s) > MAX_ID) {
    // 4294967295 is -1 to setuid(2): "unchanged", i.e. root. runc refuses it too.
    throw new UsageError(
      `parsing ${JSON.stringify(s)} as ${what} failed: not an integer from 0 to ${MAX_ID}`,
    );
  }
  return Number(s);
}
