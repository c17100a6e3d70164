/**
 * The benchmark's systemd row: `run` of `/bin/true` with the systemd cgroup driver,
 * `runc --systemd-cgroup run` and `nsinit --systemd-cgroup run` interleaved, against a real
 * systemd. On a host whose PID 1 is not systemd it boots one in namespaces
 * (`scripts/systemd_ns.sh`) and measures inside it (both runtimes alike), then powers it off.
 *
 * Run as a module by `scripts/bench.ts`; run as a script (inside systemd) it does the timing:
 * `deno run -A scripts/bench/systemd.ts BUNDLE STATE_DIR NSINIT WARMUP ROUNDS` prints the samples
 * as JSON.
 *
 * @module
 */

import { timeOk } from "./measure.ts";
import { REPO_ROOT } from "./host.ts";
import { summarize, type Summary } from "./stats.ts";

type Samples = { runc: number[]; nsinit: number[] };

function systemdIsInit(): boolean {
  try {
    return Deno.readTextFileSync("/proc/1/comm").trim() === "systemd" &&
      Deno.statSync("/run/systemd/system").isDirectory;
  } catch {
    return false;
  }
}

/** The timing loop, inside systemd. Each runtime names its own scope (runc-<id>, nsinit-<id>). */
async function inner(
  bundle: string,
  state: string,
  nsinit: string,
  warmup: number,
  rounds: number,
): Promise<Samples> {
  const argv = {
    runc: ["runc", "--root", `${state}/runc`, "--systemd-cgroup"],
    nsinit: [nsinit, "--root", `${state}/nsinit`, "--systemd-cgroup"],
  };
  const out: Samples = { runc: [], nsinit: [] };
  for (let i = 0; i < warmup + rounds; i++) {
    const order = i % 2 === 0 ? (["runc", "nsinit"] as const) : (["nsinit", "runc"] as const);
    for (const rt of order) {
      const ms = await timeOk([...argv[rt], "run", "--bundle", bundle, `sd-${rt}-${i}`]);
      if (i >= warmup) out[rt].push(ms);
    }
  }
  return out;
}

/**
 * Measures both runtimes' `run` with `--systemd-cgroup`. `bundleDir` holds a config.json whose
 * `linux.cgroupsPath` is replaced (each runtime then uses its default `system.slice:<rt>:<id>`).
 * Returns undefined, with the reason logged, when it cannot run here.
 */
export async function benchSystemdRun(opts: {
  bundleDir: string;
  work: string;
  nsinitBin: string;
  warmup: number;
  rounds: number;
  log: (msg: string) => void;
}): Promise<{ runc: Summary; nsinit: Summary; where: string } | undefined> {
  const dir = `${opts.work}/systemd-bundle`;
  const spec = JSON.parse(await Deno.readTextFile(`${opts.bundleDir}/config.json`));
  delete spec.linux.cgroupsPath;
  spec.root.path = spec.root.path.startsWith("/")
    ? spec.root.path
    : `${opts.bundleDir}/${spec.root.path}`;
  await Deno.mkdir(`${dir}/state`, { recursive: true });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(spec));
  const self = new URL(import.meta.url).pathname;
  const args = [
    Deno.execPath(),
    "run",
    "-A",
    "--no-lock",
    self,
    dir,
    `${dir}/state`,
    opts.nsinitBin,
    String(opts.warmup),
    String(opts.rounds),
  ];
  const script = `${REPO_ROOT}/scripts/systemd_ns.sh`;
  const name = `bench-${Deno.pid}`;
  const booted = !systemdIsInit();
  let where = "the host's systemd";
  try {
    if (booted) {
      const start = await new Deno.Command("bash", {
        args: [script, "start", name],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!start.success) {
        opts.log(
          `systemd run: cannot boot systemd in namespaces: ${
            new TextDecoder().decode(start.stderr).trim()
          }`,
        );
        return undefined;
      }
      where = "systemd 252 booted in namespaces (scripts/systemd_ns.sh), both runtimes inside it";
    }
    const cmd = booted ? ["bash", script, "exec", name, ...args] : args;
    const out = await new Deno.Command(cmd[0]!, {
      args: cmd.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      opts.log(`systemd run failed: ${new TextDecoder().decode(out.stderr).trim()}`);
      return undefined;
    }
    const samples = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    return { runc: summarize(samples.runc), nsinit: summarize(samples.nsinit), where };
  } finally {
    if (booted) {
      await new Deno.Command("bash", { args: [script, "stop", name], stdin: "null" }).output();
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const [bundle, state, nsinit, warmup, rounds] = Deno.args;
  const samples = await inner(bundle!, state!, nsinit!, Number(warmup), Number(rounds));
  console.log(JSON.stringify(samples));
}
