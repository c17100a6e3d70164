/**
 * The `nsinit` command line, compatible with runc's: global flags, then a
 * subcommand. Each subcommand lives in `commands/<name>.ts` and is imported only
 * when it runs, so `nsinit state` does not load what `nsinit run` needs.
 *
 * Every error becomes one line on stderr (`nsinit: <message>`), an `error` line
 * in the `--log` file, and exit status 1.
 *
 * @example Printing the version
 * ```ts ignore
 * import { main } from "./main.ts";
 * Deno.exit(await main(["--version"]));
 * ```
 *
 * @module
 */

import type { GlobalOptions } from "./global.ts";
import { parseGlobal } from "./global.ts";
import { print, writeAllSync } from "./log.ts";
import { UsageError } from "./flags.ts";
import { VERSION } from "./version.ts";
import { utf8 } from "../util/bytes.ts";
import { mark, setTraceSink, stderrTraceSink, traceMemory } from "../util/trace.ts";

/** What a command module exports. */
export interface CommandModule {
  /** Runs the command; resolves to the exit code. */
  run(args: string[], g: GlobalOptions): Promise<number>;
}

/** One entry of the command table. */
export interface CommandEntry {
  /** One line for `nsinit --help`. */
  summary: string;
  /** The usage line(s) for `nsinit <command> --help`. */
  usage: string;
  /** Imports the module (lazily). */
  load(): Promise<CommandModule>;
}

/** The command table. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  create: {
    summary: "create a container",
    usage: "create [--bundle DIR] [--pid-file F] [--console-socket S] [--pidfd-socket S] " +
      "[--preserve-fds N] [--no-pivot] [--no-new-keyring] <container-id>",
    load: () => import("./commands/create.ts"),
  },
  start: {
    summary: "executes the user defined process in a created container",
    usage: "start <container-id>",
    load: () => import("./commands/start.ts"),
  },
  run: {
    summary: "create and run a container",
    usage: "run [create's flags] [--detach] [--keep] <container-id>",
    load: () => import("./commands/run.ts"),
  },
  exec: {
    summary: "execute new process inside the container",
    usage: "exec [--process FILE] [--tty] [--cwd DIR] [--env K=V]... [--user UID[:GID]] " +
      "[--additional-gids GID]... [--cap CAP]... [--no-new-privs] [--detach] [--pid-file F] " +
      "[--console-socket S] [--pidfd-socket S] [--preserve-fds N] <container-id> <command> " +
      "[args...]",
    load: () => import("./commands/exec.ts"),
  },
  kill: {
    summary: "kill sends the specified signal (default: SIGTERM) to the container's init process",
    usage: "kill [--all] <container-id> [signal]",
    load: () => import("./commands/kill.ts"),
  },
  delete: {
    summary: "delete any resources held by the container often used with detached container",
    usage: "delete [--force] <container-id>",
    load: () => import("./commands/delete.ts"),
  },
  state: {
    summary: "output the state of a container",
    usage: "state <container-id>",
    load: () => import("./commands/state.ts"),
  },
  list: {
    summary: "lists containers started by nsinit with the given root",
    usage: "list [--format table|json] [--quiet]",
    load: () => import("./commands/list.ts"),
  },
  ps: {
    summary: "ps displays the processes running inside a container",
    usage: "ps [--format table|json] <container-id> [ps options]",
    load: () => import("./commands/ps.ts"),
  },
  pause: {
    summary: "pause suspends all processes inside the container",
    usage: "pause <container-id>",
    load: () => import("./commands/pause.ts"),
  },
  resume: {
    summary: "resumes all processes that have been previously paused",
    usage: "resume <container-id>",
    load: () => import("./commands/resume.ts"),
  },
  spec: {
    summary: "create a new specification file",
    usage: "spec [--bundle DIR] [--rootless]",
    load: () => import("./commands/spec.ts"),
  },
  update: {
    summary: "update container resource constraints",
    usage: "update [--memory SIZE] [--memory-reservation SIZE] [--memory-swap SIZE] " +
      "[--kernel-memory SIZE] [--cpu-share N] [--cpu-quota N] [--cpu-period N] [--cpu-burst N] " +
      "[--cpu-rt-runtime N] [--cpu-rt-period N] [--cpu-idle 0|1] [--cpuset-cpus LIST] " +
      "[--cpuset-mems LIST] [--pids-limit N] [--blkio-weight N] [-r FILE|-] <container-id>",
    load: () => import("./commands/update.ts"),
  },
  events: {
    summary:
      "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
    usage: "events [--stats] [--interval DURATION] <container-id>",
    load: () => import("./commands/events.ts"),
  },
  sandbox: {
    summary: "run a command isolated: host files read-only, cwd writable, no network, limits",
    usage: "sandbox [--profile FILE] [--allow-write PATH]... [--allow-read PATH]... " +
      "[--deny-read PATH]... [--net] [--memory SIZE] [--cpus N] [--pids N] [--timeout SECONDS] " +
      "[--env NAME[=VALUE]]... [--cwd DIR] [--no-landlock|--require-landlock] [--no-seccomp] " +
      "[--tty|--no-tty] [--] COMMAND [ARGS...]",
    load: () => import("./commands/sandbox.ts"),
  },
  checkpoint: {
    summary: "checkpoint a running container",
    usage:
      "checkpoint [--image-path DIR] [--work-path DIR] [--parent-path DIR] [--leave-running] " +
      "[--tcp-established] [--ext-unix-sk] [--shell-job] [--lazy-pages] [--status-fd FD] " +
      "[--page-server ADDR:PORT] [--file-locks] [--pre-dump] [--manage-cgroups-mode MODE] " +
      "[--empty-ns NS] [--auto-dedup] <container-id>",
    load: () => import("./commands/checkpoint.ts"),
  },
  restore: {
    summary: "restore a container from a previous checkpoint",
    usage: "restore [--image-path DIR] [--work-path DIR] [--bundle DIR] [--console-socket S] " +
      "[--detach] [--pid-file F] [--no-subreaper] [--no-pivot] [--tcp-established] " +
      "[--ext-unix-sk] [--shell-job] [--file-locks] [--manage-cgroups-mode MODE] " +
      "[--empty-ns NS] [--auto-dedup] [--lazy-pages] [--lsm-profile P] " +
      "[--lsm-mount-context C] <container-id>",
    load: () => import("./commands/restore.ts"),
  },
  features: {
    summary: "show the enabled features (the OCI runtime features structure)",
    usage: "features",
    load: () => import("./commands/features.ts"),
  },
};

const GLOBAL_USAGE = `Usage: nsinit [global options] <command> [command options] [arguments...]

Global options:
   --root DIR            state directory (default: /run/nsinit; $XDG_RUNTIME_DIR/nsinit
                         for an unprivileged user)
   --log FILE            append log lines to FILE (default: stderr)
   --log-format FORMAT   text or json (default: text)
   --debug               log debug lines
   --systemd-cgroup      use the systemd cgroup driver
   --rootless VALUE      auto, true or false (default: auto)
   --criu PATH           the criu binary (default: $NSINIT_CRIU, else criu on PATH)
   --version, -v         print the version
   --help, -h            show help
`;

/** `nsinit --help`. */
function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) =>
    `   ${name.padEnd(width)}  ${c.summary}`
  );
  return `${GLOBAL_USAGE}\nCommands:\n${lines.join("\n")}\n`;
}

/** `nsinit --version`, as runc prints it. */
async function version(): Promise<string> {
  const { OCI_VERSION_MAX } = await import("../spec/validate.ts");
  const lines = [`nsinit version ${VERSION}`, `spec: ${OCI_VERSION_MAX}`];
  const seccomp = libseccompVersion();
  if (seccomp) lines.push(`libseccomp: ${seccomp}`);
  return lines.join("\n") + "\n";
}

/** The version of the system's libseccomp, from the name its soname link points to. */
function libseccompVersion(): string | undefined {
  for (
    const dir of ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]
  ) {
    try {
      const real = Deno.realPathSync(`${dir}/libseccomp.so.2`);
      const m = /libseccomp\.so\.(\d+\.\d+\.\d+)$/.exec(real);
      if (m) return m[1];
    } catch {
      // not here
    }
  }
  return undefined;
}

/** One line, whatever the error. */
function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, " ").trim() || (e instanceof Error ? e.name : "unknown error");
}

/**
 * Runs the CLI with `argv` (without the program name) and resolves to the exit code.
 * Errors are reported (stderr and the `--log` file), never thrown.
 */
export async function main(argv: string[]): Promise<number> {
  let g: GlobalOptions | undefined;
  try {
    const parsed = parseGlobal(argv);
    g = parsed.options;
    if (parsed.version) {
      print(await version());
      return 0;
    }
    if (parsed.command === undefined || parsed.command === "help") {
      const topic = parsed.args[0];
      if (parsed.command === "help" && topic !== undefined) {
        const entry = COMMANDS[topic];
        if (!entry) throw new UsageError(`no help topic for '${topic}'`);
        print(`Usage: nsinit ${entry.usage}\n\n${entry.summary}\n`);
        return 0;
      }
      print(usage());
      return 0;
    }
    const entry = Object.hasOwn(COMMANDS, parsed.command) ? COMMANDS[parsed.command] : undefined;
    if (!entry) throw new UsageError(`unknown command '${parsed.command}' (see nsinit --help)`);
    if (parsed.args[0] === "--help" || parsed.args[0] === "-h") {
      print(`Usage: nsinit ${entry.usage}\n\n${entry.summary}\n`);
      return 0;
    }
    g.logger.debug(`nsinit ${argv.join(" ")}`);
    const mod = await entry.load();
    mark("cli: command module loaded");
    return await mod.run(parsed.args, g);
  } catch (e) {
    const msg = errorMessage(e);
    if (g?.log) g.logger.error(msg);
    writeAllSync(Deno.stderr, utf8(`nsinit: ${msg}\n`));
    return 1;
  }
}

let started = false;

/**
 * Runs the CLI on `Deno.args` and exits with its status; with `NSINIT_TRACE` set, writes
 * the phase marks and the memory at the exit to stderr. Once per process (the bundle's
 * entry, nsinit/cli.ts, calls it; so does this module when run itself). No top-level
 * await: a chunk that the bundle's entry loads may import from it (scripts/chunks.ts).
 */
export function runCli(): void {
  if (started) return;
  started = true;
  const tracing = Boolean(Deno.env.get("NSINIT_TRACE"));
  if (tracing) setTraceSink(stderrTraceSink());
  mark("cli: main module loaded");
  main(Deno.args).then((code) => {
    mark("cli: exit");
    if (tracing) traceMemory();
    Deno.exit(code);
  });
}

if (import.meta.main) runCli();
