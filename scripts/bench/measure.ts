/**
 * Timed operations of the benchmark: runtime commands, library calls, and the floor (a
 * namespaced spawn of `/bin/true` through nsinit's native helper with no runtime work; it
 * lives in floor.ts, which the CLI floor's bundle imports, and is re-exported here).
 *
 * @module
 */

import type { Spec } from "../../spec/config.ts";
import type { Factory } from "../../core/factory.ts";
import type { LibraryPhases } from "./phases.ts";
import type { LibraryMemory } from "./results.ts";
import { killTree } from "../../client/process.ts";

export { closeFloor, floorPlan, floorSpawn } from "./floor.ts";

const dec = new TextDecoder();

/** What one timed command gave. */
export interface Timed {
  /** Wall time from spawn to exit, ms. */
  ms: number;
  /** Exit code. */
  code: number;
  /** Standard error ("" when it was not collected). */
  stderr: string;
  /** Standard output ("" unless `stdout: "piped"`). */
  stdout: string;
}

/**
 * Runs `argv` and times it from spawn to exit. Standard output goes to /dev/null; standard
 * error is collected unless `stderr` is "null" (a command whose children outlive it, as
 * `create`, would hold the pipe open).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timeCommand } from "./measure.ts";
 * const t = await timeCommand(["true"]);
 * assert.equal(t.code, 0);
 * assert.ok(t.ms > 0);
 * ```
 */
export async function timeCommand(
  argv: string[],
  opts: {
    stderr?: "piped" | "null";
    stdout?: "piped" | "null";
    env?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<Timed> {
  const cmd = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: opts.stdout ?? "null",
    stderr: opts.stderr ?? "piped",
    ...(opts.env ? { env: opts.env } : {}),
  });
  const t0 = performance.now();
  const child = cmd.spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  if (opts.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      killTree(child.pid); // the client's: stopped top down, then killed, by pidfd
    }, opts.timeoutMs);
  }
  const out = await child.output();
  const ms = performance.now() - t0;
  clearTimeout(timer);
  const stderr = opts.stderr === "null" ? "" : dec.decode(out.stderr);
  return {
    ms,
    code: out.code,
    stderr: timedOut
      ? `did not finish within ${opts.timeoutMs! / 1000} s (ended with its children)${
        stderr ? `: ${stderr}` : ""
      }`
      : stderr,
    stdout: opts.stdout === "piped" ? dec.decode(out.stdout) : "",
  };
}

/** Like {@link timeCommand}, but throws when the command fails (or outlives `timeoutMs`). */
export async function timeOk(
  argv: string[],
  opts: { stderr?: "piped" | "null"; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<number> {
  const t = await timeCommand(argv, opts);
  if (t.code !== 0) {
    throw new Error(`${argv.join(" ")} exited with ${t.code}: ${t.stderr.trim() || "(no stderr)"}`);
  }
  return t.ms;
}

/**
 * Peak RSS in KiB of `argv` (and its waited-for children), from `/usr/bin/time -f %M`;
 * `env`: variables added to the environment.
 */
export async function peakRssKiB(
  argv: string[],
  opts: { env?: Record<string, string> } = {},
): Promise<number> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", ...argv],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    ...(opts.env ? { env: opts.env } : {}),
  }).output();
  const lines = dec.decode(out.stderr).trim().split("\n");
  const kib = Number(lines[lines.length - 1]);
  if (!out.success || !Number.isFinite(kib)) {
    throw new Error(`/usr/bin/time ${argv.join(" ")} failed: ${lines.join(" ")}`);
  }
  return kib;
}

const STDIO = { stdin: "null", stdout: "null", stderr: "null" } as const;

/** The spec with its own cgroupsPath (so containers running at once do not share a cgroup). */
export function withCgroup(spec: Spec, cgroupsPath: string): Spec {
  return { ...spec, linux: { ...spec.linux, cgroupsPath } };
}

/**
 * Library `run`, wait for the exit, `destroy`; returns ms. With `phases`, nsinit's phase
 * marks are followed into it (set `phases.sink` as the trace sink first).
 */
export async function libraryRun(
  factory: Factory,
  id: string,
  bundle: string,
  spec: Spec,
  phases?: LibraryPhases,
): Promise<number> {
  const t0 = performance.now();
  phases?.begin(id, t0);
  const c = await factory.run(id, { bundle, spec, stdio: STDIO });
  const status = await c.wait();
  phases?.mark(id, "run: init exited and reaped");
  await c.destroy();
  phases?.end(id, "run: container destroyed");
  const ms = performance.now() - t0;
  if (status.code !== 0) throw new Error(`container ${id} exited with ${JSON.stringify(status)}`);
  return ms;
}

/**
 * Memory the library holds per tracked running container: the process's RSS before and
 * after starting `n` long-running containers (`spec` must keep running, e.g. `sleep`) and
 * keeping their `Container` objects; all are destroyed before it returns.
 */
export async function libraryMemory(
  factory: Factory,
  idPrefix: string,
  bundle: string,
  specFor: (i: number) => Spec,
  n: number,
): Promise<LibraryMemory> {
  const rss = () => {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? Number(m[1]) : Deno.memoryUsage().rss / 1024;
  };
  // What the JavaScript side retains: V8's heap and the buffers outside it, after a full
  // collection (only with `--v8-flags=--expose-gc`, which `deno task bench` passes). RSS
  // alone moves with when the collector last ran and how the heap grew: 0 or even less per
  // container in one run (measured).
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = async () => {
    // Collections until the heap stops shrinking (at most 5), each followed by a timer turn:
    // objects held by finalizers and weak references go only in a later collection (one
    // collection left the "before" figure high: -33 KiB per container, measured).
    let kib = Infinity;
    for (let i = 0; i < 5; i++) {
      gc!();
      await new Promise((r) => setTimeout(r, 0));
      const m = Deno.memoryUsage();
      const now = (m.heapUsed + m.external) / 1024;
      if (now >= kib - 16) return Math.min(now, kib);
      kib = now;
    }
    return kib;
  };
  // One first, so what is loaded or compiled once is not counted per container.
  const first = await factory.run(`${idPrefix}-warm`, { bundle, spec: specFor(-1), stdio: STDIO });
  await first.destroy({ force: true });
  const heapBefore = gc ? await heap() : undefined;
  const before = rss();
  const held = [];
  try {
    for (let i = 0; i < n; i++) {
      held.push(await factory.run(`${idPrefix}-${i}`, { bundle, spec: specFor(i), stdio: STDIO }));
    }
    const after = rss();
    const perKiB = (a: number, b: number) => Math.round((a - b) / n * 10) / 10;
    const heapAfter = heapBefore === undefined ? undefined : await heap();
    return {
      running: n,
      rssBeforeKiB: before,
      rssAfterKiB: after,
      perContainerKiB: perKiB(after, before),
      ...(heapBefore !== undefined && heapAfter !== undefined
        ? {
          heapBeforeKiB: Math.round(heapBefore),
          heapAfterKiB: Math.round(heapAfter),
          perContainerHeapKiB: perKiB(heapAfter, heapBefore),
        }
        : {}),
    };
  } finally {
    await Promise.all(held.map((c) => c.destroy({ force: true }).catch(() => {})));
  }
}

/** Library `create`, `start`, wait for the exit, `destroy`; returns ms. */
export async function libraryCreateStart(
  factory: Factory,
  id: string,
  bundle: string,
  spec: Spec,
): Promise<number> {
  const t0 = performance.now();
  const c = await factory.create(id, { bundle, spec, stdio: STDIO });
  await c.start();
  const status = await c.wait();
  await c.destroy();
  const ms = performance.now() - t0;
  if (status.code !== 0) throw new Error(`container ${id} exited with ${JSON.stringify(status)}`);
  return ms;
}

/** `unshare` arguments for the spec's namespaces, then `chroot ROOTFS /bin/true`. */
export function unshareArgv(
  namespaces: NonNullable<Spec["linux"]>["namespaces"],
  rootfs: string,
): string[] {
  const opt: Record<string, string[]> = {
    pid: ["--pid", "--fork"],
    mount: ["--mount"],
    uts: ["--uts"],
    ipc: ["--ipc"],
    network: ["--net"],
    cgroup: ["--cgroup"],
    user: ["--user"],
    time: ["--time"],
  };
  const args = ["unshare"];
  for (const n of namespaces ?? []) if (!n.path) args.push(...opt[n.type]);
  return [...args, "chroot", rootfs, "/bin/true"];
}

/** Samples `fn` repeatedly (no warm-up), ms. */
export async function sample(n: number, fn: () => number | Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return out;
}

/**
 * Times a `cgroup.procs` write moving a fresh process into `dir`, after `idleMs` of no such
 * writes (v1 moves take the threadgroup rwsem; after an idle spell that waits for an RCU
 * grace period). Returns ms of the write alone.
 */
export async function cgroupMove(dir: string, idleMs: number): Promise<number> {
  const child = new Deno.Command("sleep", {
    args: ["10"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  try {
    await new Promise((r) => setTimeout(r, idleMs));
    const t0 = performance.now();
    Deno.writeTextFileSync(`${dir}/cgroup.procs`, String(child.pid));
    return performance.now() - t0;
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

/** Clock ticks per second of `/proc/<pid>/stat`'s times (`getconf CLK_TCK`: 100 on Linux). */
const CLK_TCK = 100;

/**
 * CPU time (user + system) this process has used so far, ms: `thread: "loop"` counts only
 * its main thread, where Deno runs every line of JavaScript (the event loop), `"all"` every
 * thread (Deno's pools, the native library's off-loop calls); `"children"` is what its
 * children that it waited for used (the containers' inits and nsinit's helpers, which it
 * reaps). With `part: "system"`, only the time spent in the kernel on their behalf (system
 * time: the syscalls' work, e.g. cgroup directories and files, clone, mounts). 10 ms
 * resolution (the kernel splits user and system time by sampling ticks).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cpuMs } from "./measure.ts";
 * const loop = cpuMs("loop");
 * assert.ok(loop >= 0 && cpuMs("all") >= loop && cpuMs("children") >= 0);
 * assert.ok(cpuMs("all", "system") <= cpuMs("all"));
 * ```
 */
export function cpuMs(
  thread: "loop" | "all" | "children",
  part: "both" | "system" = "both",
): number {
  const path = thread === "loop" ? `/proc/self/task/${Deno.pid}/stat` : "/proc/self/stat";
  const text = Deno.readTextFileSync(path);
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) are f[11] and f[12] after the state letter (field 3);
  // 16 and 17 (cutime, cstime) f[13] and f[14].
  const [u, s] = thread === "children" ? [f[13], f[14]] : [f[11], f[12]];
  return (((part === "system" ? 0 : Number(u)) + Number(s)) * 1000) / CLK_TCK;
}

/**
 * How long the machine's CPUs have been busy so far, all of them together, ms (`/proc/stat`:
 * user, nice, system, irq, softirq and steal time; not idle or iowait). 10 ms resolution.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { machineBusyMs } from "./measure.ts";
 * assert.ok(machineBusyMs() > 0);
 * ```
 */
export function machineBusyMs(): number {
  const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / CLK_TCK;
}
