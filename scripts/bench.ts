/**
 * `deno task bench`: nsinit side by side with runc and crun on this machine.
 *
 * ```sh
 * deno task bench            # full run (a few minutes): .cache/bench/results.json, docs/benchmarks.{md,svg}
 * deno task bench --quick    # smoke run (< 60 s): .cache/bench/quick.json, .cache/bench/quick/benchmarks.{md,svg}
 * ```
 *
 * It installs runc, crun and GNU time from Debian if missing, builds dist/ if missing or stale,
 * makes one busybox bundle for every runtime, and measures, interleaving runtimes run by run:
 * `run` of /bin/true through each CLI, beside the CLI floor (scripts/bench/floor_cli.ts: a
 * `deno run` that does only the clone and exec, and the cgroups); the
 * create/start/state/kill/delete cycle, beside the verb floors (scripts/bench/floor_verbs.js:
 * each verb's least work as a `deno run`, on a container nsinit created); the library from
 * this process, beside the floor ladder (a namespaced spawn with no runtime work; the spec's
 * whole init plan; that plan with the cgroups: scripts/bench/floor_lib.ts); batches of
 * containers, beside the ladder's cgroups and OCI lifecycle floors as the same batches; peak RSS; start-up costs. Everything it creates (containers, cgroups, state roots, the bundle) is removed at
 * the end, also after an error or Ctrl-C.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Factory } from "../core/factory.ts";
import { buildInitPlan } from "../core/init_plan.ts";
import { procStat } from "../core/state.ts";
import { writeAtomic } from "../core/state_write.ts";
import { validateSpec } from "../spec/validate.ts";
import { renderChart } from "./bench/chart.ts";
import { LAUNCHER_DENO_FLAGS } from "./build.ts";
import {
  type BenchBundle,
  cgroupScopes,
  ensureBuild,
  ensureFloorCli,
  ensurePackages,
  machineInfo,
  makeBenchBundle,
  type MountNsHolder,
  removeBenchCgroups,
  REPO_ROOT,
  sh,
  startV1View,
  versionOf,
  which,
} from "./bench/host.ts";
import {
  cgroupMove,
  closeFloor,
  cpuMs,
  floorPlan,
  floorSpawn,
  libraryCreateStart,
  libraryMemory,
  libraryRun,
  machineBusyMs,
  peakRssKiB,
  timeCommand,
  timeOk,
  unshareArgv,
  withCgroup,
} from "./bench/measure.ts";
import {
  initPlanCgroupsSpawn,
  initPlanFloor,
  initPlanSpawn,
  lifecycleFloor,
  lifecycleSpawn,
} from "./bench/floor_lib.ts";
import { chartFooter, chartPanels, renderReport } from "./bench/report.ts";
import {
  type BatchResult,
  type BenchResults,
  type CrunStatus,
  EMPTY_DENO_RUN,
  evaluateTargets,
  LIFECYCLE_STEPS,
  type LifecycleStep,
  type RuntimeName,
} from "./bench/results.ts";
import { round, summarize, type Summary } from "./bench/stats.ts";
import {
  cliMemory,
  cliPhases,
  LibraryPhases,
  type PhaseRow,
  PhaseSamples,
} from "./bench/phases.ts";
import type { Spec } from "../spec/config.ts";
import { type MemoryUse, memoryUse, setTraceSink } from "../util/trace.ts";
import { benchSandbox } from "./bench/sandbox.ts";
import { benchSystemdRun } from "./bench/systemd.ts";
import { criuCannotDump } from "../tests/helpers/criu_probe.ts";
import { resolveCriu } from "../criu/swrk.ts";

/** Iterations of each section (after `warmup` rounds): about 10 s. */
const QUICK = {
  warmup: 1,
  checkpoint: 2,
  cliRun: 5,
  lifecycle: 3,
  library: 20,
  batch: 10,
  batchRounds: 1,
  memory: 1,
  startup: 5,
  components: 10,
  sandbox: 5,
  phases: 3,
};
/** About two minutes on a 2-core VM. */
const FULL = {
  warmup: 3,
  checkpoint: 8,
  cliRun: 60,
  // 60: the verbs' medians a few ms apart moved by up to 1.5 ms between runs of 30 rounds.
  lifecycle: 60,
  library: 300,
  batch: 100,
  batchRounds: 3,
  memory: 10,
  startup: 30,
  components: 50,
  sandbox: 40,
  phases: 20,
};
/**
 * In the cgroup v2 VM (software emulation: a Deno start costs seconds there): few rounds,
 * batches of 10 (the batch targets compare per container).
 */
const VM = {
  warmup: 1,
  checkpoint: 2,
  cliRun: 6,
  // The verb targets compare medians a few ms apart at the host's speed: 3 rounds once gave
  // an empty deno run slower than every verb.
  lifecycle: 6,
  library: 30,
  batch: 10,
  batchRounds: 3,
  memory: 1,
  startup: 3,
  components: 5,
  sandbox: 2,
  phases: 2,
};
let quick = false;
let N = FULL;

const started = performance.now();
const log = (msg: string) =>
  console.log(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${msg}`);

let aborted = false;
const onSigint = () => {
  aborted = true;
  log("interrupted: cleaning up");
};
function checkAbort(): void {
  if (aborted) throw new Error("interrupted");
}

const tag = `nsinit-bench-${Deno.pid}`;
const work = `/tmp/${tag}`;
const stateBase = `/run/${tag}`;
const roots: Record<RuntimeName | "library", string> = {
  runc: `${stateBase}/runc`,
  crun: `${stateBase}/crun`,
  nsinit: `${stateBase}/nsinit`,
  library: `${stateBase}/library`,
};
const nsinitBin = `${REPO_ROOT}/dist/nsinit`;
let holder: MountNsHolder | undefined;
// runc and crun make their default state directories even when given --root.
const DEFAULT_ROOTS = ["/run/runc", "/run/crun"];
const defaultRootsBefore = new Set(DEFAULT_ROOTS.filter((d) => {
  try {
    return Deno.statSync(d).isDirectory;
  } catch {
    return false;
  }
}));

/** Removes every container, state root, cgroup and file this run made. */
async function cleanup(prefix: Partial<Record<RuntimeName, string[]>>): Promise<void> {
  for (const [rt, argv] of Object.entries(prefix) as [RuntimeName, string[]][]) {
    let ids: string[] = [];
    try {
      ids = [...Deno.readDirSync(roots[rt])].filter((e) => e.isDirectory).map((e) => e.name);
    } catch { /* no root */ }
    for (const id of ids) {
      await sh(argv[0], [...argv.slice(1), "delete", "--force", id]).catch(() => {});
    }
  }
  try {
    const factory = new Factory({ root: roots.library });
    for (const id of await factory.list()) {
      await (await factory.load(id)).destroy({ force: true }).catch(() => {});
    }
  } catch { /* nothing to clean */ }
  closeFloor();
  await holder?.close().catch(() => {});
  const cg = await removeBenchCgroups(tag).catch((e) => {
    log(`cgroup cleanup: ${(e as Error).message}`);
    return [];
  });
  if (cg.length) {
    log(`removed ${cg.length} leftover cgroup director${cg.length === 1 ? "y" : "ies"}`);
  }
  await Deno.remove(stateBase, { recursive: true }).catch(() => {});
  await Deno.remove(work, { recursive: true }).catch(() => {});
  for (const d of DEFAULT_ROOTS) {
    if (!defaultRootsBefore.has(d)) await Deno.remove(d).catch(() => {}); // only if empty
  }
}

/** Probes crun: as is, then in a cgroup v1 view of the host. */
async function probeCrun(bundle: string): Promise<{ status: CrunStatus; prefix?: string[] }> {
  if (!which("crun")) return { status: { mode: "missing", refusal: "" } };
  const plain = ["crun", "--root", roots.crun];
  const t = await timeCommand([...plain, "run", "--bundle", bundle, "probe"]);
  if (t.code === 0) return { status: { mode: "native", refusal: "" }, prefix: plain };
  await sh("crun", ["--root", roots.crun, "delete", "--force", "probe"]).catch(() => {});
  const refusal = t.stderr.trim().split("\n").pop() ?? "";
  log(`crun refused this host: ${refusal}`);
  try {
    holder = await startV1View();
    const viaNs = holder.argv(plain);
    const t2 = await timeCommand([...viaNs, "run", "--bundle", bundle, "probe"]);
    if (t2.code !== 0) throw new Error(t2.stderr.trim() || `exit ${t2.code}`);
    log("crun runs in a mount namespace without the cgroup2 mount: measuring it as crun*");
    return { status: { mode: "v1-view", refusal }, prefix: viaNs };
  } catch (e) {
    await holder?.close();
    holder = undefined;
    return { status: { mode: "refused", refusal, fallbackError: (e as Error).message } };
  }
}

/**
 * `items` rotated left by `round` places: each round starts with a different one, so no item
 * always follows the same neighbour (a v1 cgroup move costs ~10 ms more after an idle spell, so
 * a fixed order would favour whatever runs right after another runtime's cgroup work).
 */
function rotate<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Polls /proc until `pid` has exited (gone or a zombie); ms waited. */
function waitExit(pid: number, timeoutMs = 5000): number {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const st = procStat(pid);
    if (!st || st.state === "Z" || st.state === "X") return performance.now() - t0;
  }
  throw new Error(`pid ${pid} still alive ${timeoutMs} ms after kill`);
}

async function main(): Promise<BenchResults> {
  const date = new Date().toISOString();
  const loadBefore = Deno.loadavg().map((x) => round(x, 2));
  await ensurePackages(log);
  await ensureBuild(log);
  const machine = await machineInfo();
  log(
    `Linux ${machine.kernel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, cgroups ${machine.cgroups}, /run on ${machine.runFs}`,
  );

  await Deno.mkdir(work, { recursive: true });
  await Deno.mkdir(stateBase, { recursive: true, mode: 0o700 });
  const bundle = await makeBenchBundle(`${work}/bundle`, tag);
  log(`bundle ${bundle.dir}`);

  const prefix: Partial<Record<RuntimeName, string[]>> = {
    runc: ["runc", "--root", roots.runc],
    nsinit: [nsinitBin, "--root", roots.nsinit],
  };
  try {
    const crun = await probeCrun(bundle.dir);
    if (crun.prefix) prefix.crun = crun.prefix;
    const runtimes = (["runc", "crun", "nsinit"] as RuntimeName[]).filter((rt) => prefix[rt]);
    const versions = {
      deno: `deno ${Deno.version.deno}`,
      runc: await versionOf(["runc"]),
      crun: await versionOf(["crun"]),
      nsinit: await versionOf([nsinitBin]),
    };

    if (holder) {
      const plain: number[] = [], via: number[] = [];
      for (let i = 0; i < N.startup; i++) {
        plain.push(await timeOk(["/bin/true"]));
        via.push(await timeOk(holder.argv(["/bin/true"])));
      }
      crun.status.nsenterOverheadMs = round(summarize(via).median - summarize(plain).median, 3);
    }

    // Start-up of bare commands.
    log("start-up of bare commands");
    const empty = `${work}/empty.ts`;
    const nodeImports = `${work}/node_imports.ts`;
    await Deno.writeTextFile(empty, "");
    await Deno.writeTextFile(nodeImports, 'import "node:path";\nimport "node:util";\n');
    const denoRun = [Deno.execPath(), ...LAUNCHER_DENO_FLAGS];
    const startupCases: [string, string[]][] = [
      ["`/bin/true` (the Deno.Command spawn alone)", ["/bin/true"]],
      [EMPTY_DENO_RUN, [...denoRun, empty]],
      ["`deno run` of a file importing node:path and node:util", [...denoRun, nodeImports]],
      ["`dist/nsinit --version`", [nsinitBin, "--version"]],
      ["`runc --version`", ["runc", "--version"]],
      ...(prefix.crun ? [["`crun --version`", ["crun", "--version"]] as [string, string[]]] : []),
    ];
    const startupSamples = new Map<string, number[]>(startupCases.map(([k]) => [k, []]));
    // Where Deno's own start ends: the clock at a one-line file's first line, which the CLI's
    // first phase (from the same clock's start to main.js's first mark) is compared with.
    const firstLine = `${work}/first_line.js`;
    await Deno.writeTextFile(firstLine, "console.log(performance.now());\n");
    const firstLineSamples: number[] = [];
    for (let i = 0; i < N.warmup + N.startup; i++) {
      for (const [k, argv] of startupCases) {
        checkAbort();
        const ms = await timeOk(argv);
        if (i >= N.warmup) startupSamples.get(k)!.push(ms);
      }
      const t = await timeCommand([...denoRun, firstLine], { stdout: "piped" });
      const at = Number(t.stdout.trim());
      if (t.code !== 0 || !Number.isFinite(at)) {
        throw new Error(
          `deno run ${firstLine}: exit ${t.code}, printed ${JSON.stringify(t.stdout)}`,
        );
      }
      if (i >= N.warmup) firstLineSamples.push(at);
    }
    const firstLineMs = summarize(firstLineSamples);
    const startup: Record<string, Summary> = {};
    for (const [k, v] of startupSamples) startup[k] = summarize(v);
    const spawnOverhead = startup[startupCases[0][0]];

    // CLI run, interleaved, with the CLI floor (a `deno run` doing only the clone and exec,
    // then also the cgroups) and an empty `deno run` in the same rotation.
    const floorJs = await ensureFloorCli(log);
    const floorRun = (i: number, cgroup: boolean) => [
      ...denoRun,
      floorJs!,
      bundle.dir,
      ...(cgroup ? ["--cgroup", `${tag}-f${i}`] : []),
    ];
    const floorEnv = { NSINIT_LIBDIR: `${REPO_ROOT}/dist/lib` };
    type CliItem = RuntimeName | "floorExec" | "floorCgroups" | "emptyDeno";
    const cliItems: CliItem[] = [
      ...runtimes,
      ...(floorJs ? ["floorExec", "floorCgroups", "emptyDeno"] as const : []),
    ];
    log(`CLI run: ${cliItems.join(", ")} interleaved, ${N.warmup} + ${N.cliRun} rounds`);
    const cliSamples = Object.fromEntries(cliItems.map((k) => [k, [] as number[]])) as Record<
      CliItem,
      number[]
    >;
    for (let i = 0; i < N.warmup + N.cliRun; i++) {
      for (const item of rotate(cliItems, i)) {
        checkAbort();
        const ms = item === "emptyDeno"
          ? await timeOk([...denoRun, empty])
          : item === "floorExec" || item === "floorCgroups"
          ? await timeOk(floorRun(i, item === "floorCgroups"), { env: floorEnv })
          : await timeOk([...prefix[item]!, "run", "--bundle", bundle.dir, `run-${i}`]);
        if (i >= N.warmup) cliSamples[item].push(ms);
      }
    }
    const cliRun: BenchResults["cliRun"] = {};
    for (const rt of runtimes) cliRun[rt] = summarize(cliSamples[rt]);
    let cliFloor: BenchResults["cliFloor"];
    if (floorJs) {
      cliFloor = {
        exec: summarize(cliSamples.floorExec),
        cgroups: summarize(cliSamples.floorCgroups),
        emptyDeno: summarize(cliSamples.emptyDeno),
      };
    }
    log(
      `  median ms: ${runtimes.map((rt) => `${rt} ${cliRun[rt]!.median}`).join(", ")}` +
        (cliFloor
          ? `, CLI floor ${cliFloor.exec.median} (with cgroups ${cliFloor.cgroups!.median}), ` +
            `empty deno run ${cliFloor.emptyDeno.median}`
          : ""),
    );

    // Lifecycle, interleaved.
    log(`CLI lifecycle: ${N.warmup} + ${N.lifecycle} rounds`);
    type LcKey = LifecycleStep | "total" | "exitWait";
    const lcSamples: Partial<Record<RuntimeName, Record<LcKey, number[]>>> = {};
    for (const rt of runtimes) {
      lcSamples[rt] = {
        create: [],
        start: [],
        state: [],
        kill: [],
        delete: [],
        total: [],
        exitWait: [],
      };
    }
    // An empty `deno run` in every round too: the 5 ms targets compare with it, and only
    // figures taken side by side survive a machine whose load changes.
    const lcEmpty: number[] = [];
    // The verb floors (scripts/bench/floor_verbs.js: only the files, checks and calls each
    // verb needs, none of nsinit's code), with the launcher's flags, each verb on a container
    // nsinit created in the state that verb needs: a second container per round, in the same
    // rotation as the runtimes.
    const verbFloorJs = `${REPO_ROOT}/scripts/bench/floor_verbs.js`;
    const verbFloor = prefix.nsinit
      ? {
        start: [] as number[],
        state: [] as number[],
        kill: [] as number[],
        delete: [] as number[],
      }
      : undefined;
    const floorVerb = (args: string[], opts: { stdout?: "piped" } = {}) =>
      timeCommand([...denoRun, verbFloorJs, args[0], roots.nsinit, ...args.slice(1)], {
        env: floorEnv,
        ...opts,
      }).then((t) => {
        if (t.code !== 0) throw new Error(`floor_verbs ${args.join(" ")}: ${t.stderr.trim()}`);
        return t;
      });
    type LcItem = RuntimeName | "verbFloor";
    const lcItems: LcItem[] = [...runtimes, ...(verbFloor ? ["verbFloor" as const] : [])];
    for (let i = 0; i < N.warmup + N.lifecycle; i++) {
      const e = await timeOk([...denoRun, empty]);
      if (i >= N.warmup) lcEmpty.push(e);
      for (const rt of rotate(lcItems, i)) {
        checkAbort();
        if (rt === "verbFloor") {
          const id = `lf-${i}`;
          await timeOk([...prefix.nsinit!, "create", "--bundle", bundle.lifecycleDir, id], {
            stderr: "null",
          });
          const start = (await floorVerb(["start", id])).ms;
          const st = await floorVerb(["state", id], { stdout: "piped" });
          const state = JSON.parse(st.stdout);
          if (state.status !== "running" || !(state.pid > 0)) {
            throw new Error(`floor_verbs state ${id}: ${st.stdout}`);
          }
          const kill = (await floorVerb(["kill", id, "9"])).ms;
          waitExit(state.pid);
          const del = (await floorVerb(["delete", id])).ms;
          if (i >= N.warmup) {
            verbFloor!.start.push(start);
            verbFloor!.state.push(st.ms);
            verbFloor!.kill.push(kill);
            verbFloor!.delete.push(del);
          }
          continue;
        }
        const p = prefix[rt]!;
        const id = `lc-${i}`;
        const t: Record<LcKey, number> = {
          create: 0,
          start: 0,
          state: 0,
          kill: 0,
          delete: 0,
          total: 0,
          exitWait: 0,
        };
        t.create = await timeOk([...p, "create", "--bundle", bundle.lifecycleDir, id], {
          stderr: "null",
        });
        t.start = await timeOk([...p, "start", id]);
        const stateCmd = new Deno.Command(p[0], {
          args: [...p.slice(1), "state", id],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        });
        const s0 = performance.now();
        const out = await stateCmd.output();
        t.state = performance.now() - s0;
        if (!out.success) {
          throw new Error(`${rt} state ${id}: ${new TextDecoder().decode(out.stderr).trim()}`);
        }
        const state = JSON.parse(new TextDecoder().decode(out.stdout));
        if (state.status !== "running" || !(state.pid > 0)) {
          throw new Error(`${rt} state ${id}: ${JSON.stringify(state)}`);
        }
        t.kill = await timeOk([...p, "kill", id, "KILL"]);
        t.exitWait = waitExit(state.pid);
        t.delete = await timeOk([...p, "delete", id]);
        t.total = LIFECYCLE_STEPS.reduce((a, k) => a + t[k], 0);
        if (i >= N.warmup) {
          for (const k of Object.keys(t) as LcKey[]) lcSamples[rt]![k].push(t[k]);
        }
      }
    }
    const lifecycleEmptyDeno = summarize(lcEmpty);
    // Each verb minus the empty run of its own round (the arrays are in round order).
    const overEmpty = (xs: number[]) => summarize(xs.map((x, i) => x - lcEmpty[i]!));
    const verbs = ["start", "state", "kill", "delete"] as const;
    const verbsOverEmpty = (s: Record<(typeof verbs)[number], number[]>) =>
      Object.fromEntries(verbs.map((v) => [v, overEmpty(s[v])])) as Record<
        (typeof verbs)[number],
        Summary
      >;
    const lifecycleOverEmpty: BenchResults["lifecycleOverEmpty"] = prefix.nsinit
      ? {
        nsinit: verbsOverEmpty(lcSamples.nsinit!),
        ...(verbFloor ? { floor: verbsOverEmpty(verbFloor) } : {}),
      }
      : undefined;
    const verbFloors: BenchResults["verbFloor"] = verbFloor
      ? {
        start: summarize(verbFloor.start),
        state: summarize(verbFloor.state),
        kill: summarize(verbFloor.kill),
        delete: summarize(verbFloor.delete),
      }
      : undefined;
    const lifecycle: BenchResults["lifecycle"] = {};
    for (const rt of runtimes) {
      const s = lcSamples[rt]!;
      lifecycle[rt] = Object.fromEntries(
        (Object.keys(s) as LcKey[]).map((k) => [k, summarize(s[k])]),
      ) as Record<LcKey, Summary>;
    }
    log(
      `  total median ms: ${
        runtimes.map((rt) => `${rt} ${lifecycle[rt]!.total.median}`).join(", ")
      }` +
        (verbFloors
          ? `; verb floors start ${verbFloors.start.median}, state ${verbFloors.state.median}, ` +
            `kill ${verbFloors.kill.median}, delete ${verbFloors.delete.median}, empty deno ` +
            `run ${lifecycleEmptyDeno.median}`
          : ""),
    );

    // Checkpoint and restore, interleaved, with the same criu (the first on PATH).
    const checkpoint = await benchCheckpoint(prefix, bundle.lifecycleDir);

    // `run` with the systemd cgroup driver, runc and nsinit interleaved, inside a real systemd.
    // (Not in the VM: it has no systemd, nor the bash its scripts need.)
    const inVm = Deno.env.get("NSINIT_IN_V2VM") !== undefined;
    if (!inVm) {
      log(`run with --systemd-cgroup: runc, nsinit interleaved, ${N.warmup} + ${N.cliRun} rounds`);
    }
    const systemdRun = inVm ? undefined : await benchSystemdRun({
      bundleDir: bundle.dir,
      work,
      nsinitBin,
      warmup: N.warmup,
      rounds: N.cliRun,
      log,
    });
    if (systemdRun) {
      log(`  median ms: runc ${systemdRun.runc.median}, nsinit ${systemdRun.nsinit.median}`);
    }

    // Library and floors, interleaved, from this process.
    log(`library and floor: ${N.warmup} + ${N.library} rounds`);
    const factory = new Factory({ root: roots.library });
    const plan = floorPlan(bundle.spec.linux?.namespaces);
    const unshare = unshareArgv(bundle.spec.linux?.namespaces, bundle.rootfs);
    // The floor ladder (scripts/bench/floor_lib.ts): the clone + exec, the spec's whole init
    // plan, and that plan with the container's cgroups.
    const initPlan = initPlanFloor(bundle.spec, bundle.dir);
    // (d): that plan as an OCI create, start and delete run it, with their bookkeeping.
    const lcFloor = lifecycleFloor(bundle.spec, bundle.dir, `${roots.library}-floor`);
    const lib = {
      run: [] as number[],
      createStart: [] as number[],
      helper: [] as number[],
      unshare: [] as number[],
      initPlan: [] as number[],
      initPlanCgroups: [] as number[],
      lifecycle: [] as number[],
    };
    let seq = 0;
    const nextCgroup = () => `${tag}-l${seq++}`;
    const steps: [keyof typeof lib, (i: number) => Promise<number>][] = [
      [
        "run",
        (i) => libraryRun(factory, `run-${i}`, bundle.dir, withCgroup(bundle.spec, nextCgroup())),
      ],
      [
        "createStart",
        (i) =>
          libraryCreateStart(factory, `cs-${i}`, bundle.dir, withCgroup(bundle.spec, nextCgroup())),
      ],
      ["helper", () => floorSpawn(plan)],
      ["initPlan", () => initPlanSpawn(initPlan)],
      [
        "initPlanCgroups",
        () => initPlanCgroupsSpawn(bundle.spec, bundle.dir, initPlan, nextCgroup()),
      ],
      ["lifecycle", () => lifecycleSpawn(lcFloor, nextCgroup())],
      ["unshare", () => timeOk(unshare)],
    ];
    for (let i = 0; i < N.warmup * 5 + N.library; i++) {
      for (const [key, step] of rotate(steps, i)) {
        checkAbort();
        const ms = await step(i);
        if (i >= N.warmup * 5) lib[key].push(ms);
      }
    }
    const library = { run: summarize(lib.run), createStart: summarize(lib.createStart) };
    const floor = {
      helper: summarize(lib.helper),
      unshare: summarize(lib.unshare),
      initPlan: summarize(lib.initPlan),
      initPlanCgroups: summarize(lib.initPlanCgroups),
      lifecycle: summarize(lib.lifecycle),
    };
    log(
      `  median ms: library run ${library.run.median}, create+start ${library.createStart.median}, floor ${floor.helper.median}, init plan ${floor.initPlan.median}, with cgroups ${floor.initPlanCgroups.median}, OCI lifecycle ${floor.lifecycle.median}, unshare ${floor.unshare.median}`,
    );

    // Batches.
    const batchOf = (n: number, totalMs: number): BatchResult => ({
      n,
      totalMs: round(totalMs, 1),
      perSecond: round(n / (totalMs / 1000), 1),
    });
    log(`batches of ${N.batch}`);
    // With the CPU the process's threads used meanwhile (all JavaScript runs on the main
    // one), what the containers' processes used, and how busy the machine was.
    const cpuNow = () => [
      cpuMs("loop"),
      cpuMs("all"),
      cpuMs("children"),
      machineBusyMs(),
      cpuMs("all", "system"),
      cpuMs("children", "system"),
    ];
    const cpuOf = (
      b: BatchResult,
      [loop0, all0, kids0, busy0, allSys0, kidsSys0]: number[],
    ): BatchResult => {
      const [loop, all, kids, busy, allSys, kidsSys] = cpuNow();
      return {
        ...b,
        loopCpuMs: loop - loop0,
        processCpuMs: all - all0,
        childrenCpuMs: kids - kids0,
        machineBusyMs: busy - busy0,
        processSysMs: allSys - allSys0,
        childrenSysMs: kidsSys - kidsSys0,
      };
    };
    /** The whole batch of `one` at once, timed, with the CPU it used. */
    const atOnce = async (one: (i: number) => Promise<unknown>) => {
      checkAbort();
      const c0 = cpuNow();
      const start = performance.now();
      await Promise.all(Array.from({ length: N.batch }, (_, i) => one(i)));
      return cpuOf(batchOf(N.batch, performance.now() - start), c0);
    };
    /** The batch of `one` one after another, timed, with the CPU it used. */
    const inTurn = async (one: (i: number) => Promise<unknown>) => {
      const c0 = cpuNow();
      const start = performance.now();
      for (let i = 0; i < N.batch; i++) {
        checkAbort();
        await one(i);
      }
      return cpuOf(batchOf(N.batch, performance.now() - start), c0);
    };
    const libOne = (i: number) =>
      libraryRun(factory, `batch-${i}`, bundle.dir, withCgroup(bundle.spec, nextCgroup()));
    // The ladder's cgroups floor: what the kernel and the containers' own processes allow,
    // with no runtime work. The ladder's OCI lifecycle floor (d): that with the state an OCI
    // runtime keeps (a state directory each); both with their cgroup files off the event loop.
    const cgFloorOne = () =>
      initPlanCgroupsSpawn(bundle.spec, bundle.dir, initPlan, nextCgroup(), { offLoop: true });
    const lcRoot = `${roots.library}-floors`;
    Deno.mkdirSync(lcRoot, { recursive: true });
    const lcFloors = Array.from(
      { length: N.batch },
      (_, i) => lifecycleFloor(bundle.spec, bundle.dir, `${lcRoot}/${i}`),
    );
    const lcOne = (i: number) => lifecycleSpawn(lcFloors[i], nextCgroup(), { offLoop: true });
    // Each kind `batchRounds` times, the order rotating each round, and the median round of
    // each kept (with its CPU figures): one batch of each moved by a third between runs.
    type BatchKind =
      | "librarySequential"
      | "libraryConcurrent"
      | "floorConcurrent"
      | "lifecycleConcurrent"
      | "lifecycleSequential";
    const kinds: [BatchKind, () => Promise<BatchResult>][] = [
      ["librarySequential", () => inTurn(libOne)],
      ["libraryConcurrent", () => atOnce(libOne)],
      ["floorConcurrent", () => atOnce(cgFloorOne)],
      ["lifecycleConcurrent", () => atOnce(lcOne)],
      ["lifecycleSequential", () => inTurn(lcOne)],
    ];
    const rounds = new Map<BatchKind, BatchResult[]>(kinds.map(([k]) => [k, []]));
    for (let r = 0; r < N.batchRounds; r++) {
      for (const [kind, run] of rotate(kinds, r)) rounds.get(kind)!.push(await run());
    }
    await Deno.remove(lcRoot);
    const medianRound = (kind: BatchKind): BatchResult => {
      const xs = [...rounds.get(kind)!].sort((a, b) => a.totalMs - b.totalMs);
      return { ...xs[(xs.length - 1) >> 1], rounds: rounds.get(kind)!.map((x) => x.totalMs) };
    };
    const librarySequential = medianRound("librarySequential");
    const libraryConcurrent = medianRound("libraryConcurrent");
    const floorConcurrent = medianRound("floorConcurrent");
    const lifecycleConcurrent = medianRound("lifecycleConcurrent");
    const lifecycleSequential = medianRound("lifecycleSequential");
    let t0: number;
    const cliSequential: BenchResults["batch"]["cliSequential"] = {};
    for (const rt of runtimes) {
      t0 = performance.now();
      for (let i = 0; i < N.batch; i++) {
        checkAbort();
        await timeOk([...prefix[rt]!, "run", "--bundle", bundle.dir, `batch-${i}`]);
      }
      cliSequential[rt] = batchOf(N.batch, performance.now() - t0);
    }
    log(
      `  total ms: library concurrent ${libraryConcurrent.totalMs}, sequential ${librarySequential.totalMs}, ` +
        `cgroups floor concurrent ${floorConcurrent.totalMs}, ` +
        `OCI lifecycle floor concurrent ${lifecycleConcurrent.totalMs} ` +
        `(machine busy ${lifecycleConcurrent.machineBusyMs} ms), ` +
        `sequential ${lifecycleSequential.totalMs}, ` +
        runtimes.map((rt) => `${rt} ${cliSequential[rt]!.totalMs}`).join(", "),
    );

    // Memory.
    log("peak RSS");
    const mem: Partial<Record<RuntimeName, number[]>> = {};
    for (let i = 0; i < N.memory; i++) {
      for (const rt of runtimes) {
        checkAbort();
        (mem[rt] ??= []).push(
          await peakRssKiB([...prefix[rt]!, "run", "--bundle", bundle.dir, `mem-${i}`]),
        );
      }
    }
    const memoryKiB: BenchResults["memoryKiB"] = {};
    for (const rt of runtimes) memoryKiB[rt] = summarize(mem[rt]!).median;
    const emptyRss: number[] = [];
    for (let i = 0; i < N.memory; i++) emptyRss.push(await peakRssKiB([...denoRun, empty]));
    const emptyDenoKiB = summarize(emptyRss).median;
    if (cliFloor) {
      const exec: number[] = [], cg: number[] = [];
      for (let i = 0; i < N.memory; i++) {
        checkAbort();
        exec.push(await peakRssKiB(floorRun(i, false), { env: floorEnv }));
        cg.push(await peakRssKiB(floorRun(1_000_000 + i, true), { env: floorEnv }));
      }
      cliFloor.execKiB = summarize(exec).median;
      cliFloor.cgroupsKiB = summarize(cg).median;
    }
    const cliRssKiB: Record<string, number> = {};
    for (const args of [["--version"], ["--root", roots.nsinit, "list"]]) {
      const kib: number[] = [];
      for (let i = 0; i < N.memory; i++) kib.push(await peakRssKiB([nsinitBin, ...args]));
      cliRssKiB[`\`nsinit ${args.at(-1)}\``] = summarize(kib).median;
    }
    const lifecycleSpec = JSON.parse(
      await Deno.readTextFile(`${bundle.lifecycleDir}/config.json`),
    ) as Spec;
    log(`  library memory: ${N.batch} running containers`);
    const libMemory = await libraryMemory(
      factory,
      "memory",
      bundle.lifecycleDir,
      (i) => withCgroup(lifecycleSpec, `${tag}-m${i < 0 ? "w" : i}`),
      N.batch,
    );
    log(`  ${libMemory.perContainerKiB} KiB per running container`);

    // Where the time goes: nsinit's phase marks.
    log(`phases: CLI and library, ${N.phases} rounds`);
    const { memory: runMemory, ...phases } = await measurePhases(factory, bundle, nextCgroup);
    // What the resident memory is made of: nsinit's traced runs above, and a bare Deno.
    const statusScript = `${work}/status.ts`;
    await Deno.writeTextFile(
      statusScript,
      'Deno.stdout.writeSync(new TextEncoder().encode(Deno.readTextFileSync("/proc/self/status")));\n',
    );
    const denoMemory: MemoryUse[] = [];
    for (let i = 0; i < N.memory; i++) {
      const out = await sh(denoRun[0], [...denoRun.slice(1), statusScript]);
      if (out.code === 0) denoMemory.push(memoryUse(out.stdout));
    }
    const memoryMakeup = runMemory.length > 0 && denoMemory.length > 0
      ? { run: medianMemory(runMemory), denoRun: medianMemory(denoMemory) }
      : undefined;

    // Parts of the work, alone.
    log("parts of nsinit's work");
    const components: Record<string, Summary> = {};
    const time = async (n: number, fn: () => unknown | Promise<unknown>) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        await fn();
        out.push(performance.now() - s);
      }
      return summarize(out);
    };
    components["spec validation (`validateSpec` of the bench config)"] = await time(
      N.components,
      () => validateSpec(structuredClone(bundle.spec)),
    );
    components["plan building (`buildInitPlan`)"] = await time(
      N.components,
      () => buildInitPlan(bundle.spec, { bundle: bundle.dir, id: "x" }),
    );
    const stateDir = `${stateBase}/write-test`;
    await Deno.mkdir(stateDir, { recursive: true });
    const stateText = JSON.stringify({ config: bundle.spec, pad: "x".repeat(512) });
    components[`state.json write (\`writeAtomic\`, /run on ${machine.runFs})`] = await time(
      N.components,
      () => writeAtomic(`${stateDir}/state.json`, stateText),
    );
    const cpu = cgroupScopes().find((s) => /\/cpu(,cpuacct)?$/.test(s.mountPoint));
    if (cpu) {
      const dir = `${cpu.own}/${tag}-move`;
      await Deno.mkdir(dir);
      try {
        const hot: number[] = [], idle: number[] = [];
        const n = Math.min(N.components, 20);
        for (let i = 0; i < n; i++) {
          checkAbort();
          hot.push(await cgroupMove(dir, 0));
          idle.push(await cgroupMove(dir, 50));
        }
        components["v1 `cgroup.procs` move of a new process, back to back"] = summarize(hot);
        components["v1 `cgroup.procs` move of a new process, after 50 ms without one"] = summarize(
          idle,
        );
      } finally {
        await Deno.remove(dir).catch(() => {});
      }
    }

    // Sandbox start-up against bubblewrap.
    log(`sandbox: nsinit sandbox and bwrap, ${N.warmup} + ${N.sandbox} rounds`);
    const sandbox = await benchSandbox({
      nsinitBin,
      cwd: work,
      warmup: N.warmup,
      rounds: N.sandbox,
      bwrap: which("bwrap"),
      checkAbort,
    });
    log(
      `  median ms: nsinit sandbox ${sandbox.cli.nsinit.median}, bwrap ${
        sandbox.cli.bwrap?.median ?? "-"
      }, runSandbox ${sandbox.library.nsinit.median}`,
    );

    return {
      schema: 1,
      date,
      quick,
      durationS: 0,
      machine: { ...machine, loadBefore, loadAfter: Deno.loadavg().map((x) => round(x, 2)) },
      versions,
      crun: crun.status,
      iterations: {
        cliRun: N.cliRun,
        lifecycle: N.lifecycle,
        library: N.library,
        batch: N.batch,
        memory: N.memory,
        warmup: N.warmup,
      },
      spawnOverhead,
      cliRun,
      ...(cliFloor ? { cliFloor } : {}),
      lifecycle,
      library,
      floor,
      batch: {
        librarySequential,
        libraryConcurrent,
        floorConcurrent,
        lifecycleConcurrent,
        lifecycleSequential,
        cliSequential,
      },
      memoryKiB,
      startup,
      firstLineMs,
      components,
      sandbox,
      phases,
      emptyDenoKiB,
      cliRssKiB,
      ...(memoryMakeup ? { memoryMakeup } : {}),
      lifecycleEmptyDeno,
      ...(lifecycleOverEmpty ? { lifecycleOverEmpty } : {}),
      ...(verbFloors ? { verbFloor: verbFloors } : {}),
      libraryMemory: libMemory,
      ...(checkpoint ? { checkpoint } : {}),
      ...(systemdRun ? { systemdRun } : {}),
    };
  } finally {
    log("cleaning up");
    await cleanup(prefix);
  }
}

/** The median of each field of `samples`. */
function medianMemory(samples: MemoryUse[]): MemoryUse {
  const med = (f: (m: MemoryUse) => number) => summarize(samples.map(f)).median;
  return {
    anonKiB: med((m) => m.anonKiB),
    fileKiB: med((m) => m.fileKiB),
    threads: med((m) => m.threads),
  };
}

/**
 * nsinit's phases (see scripts/bench/phases.ts): `dist/nsinit run` and each lifecycle step
 * with `NSINIT_TRACE=1`, and library runs with a trace sink, one at a time and all at once.
 */
async function measurePhases(
  factory: Factory,
  bundle: BenchBundle,
  nextCgroup: () => string,
): Promise<NonNullable<BenchResults["phases"]> & { memory: MemoryUse[] }> {
  const p = [nsinitBin, "--root", roots.nsinit];
  const env = { NSINIT_TRACE: "1" };
  const traced = async (argv: string[], opts: { stderr?: "piped" | "null" } = {}) => {
    // create's init holds stderr open: its marks go to a file instead.
    const file = `${work}/trace-${Deno.pid}.log`;
    const t = await timeCommand(["/bin/sh", "-c", 'exec "$@" 2>"$0"', file, ...argv], {
      ...opts,
      stderr: "null",
      env,
    });
    if (t.code !== 0) throw new Error(`${argv.join(" ")} exited with ${t.code}`);
    const stderr = await Deno.readTextFile(file);
    if (argv.includes("run")) {
      const m = cliMemory(stderr);
      if (m) runMemory.push(m);
    }
    return cliPhases(stderr, t.ms);
  };
  const runMemory: MemoryUse[] = [];
  const run = new PhaseSamples();
  const steps: Partial<Record<LifecycleStep, PhaseSamples>> = {};
  for (const s of LIFECYCLE_STEPS) steps[s] = new PhaseSamples();
  for (let i = 0; i < N.warmup + N.phases; i++) {
    checkAbort();
    const keep = i >= N.warmup;
    const r = await traced([...p, "run", "--bundle", bundle.dir, `ph-run-${i}`]);
    if (keep) run.add(r);
    const id = `ph-lc-${i}`;
    const lc: [LifecycleStep, string[]][] = [
      ["create", ["create", "--bundle", bundle.lifecycleDir, id]],
      ["start", ["start", id]],
      ["state", ["state", id]],
      ["kill", ["kill", id, "KILL"]],
    ];
    for (const [step, args] of lc) {
      const ph = await traced([...p, ...args]);
      if (keep) steps[step]!.add(ph);
    }
    await new Promise((res) => setTimeout(res, 20)); // the init's exit after KILL
    const ph = await traced([...p, "delete", id]);
    if (keep) steps.delete!.add(ph);
  }
  const lib = new LibraryPhases();
  setTraceSink(lib.sink);
  try {
    for (let i = 0; i < N.phases * 5; i++) {
      checkAbort();
      await libraryRun(
        factory,
        `ph-lib-${i}`,
        bundle.dir,
        withCgroup(bundle.spec, nextCgroup()),
        lib,
      );
    }
    const conc = new LibraryPhases();
    setTraceSink(conc.sink);
    await Promise.all(
      Array.from(
        { length: N.batch },
        (_, i) =>
          libraryRun(
            factory,
            `ph-conc-${i}`,
            bundle.dir,
            withCgroup(bundle.spec, nextCgroup()),
            conc,
          ),
      ),
    );
    return {
      memory: runMemory,
      cliRun: run.rows(),
      lifecycle: Object.fromEntries(
        LIFECYCLE_STEPS.map((s) => [s, steps[s]!.rows()]),
      ) as Record<LifecycleStep, PhaseRow[]>,
      library: lib.samples.rows(),
      libraryConcurrent: conc.samples.rows(),
    };
  } finally {
    setTraceSink(undefined);
  }
}

/**
 * `checkpoint` and `restore -d` of a running `sleep` container, runc and nsinit interleaved,
 * both with the `criu` on PATH; undefined when there is none.
 */
/** How long one checkpoint or restore may take (CRIU under the VM's emulation takes seconds). */
const CRIU_TIMEOUT_MS = 120_000;

async function benchCheckpoint(
  prefix: Partial<Record<RuntimeName, string[]>>,
  bundleDir: string,
): Promise<BenchResults["checkpoint"]> {
  if (!(await timeOk(["sh", "-c", "command -v criu >/dev/null"]).then(() => true, () => false))) {
    log("checkpoint/restore: no criu on PATH (scripts/install_criu.sh), skipped");
    return undefined;
  }
  // A CRIU that cannot dump a plain process here fails (or hangs) every runtime alike.
  const criuProblem = await criuCannotDump(resolveCriu());
  if (criuProblem) {
    log(`checkpoint/restore: skipped: ${criuProblem}`);
    return { skipped: criuProblem };
  }
  const rts = (["runc", "nsinit"] as RuntimeName[]).filter((rt) => prefix[rt]);
  log(`checkpoint/restore: ${rts.join(", ")}, ${N.warmup} + ${N.checkpoint} rounds`);
  const samples: Record<string, { checkpoint: number[]; restore: number[] }> = {};
  for (const rt of rts) samples[rt] = { checkpoint: [], restore: [] };
  // A runtime whose checkpoint or restore fails with this criu (runc 1.1 on cgroup v2, say) is
  // reported with its error and left out of the later rounds, not the end of the benchmark.
  const failed: Partial<Record<RuntimeName, string>> = {};
  for (let i = 0; i < N.warmup + N.checkpoint; i++) {
    for (const rt of rotate(rts, i)) {
      if (failed[rt]) continue;
      checkAbort();
      const p = prefix[rt]!;
      const id = `ck-${i}`;
      const img = `${work}/ck-${rt}-${i}`;
      await timeOk([...p, "run", "-d", "--bundle", bundleDir, id], { stderr: "null" });
      try {
        // A CRIU that hangs (on some kernels it waits forever for the task it cures: see
        // tests/checkpoint/helpers.ts) fails the runtime's round instead of the benchmark.
        const limit = { timeoutMs: CRIU_TIMEOUT_MS };
        const c = await timeOk([...p, "checkpoint", "--image-path", img, id], limit);
        const r = await timeOk([
          ...p,
          "restore",
          "-d",
          "--image-path",
          img,
          "--bundle",
          bundleDir,
          id,
        ], limit);
        if (i >= N.warmup) {
          samples[rt].checkpoint.push(c);
          samples[rt].restore.push(r);
        }
      } catch (e) {
        const criuLog = await lastCriuError(img);
        failed[rt] = `${(e as Error).message.split("\n")[0]}${
          criuLog ? ` (CRIU's log: ${criuLog})` : ""
        }`;
        log(`  ${rt} failed, left out: ${failed[rt]}`);
      } finally {
        await timeOk([...p, "delete", "--force", id]).catch(() => 0);
        await Deno.remove(img, { recursive: true }).catch(() => {});
      }
    }
  }
  const out: BenchResults["checkpoint"] = {};
  if (Object.keys(failed).length > 0) out.failed = failed;
  for (const rt of rts) {
    if (failed[rt]) continue;
    out[rt] = {
      checkpoint: summarize(samples[rt].checkpoint),
      restore: summarize(samples[rt].restore),
    };
  }
  log(
    `  median ms: ${
      rts.filter((rt) => !failed[rt]).map((rt) =>
        `${rt} checkpoint ${out[rt]!.checkpoint.median}, restore ${out[rt]!.restore.median}`
      )
        .join("; ")
    }`,
  );
  return out;
}

/** The last line of CRIU's dump or restore log in `img` that says Error, if any. */
async function lastCriuError(img: string): Promise<string | undefined> {
  for (const name of ["restore.log", "dump.log"]) {
    const text = await Deno.readTextFile(`${img}/${name}`).catch(() => "");
    const line = text.split("\n").filter((l) => /Error/.test(l)).pop();
    if (line) return `${name}: ${line.trim()}`;
  }
  return undefined;
}

const VM_LABEL = "the cgroup v2 VM";

/** Reads a results file, or undefined when there is none. */
async function readResults(path: string): Promise<BenchResults | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as BenchResults;
  } catch {
    return undefined;
  }
}

/**
 * Runs this benchmark inside the cgroup v2 VM (scripts/v2vm: runc and crun from Debian are
 * in its image, crun runs natively there) and returns its results.
 */
async function runInVm(): Promise<BenchResults> {
  const out = `.cache/bench/${quick ? "quick-" : ""}v2vm.json`;
  await Deno.remove(`${REPO_ROOT}/${out}`).catch(() => {});
  await ensureFloorCli(log); // the VM cannot bundle it
  log(`running the benchmark in the cgroup v2 VM (scripts/v2vm/run.sh --exec), results in ${out}`);
  const r = await new Deno.Command("bash", {
    args: [
      `${REPO_ROOT}/scripts/v2vm/run.sh`,
      "--exec",
      "deno",
      "run",
      "-A",
      "--no-lock",
      "--v8-flags=--expose-gc",
      "scripts/bench.ts",
      ...(quick ? ["--quick"] : []),
      "--label",
      VM_LABEL,
      "--results-only",
      out,
    ],
    cwd: REPO_ROOT,
    env: { NSINIT_V2VM_TIMEOUT: String(quick ? 1500 : 3000) },
    stdin: "null",
  }).output();
  const results = await readResults(`${REPO_ROOT}/${out}`);
  if (!results) throw new Error(`the benchmark in the VM failed (exit ${r.code}): no ${out}`);
  return results;
}

/** Parses the flags, runs the benchmark, writes the results and the docs. */
async function cli(): Promise<void> {
  const { values: flags } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      vm: { type: "boolean" },
      "vm-only": { type: "boolean" },
      "render-only": { type: "boolean" },
      label: { type: "string" },
      "results-only": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (flags.help) {
    console.log(
      "usage: deno task bench [--quick] [--vm]\n" +
        "  --vm   also run it in the cgroup v2 VM (scripts/v2vm) and report both machines\n" +
        "  --vm-only   only the VM; the docs take this host's figures from the last run\n" +
        "  --render-only   no run: the docs again from the last results of both machines\n" +
        "  (--label L --results-only FILE: what the VM runs: results to FILE, no docs)",
    );
    return;
  }
  quick = flags.quick === true;
  N = quick ? QUICK : Deno.env.get("NSINIT_IN_V2VM") ? VM : FULL;
  const outJson = quick
    ? `${REPO_ROOT}/.cache/bench/quick.json`
    : `${REPO_ROOT}/.cache/bench/results.json`;
  let results: BenchResults;
  if (flags["vm-only"] || flags["render-only"]) {
    const last = await readResults(outJson);
    if (!last) {
      throw new Error(`--vm-only needs this host's results: run the benchmark first (${outJson})`);
    }
    results = last;
  } else {
    Deno.addSignalListener("SIGINT", onSigint);
    results = await main();
    Deno.removeSignalListener("SIGINT", onSigint);
    results.durationS = round((performance.now() - started) / 1000, 1);
  }
  if (flags.label) results.label = flags.label;
  if (flags["results-only"]) {
    const file = flags["results-only"];
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")) || ".", { recursive: true });
    await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
    log(`wrote ${file}`);
    return;
  }
  const docsDir = quick ? `${REPO_ROOT}/.cache/bench/quick` : `${REPO_ROOT}/docs`;
  await Deno.mkdir(docsDir, { recursive: true });
  await Deno.mkdir(`${REPO_ROOT}/.cache/bench`, { recursive: true });
  await Deno.writeTextFile(outJson, JSON.stringify(results, null, 2) + "\n");
  // The VM's results: from this run (--vm), else from the last one, if any.
  const vm = flags.vm || flags["vm-only"]
    ? await runInVm()
    : await readResults(`${REPO_ROOT}/.cache/bench/${quick ? "quick-" : ""}v2vm.json`);
  if (vm) vm.label ??= VM_LABEL;
  const others = vm ? [vm] : [];
  results.label ??= "this host (cgroup " + results.machine.cgroups + ")";
  await Deno.writeTextFile(`${docsDir}/benchmarks.md`, renderReport(results, others));
  await Deno.writeTextFile(
    `${docsDir}/benchmarks.svg`,
    renderChart(
      "nsinit, runc and crun: /bin/true in a busybox bundle",
      [...chartPanels(results), ...others.flatMap((o) => chartPanels(o, o.label))],
      chartFooter(results),
    ),
  );
  for (const x of [results, ...others]) {
    for (const t of evaluateTargets(x)) {
      log(
        `${x.label}: target ${
          t.met === null ? "not evaluated" : t.met ? "met" : "NOT met"
        }: ${t.goal}: ${t.value}`,
      );
    }
  }
  log(`wrote ${outJson}, ${docsDir}/benchmarks.md and ${docsDir}/benchmarks.svg`);
}

if (import.meta.main) await cli();
