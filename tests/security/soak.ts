/**
 * Churn: containers created, run and deleted concurrently in a loop, from this Deno process
 * (the library) and from the CLI, while the runtime's file descriptors, memory and threads
 * are sampled. Used by `deno task soak` (scripts/soak.ts, 10 minutes) and, shortened, by
 * tests/security/soak_test.ts.
 *
 * @module
 */

import { Factory } from "../../mod.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { mountsUnder } from "../helpers/paths.ts";
import { runNsinit } from "../helpers/run.ts";
import { cgroupDirsNamed, stateEntries } from "./helpers.ts";

/** Options of {@linkcode soak}. */
export interface SoakOptions {
  /** How long to churn, in seconds. */
  seconds: number;
  /** Containers kept in flight by the library at once. */
  concurrency: number;
  /** `nsinit run` processes kept in flight at once (0: none). */
  cliConcurrency: number;
  /** Progress lines go here; default none. */
  log?: (line: string) => void;
}

/** One sample of this process's resources. */
export interface Sample {
  /** Seconds since the start. */
  t: number;
  /** Open file descriptors. */
  fds: number;
  /** Resident memory, KiB. */
  rssKiB: number;
  /** Threads. */
  threads: number;
}

/** What a soak did and found. */
export interface SoakReport {
  /** Containers run by the library. */
  library: number;
  /** Containers run by the CLI. */
  cli: number;
  /** Failures (message, count). */
  failures: Map<string, number>;
  /** Samples after warm-up, first and last included. */
  samples: Sample[];
  /** Anything left behind after the last container: state, cgroups, mounts. */
  leftovers: string[];
}

/** This process's fds, RSS and threads now. */
export function sample(t0: number): Sample {
  const status = Deno.readTextFileSync("/proc/self/status");
  const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return {
    t: (performance.now() - t0) / 1000,
    fds: [...Deno.readDirSync("/proc/self/fd")].length,
    rssKiB: field("VmRSS"),
    threads: field("Threads"),
  };
}

/**
 * Churns containers for `opts.seconds`, then checks that nothing is left. Each container
 * runs `true`; ids, cgroups and the state root are this soak's own.
 */
export async function soak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => {});
  await using b = await makeBundle({ args: ["true"], rootfs: "shared" });
  const factory = new Factory({ root: b.stateRoot });
  const cgroup = b.config.linux!.cgroupsPath!;
  const t0 = performance.now();
  const end = t0 + opts.seconds * 1000;
  const failures = new Map<string, number>();
  const fail = (e: unknown) => {
    const msg = (e instanceof Error ? e.message : String(e)).replace(/\d+/g, "N").slice(0, 200);
    failures.set(msg, (failures.get(msg) ?? 0) + 1);
  };
  let n = 0, library = 0, cli = 0;
  const samples: Sample[] = [];

  const libraryWorker = async () => {
    while (performance.now() < end) {
      const i = n++;
      const id = `${b.id}-${i}`;
      const spec = structuredClone(b.config);
      spec.linux!.cgroupsPath = `${cgroup}-${i}`;
      try {
        const c = await factory.run(id, {
          bundle: b.dir,
          spec,
          stdio: { stdin: "null", stdout: "null", stderr: "null" },
        });
        try {
          await c.wait();
        } finally {
          await c.destroy({ force: true });
        }
        library++;
      } catch (e) {
        fail(e);
      }
    }
  };
  // The CLI reads config.json: one bundle (and so one cgroup) per CLI worker.
  const cliBundles = await Promise.all(
    Array.from(
      { length: opts.cliConcurrency },
      () => makeBundle({ args: ["true"], rootfs: "shared" }),
    ),
  );
  const cliWorker = async (cb: typeof b) => {
    while (performance.now() < end) {
      const id = `${cb.id}-${n++}`;
      // With 100 Deno processes on two cores a run may take long: a timeout is a failure
      // too, but not one of a few seconds.
      const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", cb.dir, id], {
        timeoutMs: 600_000,
      });
      if (r.code === 0) cli++;
      else {
        fail(
          new Error(
            `nsinit run: exit ${r.code}${r.timedOut ? " (timed out)" : ""}: ${r.stderr.trim()}`,
          ),
        );
        // Whatever a failed run left, delete --force removes (and must).
        await runNsinit(["--root", b.stateRoot, "delete", "--force", id]);
      }
    }
  };
  const sampler = async () => {
    // Warm-up: the first containers load the native library, libseccomp, the reaper.
    await new Promise((r) => setTimeout(r, Math.min(5000, opts.seconds * 200)));
    while (performance.now() < end) {
      samples.push(sample(t0));
      const s = samples.at(-1)!;
      log(
        `soak: ${s.t.toFixed(0)}s library ${library} cli ${cli} fds ${s.fds} rss ${
          (s.rssKiB / 1024).toFixed(0)
        } MiB threads ${s.threads}`,
      );
      await new Promise((r) => setTimeout(r, Math.max(1000, opts.seconds * 50)));
    }
  };
  await Promise.all([
    ...Array.from({ length: opts.concurrency }, libraryWorker),
    ...cliBundles.map(cliWorker),
    sampler(),
  ]);
  // Settle: the reaper's last notifications, closed pidfds, and Deno's pool of threads for
  // nonblocking FFI calls, which keeps an idle thread for 10 s.
  await new Promise((r) => setTimeout(r, 12_000));
  samples.push(sample(t0));

  const leftovers = [
    ...stateEntries(b.stateRoot).map((e) => `state ${e}`),
    ...mountsUnder(b.dir).map((m) => `mount ${m}`),
  ];
  // One walk of the cgroup trees for every cgroup this soak made (they share prefixes).
  const prefixes = [cgroup, ...cliBundles.map((cb) => cb.config.linux!.cgroupsPath!)];
  for (const d of cgroupDirsNamed((name) => prefixes.some((p) => name.startsWith(p)), 3)) {
    leftovers.push(`cgroup ${d}`);
  }
  for (const cb of cliBundles) await cb[Symbol.asyncDispose]();
  return { library, cli, failures, samples, leftovers };
}

/**
 * Whether the samples stay flat: fds and threads end where they were after warm-up (a
 * little slack for work in flight when sampled), memory grows by less than `rssSlackMiB`.
 */
export function flat(samples: Sample[], rssSlackMiB = 64): string[] {
  const problems: string[] = [];
  if (samples.length < 2) return ["fewer than two samples"];
  const last = samples.at(-1)!;
  const minFds = Math.min(...samples.map((s) => s.fds));
  if (last.fds > minFds + 8) problems.push(`fds grew: ${minFds} -> ${last.fds}`);
  // Threads: the idle pool has shrunk by the last sample; it must not exceed the first.
  const first = samples[0]!;
  if (last.threads > first.threads + 4) {
    problems.push(`threads grew: ${first.threads} -> ${last.threads}`);
  }
  // Memory from a third into the run (V8's heap has grown to its working size by then).
  const settled = samples[Math.floor(samples.length / 3)]!;
  if (last.rssKiB - settled.rssKiB > rssSlackMiB * 1024) {
    problems.push(`memory grew: ${settled.rssKiB >> 10} -> ${last.rssKiB >> 10} MiB`);
  }
  return problems;
}
