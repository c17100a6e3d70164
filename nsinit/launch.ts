/**
 * What `nsinit create` and `nsinit run` share: their flags, the bundle, the
 * terminal checks, inherited fds (`--preserve-fds`, systemd's `LISTEN_FDS`), the
 * pid file, and for a foreground run, waiting and cleaning up.
 *
 * @module
 */

import { resolve } from "../util/path.ts";
import { Factory } from "../core/factory.ts";
import { readBundleSpec } from "../core/bundle_spec.ts";
import type { Container } from "../core/container.ts";
import type { CreateOptions } from "../core/factory.ts";
import { validateId } from "../core/state.ts";
import { writeAtomic } from "../core/state_write.ts";
import { bool, checkArgs, type FlagSpecs, parseFlags, str, uint } from "./flags.ts";
import type { GlobalOptions } from "./global.ts";
import { checkTerminal, consoleSocketSender } from "./terminal.ts";
import { SignalForwarder, waitForeground } from "./foreground.ts";
import { PidfdSocketSender } from "./pidfd_socket.ts";
import { mark } from "../util/trace.ts";

/** Flags of `nsinit create`. */
export const CREATE_FLAGS: FlagSpecs = {
  bundle: { type: "string", short: "b" },
  "console-socket": { type: "string" },
  "pidfd-socket": { type: "string" },
  "pid-file": { type: "string" },
  "preserve-fds": { type: "string" },
  "no-pivot": { type: "boolean" },
  "no-new-keyring": { type: "boolean" },
};

/** Flags of `nsinit run`: create's, plus `--detach`, `--keep` (and runc's `--no-subreaper`, ignored). */
export const RUN_FLAGS: FlagSpecs = {
  ...CREATE_FLAGS,
  detach: { type: "boolean", short: "d" },
  keep: { type: "boolean" },
  "no-subreaper": { type: "boolean" },
};

/**
 * The number of fds systemd passed by socket activation (`LISTEN_FDS`, for
 * this pid per `LISTEN_PID`), as go-systemd's `activation.Files` counts them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listenFds } from "./launch.ts";
 * assert.equal(listenFds({ LISTEN_FDS: "2", LISTEN_PID: "42" }, 42), 2);
 * assert.equal(listenFds({ LISTEN_FDS: "2", LISTEN_PID: "41" }, 42), 0);
 * ```
 */
export function listenFds(
  env: Record<string, string> = Deno.env.toObject(),
  pid = Deno.pid,
): number {
  const n = Number(env.LISTEN_FDS);
  if (!env.LISTEN_FDS || !Number.isInteger(n) || n <= 0) return 0;
  if (Number(env.LISTEN_PID) !== pid) return 0;
  return n;
}

/**
 * Writes a pid file atomically (a temp file renamed over it), as runc does: mode 0o666
 * trimmed by the umask.
 */
export async function writePidFile(path: string, pid: number): Promise<void> {
  await writeAtomic(resolve(path), String(pid), "umask");
}

/**
 * Writes the `--pid-file` of a container just created, run or restored; when that
 * fails, the container is destroyed so that the failed command leaves nothing behind.
 */
export async function writePidFileOrDestroy(
  container: Container,
  pidFile: string | undefined,
): Promise<void> {
  const init = container.init;
  try {
    if (pidFile && init) await writePidFile(pidFile, init.pid);
  } catch (e) {
    await container.destroy({ force: true }).catch(() => {});
    throw e;
  }
}

/** `nsinit create` (`mode` "create") and `nsinit run` (`mode` "run"). */
export async function launch(
  args: string[],
  g: GlobalOptions,
  mode: "create" | "run",
): Promise<number> {
  const { values, positionals } = parseFlags(args, mode === "create" ? CREATE_FLAGS : RUN_FLAGS);
  checkArgs(mode, positionals, 1, "exact");
  const id = positionals[0];
  validateId(id);
  const bundle = resolve(str(values, "bundle") || Deno.cwd());
  const spec = await readBundleSpec(bundle);
  const detach = mode === "create" || bool(values, "detach");
  const consoleSocket = str(values, "console-socket");
  const terminal = spec.process?.terminal === true;
  checkTerminal({ terminal, detach, consoleSocket });

  const listen = listenFds();
  if (listen > 0 && spec.process) {
    spec.process.env = [...(spec.process.env ?? []), `LISTEN_FDS=${listen}`, "LISTEN_PID=1"];
  }
  const extra = listen + uint(values, "preserve-fds");
  const preserveFds = Array.from({ length: extra }, (_, i) => 3 + i);

  const opts: CreateOptions = {
    bundle,
    spec,
    preserveFds,
    noPivot: bool(values, "no-pivot"),
    noNewKeyring: bool(values, "no-new-keyring"),
    systemdCgroup: g.systemdCgroup,
  };
  if (terminal && consoleSocket) opts.onPty = consoleSocketSender(consoleSocket);
  const pidfdPath = str(values, "pidfd-socket");
  using pidfdSocket = pidfdPath ? PidfdSocketSender.connect(pidfdPath, "standard") : undefined;
  if (pidfdSocket) opts.onPidfd = (fd) => pidfdSocket.send(fd);

  const factory = new Factory({ root: g.root, onWarning: (m) => g.logger.warn(m) });
  g.logger.debug(`${mode} ${id}: bundle ${bundle}, ${extra} extra fd(s)`);
  // In the foreground, signals are caught from before the init exists.
  using forwarder = detach
    ? undefined
    : new SignalForwarder((s) => g.logger.debug(`forwarding ${s} to ${id}`));
  const container = mode === "create"
    ? await factory.create(id, opts)
    : await factory.run(id, opts);
  const init = container.init;
  g.logger.debug(`${mode} ${id}: init pid ${init?.pid}`);
  await writePidFileOrDestroy(container, str(values, "pid-file"));
  if (detach || !init || !forwarder) return 0;

  let code: number;
  try {
    code = await waitForeground(init, forwarder);
    mark("run: init exited");
    if (code === 128 + 9) await reportOomKill(container, g);
  } finally {
    if (!bool(values, "keep")) await container.destroy({ force: true });
    mark("run: container destroyed");
  }
  g.logger.debug(`run ${id}: exit code ${code}`);
  return code;
}

/**
 * A container killed by SIGKILL whose memory cgroup hit its limit was OOM-killed: say so,
 * naming the limit (with `linux.resources.memory.limit` of 1 the init dies at its first page,
 * and exit status 137 alone tells the user nothing).
 */
async function reportOomKill(container: Container, g: GlobalOptions): Promise<void> {
  const limit = container.persisted.config.linux?.resources?.memory?.limit;
  if (limit === undefined || limit <= 0) return;
  try {
    const stats = await container.stats();
    if ((stats.memory?.usage.failcnt ?? 0) === 0) return;
  } catch {
    return;
  }
  g.logger.error(
    `container ${container.id} was killed by the OOM killer: ` +
      `linux.resources.memory.limit ${limit} is too low for it`,
  );
}
