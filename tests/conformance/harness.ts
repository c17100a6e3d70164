/**
 * The conformance harness: the runtimes under test (nsinit's `dist/nsinit`, and runc when it is
 * installed), one shared bundle whose config each check rewrites, a per-runtime state root, and
 * the helpers checks use to drive a runtime through its CLI exactly as the OCI operations map to
 * runc's commands (`state`, `create`, `start`, `kill`, `delete`).
 *
 * @module
 */

import { makeBundle } from "../helpers/bundle.ts";
import type { Bundle } from "../helpers/bundle.ts";
import { uniqueId } from "../helpers/ids.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { run, type RunResult } from "../helpers/run.ts";
import { hasCommand } from "../helpers/skip.ts";
import type { Spec } from "../../spec/config.ts";
import { ensureBuild } from "../../scripts/build.ts";

/** A runtime under test and the command line that runs it. */
export interface Runtime {
  /** `nsinit` or `runc`. */
  name: string;
  /** The program and leading arguments, e.g. `["/work/main/dist/nsinit"]`. */
  argv: string[];
}

/** How a check ended. */
export type Status = "pass" | "fail" | "skip" | "known-failure";

/** One runtime's result for one clause. */
export interface Outcome {
  /** The result. */
  status: Status;
  /** What was seen (the failure, or why it was skipped). */
  note?: string;
}

/** A check cannot run here (a missing tool, a host feature); the clause is reported skipped. */
export class Skip extends Error {
  /** Skips with `reason`. */
  constructor(reason: string) {
    super(reason);
    this.name = "Skip";
  }
}

/**
 * The nsinit command line: `$NSINIT_TEST_BIN`, else `dist/nsinit` (what OCI clients run; see
 * `deno task build`), else `deno run -A nsinit/main.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nsinitRuntime } from "./harness.ts";
 * assert.equal(nsinitRuntime().name, "nsinit");
 * ```
 */
export function nsinitRuntime(): Runtime {
  const bin = Deno.env.get("NSINIT_TEST_BIN");
  if (bin) return { name: "nsinit", argv: [bin] };
  const dist = `${REPO_ROOT}/dist/nsinit`;
  if (exists(dist)) {
    ensureBuild(); // dist/nsinit runs the bundle: rebuild it if a source changed since
    return { name: "nsinit", argv: [dist] };
  }
  return { name: "nsinit", argv: [Deno.execPath(), "run", "-A", `${REPO_ROOT}/nsinit/main.ts`] };
}

/**
 * The runtimes to test: nsinit, and runc when `runc` is on PATH (unless `NSINIT_CONFORMANCE_RUNC=0`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runtimes } from "./harness.ts";
 * assert.equal(runtimes()[0].name, "nsinit");
 * ```
 */
export function runtimes(): Runtime[] {
  const list = [nsinitRuntime()];
  if (Deno.env.get("NSINIT_CONFORMANCE_RUNC") !== "0" && hasCommand("runc")) {
    list.push({ name: "runc", argv: ["runc"] });
  }
  return list;
}

/** Whether a path exists (lstat). */
export function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 20 ms until it holds or `ms` pass; returns whether it held. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(20);
  }
}

/** One line per cgroup hierarchy of `/proc/<pid>/cgroup`: controllers (`""` for v2) and path. */
export function procCgroups(pid: number | "self"): { ctrls: string; path: string }[] {
  return Deno.readTextFileSync(`/proc/${pid}/cgroup`).trim().split("\n").map((l) => {
    const m = /^\d+:([^:]*):(.*)$/.exec(l);
    return { ctrls: m?.[1] ?? "", path: m?.[2] ?? "" };
  });
}

/**
 * The directories a cgroup path resolves to in every mounted hierarchy: a relative path below this
 * process's own cgroup (as runc resolves it), an absolute one below the hierarchy's root.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgroupDirs } from "./harness.ts";
 * for (const d of cgroupDirs("nsinit-test-x")) assert.ok(d.startsWith("/sys/fs/cgroup/"));
 * ```
 */
export function cgroupDirs(cgroupsPath: string): string[] {
  const own = procCgroups("self").map((e) => ({
    ctrls: e.ctrls.split(",").filter((c) => c !== ""),
    path: e.path,
  }));
  const dirs: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mounts").split("\n")) {
    const [, mnt, type, opts] = line.split(" ");
    if (!mnt?.startsWith("/sys/fs/cgroup/") || (type !== "cgroup" && type !== "cgroup2")) continue;
    const o = opts.split(",");
    const mine = type === "cgroup2"
      ? own.find((e) => e.ctrls.length === 0)
      : own.find((e) => e.ctrls.length > 0 && e.ctrls.every((c) => o.includes(c)));
    if (!mine) continue;
    const base = cgroupsPath.startsWith("/") ? "" : mine.path.replace(/\/$/, "");
    dirs.push(`${mnt}${base}/${cgroupsPath.replace(/^\/+/, "")}`);
  }
  return dirs;
}

/** Pids of live processes whose cgroup (any hierarchy) path ends with `suffix`. */
export function pidsInCgroup(suffix: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (procCgroups(Number(e.name)).some((c) => c.path.endsWith(suffix))) {
        pids.push(Number(e.name));
      }
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * Everything the checks of one runtime share: the runtime, its own state root, the shared bundle
 * (the same bundle for every runtime), and an `out` directory bind-mounted read-write at `/tmp`
 * in every container (the rootfs itself is the shared, read-only busybox rootfs).
 */
export class Session {
  /** The runtime under test. */
  readonly runtime: Runtime;
  /** The shared bundle. */
  readonly bundle: Bundle;
  /** The runtime's `--root`. */
  readonly root: string;
  /** Host side of the container's `/tmp`. */
  readonly out: string;
  /** The config every check starts from. */
  readonly base: Spec;
  #ids: string[] = [];
  #cleanups: (() => Promise<void> | void)[] = [];

  /** Whether each check's config gets a cgroup of its own (`linux.cgroupsPath`). */
  readonly cgroups: boolean;

  /** Use {@linkcode openSessions}. */
  constructor(runtime: Runtime, bundle: Bundle, base: Spec, opts: { cgroups?: boolean } = {}) {
    this.cgroups = opts.cgroups ?? true;
    this.runtime = runtime;
    this.bundle = bundle;
    this.root = `${bundle.dir}/state-${runtime.name}`;
    this.out = `${bundle.dir}/out`;
    this.base = base;
  }

  /** The runtime's name. */
  get name(): string {
    return this.runtime.name;
  }

  /** The bundle directory. */
  get dir(): string {
    return this.bundle.dir;
  }

  /** A fresh container id, deleted (`delete --force`) when the check ends. */
  id(): string {
    const id = uniqueId(`oci-${this.runtime.name}`);
    this.#ids.push(id);
    return id;
  }

  /** Registers something to undo when the check ends (after the containers are deleted). */
  defer(fn: () => Promise<void> | void): void {
    this.#cleanups.push(fn);
  }

  /**
   * Writes `config.json`: the base config changed by `change`, with `linux.cgroupsPath` set to
   * `nsinit-test-<id>` (relative: below this process's cgroup). Returns the config written.
   */
  async configure(id: string, change: (s: Spec) => void = () => {}): Promise<Spec> {
    const spec = structuredClone(this.base);
    spec.linux ??= {};
    if (this.cgroups) spec.linux.cgroupsPath = `nsinit-test-${id}`;
    change(spec);
    this.bundle.config = spec;
    await this.bundle.write();
    return spec;
  }

  /** Runs the runtime with `--root` and `args`; `log` adds `--log FILE`. */
  cli(
    args: string[],
    opts: { log?: string; cwd?: string; timeoutMs?: number; stdin?: string } = {},
  ): Promise<RunResult> {
    const [cmd, ...rest] = this.runtime.argv;
    const global = ["--root", this.root, ...(opts.log ? ["--log", opts.log] : [])];
    // A created container's init (or a detached exec) holds stdout/stderr: do not wait for them.
    const detached = args.some((a) => a === "create" || a === "--detach" || a === "-d");
    return run(cmd, [...rest, ...global, ...args], {
      cwd: opts.cwd ?? this.dir,
      timeoutMs: opts.timeoutMs ?? 30_000,
      pipeGraceMs: detached ? 50 : 1000,
      ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
    });
  }

  /** `create --bundle DIR ID`, asserting success; returns the init's pid (from the state). */
  async create(id: string): Promise<number> {
    const r = await this.cli(["create", "--bundle", this.dir, id]);
    if (r.code !== 0) throw new CheckFailed(`create ${id} failed (${r.code}): ${r.stderr.trim()}`);
    return (await this.state(id)).pid as number;
  }

  /** `start ID`, asserting success. */
  async start(id: string): Promise<void> {
    const r = await this.cli(["start", id]);
    if (r.code !== 0) throw new CheckFailed(`start ${id} failed (${r.code}): ${r.stderr.trim()}`);
  }

  /** `state ID`, parsed; fails the check if the command fails. */
  async state(id: string): Promise<Record<string, unknown>> {
    const r = await this.cli(["state", id]);
    if (r.code !== 0) throw new CheckFailed(`state ${id} failed (${r.code}): ${r.stderr.trim()}`);
    return JSON.parse(r.stdout);
  }

  /** The status `state` reports, or undefined when `state` fails. */
  async status(id: string): Promise<string | undefined> {
    const r = await this.cli(["state", id]);
    if (r.code !== 0) return undefined;
    return JSON.parse(r.stdout).status;
  }

  /** Waits until `state` reports `status`. */
  async waitStatus(id: string, status: string, ms = 5000): Promise<void> {
    let last: string | undefined;
    const ok = await waitFor(async () => (last = await this.status(id)) === status, ms);
    if (!ok) throw new CheckFailed(`${id}: status stayed ${last}, expected ${status}`);
  }

  /** Runs a container in the foreground (`run --bundle DIR ID`) and returns what it did. */
  runForeground(id: string): Promise<RunResult> {
    return this.cli(["run", "--bundle", this.dir, id]);
  }

  /** Host path of `/tmp/<name>` in the container. */
  outPath(name: string): string {
    return `${this.out}/${name}`;
  }

  /** Reads `/tmp/<name>` of the container, or undefined. */
  readOut(name: string): string | undefined {
    try {
      return Deno.readTextFileSync(this.outPath(name));
    } catch {
      return undefined;
    }
  }

  /**
   * Ends a check: deletes (`--force`) every container it made, runs deferred cleanups, empties
   * `out`, and removes any cgroup directory a container left behind. Returns what was left.
   */
  async finish(): Promise<string[]> {
    const left: string[] = [];
    for (const id of this.#ids.splice(0)) {
      const st = await this.cli(["state", id]);
      if (st.code === 0) await this.cli(["delete", "--force", id]);
      for (const d of cgroupDirs(`nsinit-test-${id}`).reverse()) {
        if (exists(d)) {
          left.push(d);
          await removeCgroupTree(d);
        }
      }
    }
    for (const fn of this.#cleanups.splice(0).reverse()) await fn();
    await Deno.remove(this.out, { recursive: true }).catch(() => {});
    await Deno.mkdir(this.out, { mode: 0o777 });
    await Deno.chmod(this.out, 0o777);
    return left;
  }
}

/** Removes a cgroup directory and its children (deepest first); processes are killed first. */
export async function removeCgroupTree(dir: string): Promise<void> {
  const children: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) if (e.isDirectory) children.push(`${dir}/${e.name}`);
  } catch {
    return;
  }
  for (const c of children) await removeCgroupTree(c);
  try {
    for (const pid of Deno.readTextFileSync(`${dir}/cgroup.procs`).split("\n")) {
      const n = Number(pid);
      if (Number.isInteger(n) && n > 1) Deno.kill(n, "SIGKILL");
    }
  } catch {
    // no procs file or already gone
  }
  for (let i = 0; i < 50; i++) {
    try {
      await Deno.remove(dir);
      return;
    } catch {
      await sleep(20);
    }
  }
}

/** A check's expectation failed (an assertion with a message meant for the report). */
export class CheckFailed extends Error {
  /** Fails with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "CheckFailed";
  }
}

/** Fails the check with `message` unless `cond`. */
export function expect(cond: unknown, message: string): asserts cond {
  if (!cond) throw new CheckFailed(message);
}

/** Fails the check unless the command failed (non-zero exit). */
export function expectError(r: RunResult, what: string): void {
  expect(
    r.code !== 0,
    `${what}: expected an error, got exit 0 (stdout ${JSON.stringify(r.stdout)})`,
  );
}

/** Fails the check unless the command succeeded. */
export function expectOk(r: RunResult, what: string): void {
  expect(r.code === 0, `${what}: exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
}

/**
 * Makes the shared bundle and one session per runtime. The base config: runc's default spec on
 * the shared read-only busybox rootfs, no terminal, `/tmp` bound read-write to `out`.
 */
export async function openSessions(
  rts: Runtime[],
  opts: { rootless?: { uid: number; gid: number } } = {},
): Promise<{ sessions: Session[]; bundle: Bundle }> {
  // Rootless: `runc spec --rootless` mapping the owner, who owns the bundle; no cgroupsPath
  // (an unprivileged runtime has no cgroup it may create without delegation).
  const bundle = await makeBundle({
    rootfs: "shared",
    args: ["sleep", "1000"],
    ...(opts.rootless ? { rootless: true, owner: opts.rootless, cgroupsPath: null } : {}),
  });
  const base = structuredClone(bundle.config);
  base.mounts = [
    ...(base.mounts ?? []),
    { destination: "/tmp", type: "bind", source: `${bundle.dir}/out`, options: ["rbind", "rw"] },
  ];
  await Deno.mkdir(`${bundle.dir}/out`, { mode: 0o777 });
  await Deno.chmod(`${bundle.dir}/out`, 0o777);
  const cgroups = opts.rootless === undefined;
  return { sessions: rts.map((rt) => new Session(rt, bundle, base, { cgroups })), bundle };
}

/**
 * Runs one check on one session and ends it (`finish`): a pass that left resources behind is
 * a failure.
 */
export async function runCheck(s: Session, check: (s: Session) => Promise<void>): Promise<Outcome> {
  let outcome: Outcome;
  try {
    await check(s);
    outcome = { status: "pass" };
  } catch (e) {
    if (e instanceof Skip) outcome = { status: "skip", note: e.message };
    else if (e instanceof CheckFailed) outcome = { status: "fail", note: e.message };
    else outcome = { status: "fail", note: `check error: ${e instanceof Error ? e.stack : e}` };
  }
  const left = await s.finish();
  if (left.length > 0 && outcome.status === "pass") {
    outcome = { status: "fail", note: `left behind: ${left.join(", ")}` };
  }
  return outcome;
}

/**
 * The paths under `dir` down to `depth` levels (sorted): taken before and after the suite, it shows
 * whether a runtime changed the shared read-only rootfs (e.g. made a mount point in it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { treeSnapshot } from "./harness.ts";
 * assert.ok(Array.isArray(treeSnapshot("/proc/self", 1)));
 * ```
 */
export function treeSnapshot(dir: string, depth = 3): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string, left: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      out.push(`${rel}${e.name}${e.isDirectory ? "/" : ""}`);
      if (e.isDirectory && left > 1) walk(`${d}/${e.name}`, `${rel}${e.name}/`, left - 1);
    }
  };
  walk(dir, "", depth);
  return out.sort();
}

/** Where results are written: `$NSINIT_CONFORMANCE_DIR`, else `<repo>/.cache/conformance`. */
export function resultsDir(): string {
  return Deno.env.get("NSINIT_CONFORMANCE_DIR") || `${REPO_ROOT}/.cache/conformance`;
}

/** Writes `value` as indented JSON to `<resultsDir>/<name>`. */
export async function writeResults(name: string, value: unknown): Promise<string> {
  const dir = resultsDir();
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
  return path;
}

/** The first line of `<runtime> --version`. */
export async function runtimeVersion(rt: Runtime): Promise<string> {
  const [cmd, ...rest] = rt.argv;
  const r = await run(cmd, [...rest, "--version"], { timeoutMs: 30_000 });
  return r.stdout.split("\n")[0].trim() || `unknown (${r.stderr.trim()})`;
}
