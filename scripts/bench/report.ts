/**
 * Turns benchmark results into `docs/benchmarks.md` and the panels of `docs/benchmarks.svg`.
 * Every number in both comes from the results.
 *
 * @module
 */

import type { Panel } from "./chart.ts";
import {
  type BatchResult,
  type BenchResults,
  EMPTY_DENO_RUN,
  evaluateTargets,
  fmt,
  LIFECYCLE_STEPS,
  type RuntimeName,
} from "./results.ts";
import { ratio } from "./stats.ts";
import type { PhaseRow } from "./phases.ts";
import type { Summary } from "./stats.ts";

const RUNTIMES: RuntimeName[] = ["runc", "crun", "nsinit"];

/** The verbs with a 5 ms target and a floor. */
const VERBS = ["start", "state", "kill", "delete"] as const;

/** A difference in ms with its sign. */
function signed(ms: number): string {
  return `${ms < 0 ? "−" : "+"}${fmt(Math.abs(ms))}`;
}

/** The name a runtime has in tables: crun run in a cgroup v1 view is "crun*". */
function label(r: BenchResults, rt: RuntimeName): string {
  if (rt === "crun" && r.crun.mode === "v1-view") return "crun*";
  if (rt === "nsinit") return "nsinit (dist/nsinit)";
  return rt;
}

function row(cells: (string | number)[]): string {
  return `| ${cells.join(" | ")} |`;
}

function sumRow(name: string, s: Summary | undefined, extra: string[] = []): string {
  if (!s) return row([name, "—", "—", ...extra]);
  return row([name, fmt(s.median), fmt(s.p90), ...extra]);
}

/** The bar-chart panels for the results. */
export function chartPanels(r: BenchResults, machine?: string): Panel[] {
  const one: Panel = {
    title: "One container running /bin/true, median (tick: p90)",
    unit: "ms",
    bars: [],
  };
  one.bars.push({
    label: "floor: nsinit helper, clone+exec",
    value: r.floor.helper.median,
    tick: r.floor.helper.p90,
    kind: "floor",
  });
  one.bars.push({
    label: "floor: unshare + chroot (CLI)",
    value: r.floor.unshare.median,
    tick: r.floor.unshare.p90,
    kind: "floor",
  });
  const ladderBars: [string, Summary | undefined][] = [
    ["floor: + the spec's init plan", r.floor.initPlan],
    ["floor: init plan + cgroups", r.floor.initPlanCgroups],
    ["floor: + OCI create/start/delete", r.floor.lifecycle],
  ];
  for (const [label, x] of ladderBars) {
    if (x) one.bars.push({ label, value: x.median, tick: x.p90, kind: "floor" });
  }
  if (r.cliFloor) {
    one.bars.push({
      label: "CLI floor: deno run, clone+exec",
      value: r.cliFloor.exec.median,
      tick: r.cliFloor.exec.p90,
      kind: "floor",
    });
    if (r.cliFloor.cgroups) {
      one.bars.push({
        label: "CLI floor: + cgroups",
        value: r.cliFloor.cgroups.median,
        tick: r.cliFloor.cgroups.p90,
        kind: "floor",
      });
    }
  }
  one.bars.push({
    label: "nsinit library: run+wait+destroy",
    value: r.library.run.median,
    tick: r.library.run.p90,
    kind: "nsinit",
  });
  one.bars.push({
    label: "nsinit library: create+start+…",
    value: r.library.createStart.median,
    tick: r.library.createStart.p90,
    kind: "nsinit",
  });
  for (const rt of RUNTIMES) {
    const s = r.cliRun[rt];
    if (s) {
      one.bars.push({
        label: `${label(r, rt).replace(" (dist/nsinit)", "")} run (CLI)`,
        value: s.median,
        tick: s.p90,
        kind: rt,
      });
    }
  }
  const batch: Panel = {
    title: `${r.batch.libraryConcurrent.n} containers, total wall time`,
    unit: "ms",
    bars: [],
  };
  batch.bars.push({
    label: "nsinit library, concurrent",
    value: r.batch.libraryConcurrent.totalMs,
    kind: "nsinit",
  });
  batch.bars.push({
    label: "nsinit library, sequential",
    value: r.batch.librarySequential.totalMs,
    kind: "nsinit",
  });
  for (const rt of RUNTIMES) {
    const b = r.batch.cliSequential[rt];
    if (b) {
      batch.bars.push({
        label: `${label(r, rt).replace(" (dist/nsinit)", "")} run, sequential`,
        value: b.totalMs,
        kind: rt,
      });
    }
  }
  const mem: Panel = { title: "Peak RSS of the runtime process, one run", unit: "MiB", bars: [] };
  for (const rt of RUNTIMES) {
    const k = r.memoryKiB[rt];
    if (k !== undefined) {
      mem.bars.push({
        label: label(r, rt).replace(" (dist/nsinit)", ""),
        value: k / 1024,
        kind: rt,
      });
    }
  }
  const f = r.cliFloor;
  if (f?.execKiB !== undefined) {
    mem.bars.push({ label: "CLI floor: clone+exec", value: f.execKiB / 1024, kind: "floor" });
  }
  if (f?.cgroupsKiB !== undefined) {
    mem.bars.push({ label: "CLI floor: + cgroups", value: f.cgroupsKiB / 1024, kind: "floor" });
  }
  if (machine) { for (const p of [one, batch, mem]) p.title = `${machine}: ${p.title}`; }
  return [one, batch, mem];
}

/** The footer lines of the chart. */
export function chartFooter(r: BenchResults): string[] {
  const lines = [
    `${r.date.slice(0, 10)}${
      r.quick ? " (quick run)" : ""
    }, Linux ${r.machine.kernel}, ${r.machine.cores} cores, ` +
    `load ${
      r.machine.loadBefore[0]
    }; ${r.versions.runc}, ${r.versions.crun}, ${r.versions.nsinit}, ${r.versions.deno}.`,
  ];
  if (r.crun.mode === "v1-view") {
    lines.push(
      "crun*: crun refuses this hybrid cgroup host; run in a mount namespace without the cgroup2 mount.",
    );
  }
  return lines;
}

/** Options of {@link renderReport}. */
export interface ReportOptions {
  /**
   * The results of the machine the report leads with (this host), when `r` is another one
   * (the VM): the 5 ms targets' explanations scale by the two machines' empty `deno run`.
   */
  reference?: BenchResults;
}

/**
 * Renders `docs/benchmarks.md`.
 *
 * @example
 * ```ts ignore
 * import { renderReport } from "./report.ts";
 * const results = JSON.parse(Deno.readTextFileSync(".cache/bench/results.json"));
 * Deno.writeTextFileSync("docs/benchmarks.md", renderReport(results));
 * ```
 */
export function renderReport(
  r: BenchResults,
  others: BenchResults[] = [],
  opts: ReportOptions = {},
): string {
  const L: string[] = [];
  const m = r.machine;
  L.push("# Benchmarks: nsinit, runc and crun side by side");
  L.push("");
  L.push(
    "Generated by `deno task bench` (`scripts/bench.ts`) from `.cache/bench/results.json` " +
      "(and, for the cgroup v2 VM, `.cache/bench/v2vm.json`, from `deno task bench --vm`); " +
      "do not edit by hand. The chart, `benchmarks.svg`, is drawn from the same files.",
  );
  L.push("");
  L.push("![benchmarks](benchmarks.svg)");
  L.push("");
  L.push("## Machine");
  L.push("");
  L.push(row(["", ""]));
  L.push(row(["---", "---"]));
  L.push(row(["date", r.date]));
  L.push(
    row([
      "run",
      `${r.quick ? "quick (`--quick`, few iterations: indicative only)" : "full"}, ${
        r.durationS.toFixed(0)
      } s`,
    ]),
  );
  L.push(row(["kernel (`uname -r`)", m.kernel]));
  L.push(row(["CPU", `${m.cpu}, ${m.cores} cores`]));
  L.push(row(["memory", `${m.memoryGiB} GiB`]));
  L.push(row(["cgroups", m.cgroups]));
  L.push(row(["filesystem of /run (state roots)", m.runFs]));
  L.push(
    row(["load average before / after", `${m.loadBefore.join(" ")} / ${m.loadAfter.join(" ")}`]),
  );
  L.push(row(["deno", r.versions.deno]));
  L.push(row(["runc", r.versions.runc]));
  L.push(row(["crun", r.versions.crun]));
  L.push(row(["nsinit", r.versions.nsinit]));
  L.push("");
  L.push("## Targets");
  L.push("");
  const machines = [r, ...others];
  if (others.length > 0) {
    L.push(
      `Issue 14's design goals, on ${
        machines.map((x) => x.label ?? "this host").join(" and ")
      } (each machine's own run; see the sections below). They are reported, never asserted ` +
        "in tests.",
    );
    L.push("");
  }
  L.push(row(["goal", ...machines.map((x) => x.label ?? "this host")]));
  L.push(row(["---", ...machines.map(() => "---")]));
  const verdicts = machines.map((x) => evaluateTargets(x));
  for (const [i, t] of verdicts[0].entries()) {
    L.push(row([
      t.goal,
      ...verdicts.map((v) => {
        const x = v[i];
        if (!x) return "—";
        return `${
          x.met === null ? "not evaluated" : x.met ? "**met**" : "**not met**"
        }: ${x.value}`;
      }),
    ]));
  }
  L.push("");
  L.push("## crun on this host");
  L.push("");
  if (r.crun.mode === "native") {
    L.push("crun ran as is.");
  } else if (r.crun.mode === "missing") {
    L.push("crun is not installed; it is left out.");
  } else {
    L.push(`crun refused this host: \`${r.crun.refusal.trim()}\`.`);
    L.push("");
    if (r.crun.mode === "v1-view") {
      L.push(
        "So the figures marked **crun\\*** come from crun run inside a mount namespace in which " +
          "`/sys/fs/cgroup/unified` is unmounted, so that the host looks like plain cgroup v1 to it " +
          "(it then sets up its cgroups in the same v1 hierarchies runc uses). It is entered with " +
          "`nsenter --mount=/proc/<holder>/ns/mnt`, which adds one exec: " +
          `${fmt(r.crun.nsenterOverheadMs ?? 0)} ms by median (\`nsenter … /bin/true\` minus ` +
          "`/bin/true`), included in every crun\\* figure. The like-for-like comparison on this " +
          "hybrid host is with runc; crun\\* is for orientation.",
      );
    } else {
      L.push(
        `Running it without the cgroup2 mount failed too (${
          r.crun.fallbackError ?? "unknown"
        }), so it is compared with runc only.`,
      );
    }
  }
  L.push("");
  L.push("## Method");
  L.push("");
  L.push(
    "- One bundle for all: runc's default spec (`runc spec`: pid, network, ipc, uts and mount " +
      "namespaces, masked and read-only paths, a read-only root) with `process.terminal: false`, " +
      '`process.args: ["/bin/true"]`, a private copy of the busybox rootfs, and a relative ' +
      "`linux.cgroupsPath`, so every cgroup lands below the benchmark's own cgroup. Each runtime " +
      "has its own `--root` under /run; all are removed at the end, with every container and cgroup.",
  );
  L.push(
    `- Runtimes are interleaved run by run (runc, crun, nsinit, then crun, nsinit, runc, …: the ` +
      `order rotates each round) after ${r.iterations.warmup} warm-up round(s), so machine noise ` +
      "hits all alike. Figures are medians and 90th percentiles " +
      "of wall time measured from the benchmark's Deno process around `Deno.Command(...).output()`; " +
      `that spawn itself costs ${
        fmt(r.spawnOverhead.median)
      } ms (\`/bin/true\`), included in every CLI figure.`,
  );
  L.push(
    "- The library figures come from one long-lived Deno process (`Factory.run` + `wait` + " +
      "`destroy`, and `create` + `start` + `wait` + `destroy`), in a loop interleaved (rotating) " +
      "with the two floors, stdio to /dev/null, each container with its own cgroup.",
  );
  L.push(
    "- The floor: a namespaced spawn of `/bin/true` that does no runtime work. *helper*: nsinit's " +
      "native helper running a plan of only the clone (the spec's namespaces) and the exec, " +
      "waited for from Deno. *unshare*: `unshare --fork --pid --mount --uts --ipc --net chroot " +
      "ROOTFS /bin/true` spawned from Deno.",
  );
  if (r.floor.initPlan) {
    L.push(
      "- The library's floor ladder (`scripts/bench/floor_lib.ts`, in the same loop): the " +
        "helper's clone + exec; *+ the spec's init plan*: the bench spec's whole init plan, " +
        "built once by core/init_plan.ts's `buildInitPlan` as a create builds it, run by the " +
        "helper with no runtime work around it (the mounts, pivot_root, masked and read-only " +
        "paths, /dev, capabilities: what every runtime's child does for this spec; the spec's " +
        "`cgroup` mount with a bind of this process's own directory of each hierarchy, as many " +
        "binds as a container's own cgroups get, which do not exist when the plan is built); " +
        "*+ cgroups*: that plan with the container's cgroups made, joined and removed after the " +
        "exit (on cgroup v1 or hybrid one directory per mounted hierarchy, the child placed in " +
        "each; on v2 one, cloned into with `CLONE_INTO_CGROUP`): no state files, no locks, no " +
        "validation, no limits" +
        (r.floor.lifecycle
          ? "; *as an OCI create, start and delete*: that, with the least bookkeeping those " +
            "verbs need for another process to find, start and delete the container (none of " +
            "nsinit's core; runc keeps a state directory, state.json and an exec fifo too): " +
            "the state directory made " +
            "and locked (flock), the exec fifo made, a state.json with the config written " +
            "while the helper starts and again, atomically, with the init's pid while the " +
            "child sets itself up; the start as another process runs it (the verb floors' " +
            "start below: the directory locked, state.json read, the init checked alive, " +
            "not frozen and not started, then released through its fifo, libnsinit's one " +
            "call), returning once the init has exec'd; after the exit the delete as another " +
            "process runs it (locked, state.json read, the init checked gone, the cgroups " +
            "and the state directory removed)."
          : "."),
    );
  }
  if (r.cliFloor) {
    L.push(
      "- The CLI floor: the least a runtime that Deno runs must do to run the container, as a " +
        "program of its own (`scripts/bench/floor_cli.ts`, bundled into one minified file as the " +
        "CLI is, " +
        "run as `deno run` with the launcher's flags and `NSINIT_LIBDIR`, straight, without the " +
        "launcher): it reads config.json, loads libnsinit through Deno's FFI " +
        "(`native/ffi.ts`), runs the helper floor's plan (clone into the spec's namespaces, exec " +
        "`/bin/true`), waits for the exit and exits. *+ cgroups* also makes the container's " +
        "cgroup directories below the benchmark's own cgroup (on cgroup v1 or hybrid one per " +
        "mounted hierarchy, as runc does, with `cpuset.cpus`/`cpuset.mems` copied from the " +
        "parent; on v2 one, cloned into with `CLONE_INTO_CGROUP`), places the child in them " +
        "before it execs and removes them after the exit: no limits, no state, no mounts. Both " +
        "are in the CLI `run` rotation with the runtimes, with an empty `deno run` (same flags) " +
        "beside them.",
    );
  }

  L.push(
    "- The lifecycle runs `create`, `start`, `state`, `kill KILL`, `delete` of one container as a " +
      "containerd shim does, with `sleep 3600` as the process (same config otherwise, the same " +
      "rootfs) so that there is something to kill; the wait for the exit between kill and delete " +
      "is reported apart and not in the total. Each round also times an empty `deno run` with " +
      "the launcher's flags, which the 5 ms targets compare with" +
      (r.lifecycleOverEmpty
        ? ": each verb's time minus the empty run of its own round, the median over the " +
          "rounds (a machine whose speed drifts during the run moves both sides of a pair alike)."
        : "."),
  );
  if (r.verbFloor) {
    L.push(
      "- The verb floors (`scripts/bench/floor_verbs.js`, plain JavaScript in one file, run as " +
        "`deno run` with the launcher's flags and `NSINIT_LIBDIR`): the least a Deno program " +
        "does for each verb on a container nsinit created, with none of nsinit's code. *state*: " +
        "read state.json, the init's start time in /proc/<pid>/stat, the freezer state and the " +
        "not-started mark (the exec fifo), print the OCI state. *kill*: lock the container's " +
        "directory (flock), read the state, check the init, load libnsinit (`Deno.dlopen`) " +
        "and signal the init through its one call (`pidfd_open`, the start time checked, " +
        "`pidfd_send_signal`). *start*: lock, read, check, and libnsinit's init start (the " +
        "native call nsinit makes: a checked pidfd, the fifo opened, the fifo removed once the " +
        "init is released). *delete*: " +
        "lock, read, check the init is gone, rmdir the cgroup directories state.json lists as " +
        "made, remove the state directory. Each lifecycle round runs them on a second " +
        "container (nsinit's `create`, then the floor's start, state, kill KILL and delete), in " +
        "the same rotation as the runtimes.",
    );
  }
  if (r.batch.floorConcurrent) {
    L.push(
      "- The batches' floors (`scripts/bench/floor_lib.ts`, from the benchmark's process): " +
        "*the init plan + cgroups, concurrent*: the ladder's cgroups floor, the whole batch at " +
        "once (`Promise.all`), its cgroup files made, joined and removed in native batches off " +
        "the event loop (`cgroups/fs_base.ts`'s `cgroupFiles`: one call per batch on a worker " +
        "thread)" +
        (r.batch.lifecycleConcurrent
          ? "; *as an OCI create, start and delete, concurrent*: the ladder's OCI lifecycle " +
            "floor the same way, a state directory each (its state files on the event loop, " +
            "as a runtime writes them); *sequential*: the same floor one after another from " +
            "the same process."
          : ".") +
        (r.batch.libraryConcurrent.rounds && r.batch.libraryConcurrent.rounds.length > 1
          ? ` Each batch (the library's at once and one after another, and the floors) runs ` +
            `${r.batch.libraryConcurrent.rounds.length} times, the order of the kinds rotating ` +
            "each round, and the figures are those of each kind's median round (one batch of " +
            "each moved by up to a third between runs); the batch table lists every round."
          : ""),
    );
  }
  L.push(
    "- Each library batch of containers also records CPU time: of Deno's event-loop thread " +
      "(`/proc/self/task/<pid>/stat`), of all of the benchmark process's threads, of the " +
      "processes it reaped during the batch (the containers' inits and nsinit's helpers: " +
      "`/proc/self/stat`'s cutime and cstime), and how long the machine's CPUs were busy (`/proc/stat`), which the " +
      "concurrency targets' explanations quote.",
  );
  L.push(
    "- Peak RSS is `/usr/bin/time -f %M` of one `run` (the largest of the runtime process and " +
      "the children it waited for), median of the runs.",
  );
  L.push(
    `- Iterations: CLI run ${r.iterations.cliRun} rounds, lifecycle ${r.iterations.lifecycle}, ` +
      `library ${r.iterations.library}, batches of ${r.iterations.batch}, memory ${r.iterations.memory}.`,
  );
  L.push("");
  L.push("## One container: `run` of /bin/true to exit");
  L.push("");
  L.push(row(["", "median ms", "p90 ms", "nsinit CLI / this", "library run / this"]));
  L.push(row(["---", "---:", "---:", "---:", "---:"]));
  const nsCli = r.cliRun.nsinit?.median;
  const lib = r.library.run.median;
  const rel = (s: Summary | undefined) => [
    s && nsCli !== undefined ? `${ratio(nsCli, s.median)}x` : "—",
    s ? `${ratio(lib, s.median)}x` : "—",
  ];
  for (const rt of RUNTIMES) {
    const s = r.cliRun[rt];
    if (s) L.push(sumRow(`\`${label(r, rt)} run\``, s, rel(s)));
    else if (rt === "crun") L.push(row(["`crun run`", "refused", "", "", ""]));
  }
  L.push(sumRow("library `run` + wait + destroy", r.library.run, rel(r.library.run)));
  L.push(
    sumRow(
      "library `create` + `start` + wait + destroy",
      r.library.createStart,
      rel(r.library.createStart),
    ),
  );
  L.push(sumRow("floor: nsinit helper, clone + exec", r.floor.helper, rel(r.floor.helper)));
  const ladderRows: [string, Summary | undefined][] = [
    ["floor: + the spec's whole init plan", r.floor.initPlan],
    ["floor: the init plan + cgroups", r.floor.initPlanCgroups],
    [
      "floor: that, as an OCI `create`, `start` and `delete` (state, lock, exec fifo)",
      r.floor.lifecycle,
    ],
  ];
  for (const [name, x] of ladderRows) if (x) L.push(sumRow(name, x, rel(x)));
  L.push(sumRow("floor: `unshare … chroot` from Deno", r.floor.unshare, rel(r.floor.unshare)));
  const cf = r.cliFloor;
  if (cf) {
    L.push(sumRow("CLI floor: `deno run` of clone + exec", cf.exec, rel(cf.exec)));
    if (cf.cgroups) {
      L.push(
        sumRow("CLI floor: `deno run` of clone + exec + cgroups", cf.cgroups, rel(cf.cgroups)),
      );
    }
    L.push(
      sumRow("an empty `deno run` (the launcher's flags), in the same rounds", cf.emptyDeno, [
        ...rel(cf.emptyDeno),
      ]),
    );
  }
  L.push("");
  L.push("## CLI lifecycle, as containerd drives a runtime");
  L.push("");
  const lcRts = RUNTIMES.filter((rt) => r.lifecycle[rt]);
  L.push(row(["step (median / p90 ms)", ...lcRts.map((rt) => label(r, rt))]));
  L.push(row(["---", ...lcRts.map(() => "---:")]));
  for (const step of [...LIFECYCLE_STEPS, "total", "exitWait"] as const) {
    const name = step === "exitWait"
      ? "(exit after kill, not in total)"
      : step === "total"
      ? "**total**"
      : `\`${step}\``;
    L.push(row([
      name,
      ...lcRts.map((rt) => {
        const s = r.lifecycle[rt]![step];
        return `${fmt(s.median)} / ${fmt(s.p90)}`;
      }),
    ]));
  }
  L.push("");
  const vf = r.verbFloor;
  const lcNs = r.lifecycle.nsinit;
  const lcEmpty = r.lifecycleEmptyDeno;
  if (vf && lcNs && lcEmpty) {
    L.push(
      "Each verb against its floor (`scripts/bench/floor_verbs.js`: only the files, checks and " +
        "calls the verb needs, none of nsinit's code) and an empty `deno run`, all with the " +
        "launcher's flags, in the same rounds (medians, ms):",
    );
    L.push("");
    L.push(row(["verb", "empty `deno run`", "floor", "nsinit", "floor − empty", "nsinit − floor"]));
    L.push(row(["---", "---:", "---:", "---:", "---:", "---:"]));
    for (const v of VERBS) {
      const e = lcEmpty.median, f = vf[v].median, n = lcNs[v].median;
      L.push(row([`\`${v}\``, fmt(e), fmt(f), fmt(n), signed(f - e), signed(n - f)]));
    }
    L.push("");
  }
  const ck = r.checkpoint;
  const ckRts = RUNTIMES.filter((rt) => ck?.[rt]);
  const ckFailed = RUNTIMES.filter((rt) => ck?.failed?.[rt]);
  if (ck?.skipped) {
    L.push("## Checkpoint and restore with CRIU (the same `criu` for every runtime)");
    L.push("");
    L.push(`Not measured on this machine: ${ck.skipped}.`);
    L.push("");
  } else if (ck && ckRts.length + ckFailed.length > 0) {
    L.push("## Checkpoint and restore with CRIU (the same `criu` for every runtime)");
    L.push("");
    if (ckRts.length > 0) {
      L.push(row(["step (median / p90 ms)", ...ckRts.map((rt) => label(r, rt))]));
      L.push(row(["---", ...ckRts.map(() => "---:")]));
      for (const step of ["checkpoint", "restore"] as const) {
        L.push(row([
          step === "restore" ? "`restore --detach`" : "`checkpoint`",
          ...ckRts.map((rt) => `${fmt(ck[rt]![step].median)} / ${fmt(ck[rt]![step].p90)}`),
        ]));
      }
      L.push("");
    }
    for (const rt of ckFailed) {
      L.push(
        `${label(r, rt)} could not checkpoint and restore here, so it has no figures: ${
          ck.failed![rt]
        }`,
      );
      L.push("");
    }
  }
  if (r.systemdRun) {
    const sd = r.systemdRun;
    L.push("## `run` with the systemd cgroup driver (`--systemd-cgroup`)");
    L.push("");
    L.push(`Against ${sd.where}; each container is a transient scope unit.`);
    L.push("");
    L.push(row(["", "median ms", "p90 ms", "vs runc"]));
    L.push(row(["---", "---:", "---:", "---:"]));
    for (const rt of ["runc", "nsinit"] as const) {
      L.push(row([
        `\`${rt} --systemd-cgroup run\``,
        fmt(sd[rt].median),
        fmt(sd[rt].p90),
        `${(sd[rt].median / sd.runc.median).toFixed(2)}x`,
      ]));
    }
    L.push("");
  }
  L.push(`## ${r.batch.libraryConcurrent.n} containers`);
  L.push("");
  const b = r.batch;
  const withRounds = (b.libraryConcurrent.rounds?.length ?? 0) > 1;
  L.push(row(["", "total ms", "containers/s", ...(withRounds ? ["each round, ms"] : [])]));
  L.push(row(["---", "---:", "---:", ...(withRounds ? ["---:"] : [])]));
  const batchRow = (name: string, x: BatchResult) =>
    row([
      name,
      fmt(x.totalMs),
      x.perSecond.toFixed(1),
      ...(withRounds ? [(x.rounds ?? []).map(fmt).join(", ")] : []),
    ]);
  const batchRows: [string, BatchResult | undefined][] = [
    ["nsinit library, concurrent (`Promise.all`)", b.libraryConcurrent],
    ["nsinit library, sequential", b.librarySequential],
    ["floor: the init plan + cgroups (no runtime work), concurrent", b.floorConcurrent],
    ["floor: that, as an OCI `create`, `start` and `delete`, concurrent", b.lifecycleConcurrent],
    ["floor: that, as an OCI `create`, `start` and `delete`, sequential", b.lifecycleSequential],
  ];
  for (const [name, x] of batchRows) if (x) L.push(batchRow(name, x));
  for (const rt of RUNTIMES) {
    const x = b.cliSequential[rt];
    if (x) L.push(batchRow(`\`${label(r, rt)} run\`, sequential`, x));
  }
  L.push("");
  L.push("## Memory: peak RSS of one `run`");
  L.push("");
  L.push(row(["runtime", "peak RSS"]));
  L.push(row(["---", "---:"]));
  for (const rt of RUNTIMES) {
    const k = r.memoryKiB[rt];
    if (k !== undefined) L.push(row([label(r, rt), `${(k / 1024).toFixed(1)} MiB`]));
  }
  for (const [k, v] of Object.entries(r.cliRssKiB ?? {})) {
    L.push(row([k, `${(v / 1024).toFixed(1)} MiB`]));
  }
  if (cf?.execKiB !== undefined) {
    L.push(row(["CLI floor: `deno run` of clone + exec", `${(cf.execKiB / 1024).toFixed(1)} MiB`]));
  }
  if (cf?.cgroupsKiB !== undefined) {
    L.push(
      row([
        "CLI floor: `deno run` of clone + exec + cgroups",
        `${(cf.cgroupsKiB / 1024).toFixed(1)} MiB`,
      ]),
    );
  }
  if (r.emptyDenoKiB !== undefined) {
    L.push(
      row([
        "an empty `deno run` (the launcher's flags)",
        `${(r.emptyDenoKiB / 1024).toFixed(1)} MiB`,
      ]),
    );
  }
  L.push("");
  if (r.libraryMemory) {
    const lm = r.libraryMemory;
    L.push(
      `The library's memory per tracked running container: the benchmark process's RSS went ` +
        `from ${(lm.rssBeforeKiB / 1024).toFixed(1)} MiB to ${
          (lm.rssAfterKiB / 1024).toFixed(1)
        } ` +
        `MiB while it started and held ${lm.running} running containers (\`sleep\`), ` +
        `${lm.perContainerKiB.toFixed(0)} KiB each` +
        (lm.perContainerHeapKiB === undefined ? "." : (
          `; V8's heap and the buffers outside it, measured after a full collection each time, ` +
          `went from ${(lm.heapBeforeKiB! / 1024).toFixed(1)} MiB to ${
            (lm.heapAfterKiB! / 1024).toFixed(1)
          } MiB: ${lm.perContainerHeapKiB.toFixed(1)} KiB retained per container ` +
          `(RSS alone moves with when the collector last ran and how the heap grew).`
        )),
    );
    L.push("");
  }
  L.push("## Start-up and parts of the work");
  L.push("");
  L.push(
    "Bare commands (what a CLI pays before any container work) and parts of nsinit's work timed " +
      "alone in the benchmark process:",
  );
  L.push("");
  L.push(row(["", "median ms", "p90 ms"]));
  L.push(row(["---", "---:", "---:"]));
  for (const [k, s] of Object.entries(r.startup)) L.push(sumRow(k, s));
  for (const [k, s] of Object.entries(r.components)) L.push(sumRow(k, s));
  L.push("");
  if (r.firstLineMs) {
    L.push(
      `Deno runs the first line of a one-line file ${fmt(r.firstLineMs.median)} ms (median; p90 ` +
        `${fmt(r.firstLineMs.p90)} ms) after its clock starts (\`performance.now()\` there, the ` +
        "launcher's flags): the CLI's first phase below, main.js loaded, is measured from the " +
        "same start, so main.js's own loading and top-level code are what it takes beyond that.",
    );
    L.push("");
  }
  const hot = Object.entries(r.components).find(([k]) => k.includes("back to back"))?.[1];
  const idle = Object.entries(r.components).find(([k]) => k.includes("without one"))?.[1];
  if (hot && idle) {
    L.push(
      `Moving a process into a v1 cgroup (a \`cgroup.procs\` write) costs ${fmt(idle.median)} ms ` +
        `when no such move happened in the last few tens of milliseconds, but ${
          fmt(hot.median)
        } ms ` +
        "back to back (the kernel waits for an RCU grace period before it takes the threadgroup " +
        "lock for writing after an idle spell). Every runtime pays it for each container; a CLI " +
        "start pays the slow one almost always, a long-lived process starting containers back to " +
        "back mostly the fast one. It is the largest single source of spread in these figures.",
    );
    L.push("");
  }
  if (r.sandbox) renderSandbox(L, r.sandbox);
  renderPhases(L, r);
  renderCauses(L, r, opts.reference);
  for (const o of others) {
    // Each other machine's own report, its headings one level down.
    const body = renderReport(o, [], { reference: r }).split("\n");
    L.push(`## ${o.label ?? "Another machine"}`);
    L.push("");
    for (const line of body.slice(body.indexOf("## Machine"))) {
      L.push(line.startsWith("#") ? `#${line}` : line);
    }
  }
  return L.join("\n");
}

/** The median of the phases of `rows` whose label passes `test`, summed. */
function phaseSum(rows: PhaseRow[] | undefined, test: (phase: string) => boolean): number {
  return (rows ?? []).filter((x) => test(x.phase)).reduce((a, x) => a + x.summary.median, 0);
}

/**
 * For each target this run did not meet, where the difference went, from the same run's
 * figures: what is Deno's own (an empty `deno run`), what is nsinit's loading and what its
 * work, and the kernel work the floor does not do.
 */
function renderCauses(L: string[], r: BenchResults, reference?: BenchResults): void {
  const missed = evaluateTargets(r).filter((t) => t.met === false);
  if (missed.length === 0 || !r.phases) return;
  const p = r.phases;
  const empty = r.lifecycleEmptyDeno?.median ?? r.startup[EMPTY_DENO_RUN]?.median;
  const isLoad = (x: string) => x.startsWith("cli: main.js") || x === "cli: command module loaded";
  const isOutside = (x: string) => x.startsWith("outside the marks");
  const idle = Object.entries(r.components).find(([k]) => k.includes("without one"))?.[1];
  const load = phaseSum(p.cliRun, isLoad);
  L.push("## Targets not met: where the difference is");
  L.push("");
  for (const t of missed) {
    if (t.goal.startsWith("CLI `nsinit run`") && r.cliFloor) {
      L.push(`- ${t.goal}: ${runAboveFloor(r, r.cliFloor, load, idle)}`);
    } else if (t.goal.startsWith("CLI `nsinit run`") && empty !== undefined) {
      const runc = r.cliRun.runc?.median ?? 0;
      const work = phaseSum(p.cliRun, (x) => !isLoad(x) && !isOutside(x));
      const placed = phaseSum(p.cliRun, (x) => x.startsWith("create: child placed"));
      const floor = idle ? empty + idle.median : empty;
      L.push(
        `- ${t.goal}: out of reach for a CLI that Deno runs. An empty \`deno run\` takes ` +
          `${fmt(empty)} ms against runc's whole \`run\` of ${fmt(runc)} ms (Deno's runtime ` +
          "start, which nsinit cannot avoid: `deno compile` cannot work on these machines, see " +
          "scripts/build.ts)" +
          (idle
            ? `, and the init's first move into its v1 cgroups waits for the kernel's RCU grace ` +
              `period (${fmt(idle.median)} ms: the \`cgroup.procs\` move after an idle spell, ` +
              "above), which runc pays as well (`strace -f -T runc run` on this host, " +
              "2026-11-30: its first `cgroup.procs` write blocked 9.8-15.8 ms in 6 runs, " +
              "nsinit's 10.3-14.1 ms; only cgroup v2's `CLONE_INTO_CGROUP` avoids it, which " +
              "nsinit uses there). Those two alone make " +
              `${fmt(floor)} ms. Beyond them nsinit loads its code (${fmt(load)} ms: main.js ` +
              `and the command's chunks) and does the rest of the container's work ` +
              `(${fmt(work - placed)} ms by its marks, besides ${fmt(placed)} ms placing the ` +
              "child in its cgroups; the table above names each part)."
            : `. On top of it nsinit loads its code (${fmt(load)} ms: main.js and the ` +
              `command's chunks) and does the container's work (${fmt(work)} ms by its marks; ` +
              "the table above names each part)."),
      );
    } else if (t.goal.startsWith("CLI `nsinit ") && r.verbFloor && r.lifecycleEmptyDeno) {
      const step = /`nsinit (\w+)`/.exec(t.goal)?.[1] as typeof VERBS[number];
      if (!r.verbFloor[step] || !r.lifecycle.nsinit) continue;
      L.push(`- ${t.goal}: ${verbAboveFloor(r, step, reference)}`);
    } else if (t.goal.startsWith("CLI `nsinit ") && empty !== undefined) {
      const side = r.lifecycleEmptyDeno?.median ?? empty;
      const step = /`nsinit (\w+)`/.exec(t.goal)?.[1] as keyof typeof p.lifecycle;
      const rows = p.lifecycle[step];
      if (!rows) continue;
      const main = phaseSum(rows, (x) => x.startsWith("cli: main.js"));
      const chunks = phaseSum(rows, (x) => x === "cli: command module loaded");
      L.push(
        `- ${t.goal}: over an empty \`deno run\` (${fmt(side)} ms, side by side), nsinit ` +
          `${step} loads main.js (${fmt(main)} ms) and the command's chunks (${fmt(chunks)} ms), ` +
          `then runs the command (${
            fmt(phaseSum(rows, (x) => !isLoad(x) && !isOutside(x)))
          } ms by its marks). ` +
          "All of it is nsinit's JavaScript in a fresh process, none of it Deno's. The launcher " +
          "runs V8 with `--no-lazy`, so Deno's code cache holds every function's bytecode and " +
          "no call compiles one; what stays is reading that cache for main.js (one file for " +
          "these commands: core, the cgroupfs drivers and the FFI binding; the systemd driver, " +
          "resource translation, device filters, stats, events and the spawn plan's op tables " +
          "(native/plan.ts) are in chunks imported only by the verbs that use them), the " +
          "launcher's exec, and running each function a first " +
          "time in a new V8 (measured in one process: a container's status 0.8 ms, then " +
          "0.15 ms; none of these commands reads the host's cgroup layout any more, delete " +
          "only when a saved directory does not go with its rmdir), besides " +
          "the first `Deno.dlopen` of a process (~1.1 ms, the same for libc as for " +
          "libnsinit: Deno's FFI set-up, not the library) and ~0.2 ms per symbol bound (Deno " +
          "compiles a trampoline for each).",
      );
    } else if (t.goal.startsWith("library `create`") && r.floor.initPlanCgroups) {
      L.push(`- ${t.goal}: ${libraryAboveLadder(r, t.goal.includes("crun"))}`);
    } else if (t.goal.startsWith("library `create`")) {
      const setup = phaseSum(p.library, (x) => x.startsWith("create: child set up"));
      const cg = phaseSum(
        p.library,
        (x) => x.includes("cgroup") || x === "run: container destroyed",
      );
      L.push(
        `- ${t.goal}: the floor only clones and execs. Of the library's run, the child's own ` +
          `setup in the kernel (mounts, pivot_root, masks, /dev: what every runtime does) took ` +
          `${fmt(setup)} ms and the cgroups (made, limited, joined, removed) and the teardown ` +
          `${fmt(cg)} ms by the marks (one at a time, median).`,
      );
    } else if (t.goal.includes("concurrent")) {
      const one = new Map(p.library.map((x) => [x.phase, x.summary.median]));
      const grew = p.libraryConcurrent
        .map((x) => ({ phase: x.phase, by: x.summary.median - (one.get(x.phase) ?? 0) }))
        .sort((a, b) => b.by - a.by)
        .slice(0, 3)
        .map((x) => `${x.phase} (+${fmt(x.by)} ms)`);
      const { libraryConcurrent: conc, librarySequential: seq } = r.batch;
      const cores = r.machine.cores;
      const floorSays = concurrentFloor(t.goal, r);
      L.push(
        `- ${t.goal}: ${floorSays}${floorSays ? "W" : "w"}ith all of them at once, the phases ` +
          "that grew most per container over " +
          `one at a time (the two tables above) were ${grew.join(", ")}.` +
          (conc.loopCpuMs !== undefined && conc.processCpuMs !== undefined
            ? ` Those phases wait for one another's work, not for the kernel alone: all of ` +
              "nsinit's JavaScript runs on Deno's one event-loop thread, which was busy " +
              `${fmt(conc.loopCpuMs)} ms of the batch's ${fmt(conc.totalMs)} ms ` +
              `(${fmt(conc.loopCpuMs / conc.n)} ms per container; ` +
              (seq.loopCpuMs !== undefined
                ? `${fmt(seq.loopCpuMs / seq.n)} ms one after another), `
                : "), ") +
              `and the process's threads together used ${fmt(conc.processCpuMs)} ms of CPU ` +
              (conc.childrenCpuMs !== undefined && conc.machineBusyMs !== undefined
                ? cpuBound(conc, cores) + workBound(t.goal, r, cores)
                : `on ${cores} cores (the containers' own set-up in their processes comes on ` +
                  "top). The loop's share is nsinit's to shrink (less JavaScript per " +
                  "container). Besides it, every container's cgroup directories, limits and " +
                  "moves take the kernel's one global cgroup lock (`cgroup_mutex`) one at a " +
                  "time, and a move holds it while it waits for an RCU grace period.")
            : ""),
      );
    } else if (t.goal.startsWith("peak RSS") && r.emptyDenoKiB !== undefined) {
      const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
      const m = r.memoryMakeup;
      L.push(
        `- ${t.goal}: ` + rssAboveFloor(r, r.emptyDenoKiB) +
          `an empty \`deno run\` peaks at ${mib(r.emptyDenoKiB)}` +
          Object.entries(r.cliRssKiB ?? {}).map(([k, v]) => `, ${k} at ${mib(v)}`).join("") +
          ` and a \`run\` at ${mib(r.memoryKiB.nsinit ?? 0)}` +
          (m && m.run.fileKiB < 1024 && m.denoRun.fileKiB < 1024
            // The VM runs deno from its initramfs: /proc counts no file pages for it there,
            // so the split below would say nothing.
            ? ". At the exit (`/proc/self/status`) this machine counts no file pages for " +
              `either (\`RssFile\` ${mib(m.run.fileKiB)} and ${mib(m.denoRun.fileKiB)}: the ` +
              "executable lives in memory here); `RssAnon` is " +
              `${mib(m.run.anonKiB)} against ${mib(m.denoRun.anonKiB)}, with ` +
              `${m.run.threads} threads against ${m.denoRun.threads}.`
            : m
            ? ". At the exit (`/proc/self/status`), of what a `run` holds beyond a bare " +
              "`deno run`, " +
              `${mib(m.run.fileKiB - m.denoRun.fileKiB)} is pages of the deno executable ` +
              `itself (\`RssFile\` ${mib(m.run.fileKiB)} against ${mib(m.denoRun.fileKiB)}): ` +
              "the code of the Deno runtime's parts a container run uses (FFI, processes, file " +
              "system ops, the thread pool), shared with every Deno process and clean, which " +
              "nsinit cannot avoid touching while it uses them; and " +
              `${mib(m.run.anonKiB - m.denoRun.anonKiB)} is its own (\`RssAnon\` ` +
              `${mib(m.run.anonKiB)} against ${mib(m.denoRun.anonKiB)}): V8's heap and ` +
              `compiled code for nsinit's modules, and the stacks of ${m.run.threads} threads ` +
              `against ${m.denoRun.threads} (Deno's pool threads that run the file system ` +
              "calls and the native library's off-loop calls)."
            : ": loading the CLI's code (V8's heap and compiled code) and then running a " +
              "container (the native library, the threads that run its off-loop calls) add " +
              "to Deno's own."),
      );
    }
  }
  L.push("");
}

/** What each verb's floor does, in words. */
const VERB_FLOOR_DOES: Record<typeof VERBS[number], string> = {
  state: "reads state.json, the init's start time in /proc/<pid>/stat, the freezer state and " +
    "the exec fifo, and prints the OCI state",
  kill: "locks the container's directory, reads its state, checks the init, loads libnsinit " +
    "and signals the init through a pidfd checked against its start time",
  start: "locks, reads the state, checks it, and releases the init through libnsinit's init " +
    "start (a checked pidfd, the fifo opened, then removed)",
  delete: "locks, reads the state, checks that the init is gone, removes the cgroup " +
    "directories state.json lists as made and the state directory",
};

/** What in each verb's floor no Deno program doing that verb avoids, in words. */
const VERB_FLOOR_COSTS: Record<typeof VERBS[number], string> = {
  state: "",
  kill: "the lock (`flock` on the container's directory); Deno's first `Deno.dlopen` of a " +
    "process and the one symbol bound (~0.6 ms for a call off the event loop, against ~1.1 ms " +
    "for a first fast call, measured); the signal's trip through Deno's thread pool; ",
  start: "the lock (`flock` on the container's directory); Deno's first `Deno.dlopen` of a " +
    "process and the one symbol bound (~0.6 ms); the init's release (the fifo opened, the " +
    "init's exec) off the event loop; ",
  delete: "the lock (`flock` on the container's directory); the kernel's rmdir of each cgroup " +
    "directory (one per hierarchy on cgroup v1) and the state directory's removal; ",
};

/**
 * A 5 ms verb target's explanation from the verb floor: what a Deno program that does only
 * what the verb must takes over an empty `deno run` (no Deno program avoids it), and what
 * nsinit adds above that floor (its own code). With `reference` (the host's results, for the
 * VM), the figures are also scaled by the two machines' empty `deno run`.
 */
function verbAboveFloor(
  r: BenchResults,
  step: typeof VERBS[number],
  reference?: BenchResults,
): string {
  const empty = r.lifecycleEmptyDeno!.median;
  const floor = r.verbFloor![step].median;
  const nsinit = r.lifecycle.nsinit![step].median;
  const refEmpty = reference?.lifecycleEmptyDeno?.median;
  const scale = refEmpty !== undefined && refEmpty > 0 && reference !== r
    ? empty / refEmpty
    : undefined;
  const limit = 5 * (scale !== undefined && scale > 1 ? scale : 1);
  const limitText = limit === 5 ? "5" : fmt(limit);
  // Paired with the empty run of the same round when the run recorded it so.
  const paired = r.lifecycleOverEmpty;
  const over = paired?.floor ? paired.floor[step].median : floor - empty;
  const nsinitOver = paired ? paired.nsinit[step].median : nsinit - empty;
  const pairedNote = paired
    ? " (each figure over the empty run is the median of the rounds' differences)"
    : "";
  const rows = r.phases?.lifecycle[step] ?? [];
  const firstLine = r.firstLineMs?.median;
  const main = phaseSum(rows, (x) => x.startsWith("cli: main.js"));
  const chunks = phaseSum(rows, (x) => x === "cli: command module loaded");
  const work = phaseSum(
    rows,
    (x) =>
      !x.startsWith("cli: main.js") && x !== "cli: command module loaded" &&
      !x.startsWith("outside the marks"),
  );
  const scaled = scale !== undefined && scale > 1
    ? ` This machine emulates its CPU in software (qemu TCG): its empty \`deno run\` takes ` +
      `${fmt(empty)} ms against ${fmt(refEmpty!)} ms on ${reference!.label ?? "the host"} ` +
      `(both measured), ${scale.toFixed(1)}x slower, so a fixed 5 ms means ${limitText} ms ` +
      `here. Scaled back to the host's speed, nsinit's ${fmt(nsinitOver)} ms over the ` +
      `empty run is ${fmt(nsinitOver / scale)} ms and the floor's ${signed(over)} ms ` +
      `is ${signed(over / scale)} ms; the target row keeps the unscaled figures.`
    : "";
  return `an empty \`deno run\` takes ${fmt(empty)} ms in the same rounds; a Deno program that ` +
    `does only what \`${step}\` must (the verb floor: it ${VERB_FLOOR_DOES[step]}, with none of ` +
    `nsinit's code) takes ${fmt(floor)} ms, ${signed(over)} ms from the empty run${pairedNote}. ` +
    "That " +
    "distance is what no Deno program doing this verb can avoid: " + VERB_FLOOR_COSTS[step] +
    "the first call of each Deno API it uses (0.1-0.4 ms the first time in a process against " +
    "~0.02 ms after: `readTextFileSync`, `statSync`, `lstatSync`, `openSync`, measured on the " +
    "host with the launcher's flags). " +
    (over <= limit && limit > 5 && nsinitOver <= limit
      ? `The floor is within the ${limitText} ms, and so is nsinit: at this machine's speed ` +
        "(below) nsinit meets the target; the target row says not met because it keeps the " +
        "fixed 5 ms, which a CPU emulated this much slower cannot be held to. "
      : over <= limit
      ? `The floor is within the ${limitText} ms, so a Deno program meets this target here: ` +
        `nsinit misses it by its own code. `
      : `The floor alone is more than ${limitText} ms over the empty run: no Deno program ` +
        "doing this verb meets the target here (measured). ") +
    `nsinit's \`${step}\` takes ${fmt(nsinit)} ms, ${signed(nsinitOver)} ms from the empty ` +
    `run and ${signed(nsinitOver - over)} ms from the ` +
    "floor: that is nsinit's own, not Deno's or the kernel's: the launcher's exec (`dist/nsinit` " +
    "is a small static binary that execs Deno with the flags; the floor is run by Deno " +
    "directly; measured on the host, 2026-12-02: 0.7-0.9 ms, where a /bin/sh launcher cost " +
    "2.2-2.5 ms) and its code" +
    (rows.length > 0
      ? `: loading main.js (${fmt(main)} ms from Deno's clock start${
        firstLine !== undefined
          ? `, where a one-line file's first line runs at ${fmt(firstLine)} ms: main.js's own ` +
            `load and top-level code take the other ${fmt(main - firstLine)} ms`
          : ""
      }; the command line and the code of the verbs a ` +
        "shim runs, in one file, against the floor's one small file: V8 reads the code cache " +
        "of all of it, ~20 us per kB whether a function runs or not, measured), reading the " +
        `command line and finding the command (${fmt(chunks)} ms), and running the command ` +
        `(${fmt(work)} ms by its marks): its functions' first, cold runs in a new V8 ` +
        "(measured in one process: a container's status 0.8 ms the first time, then 0.15 ms) " +
        "and the checks and bookkeeping the floor skips."
      : ": module loading and the first, cold runs of its functions.") +
    scaled;
}

/**
 * For a concurrency target, what the ladder's floors do as the same batch, from this
 * process. Against runc: the cgroups floor all at once (whether the kernel and the
 * containers' own processes leave room for the target), then the OCI lifecycle floor all at
 * once (whether an OCI runtime's state leaves room, and whether its CPU alone fits the time
 * the target allows), then what of nsinit's batch is above the top one. Against the
 * library's own batch one after another: the OCI lifecycle floor's own gain, all at once
 * over one after another. Empty without the figures.
 */
function concurrentFloor(goal: string, r: BenchResults): string {
  const { floorConcurrent: f, lifecycleConcurrent: lc, lifecycleSequential: ls } = r.batch;
  const runc = r.batch.cliSequential.runc;
  const conc = r.batch.libraryConcurrent;
  const per = (b: BatchResult) => b.totalMs / b.n;
  const cores = r.machine.cores;
  const lcName = "the ladder's OCI lifecycle floor (the cgroups floor with the state an OCI " +
    "runtime keeps: a state directory each, its lock, state.json written twice, the exec fifo " +
    "and a separate start and delete that each lock, read the state and check the init, the " +
    "removal)";
  if (!goal.includes("`runc run`")) {
    if (!lc || !ls || lc.n === 0 || ls.n === 0) return "";
    const g = per(ls) / per(lc);
    const factor = Number(/>= ([\d.]+)x/.exec(goal)?.[1]) || 1.8;
    return `${lcName}, ${ls.n} one after another from this process, took ${fmt(ls.totalMs)} ` +
      `ms, and ${lc.n} at once ${fmt(lc.totalMs)} ms: ${g.toFixed(2)}x faster. ` +
      (g < factor
        ? `That alone misses ${factor}x, measured: no runtime doing this work gains ${factor}x ` +
          "here. "
        : `That alone reaches ${factor}x: this work leaves room for the target, and nsinit's ` +
          `batch (${(per(r.batch.librarySequential) / per(conc)).toFixed(2)}x) misses it by ` +
          "its own work. ") +
      cpuFits(
        lc,
        cores,
        per(ls) * lc.n / factor,
        `To gain ${factor}x it must take at most`,
        `its ${fmt(per(ls) * lc.n)} ms one after another / ${factor}`,
      );
  }
  if (!f || !runc || f.n === 0 || runc.n === 0) return "";
  const x = per(runc) / per(f);
  const n = f.n;
  const head = `the ladder's cgroups floor (the spec's init plan and the cgroups, no runtime ` +
    "work; its cgroup files made, joined and removed in native batches off the event loop), " +
    `${n} at once from this process, took ${fmt(f.totalMs)} ms: ${x.toFixed(2)}x ` +
    `faster than the ${runc.n} sequential \`runc run\`. `;
  // What of nsinit's batch is above the top floor `top` (named `than`, if at all).
  const above = (top: BatchResult, than: string) => {
    const more = conc.totalMs - top.totalMs;
    return more > 0
      ? `nsinit's batch takes ${fmt(more)} ms more${than} (${fmt(more / n)} ms per ` +
        "container): its own work, detailed below. "
      : `nsinit's batch takes no longer${than}. `;
  };
  const cgVerdict = x < 10
    ? "The kernel's work and the containers' own processes alone, at once on " +
      `these ${cores} cores, miss the target, measured, so no runtime that does ` +
      "this work meets it here. "
    : "The kernel and the containers' own processes leave room for the target";
  if (!lc || lc.n === 0) return head + cgVerdict + (x < 10 ? "" : "; " + above(f, ""));
  const y = per(runc) / per(lc);
  // The lifecycle floor does all the cgroups floor does and more: when it alone reaches the
  // target, the cgroups floor's miss is the noise between batches, and no proof of anything.
  const cgSays = x < 10 && y >= 10
    ? "That is below 10x, but the floor below, which does all of this work and more, reaches " +
      "it: the two differ by the machine's noise, and the target is within reach. "
    : cgVerdict + (x < 10 ? "" : ". ");
  return head + cgSays +
    `${lcName[0].toUpperCase()}${lcName.slice(1)}, ${lc.n} at once, took ${fmt(lc.totalMs)} ms: ` +
    `${y.toFixed(2)}x faster than runc's ${runc.n}. ` +
    (y >= 10
      ? "It alone reaches 10x: the state an OCI runtime keeps leaves room for the target. "
      : x >= 10
      ? "It alone misses 10x, measured: the state an OCI runtime keeps puts the target out of " +
        "reach here, for any OCI runtime. "
      : "It alone misses 10x too. ") +
    cpuFits(
      lc,
      cores,
      per(runc) * lc.n / 10,
      "The target allows",
      `runc's ${fmt(per(runc) * lc.n)} ms / 10`,
    ) +
    above(lc, " than this floor");
}

/**
 * Whether a floor batch's CPU alone fits the time a target allows (`limitMs`, said as
 * `lead`, `how` it comes): the machine's busy time during the batch, spread over the cores, is
 * the least wall time the batch can take on this machine even with the CPUs fully busy.
 * Empty without the figure.
 */
function cpuFits(
  b: BatchResult,
  cores: number,
  limitMs: number,
  lead: string,
  how: string,
): string {
  if (b.machineBusyMs === undefined || cores < 1) return "";
  const least = b.machineBusyMs / cores;
  return `The machine's CPUs were busy ${fmt(b.machineBusyMs)} ms during that batch (every ` +
    `process and the kernel's threads): spread over the ${cores} cores, the batch can take ` +
    `no less than ${fmt(least)} ms even with them fully busy. ${lead} ${fmt(limitMs)} ms ` +
    `(${how}): ` +
    (least > limitMs
      ? "the floor's CPU alone does not fit, measured. "
      : "the floor's CPU alone fits. ");
}

/**
 * A library target's explanation from the floor ladder: the clone + exec, the spec's whole
 * init plan, and that plan with the cgroups; whether the ladder's top already misses the
 * target (then the kernel work the spec asks for puts it out of reach), and what of the
 * library's figure is nsinit's own above it.
 */
function libraryAboveLadder(r: BenchResults, vsCrun: boolean): string {
  const lib = r.library.createStart.median;
  const a = r.floor.helper.median;
  const b = r.floor.initPlan?.median;
  const c = r.floor.initPlanCgroups!.median;
  const d = r.floor.lifecycle?.median;
  const v2 = r.machine.cgroups === "v2";
  const crun = r.cliRun.crun?.median;
  const ladder = `the floors in the same loop: the helper's clone + exec takes ${fmt(a)} ms` +
    (b !== undefined
      ? `; the bench spec's whole init plan through the helper (mounts, pivot_root, masked and ` +
        `read-only paths, /dev, capabilities: what every runtime's child does) ${fmt(b)} ms`
      : "") +
    `; that plan with the container's cgroups made, joined and removed ` +
    `(${
      v2 ? "one directory, cloned into" : "one directory per hierarchy, the child placed in each"
    }) ${fmt(c)} ms` +
    (d !== undefined
      ? `; that as an OCI \`create\`, \`start\` and \`delete\` run it, with the least ` +
        "bookkeeping those verbs need for another process to find, start and delete the " +
        "container (the state directory and its lock, state.json written before the cgroups " +
        "exist, so that a runtime killed mid-create leaves what `delete --force` needs, and " +
        "again with the init's pid; the exec fifo and a separate start, and a delete, each " +
        "as another process runs it: the lock taken again, state.json read, the init " +
        "checked; the removal; runc keeps a state directory, state.json and an exec fifo " +
        `too) ${fmt(d)} ms.`
      : ".");
  // The kernel's floor (c) first: if it alone misses, no runtime meets the target; then the
  // OCI lifecycle's (d): if that misses, no runtime with create/start/delete does.
  const over = (x: number) => vsCrun && crun !== undefined ? x / crun > 0.25 : x / a > 2;
  const of = (x: number) =>
    vsCrun && crun !== undefined
      ? `${(x / crun).toFixed(3)}x \`crun run\` (${fmt(crun)} ms)`
      : `${(x / a).toFixed(2)}x the clone + exec`;
  const limit = vsCrun && crun !== undefined ? "0.25x" : "2x";
  let verdict: string;
  let top = c;
  if (over(c)) {
    verdict = ` The cgroups floor alone is ${of(c)}: over ${limit} by the kernel work this ` +
      "spec asks for, measured, so no runtime doing it meets the target here.";
  } else if (d !== undefined && over(d)) {
    top = d;
    verdict = ` The cgroups floor is ${of(c)}, within ${limit}; as an OCI create, start and ` +
      `delete it is ${of(d)}: over ${limit} by the bookkeeping those verbs need (persisted ` +
      "state another process reads, the lock, the exec fifo that splits create from start), " +
      "measured, so no runtime that implements them meets the target here.";
  } else {
    if (d !== undefined) top = d;
    verdict = ` The top floor is ${of(top)}, within ${limit}: the work the spec and the OCI ` +
      "verbs ask for leaves room, and nsinit misses the target by its own work.";
  }
  return ladder + verdict + ` The library's create + start + wait + destroy takes ${fmt(lib)} ms` +
    (lib > top
      ? `, ${fmt(lib - top)} ms above the ${top === d ? "OCI lifecycle" : "cgroups"} floor: ` +
        "nsinit's own work (its JavaScript on the event loop: validation, building the plan " +
        "for each container, the cgroup manager, the status checks, the process's " +
        "bookkeeping; the spec's device rule, which the floor does not write" +
        (top === d ? "" : "; the state files; the lock") +
        "), which the phase table above names part by part."
      : ", no more than the top floor.");
}

/**
 * The `run` target's explanation from the CLI floor: what a Deno program that only runs the
 * container takes (Deno's start, its FFI set-up and the spawn, the cgroups with the kernel's
 * RCU wait on v1), against runc's whole run, and what of nsinit's figure is above it.
 */
function runAboveFloor(
  r: BenchResults,
  f: NonNullable<BenchResults["cliFloor"]>,
  load: number,
  idle: Summary | undefined,
): string {
  const runc = r.cliRun.runc?.median;
  const nsinit = r.cliRun.nsinit?.median ?? 0;
  const empty = f.emptyDeno.median;
  const exec = f.exec.median;
  const top = f.cgroups?.median ?? exec;
  const helper = r.floor.helper.median;
  const v1 = r.machine.cgroups !== "v2";
  const parts: string[] = [
    `${fmt(empty)} ms is Deno's own start and exit (an empty \`deno run\` in the same ` +
    "rounds), which nsinit cannot avoid: a runtime Deno runs starts Deno, and `deno " +
    "compile`, which would only package the same start, cannot work on these machines " +
    "(scripts/build.ts)",
    `${fmt(exec - empty)} ms is loading libnsinit through Deno's FFI and spawning the child: ` +
    `the clone and exec themselves take ${fmt(helper)} ms in a warm process (the helper ` +
    `floor above), so ${fmt(Math.max(0, exec - empty - helper))} ms is a fresh process's FFI ` +
    "set-up (the first `Deno.dlopen`, a trampoline compiled for each symbol bound, the " +
    "threads the off-loop calls and the wait run on) and the floor's own small bundle: " +
    "what any Deno program that spawns through a native library pays",
  ];
  if (f.cgroups && top < exec) {
    // The floor with the cgroups came out faster than the one without: rounds too noisy to
    // price the cgroups (a VM run of 6 rounds did it), never a negative cost.
    parts.push(
      `the cgroups cost nothing these rounds can measure (the floor with them, ${fmt(top)} ` +
        `ms, came out below the one without, ${fmt(exec)} ms: noise)`,
    );
  } else if (f.cgroups) {
    parts.push(
      `${fmt(top - exec)} ms is the cgroups: made, the child placed, removed after the exit` +
        (v1 && idle
          ? ` (a v1 \`cgroup.procs\` move after an idle spell, timed alone in the parts of ` +
            `the work above, waits ${fmt(idle.median)} ms for the kernel's RCU grace period, ` +
            "which runc pays as well (`strace -f -T runc run` on this host, 2026-11-30: its first " +
            "`cgroup.procs` write blocked 9.8-15.8 ms in 6 runs) and only cgroup v2's " +
            "`CLONE_INTO_CGROUP` avoids)"
          : v1
          ? ""
          : " (on cgroup v2 the child is cloned into its cgroup, with no move)") +
        ": the kernel's, which every runtime pays",
    );
  }
  const what = f.cgroups
    ? "loads libnsinit through Deno's FFI, makes the container's cgroups, clones into the " +
      "spec's namespaces, places the child, execs `/bin/true`, waits and removes the cgroups"
    : "loads libnsinit through Deno's FFI, clones into the spec's namespaces, execs " +
      "`/bin/true` and waits";
  const vsRunc = runc === undefined
    ? ""
    : top >= runc
    ? `: more than runc's whole \`run\` (${fmt(runc)} ms, the same rounds), so no CLI that ` +
      "Deno runs can be as fast here"
    : `, against runc's whole \`run\` of ${fmt(runc)} ms (the same rounds): here the floor ` +
      "itself is not slower than runc";
  return "out of reach for a CLI that Deno runs, measured. A Deno program that does only " +
    `what running this container needs (the CLI floor above: it ${what}) takes ` +
    `${fmt(top)} ms` + (f.cgroups ? ` (${fmt(exec)} ms without the cgroups)` : "") + vsRunc +
    `. Of the floor's ${fmt(top)} ms, ${parts.join("; ")}. nsinit's \`run\` takes ` +
    `${fmt(nsinit)} ms` +
    (nsinit > top
      ? `, ${fmt(nsinit - top)} ms above that floor: that is nsinit's own, not Deno's or the ` +
        `kernel's, of it loading its code (${fmt(load)} ms: main.js and the command's ` +
        "chunks, against the floor's one small file) and the container's work the floor " +
        "skips (state, the spec's mounts, masks and read-only paths, limits, the checks: the " +
        "phase table above names each part)."
      : ", no more than that floor.");
}

/**
 * The start of the peak-RSS target's explanation from the CLI floor (empty without one):
 * what a Deno program that only runs the container peaks at, against an empty `deno run`.
 */
function rssAboveFloor(r: BenchResults, emptyKiB: number): string {
  const f = r.cliFloor;
  const top = f?.cgroupsKiB ?? f?.execKiB;
  if (!f || top === undefined || f.execKiB === undefined) return "";
  const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
  const q = ratio(top, emptyKiB) ?? 0;
  const nsinit = r.memoryKiB.nsinit;
  return `a Deno program that only runs the container (the CLI floor) peaks at ` +
    `${mib(f.execKiB)}` +
    (f.cgroupsKiB !== undefined ? ` (${mib(f.cgroupsKiB)} with the cgroups)` : "") +
    ` against an empty \`deno run\`'s ${mib(emptyKiB)}: ${q}x, ` +
    (q > 1.2
      ? "over the 1.2x goal before any of nsinit's code runs, so no CLI that Deno runs can " +
        "meet it here. That floor is Deno's (its own code is one small file): the pages of " +
        "the deno executable that its FFI, process and thread machinery touch, and the " +
        "threads the native calls run on. "
      : "within the 1.2x goal: the floor leaves room, and what is above it is nsinit's. ") +
    (nsinit === undefined
      ? ""
      : nsinit > top
      ? `nsinit's \`run\` is ${mib(nsinit - top)} above that floor (its own code: V8's heap ` +
        "and compiled code for its modules, and the work the floor skips). In detail: "
      : "nsinit's `run` peaks no higher than that floor. In detail: ");
}

/**
 * The rest of the concurrency target's explanation, from the batch's CPU figures: whether the
 * machine's cores were saturated (then only less work per container helps) or not (then the
 * batch waited too: the kernel's cgroup lock).
 */
function cpuBound(conc: BatchResult, cores: number): string {
  const kids = conc.childrenCpuMs ?? 0, busy = conc.machineBusyMs ?? 0;
  const proc = conc.processCpuMs ?? 0;
  const capacity = cores * conc.totalMs;
  const share = capacity > 0 ? Math.round((busy / capacity) * 100) : 0;
  const rest = Math.max(0, busy - proc - kids);
  return `(${fmt(proc / conc.n)} ms per container), and the containers' own processes ` +
    "(nsinit's helper and each init: the set-up in the child, the exec, the exit) " +
    `${fmt(kids)} ms. The machine's ${cores} cores were busy ${fmt(busy)} ms of the ` +
    `${fmt(capacity)} ms they had during the batch (${share}%)` +
    (share >= 85
      ? ": the batch is bound by CPU, and goes no faster than all of its work spread over " +
        `the cores. Besides nsinit's process and the containers', ${fmt(rest)} ms went to ` +
        "the kernel's own threads (namespaces and cgroups torn down after each exit) and any " +
        "other process on the machine (the load average is in the machine table). Only less " +
        "work per container (nsinit's JavaScript, its threads', the child's set-up) makes it " +
        "faster."
      : ": the cores were not saturated, so the containers also waited for one another: " +
        "every container's cgroup directories, limits and moves take the kernel's one " +
        "global cgroup lock (`cgroup_mutex`) one at a time, and a move holds it while it " +
        "waits for an RCU grace period.");
}

/**
 * For a concurrency target, whether the batch's CPU work could meet it at all: the most time
 * the target allows, against the batch's CPU work (and the kernel's part of it, system time)
 * spread perfectly over the cores. Empty without the system-time figures (older results).
 */
export function workBound(goal: string, r: BenchResults, cores: number): string {
  const { libraryConcurrent: conc, librarySequential: seq, cliSequential } = r.batch;
  const factor = Number(/>= ([\d.]+)x/.exec(goal)?.[1]);
  const base = goal.includes("`runc run`") ? cliSequential.runc?.totalMs : seq.totalMs;
  if (
    !factor || base === undefined || conc.processSysMs === undefined ||
    conc.childrenSysMs === undefined || conc.processCpuMs === undefined ||
    conc.childrenCpuMs === undefined || cores < 1
  ) return "";
  const limit = base / factor;
  const proc = conc.processCpuMs, kids = conc.childrenCpuMs;
  const sys = conc.processSysMs + conc.childrenSysMs;
  const all = proc + kids;
  const perC = (ms: number) => fmt(ms / conc.n);
  const share = Math.round(((conc.machineBusyMs ?? 0) / (cores * conc.totalMs)) * 100);
  return ` To be ${factor}x faster the batch must take at most ${fmt(limit)} ms. Its CPU ` +
    `work, spread perfectly over the ${cores} cores, takes at least ${fmt(all / cores)} ms ` +
    `(${perC(all)} ms per container); of it, the kernel's work on the containers' behalf ` +
    `(system time: ${perC(conc.processSysMs)} ms per container in nsinit's process: cgroup ` +
    `directories and files, the spawn, the waits; ${perC(conc.childrenSysMs)} ms in the ` +
    "containers' processes: clone, namespaces, mounts, exec, exit) alone takes " +
    `${fmt(sys / cores)} ms.` +
    (sys / cores > limit
      ? " The kernel's work alone exceeds the limit: no runtime doing what this spec asks " +
        "meets the target here (measured)."
      : all / cores > limit
      ? " The kernel's part fits within the limit; all of the work does not, so only less " +
        "CPU per container meets the target: the user-space part, " +
        `${perC(proc - conc.processSysMs)} ms per container in nsinit's process (its ` +
        "JavaScript and the Deno runtime around it: nsinit's to cut) and " +
        `${perC(kids - conc.childrenSysMs)} ms in the containers' processes (the helper's ` +
        "and the init's own code before the exec)."
      : ` All of it fits within the limit spread over the cores, which were ${share}% busy: ` +
        "the batch loses the rest waiting: on the kernel's cgroup locks (cgroup directories, " +
        "limits and moves one at a time; a cgroup v1 move across an RCU grace period), on " +
        "one another's processes, and at its start and end, when fewer containers than cores " +
        "are left.");
}

/** Where nsinit's time goes: the phase tables. */
function renderPhases(L: string[], r: BenchResults): void {
  const p = r.phases;
  if (!p) return;
  L.push("## Where nsinit's time goes");
  L.push("");
  L.push(
    "From nsinit's own phase marks (`util/trace.ts`): the CLI's with `NSINIT_TRACE=1` (each " +
      "phase ends at a mark and starts at the one before; the first starts when Deno's clock " +
      "does, and the last row is what the marks cannot see: the wall time the benchmark " +
      "measured minus the last mark, i.e. Deno's own start before its clock and the exit, " +
      "which an empty `deno run` spends too), the library's through a trace sink in the " +
      "benchmark process. Medians / p90, ms.",
  );
  L.push("");
  const table = (title: string, rows: PhaseRow[]) => {
    if (rows.length === 0) return;
    L.push(`### ${title}`);
    L.push("");
    L.push(row(["phase", "median ms", "p90 ms"]));
    L.push(row(["---", "---:", "---:"]));
    let total = 0;
    for (const x of rows) {
      L.push(row([x.phase, fmt(x.summary.median), fmt(x.summary.p90)]));
      total += x.summary.median;
    }
    L.push(row(["(sum of the medians)", fmt(total), ""]));
    L.push("");
  };
  table("`dist/nsinit run` of /bin/true", p.cliRun);
  for (const step of LIFECYCLE_STEPS) {
    const rows = p.lifecycle[step];
    if (rows) table(`\`dist/nsinit ${step}\``, rows);
  }
  table("Library `run` + wait + destroy, one at a time", p.library);
  table(
    `Library \`run\` + wait + destroy, ${r.batch.libraryConcurrent.n} at once (per container)`,
    p.libraryConcurrent,
  );
}

/** The sandbox section: `nsinit sandbox` and `runSandbox` against bubblewrap. */
function renderSandbox(L: string[], sb: NonNullable<BenchResults["sandbox"]>): void {
  L.push("## Sandbox start-up against bubblewrap");
  L.push("");
  L.push(
    "`/bin/true` in a developer sandbox: the host's root read-only, the working directory " +
      "writable, a private /tmp, a minimal /dev, a fresh /proc, every namespace new, secrets " +
      "hidden. `nsinit sandbox` also applies a seccomp filter, Landlock and a pid 1 that " +
      `forwards signals; bwrap is ${sb.bwrapVersion || "not installed"} with the same mounts ` +
      "(`--ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --bind $PWD $PWD --unshare-all " +
      "--new-session`). bubblewrap has no library: a program spawns it, so its CLI row is also " +
      "what a program pays for it. Ratio: nsinit's time over bwrap's (below 1: faster).",
  );
  L.push("");
  L.push(row(["", "median ms", "p90 ms", "vs bwrap"]));
  L.push(row(["---", "---:", "---:", "---:"]));
  const bw = sb.cli.bwrap?.median;
  const vs = (ms: number) => bw !== undefined ? `${ratio(ms, bw)}x` : "—";
  L.push(sumRow("`nsinit sandbox -- /bin/true` (CLI)", sb.cli.nsinit, [vs(sb.cli.nsinit.median)]));
  L.push(
    sumRow('`runSandbox(["/bin/true"])` (library, one Deno process)', sb.library.nsinit, [
      vs(sb.library.nsinit.median),
    ]),
  );
  if (sb.cli.bwrap) L.push(sumRow("`bwrap ... /bin/true`", sb.cli.bwrap, ["1x"]));
  L.push("");
}
