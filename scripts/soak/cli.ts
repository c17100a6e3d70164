/**
 * The CLI side of the soak: `N` concurrent workers create, run and delete containers with
 * the `nsinit` binary in a loop. Each command is its own runtime process, so the soak
 * measures each in flight (fds, peak RSS, threads: the largest seen per interval) and, at
 * drain points, counts what containers left behind.
 *
 *   deno run -A scripts/soak/cli.ts --nsinit PATH --ok BUNDLE --sleep BUNDLE --root DIR \
 *     --logs DIR --duration SECONDS --containers N --drain-every SECONDS --prefix P --marker M \
 *     [--rootless]
 *
 * `--ok` runs `sh -c "echo ok"`, `--sleep` runs `sleep 3600`. `--rootless`: rootless bundles run
 * by an unprivileged user without a cgroup: the exec cycle skips pause and resume. Prints the JSON lines of
 * `library.ts` (a sample's fds/rssKiB/threads are the largest of the commands in flight,
 * rssKiB their peak) and one `{"command": {t, verb, fds, rssKiB, threads}}` per command
 * that was measured (one that ends within ~150 ms may not be).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { countLeftovers, measure, type Sample } from "./measure.ts";
import { cycleKind, sleep } from "./shared.ts";

const { values: o } = parseArgs({
  options: {
    nsinit: { type: "string" },
    ok: { type: "string" },
    sleep: { type: "string" },
    root: { type: "string" },
    logs: { type: "string" },
    duration: { type: "string", default: "60" },
    containers: { type: "string", default: "100" },
    "drain-every": { type: "string", default: "10" },
    "sample-every": { type: "string", default: "1" },
    prefix: { type: "string", default: "soak" },
    marker: { type: "string", default: "" },
    rootless: { type: "boolean", default: false },
  },
});
for (const k of ["nsinit", "ok", "sleep", "root", "logs"] as const) {
  if (!o[k]) throw new Error(`cli.ts: --${k} is required`);
}
const nsinit = o.nsinit!, root = o.root!, logs = o.logs!;
const duration = Number(o.duration) * 1000;
const containers = Number(o.containers);
const drainEvery = Number(o["drain-every"]) * 1000;
const sampleEvery = Number(o["sample-every"]) * 1000;

const t0 = performance.now();
let inflight = 0, cycles = 0, errors = 0, commands = 0;
let gate: PromiseWithResolvers<void> | undefined;
let stopping = false;
// Commands in flight: the largest fds, peak RSS and threads seen of each so far.
const running = new Map<number, { fds: number; rssKiB: number; threads: number } | undefined>();
let peak = { fds: 0, rssKiB: 0, threads: 0 };

const emit = (x: unknown) => console.log(JSON.stringify(x));
const now = () => Math.round((performance.now() - t0) / 100) / 10;

/** Measures every command in flight. */
function look(): void {
  for (const [pid, was] of running) {
    try {
      // Only the runtime itself: not the launcher (dist/nsinit) before its exec, nor a zombie.
      if (Deno.readTextFileSync(`/proc/${pid}/comm`).trim() !== "deno") continue;
      const m = measure(pid);
      if (m.hwmKiB === 0) continue;
      const seen = {
        fds: Math.max(was?.fds ?? 0, m.fds),
        rssKiB: Math.max(was?.rssKiB ?? 0, m.hwmKiB),
        threads: Math.max(was?.threads ?? 0, m.threads),
      };
      running.set(pid, seen);
      peak = {
        fds: Math.max(peak.fds, seen.fds),
        rssKiB: Math.max(peak.rssKiB, seen.rssKiB),
        threads: Math.max(peak.threads, seen.threads),
      };
    } catch { /* exited meanwhile */ }
  }
}

function sample(): Sample {
  look();
  const s = { t: now(), ...peak, inflight, cycles };
  peak = { fds: 0, rssKiB: 0, threads: 0 };
  return s;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `nsinit --root ROOT --log LOG args...`. A detached container inherits the command's
 * stdio, so `detached` commands get /dev/null and report through the log file.
 */
async function nsinitCmd(id: string, args: string[], detached = false): Promise<Result> {
  const log = `${logs}/${id}.log`;
  const child = new Deno.Command(nsinit, {
    args: ["--root", root, "--log", log, ...args],
    stdin: "null",
    stdout: detached ? "null" : "piped",
    stderr: detached ? "null" : "piped",
  }).spawn();
  running.set(child.pid, undefined);
  commands++;
  // Measured once early too: most commands end between two samples.
  const early = setTimeout(look, 150);
  try {
    if (detached) {
      const st = await child.status;
      return { code: st.code, stdout: "", stderr: "" };
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(early);
    const seen = running.get(child.pid);
    running.delete(child.pid);
    // What each command (by verb) took, for the trend per verb.
    if (seen) emit({ command: { t: now(), verb: args[0], ...seen } });
  }
}

async function must(id: string, args: string[], detached = false): Promise<Result> {
  const r = await nsinitCmd(id, args, detached);
  if (r.code !== 0) {
    let log = "";
    try {
      log = Deno.readTextFileSync(`${logs}/${id}.log`).trim().split("\n").slice(-3).join(" | ");
    } catch { /* no log */ }
    throw new Error(
      `nsinit ${args.join(" ")}: exit ${r.code}: ${(r.stderr.trim() || log).slice(0, 400)}`,
    );
  }
  return r;
}

async function status(id: string): Promise<string> {
  return JSON.parse((await must(id, ["state", id])).stdout).status;
}

function expect(what: string, got: unknown, want: unknown): void {
  if (got !== want) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function cycle(id: string, k: number): Promise<void> {
  switch (cycleKind(k)) {
    case "create-start": {
      await must(id, ["create", "--bundle", o.ok!, id], true);
      expect("status after create", await status(id), "created");
      await must(id, ["start", id]);
      let st = "running";
      for (let i = 0; i < 300 && st !== "stopped"; i++) {
        await sleep(100);
        st = await status(id);
      }
      expect("status after the process ended", st, "stopped");
      await must(id, ["delete", id]);
      break;
    }
    case "run": {
      const r = await must(id, ["run", "--bundle", o.ok!, id]);
      expect("output of run", r.stdout, "ok\n");
      break;
    }
    case "exec": {
      await must(id, ["run", "--detach", "--bundle", o.sleep!, id], true);
      expect("status after run --detach", await status(id), "running");
      const r = await must(id, ["exec", id, "sh", "-c", "echo ok"]);
      expect("output of exec", r.stdout, "ok\n");
      if (!o.rootless) {
        await must(id, ["pause", id]);
        expect("status after pause", await status(id), "paused");
        await must(id, ["resume", id]);
      }
      await must(id, ["kill", id, "KILL"]);
      await must(id, ["delete", "--force", id]);
      break;
    }
    case "create-delete":
      await must(id, ["create", "--bundle", o.ok!, id], true);
      await must(id, ["delete", "--force", id]);
      break;
  }
  const gone = await nsinitCmd(id, ["state", id]);
  expect("state of a deleted container exits non-zero", gone.code !== 0, true);
}

async function worker(w: number): Promise<void> {
  for (let k = 0; !stopping; k++) {
    while (gate) await gate.promise;
    if (stopping) break;
    inflight++;
    const id = `${o.prefix}-${w}-${k}`;
    try {
      await cycle(id, k + w);
      cycles++;
    } catch (e) {
      errors++;
      emit({ error: `${id}: ${e instanceof Error ? e.message : e}` });
      await nsinitCmd(id, ["delete", "--force", id]).catch(() => {});
    } finally {
      inflight--;
      try {
        Deno.removeSync(`${logs}/${id}.log`);
      } catch { /* never written */ }
    }
  }
}

async function drain(): Promise<void> {
  gate = Promise.withResolvers<void>();
  while (inflight > 0) await sleep(20);
  await sleep(200);
  emit({
    drain: { t: now(), fds: 0, rssKiB: 0, threads: 0, inflight, cycles },
    leftovers: countLeftovers({ root, prefix: o.prefix!, marker: o.marker! }),
    commands,
  });
  const g = gate;
  gate = undefined;
  g.resolve();
}

const sampler = setInterval(() => emit({ sample: sample() }), sampleEvery);
const workers = Array.from({ length: containers }, (_, w) => worker(w));
// A first drain after a warm-up round (or a sixth of the time, on a slow machine).
while (cycles < containers && now() * 1000 < duration / 6) await sleep(50);
await drain();
let next = performance.now() + drainEvery;
while (performance.now() - t0 < duration) {
  await sleep(Math.max(0, Math.min(next, t0 + duration) - performance.now()));
  if (performance.now() >= next) {
    await drain();
    next = performance.now() + drainEvery;
  }
}
stopping = true;
gate?.resolve();
await Promise.all(workers);
clearInterval(sampler);
await drain();
emit({ done: { cycles, errors, commands, seconds: now() } });
