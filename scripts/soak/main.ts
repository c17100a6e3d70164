/**
 * The churn soak (`deno task soak`): containers created, run and deleted concurrently in a
 * loop, from one Deno process through the library (`library.ts`) and from the `nsinit` CLI
 * (`cli.ts`), while the runtime's file descriptors, memory and threads are measured.
 *
 *   deno task soak [--mode both|library|cli] [--duration SECONDS] [--containers N]
 *                  [--drain-every SECONDS] [--cli-drain-every SECONDS] [--out FILE] [--rootless]
 *
 * Defaults: both modes, one after the other, 600 s each, 100 containers, a drain point every
 * 30 s (CLI: 60 s; a drain waits for every cycle in flight, and a CLI cycle of a few commands
 * takes long with 100 Deno processes on two cores). Each mode fails when:
 * - a container cycle fails (a command errs, an output or status is wrong);
 * - at a drain point (no container in flight) anything is left: a state directory, a cgroup,
 *   a mount or a process of the soak's (counted by its own names, so other work on the machine
 *   does not count);
 * - after the end, the same is not zero, or `scripts/leftovers.sh` names anything of the soak's;
 * - the trend grows (`measure.ts` `judge`): library, the runtime process at drain points; CLI,
 *   the largest command in flight per interval (peak RSS, fds, threads).
 * Prints the curve (a line per drain point), writes the whole report as JSON to `--out`
 * (default .cache/soak/report.json) and exits 1 on failure. Needs root.
 *
 * `--rootless`: the same churn by the unprivileged test user `nsinit-test`
 * (scripts/install_test_deps.sh) with runc's rootless spec: the library process and every CLI
 * command are that user's, the containers have a user namespace and, on a host that delegates no
 * cgroup to the user (this one), no cgroup, so the exec cycle skips pause and resume. What is left
 * is counted by root, as above.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { defaultSpec } from "../../spec/default.ts";
import { createTestDir, removeTestDir, REPO_ROOT, testRun } from "../../tests/helpers/paths.ts";
import { rootfsPath } from "../../tests/helpers/rootfs.ts";
import {
  type CommandPoint,
  countLeftovers,
  judge,
  judgeCommands,
  type Leftovers,
  type Sample,
  type Verdict,
} from "./measure.ts";
import { sleep } from "./shared.ts";
import { asUser, cannotRunAsTestUser, testUser, warmDenoCache } from "../../tests/helpers/user.ts";

const { values: o } = parseArgs({
  options: {
    mode: { type: "string", default: "both" },
    duration: { type: "string", default: "600" },
    containers: { type: "string", default: "100" },
    "drain-every": { type: "string", default: "30" },
    "cli-drain-every": { type: "string", default: "60" },
    out: { type: "string", default: `${REPO_ROOT}/.cache/soak/report.json` },
    rootless: { type: "boolean", default: false },
  },
});

/** What one mode found. */
interface ModeReport {
  mode: "library" | "cli";
  /** Run by the unprivileged test user with rootless containers. */
  rootless: boolean;
  ok: boolean;
  seconds: number;
  cycles: number;
  commands?: number;
  errors: string[];
  drains: { sample: Sample; leftovers: Leftovers }[];
  samples: Sample[];
  commandPoints: CommandPoint[];
  verdicts: Verdict[];
  leftoversAfter: Leftovers;
  leftoversScript: string[];
  problems: string[];
}

if (!["both", "library", "cli"].includes(o.mode!)) {
  throw new Error(`--mode: library, cli or both, not ${o.mode}`);
}
const modes = o.mode === "both" ? ["library", "cli"] as const : [o.mode as "library" | "cli"];
if (Deno.uid() !== 0) {
  console.error("soak: needs root (it runs real containers)");
  Deno.exit(2);
}
const rootless = o.rootless!;
const user = rootless ? testUser() : undefined;
if (rootless) {
  const why = cannotRunAsTestUser();
  if (why) {
    console.error(`soak: --rootless: ${why}`);
    Deno.exit(2);
  }
  await warmDenoCache(user!);
}

const marker = `soak-${Deno.pid}-${Date.now().toString(36)}`;
const dir = `/tmp/nsinit-test-${marker}`;
await createTestDir(dir);
const rootfs = await rootfsPath();

/** A bundle on the shared rootfs (read-only) running `args`. */
function bundle(name: string, args: string[]): string {
  const spec = defaultSpec(rootless ? { rootless: true, uid: user!.uid, gid: user!.gid } : {});
  spec.process!.terminal = false;
  spec.process!.args = args;
  spec.process!.env = [
    ...(spec.process!.env ?? []),
    `NSINIT_TEST_RUN=${testRun()}`,
    `NSINIT_SOAK=${marker}`,
  ];
  spec.root = { path: rootfs, readonly: true };
  const b = `${dir}/${name}`;
  Deno.mkdirSync(b);
  Deno.writeTextFileSync(`${b}/config.json`, JSON.stringify(spec, null, 2));
  return b;
}

/** A directory the runtime's user writes (rootless: the test user's). */
function ownDir(path: string): string {
  Deno.mkdirSync(path, { recursive: true });
  if (user) Deno.chownSync(path, user.uid, user.gid);
  return path;
}

async function leftoversScript(snapshot: string): Promise<string[]> {
  const out = await new Deno.Command("bash", {
    args: [`${REPO_ROOT}/scripts/leftovers.sh`, "check", snapshot],
    stdout: "piped",
    stderr: "piped",
    env: { LEFTOVERS_ANCESTOR: String(Deno.pid) },
  }).output();
  // Only what names this soak counts: other work on the machine is not ours.
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((l) => l.startsWith("leftover ") && (l.includes(marker) || l.includes(dir)));
}

async function runMode(mode: "library" | "cli"): Promise<ModeReport> {
  const prefix = `${marker}-${mode === "library" ? "l" : "c"}`;
  const root = ownDir(`${dir}/state-${mode}`);
  const common = [
    "--root",
    root,
    "--duration",
    o.duration!,
    "--containers",
    o.containers!,
    "--drain-every",
    mode === "library" ? o["drain-every"]! : o["cli-drain-every"]!,
    "--prefix",
    prefix,
    "--marker",
    marker,
    ...(rootless ? ["--rootless"] : []),
  ];
  const args = mode === "library"
    ? [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      `${REPO_ROOT}/scripts/soak/library.ts`,
      "--bundle",
      bundle(`ok-${mode}`, ["sh", "-c", "echo ok"]),
      ...common,
    ]
    : [
      "run",
      "-A",
      `${REPO_ROOT}/scripts/soak/cli.ts`,
      "--nsinit",
      `${REPO_ROOT}/dist/nsinit`,
      "--ok",
      bundle(`ok-${mode}`, ["sh", "-c", "echo ok"]),
      "--sleep",
      bundle(`sleep-${mode}`, ["sleep", "3600"]),
      "--logs",
      ownDir(`${dir}/logs`),
      ...common,
    ];
  const snapshot = `${dir}/leftovers-${mode}.snapshot`;
  await new Deno.Command("bash", {
    args: [`${REPO_ROOT}/scripts/leftovers.sh`, "snapshot", snapshot],
    env: { LEFTOVERS_ANCESTOR: String(Deno.pid) },
  }).output();

  console.log(
    `soak ${mode}${rootless ? " (rootless, as " + user!.name + ")" : ""}: ${o.containers} ` +
      `containers for ${o.duration} s, a drain point every ${
        mode === "library" ? o["drain-every"] : o["cli-drain-every"]
      } s`,
  );
  const report: ModeReport = {
    mode,
    rootless,
    ok: false,
    seconds: 0,
    cycles: 0,
    errors: [],
    drains: [],
    samples: [],
    commandPoints: [],
    verdicts: [],
    leftoversAfter: { state: 0, cgroups: 0, mounts: 0, processes: 0 },
    leftoversScript: [],
    problems: [],
  };
  const [cmd, cmdArgs] = user
    ? asUser(user, Deno.execPath(), args, { NSINIT_SOAK: marker })
    : [Deno.execPath(), args];
  const child = new Deno.Command(cmd, {
    args: cmdArgs,
    stdout: "piped",
    stderr: "inherit",
    env: { NSINIT_SOAK: marker },
  }).spawn();
  let rest = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        console.log(`  ${line}`);
        continue;
      }
      if (msg.sample) report.samples.push(msg.sample);
      if (msg.command) report.commandPoints.push(msg.command);
      if (msg.error) {
        report.errors.push(msg.error);
        if (report.errors.length <= 10) console.log(`  error: ${msg.error.split("\n")[0]}`);
      }
      if (msg.drain) {
        report.drains.push({ sample: msg.drain, leftovers: msg.leftovers });
        console.log(`  ${drainLine(mode, msg.drain, msg.leftovers, report.samples)}`);
      }
      if (msg.done) {
        report.cycles = msg.done.cycles;
        report.seconds = msg.done.seconds;
        if (msg.done.commands !== undefined) report.commands = msg.done.commands;
      }
    }
  }
  const status = await child.status;
  if (!status.success) report.problems.push(`the ${mode} worker exited with ${status.code}`);

  // What is left once everything ended (processes may take a moment to be reaped).
  const prefixLeft = () => countLeftovers({ root, prefix, marker });
  for (let i = 0; i < 50; i++) {
    report.leftoversAfter = prefixLeft();
    if (Object.values(report.leftoversAfter).every((n) => n === 0)) break;
    await sleep(100);
  }
  report.leftoversScript = await leftoversScript(snapshot);

  if (report.errors.length > 0) report.problems.push(`${report.errors.length} cycles failed`);
  for (const [i, d] of report.drains.entries()) {
    const left = Object.entries(d.leftovers).filter(([, n]) => n > 0);
    if (left.length > 0) {
      report.problems.push(
        `drain point ${i} (t=${d.sample.t}s): left ${left.map(([k, n]) => `${n} ${k}`).join(", ")}`,
      );
    }
  }
  const after = Object.entries(report.leftoversAfter).filter(([, n]) => n > 0);
  if (after.length > 0) {
    report.problems.push(`after the end: left ${after.map(([k, n]) => `${n} ${k}`).join(", ")}`);
  }
  for (const l of report.leftoversScript) report.problems.push(`scripts/leftovers.sh: ${l}`);
  // The trend: library, the runtime at drain points; CLI, each verb's commands.
  const drains = report.drains.map((d) => d.sample);
  if (mode === "library" && drains.length >= 3) report.verdicts = judge(drains);
  if (mode === "cli") report.verdicts = judgeCommands(report.commandPoints);
  if (report.verdicts.length === 0) report.problems.push("too few measurements to judge a trend");
  for (const v of report.verdicts.filter((v) => !v.ok)) {
    report.problems.push(
      `${v.group ? `${v.group}: ` : ""}${v.what} grew: ${v.observed} in the last third, ` +
        `limit ${v.limit} (first ${v.start}, last ${v.end})`,
    );
  }
  report.ok = report.problems.length === 0;
  console.log(
    `soak ${mode}: ${
      report.ok ? "ok" : "FAILED"
    }: ${report.cycles} container cycles in ${report.seconds} s` +
      (report.commands ? ` (${report.commands} nsinit commands)` : "") +
      (report.verdicts.length ? "\n  " + report.verdicts.map(verdictText).join("\n  ") : ""),
  );
  for (const p of report.problems) console.log(`  problem: ${p}`);
  return report;
}

/** A verdict as text: `fds 27 -> 27 (limit 31)`, RSS in MiB. */
function verdictText(v: Verdict): string {
  const f = (n: number) => v.what === "rssKiB" ? `${(n / 1024).toFixed(1)}MiB` : String(n);
  const name = v.what === "rssKiB" ? "rss" : v.what;
  return `${v.group ? `${v.group} ` : ""}${name} ${f(v.start)} -> ${f(v.end)} (limit ${
    f(v.limit)
  })` +
    (v.ok ? "" : " GREW");
}

/** One line of the curve. */
function drainLine(mode: string, s: Sample, left: Leftovers, samples: Sample[]): string {
  const leftText =
    `left: ${left.state} state, ${left.cgroups} cgroups, ${left.mounts} mounts, ${left.processes} processes`;
  if (mode === "library") {
    return `t=${s.t}s cycles=${s.cycles} fds=${s.fds} rss=${
      (s.rssKiB / 1024).toFixed(1)
    }MiB threads=${s.threads}; ${leftText}`;
  }
  // CLI: the largest command in flight since the previous drain point.
  const since = samples.filter((x) => x.t <= s.t && x.rssKiB > 0).slice(-10);
  const max = (k: "fds" | "rssKiB" | "threads") => Math.max(0, ...since.map((x) => x[k]));
  return `t=${s.t}s cycles=${s.cycles} largest command: fds=${max("fds")} peak-rss=${
    (max("rssKiB") / 1024).toFixed(1)
  }MiB threads=${max("threads")}; ${leftText}`;
}

const reports: ModeReport[] = [];
try {
  for (const m of modes) reports.push(await runMode(m));
} finally {
  await removeTestDir(dir).catch((e) => console.error(`soak: removing ${dir}: ${e}`));
}
Deno.mkdirSync(o.out!.replace(/\/[^/]*$/, ""), { recursive: true });
Deno.writeTextFileSync(o.out!, JSON.stringify({ marker, reports }, null, 1));
const ok = reports.every((r) => r.ok);
console.log(`soak: ${ok ? "ok" : "FAILED"} (report: ${o.out})`);
Deno.exit(ok ? 0 : 1);
