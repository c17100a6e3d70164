/**
 * Whether CRIU can dump a process on this kernel at all, asked before anything waits on a
 * checkpoint: the checkpoint tests (tests/checkpoint/helpers.ts) and the benchmark skip, saying
 * why, where it cannot.
 *
 * @module
 */

import { REPO_ROOT } from "./paths.ts";

/** How long {@link criuCannotDump}'s dump may take before CRIU counts as hung. */
const PROBE_TIMEOUT_MS = 30_000;

/**
 * Why CRIU cannot dump a process on this kernel, or undefined when it can: a dump of a
 * sleeping process that leads its own session (no container, no runtime), given 30 s. Some
 * kernels never stop the task on its way out of rt_sigreturn while CRIU cures it of its parasite,
 * and CRIU then waits for it forever (criu#162; seen on 6.18.44-fc-v1045 with CRIU 4.1.1): every
 * checkpoint would hang instead of failing. The answer is kept for this boot of this kernel and
 * this criu in `.cache/criu-probe/` (each test module would otherwise ask again: 30 s each where
 * it hangs). Only what the probe starts is ended, by pid.
 */
export async function criuCannotDump(criu: string): Promise<string | undefined> {
  const key = probeKey(criu);
  const file = `${REPO_ROOT}/.cache/criu-probe/${key.boot}.json`;
  try {
    const kept = JSON.parse(Deno.readTextFileSync(file));
    if (kept.criu === key.criu && kept.mtime === key.mtime) return kept.reason ?? undefined;
  } catch { /* not asked yet on this boot */ }
  const reason = await probe(criu);
  try {
    Deno.mkdirSync(`${REPO_ROOT}/.cache/criu-probe`, { recursive: true });
    Deno.writeTextFileSync(file, JSON.stringify({ ...key, reason: reason ?? null }));
  } catch { /* asked again next time */ }
  return reason;
}

/** What the probe's answer depends on: this boot (its kernel), the criu binary. */
function probeKey(criu: string): { boot: string; criu: string; mtime: number } {
  let boot = "unknown";
  try {
    boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch { /* no procfs: asked every time */ }
  let mtime = 0;
  try {
    mtime = Deno.statSync(criu).mtime?.getTime() ?? 0;
  } catch { /* missing: the dump says so */ }
  return { boot, criu, mtime };
}

async function probe(criu: string): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-criu-probe-" });
  // Its own session (CRIU dumps no task whose session leader is outside the tree, and in the
  // VM the tests' session leader is outside their pid namespace). setsid(1) execs in place: a
  // child of Deno leads no process group, so setsid(2) needs no fork; the pid stays the one
  // spawned, which is checked below before anything is dumped.
  const sleeper = new Deno.Command("setsid", {
    args: ["sleep", "60"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    if (!(await leadsSession(sleeper.pid))) {
      return `could not start a process of its own session to dump (setsid sleep 60, pid ${sleeper.pid})`;
    }
    const dump = new Deno.Command(criu, {
      args: ["dump", "-t", String(sleeper.pid), "-D", dir, "-o", "dump.log", "-v4"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      dump.kill("SIGKILL");
    }, PROBE_TIMEOUT_MS);
    const out = await dump.output();
    clearTimeout(timer);
    if (out.code === 0 && !hung) return undefined;
    const log = await Deno.readTextFile(`${dir}/dump.log`).catch(() => "");
    const kernel = Deno.osRelease();
    if (hung) {
      return `CRIU hangs dumping a plain process on this kernel (${kernel}): no answer in ` +
        `${PROBE_TIMEOUT_MS / 1000} s, the last of its log: ${log.trim().split("\n").pop()}`;
    }
    // The first error names the cause; the last is only "Dumping FAILED".
    const error = log.split("\n").find((l) => /Error/.test(l))?.trim() ??
      new TextDecoder().decode(out.stderr).trim();
    return `CRIU cannot dump a plain process on this kernel (${kernel}): ${error}`;
  } finally {
    // A dump that worked ended it; otherwise it is ours to end (a positive pid we spawned).
    if (sleeper.pid > 0) {
      try {
        Deno.kill(sleeper.pid, "SIGKILL");
      } catch { /* dumped and gone */ }
    }
    await sleeper.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Whether `pid` has become `sleep`, leading its own session (field 6 of its stat), within 5 s. */
async function leadsSession(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (stat.includes("(sleep)") && Number(rest[3]) === pid) return true;
    } catch {
      return false; // gone
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
