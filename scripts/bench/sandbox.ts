/**
 * The sandbox section of the benchmark: `nsinit sandbox -- /bin/true` against bubblewrap
 * doing the same isolation (`bwrap` with the host's root read-only, the working directory
 * writable, a private /tmp, a minimal /dev, a fresh /proc, every namespace unshared, a new
 * session), from the CLI and from a long-lived Deno process (the library's `runSandbox`),
 * interleaved run by run.
 *
 * @module
 */

import { defaultRoot } from "../../core/state_root.ts";
import { runSandbox } from "../../sandbox/run.ts";
import { HOME_SECRETS } from "../../sandbox/spec.ts";
import { summarize, type Summary } from "./stats.ts";
import { timeOk } from "./measure.ts";

/** Sandbox start-up, per tool and way of calling it (ms). */
export interface SandboxBench {
  /** `bubblewrap --version`, or "" when it is missing. */
  bwrapVersion: string;
  /** Through each tool's CLI. */
  cli: { nsinit: Summary; bwrap?: Summary };
  /**
   * From one long-lived Deno process: `runSandbox(["/bin/true"])`. (bubblewrap has no
   * library: a program spawns it, which is what its `cli` row measures.)
   */
  library: { nsinit: Summary };
}

/** bwrap's argv for what `nsinit sandbox` does with no flags, in `cwd`. */
export function bwrapArgv(cwd: string, home: string | undefined, cmd: string[]): string[] {
  const argv = [
    "bwrap",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    "--bind",
    cwd,
    cwd,
    "--unshare-all",
    "--new-session",
    "--die-with-parent",
    "--chdir",
    cwd,
  ];
  for (const s of HOME_SECRETS) {
    if (!home) break;
    try {
      const st = Deno.statSync(`${home}/${s}`);
      argv.push(st.isDirectory ? "--tmpfs" : "--ro-bind", ...(st.isDirectory ? [] : ["/dev/null"]));
      argv.push(`${home}/${s}`);
    } catch { /* absent */ }
  }
  return [...argv, ...cmd];
}

/** What the sandbox rows are measured with. */
interface SandboxBenchOptions {
  nsinitBin: string;
  cwd: string;
  warmup: number;
  rounds: number;
  bwrap: string | undefined;
  checkAbort: () => void;
}

/** Measures the sandbox start-up; `bwrap` absent: only nsinit's rows. */
export async function benchSandbox(opts: SandboxBenchOptions): Promise<SandboxBench> {
  // The sandboxes keep their state under the default root, which the first one makes when
  // there is none: the benchmark removes it again at the end if it made it (and it is empty).
  const root = defaultRoot();
  const rootExisted = await Deno.stat(root).then(() => true, () => false);
  try {
    return await measureSandbox(opts);
  } finally {
    if (!rootExisted) await Deno.remove(root).catch(() => {});
  }
}

async function measureSandbox(opts: SandboxBenchOptions): Promise<SandboxBench> {
  const home = Deno.env.get("HOME");
  const bw = opts.bwrap ? bwrapArgv(opts.cwd, home, ["/bin/true"]) : undefined;
  const cli = { nsinit: [] as number[], bwrap: [] as number[] };
  const lib: number[] = [];
  const library = async () => {
    const t0 = performance.now();
    const r = await runSandbox(["/bin/true"], { cwd: opts.cwd });
    if (r.code !== 0) throw new Error(`runSandbox /bin/true: exit ${r.code}: ${r.stderr}`);
    return performance.now() - t0;
  };
  for (let i = 0; i < opts.warmup + opts.rounds; i++) {
    opts.checkAbort();
    const keep = i >= opts.warmup;
    const c = await timeOk([
      opts.nsinitBin,
      "sandbox",
      "--no-tty",
      "--cwd",
      opts.cwd,
      "--",
      "/bin/true",
    ]);
    if (keep) cli.nsinit.push(c);
    if (bw) {
      const b = await timeOk(bw);
      if (keep) cli.bwrap.push(b);
    }
    const l = await library();
    if (keep) lib.push(l);
  }
  let bwrapVersion = "";
  if (opts.bwrap) {
    const out = await new Deno.Command(opts.bwrap, { args: ["--version"], stdout: "piped" })
      .output();
    bwrapVersion = new TextDecoder().decode(out.stdout).trim();
  }
  return {
    bwrapVersion,
    cli: { nsinit: summarize(cli.nsinit), ...(bw ? { bwrap: summarize(cli.bwrap) } : {}) },
    library: { nsinit: summarize(lib) },
  };
}
