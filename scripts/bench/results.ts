/**
 * The shape of `.cache/bench/results.json` and the targets evaluated from it.
 *
 * @module
 */

import type { SandboxBench } from "./sandbox.ts";
import type { PhaseRow } from "./phases.ts";
import type { MemoryUse } from "../../util/trace.ts";
import type { Summary } from "./stats.ts";
import { ratio, round } from "./stats.ts";

/** The runtimes compared on the command line. */
export type RuntimeName = "runc" | "crun" | "nsinit";

/** The CLI steps a containerd shim drives, in order. */
export const LIFECYCLE_STEPS = ["create", "start", "state", "kill", "delete"] as const;

/** One of {@link LIFECYCLE_STEPS}. */
export type LifecycleStep = typeof LIFECYCLE_STEPS[number];

/** How crun could be run on this host. */
export interface CrunStatus {
  /**
   * "native": it ran as is. "v1-view": it refused the host's cgroup layout and ran in a mount
   * namespace without the cgroup2 mount (a plain v1 host to it), through nsenter.
   * "refused": it refused and the fallback failed too. "missing": not installed.
   */
  mode: "native" | "v1-view" | "refused" | "missing";
  /** What crun said when it refused (empty when it did not). */
  refusal: string;
  /** Why the fallback failed, if it did. */
  fallbackError?: string;
  /** Median cost of the nsenter prefix alone (`nsenter ... /bin/true` minus `/bin/true`), ms. */
  nsenterOverheadMs?: number;
}

/** A batch of containers. */
export interface BatchResult {
  /** Containers in the batch. */
  n: number;
  /** Wall time of the whole batch, ms. */
  totalMs: number;
  /** Containers per second. */
  perSecond: number;
  /**
   * CPU time of the benchmark process's main thread during the batch, ms: the event loop,
   * on which all JavaScript runs (library batches only; absent in older results).
   */
  loopCpuMs?: number;
  /** CPU time of all of the benchmark process's threads during the batch, ms. */
  processCpuMs?: number;
  /**
   * CPU time of the processes the benchmark process reaped during the batch (the containers'
   * inits and nsinit's helpers), ms.
   */
  childrenCpuMs?: number;
  /** How long the machine's CPUs were busy during the batch, all of them together, ms. */
  machineBusyMs?: number;
  /** Of {@link processCpuMs}, the system time: in the kernel on the process's behalf, ms. */
  processSysMs?: number;
  /** Of {@link childrenCpuMs}, the system time, ms. */
  childrenSysMs?: number;
  /**
   * Each round's wall time, ms, when the batch was run several times (the order of the kinds
   * rotating): the figures above are those of the median round.
   */
  rounds?: number[];
}

/** Everything one benchmark run measured. */
export interface BenchResults {
  /** Format version of this file. */
  schema: 1;
  /** When the run started (ISO 8601). */
  date: string;
  /** Whether it was a `--quick` run. */
  quick: boolean;
  /** Wall time of the whole run, seconds. */
  durationS: number;
  /** The machine. */
  machine: {
    kernel: string;
    cpu: string;
    cores: number;
    memoryGiB: number;
    runFs: string;
    cgroups: string;
    loadBefore: number[];
    loadAfter: number[];
  };
  /** Versions of what ran. */
  versions: { deno: string; runc: string; crun: string; nsinit: string };
  /** Whether and how crun ran. */
  crun: CrunStatus;
  /** Iterations of each section (after the warm-up). */
  iterations: {
    cliRun: number;
    lifecycle: number;
    library: number;
    batch: number;
    memory: number;
    warmup: number;
  };
  /**
   * `checkpoint` and `restore -d` of one running `sleep` container through the CLI, runc and
   * nsinit with the same criu (absent: no criu on PATH, or an older results file).
   */
  checkpoint?: Partial<Record<RuntimeName, { checkpoint: Summary; restore: Summary }>> & {
    /** A runtime whose checkpoint or restore failed here, and its error (then it has no figures). */
    failed?: Partial<Record<RuntimeName, string>>;
    /** Why none was measured: CRIU cannot dump a plain process on this kernel. */
    skipped?: string;
  };
  /**
   * `run` of `/bin/true` with the systemd cgroup driver (`--systemd-cgroup`, a transient scope
   * per container), runc and nsinit interleaved; `where` says which systemd (absent: it could
   * not run, or an older results file).
   */
  systemdRun?: { runc: Summary; nsinit: Summary; where: string };
  /** `/bin/true` through Deno.Command: the cost every CLI figure includes. */
  spawnOverhead: Summary;
  /** `run` of `/bin/true` to exit, per runtime (absent: not run). */
  cliRun: Partial<Record<RuntimeName, Summary>>;
  /** create, start, state, kill, delete per runtime; `total` sums them; `exitWait` is after kill. */
  lifecycle: Partial<Record<RuntimeName, Record<LifecycleStep | "total" | "exitWait", Summary>>>;
  /**
   * The CLI floor (scripts/bench/floor_cli.ts bundled into one file, run as `deno run` with
   * the launcher's flags and `NSINIT_LIBDIR`): `exec` only loads libnsinit, clones into the
   * spec's namespaces and execs `/bin/true`; `cgroups` also makes the container's cgroups,
   * places the child in them and removes them. Wall ms, interleaved with the runtimes' `run`
   * rounds, with `emptyDeno`, an empty `deno run` (the same flags), in the same rotation; peak
   * RSS of each, KiB (median). Absent in older results, or when it could not run.
   */
  cliFloor?: {
    exec: Summary;
    cgroups?: Summary;
    emptyDeno: Summary;
    execKiB?: number;
    cgroupsKiB?: number;
  };
  /**
   * The verb floors (scripts/bench/floor_verbs.js, with the launcher's flags and
   * `NSINIT_LIBDIR`): the least a Deno program does for `start`, `state`, `kill` (KILL) and
   * `delete` of a container nsinit created, each on a second container per lifecycle round,
   * in the same rotation as the runtimes. Wall ms. Absent in older results.
   */
  verbFloor?: Record<"start" | "state" | "kill" | "delete", Summary>;
  /** From one long-lived Deno process: `run`+wait+destroy and create+start+wait+destroy. */
  library: { run: Summary; createStart: Summary };
  /**
   * Namespaced spawns of `/bin/true` with no runtime work, from the library's loop: `helper`
   * clones and execs; `initPlan` runs the bench spec's whole init plan (core/init_plan.ts:
   * mounts, pivot_root, masks, /dev) through the helper; `initPlanCgroups` also makes the
   * container's cgroups, places the child (v2: clones into it) and removes them after the
   * exit; `lifecycle` runs that as an OCI create, start and delete must (the state
   * directory, its lock, state.json, the exec fifo and a separate start, the removal:
   * scripts/bench/floor_lib.ts's lifecycleSpawn). The last three are absent in older results.
   */
  floor: {
    helper: Summary;
    unshare: Summary;
    initPlan?: Summary;
    initPlanCgroups?: Summary;
    lifecycle?: Summary;
  };
  /** Batches of containers. */
  batch: {
    librarySequential: BatchResult;
    libraryConcurrent: BatchResult;
    /**
     * The library ladder's cgroups floor (scripts/bench/floor_lib.ts initPlanCgroupsSpawn:
     * the spec's init plan and the cgroups, no runtime work), all of the batch at once from
     * this process: what the kernel and the containers' own processes allow (absent in
     * older results).
     */
    floorConcurrent?: BatchResult;
    /**
     * The ladder's OCI lifecycle floor (scripts/bench/floor_lib.ts lifecycleSpawn: the
     * cgroups floor with an OCI runtime's state directory, lock, state.json, exec fifo,
     * separate start and removal; a state directory each, the cgroup files off the event
     * loop), all of the batch at once from this process (absent in older results).
     */
    lifecycleConcurrent?: BatchResult;
    /**
     * The same floor, the batch one after another from this process (absent in older
     * results).
     */
    lifecycleSequential?: BatchResult;
    cliSequential: Partial<Record<RuntimeName, BatchResult>>;
  };
  /** Peak RSS of the runtime process for one `run`, KiB (median). */
  memoryKiB: Partial<Record<RuntimeName, number>>;
  /** Start-up of bare commands (`--version`, an empty `deno run`), ms. */
  startup: Record<string, Summary>;
  /**
   * When Deno runs the first line of a one-line file (`performance.now()` there, that is ms
   * from Deno's clock start), with the launcher's flags: what the CLI's first phase (main.js
   * loaded, from the same start) compares with (absent in older results).
   */
  firstLineMs?: Summary;
  /** Parts of nsinit's work measured alone in the bench process, ms. */
  components: Record<string, Summary>;
  /** Sandbox start-up against bubblewrap (absent in results from before it was measured). */
  sandbox?: SandboxBench;
  /** Which machine ran it, for a report of several (e.g. `cgroup v2 VM`); absent: this host. */
  label?: string;
  /**
   * Where nsinit's time goes (absent in older results): the CLI's phases from its
   * `NSINIT_TRACE` marks, for `run` and each lifecycle step; the library's for `run` + wait +
   * destroy, one at a time and (the same containers' phases) all at once.
   */
  phases?: {
    cliRun: PhaseRow[];
    lifecycle: Partial<Record<LifecycleStep, PhaseRow[]>>;
    library: PhaseRow[];
    libraryConcurrent: PhaseRow[];
  };
  /** Peak RSS of an empty `deno run` with the launcher's flags, KiB (absent in older results). */
  emptyDenoKiB?: number;
  /** An empty `deno run` (the launcher's flags) timed in every lifecycle round, interleaved. */
  lifecycleEmptyDeno?: Summary;
  /**
   * Each verb's time minus the empty `deno run` of the same lifecycle round, summarized over
   * the rounds: nsinit's and its floor's. The 5 ms targets use these paired differences (a
   * machine whose speed drifts during the run moves both sides of a pair alike), the medians
   * of the two sides otherwise (older results).
   */
  lifecycleOverEmpty?: {
    nsinit: Record<"start" | "state" | "kill" | "delete", Summary>;
    floor?: Record<"start" | "state" | "kill" | "delete", Summary>;
  };
  /** Peak RSS of nsinit commands that start no container (e.g. `--version`, `list`), KiB. */
  cliRssKiB?: Record<string, number>;
  /**
   * What the resident memory is made of at the exit (medians of `/proc/self/status`'s
   * `RssAnon`, `RssFile`, `Threads`): of a traced `dist/nsinit run`, and of a `deno run`
   * (the launcher's flags) of a file that only reads them (absent in older results).
   */
  memoryMakeup?: { run: MemoryUse; denoRun: MemoryUse };
  /** The library's memory per tracked running container. */
  libraryMemory?: LibraryMemory;
}

/**
 * The benchmark process's RSS before and after it started `running` containers (`sleep`)
 * from the library and kept them, and the difference per container, KiB.
 */
export interface LibraryMemory {
  running: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  perContainerKiB: number;
  /**
   * V8's heap and external buffers, after a full collection, before and after (absent when
   * the benchmark ran without `--v8-flags=--expose-gc`), and the difference per container.
   */
  heapBeforeKiB?: number;
  heapAfterKiB?: number;
  perContainerHeapKiB?: number;
}

/** The `startup` entry of an empty `deno run` with the launcher's flags. */
export const EMPTY_DENO_RUN = "`deno run` of an empty file (the launcher's flags)";

/** A goal and whether this run met it. */
export interface TargetResult {
  /** The goal, in words. */
  goal: string;
  /** true: met; false: not met; null: could not be evaluated. */
  met: boolean | null;
  /** The measured figure, in words. */
  value: string;
}

/**
 * Evaluates issue 14's performance goals against a run's results (each `met`, `not met`, or
 * `null` when the run could not measure it). They are design goals reported as ratios, never
 * asserted in tests.
 *
 * @example
 * ```ts ignore
 * import { evaluateTargets } from "./results.ts";
 * const results = JSON.parse(Deno.readTextFileSync(".cache/bench/results.json"));
 * for (const t of evaluateTargets(results)) console.log(t.met, t.goal, t.value);
 * ```
 */
export function evaluateTargets(r: BenchResults): TargetResult[] {
  const out: TargetResult[] = [];
  const add = (goal: string, met: boolean | null, value: string) => out.push({ goal, met, value });
  const nsinit = r.cliRun.nsinit?.median;
  const runc = r.cliRun.runc?.median;
  const c = ratio(nsinit, runc);
  add(
    "CLI `nsinit run` no slower than `runc run`",
    c === null ? null : c <= 1,
    c === null ? "not evaluated" : `nsinit ${fmt(nsinit!)} ms vs runc ${fmt(runc!)} ms = ${c}x`,
  );
  // Side by side with the steps when the run measured it so (older runs: the start-up section).
  const empty = r.lifecycleEmptyDeno?.median ?? r.startup[EMPTY_DENO_RUN]?.median;
  for (const step of ["start", "state", "kill", "delete"] as const) {
    const s = r.lifecycle.nsinit?.[step]?.median;
    const paired = r.lifecycleOverEmpty;
    const over = paired
      ? paired.nsinit[step].median
      : s !== undefined && empty !== undefined
      ? s - empty
      : undefined;
    // The verb's floor does all an empty run does and more: a floor below the empty run says
    // the rounds were too few or too noisy to compare (a VM run of 3 rounds did that once).
    const floor = r.verbFloor?.[step]?.median;
    const floorOver = paired?.floor
      ? paired.floor[step].median
      : floor !== undefined && empty !== undefined
      ? floor - empty
      : undefined;
    // So does a verb that came out below the empty run: it does all the empty run does too.
    // (Only for runs that paired each verb with its round's empty run: older results' medians
    // came from other sections.)
    const noisy = (floorOver !== undefined && floorOver < 0) ||
      (paired !== undefined && over !== undefined && over < 0);
    add(
      `CLI \`nsinit ${step}\` within 5 ms of an empty \`deno run\` (the launcher's flags)`,
      over === undefined || noisy ? null : over <= 5,
      over === undefined
        ? "not evaluated"
        : noisy
        ? floorOver !== undefined && floorOver < 0
          ? `too noisy to compare (the verb's floor, which does more than an ` +
            `empty run, took ${fmt(floor!)} ms against its ${fmt(empty!)} ms); nsinit ${fmt(s!)} ms`
          : `too noisy to compare (nsinit's \`${step}\`, which does all an empty run does ` +
            `and more, came out ${fmt(-over)} ms below it); nsinit ${fmt(s!)} ms against ` +
            `${fmt(empty!)} ms`
        : `${fmt(s!)} ms vs ${fmt(empty!)} ms: ${over >= 0 ? "+" : ""}${fmt(over)} ms` +
          (paired ? " (median of the rounds' differences)" : ""),
    );
  }
  const lib = r.library.createStart.median;
  const crun = r.cliRun.crun?.median;
  const crunNote = r.crun.mode === "v1-view" ? " (crun in a cgroup v1 view, see above)" : "";
  const q = ratio(lib, crun);
  add(
    "library `create` + `start` + wait + destroy <= 0.25x `crun run`",
    q === null ? null : q <= 0.25,
    q === null
      ? `not evaluated: crun did not run (${r.crun.mode}); library ${fmt(lib)} ms`
      : `library ${fmt(lib)} ms vs crun ${fmt(crun!)} ms = ${q}x${crunNote}`,
  );
  const floor = r.floor.helper.median;
  const f = ratio(lib, floor);
  add(
    "library `create` + `start` + wait + destroy within 2x of the floor (helper clone + exec)",
    f === null ? null : f <= 2,
    `library ${fmt(lib)} ms vs floor ${fmt(floor)} ms = ${f ?? "n/a"}x`,
  );
  const conc = r.batch.libraryConcurrent;
  const seq = r.batch.cliSequential.runc;
  // Batches of different sizes (a quick run) compare per container.
  const perContainer = (b: BatchResult) => b.totalMs / b.n;
  const speedup = seq && conc.n > 0 && seq.n > 0
    ? round(perContainer(seq) / perContainer(conc), 2)
    : null;
  add(
    `${conc.n} concurrent containers from one Deno process >= 10x faster in total than ` +
      `${conc.n} sequential \`runc run\``,
    speedup === null ? null : speedup >= 10,
    speedup === null
      ? "not evaluated"
      : `${fmt(conc.totalMs)} ms vs ${fmt(seq!.totalMs * conc.n / seq!.n)} ms = ${speedup}x faster`,
  );
  const libSeq = r.batch.librarySequential;
  const gain = libSeq.n > 0 && conc.n > 0
    ? round(perContainer(libSeq) / perContainer(conc), 2)
    : null;
  add(
    `${conc.n} concurrent containers >= 1.8x faster than the same ${conc.n} one after another ` +
      "from the library",
    gain === null ? null : gain >= 1.8,
    gain === null
      ? "not evaluated"
      : `${fmt(conc.totalMs)} ms vs ${fmt(libSeq.totalMs)} ms = ${gain}x faster`,
  );
  const rss = r.memoryKiB.nsinit;
  const emptyRss = r.emptyDenoKiB;
  const m = ratio(rss, emptyRss);
  add(
    "peak RSS of a CLI `run` within 1.2x of an empty `deno run`",
    m === null ? null : m <= 1.2,
    m === null
      ? "not evaluated"
      : `${(rss! / 1024).toFixed(1)} MiB vs ${(emptyRss! / 1024).toFixed(1)} MiB = ${m}x`,
  );
  const lm = r.libraryMemory;
  add(
    "the library's memory per tracked running container under 1 MB",
    // The larger of the two measures counts: RSS (all of it, native too) and the JS heap
    // retained after a full collection (exact, where RSS moves with the collector's timing).
    lm ? Math.max(lm.perContainerKiB, lm.perContainerHeapKiB ?? -Infinity) * 1024 < 1e6 : null,
    lm ? libraryMemoryText(lm) : "not evaluated",
  );
  return out;
}

/** The library memory target's figures, in words. */
function libraryMemoryText(lm: LibraryMemory): string {
  const rss = `RSS ${(lm.rssBeforeKiB / 1024).toFixed(1)} MiB -> ${
    (lm.rssAfterKiB / 1024).toFixed(1)
  } MiB with ${lm.running} running`;
  if (lm.perContainerHeapKiB === undefined) {
    return `${lm.perContainerKiB.toFixed(0)} KiB per container (${rss})`;
  }
  return `${lm.perContainerHeapKiB.toFixed(1)} KiB of JS heap retained per container after a ` +
    `full collection (${(lm.heapBeforeKiB! / 1024).toFixed(1)} MiB -> ${
      (lm.heapAfterKiB! / 1024).toFixed(1)
    } MiB), ${lm.perContainerKiB.toFixed(0)} KiB by RSS (${rss})`;
}

/** A number of milliseconds for a table: 3 significant digits, at most 2 decimals. */
export function fmt(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}
