/**
 * A recording fake of core's native calls (`core/syscalls.ts`) and of a cgroup
 * driver, for unit tests of `Factory` and `Container` without root or real
 * processes. Fake processes live in a table: spawning adds one, SIGKILL/SIGTERM/
 * SIGINT end it, `exit()` ends it from the test. Every call is appended to `calls`
 * (one line each, e.g. `pidfdSignal 1000 15`, `cgroup freeze true`), so a test can
 * check what a verb did, and that a refused verb did nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FakeSyscalls } from "./fake_syscalls.ts";
 * const sys = new FakeSyscalls();
 * const pid = sys.spawn();
 * const fd = sys.pidfdOpen(pid);
 * sys.pidfdSignal(fd, 9);
 * assert.equal(sys.procStat(pid), undefined);
 * assert.deepEqual(sys.calls, [`pidfdOpen ${pid}`, `pidfdSignal ${pid} 9`]);
 * ```
 *
 * @module
 */

import type { Syscalls, Terminal } from "../../core/syscalls.ts";
import type { Spawned, SpawnPlanOptions } from "../../native/spawn.ts";
import type { PlanBuilder } from "../../native/plan.ts";
import type { ExitStatus } from "../../native/reaper.ts";
import type { StdioOptions } from "../../core/stdio.ts";
import type {
  CgroupConfig,
  CgroupManager,
  CgroupView,
  DriverCapabilities,
  DriverState,
} from "../../drivers/driver.ts";
import type { CgroupDrivers } from "../../core/factory.ts";
import type { LinuxResources } from "../../spec/config.ts";
import { type CgroupStats, emptyStats } from "../../cgroups/stats.ts";
import type { CgroupEvent } from "../../cgroups/events.ts";
import { CgroupError, SyscallError } from "../../errors.ts";

/** Signals that end a fake process (the others are only recorded). */
const FATAL = new Set([2, 9, 15]);

interface FakeProcess {
  startTime: number;
  exited?: ExitStatus;
  /** A fatal signal it has not acted on yet (see `FakeSyscalls.lateKills`). */
  pending?: number;
  waiters: ((s: ExitStatus) => void)[];
}

/** The fake native calls. */
export class FakeSyscalls implements Syscalls {
  /** Every call, in order. */
  readonly calls: string[] = [];
  /** The steps of every plan spawned, in order. */
  readonly plans: string[][] = [];
  /** Throw this from the next `spawnPlan` (after `place`), once. */
  spawnError?: Error;
  /** Throw this from the next `startInit`, once. */
  startInitError?: Error;
  /**
   * A fatal signal does not end the process at once but stays pending, as for a real process
   * that has not run since it was killed, until a thaw of its fake cgroup lets it run
   * (`FakeCgroupManager.freeze(false)`) or {@linkcode FakeSyscalls.runPending}.
   */
  lateKills = false;
  /** What `runHook` resolves to per hook path (a wait status; default 0, success). */
  readonly hookResults: Map<string, number> = new Map();
  /** The state each hook read on stdin, in order. */
  readonly hookInputs: { path: string; state: Record<string, unknown> }[] = [];
  #procs = new Map<number, FakeProcess>();
  #fds = new Map<number, number>();
  #nextPid = 1000;
  #nextFd = 100;

  /** A live fake process; returns its pid. */
  spawn(): number {
    const pid = this.#nextPid++;
    this.#procs.set(pid, { startTime: 5000 + pid, waiters: [] });
    return pid;
  }

  /**
   * A new live process under the number of `pid`, which must have exited: an unrelated process
   * that took a dead container's pid (its start time differs, as a real one's would).
   */
  reuse(pid: number): void {
    const p = this.#procs.get(pid);
    if (!p?.exited) throw new Error(`fake: pid ${pid} is not free`);
    this.#procs.set(pid, { startTime: p.startTime + 100_000, waiters: [] });
  }

  /** Ends a fake process. */
  exit(pid: number, status: ExitStatus = { code: 0 }): void {
    const p = this.#procs.get(pid);
    if (!p || p.exited) return;
    p.exited = status;
    for (const w of p.waiters.splice(0)) w(status);
  }

  /** Whether a fake process is alive. */
  alive(pid: number): boolean {
    const p = this.#procs.get(pid);
    return p !== undefined && p.exited === undefined;
  }

  /** Open fake fds (a test checks that every verb closes what it opened). */
  get openFds(): number[] {
    return [...this.#fds.keys()];
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  mkfifo(path: string, _mode: number): void {
    this.calls.push(`mkfifo ${path.slice(path.lastIndexOf("/") + 1)}`);
    Deno.writeFileSync(path, new Uint8Array(), { createNew: true });
  }

  pidfdOpen(pid: number): number {
    this.calls.push(`pidfdOpen ${pid}`);
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    if (!this.alive(pid)) {
      throw new SyscallError({ syscall: "pidfd_open", errno: 3, path: `${pid}` });
    }
    const fd = this.#nextFd++;
    this.#fds.set(fd, pid);
    return fd;
  }

  #pidOf(fd: number): number {
    const pid = this.#fds.get(fd);
    if (pid === undefined) throw new SyscallError({ syscall: "fake fd", errno: 9, path: `${fd}` });
    return pid;
  }

  pidfdSignal(pidfd: number, signal: number): void {
    const pid = this.#pidOf(pidfd);
    this.calls.push(`pidfdSignal ${pid} ${signal}`);
    this.kill(pid, signal);
  }

  /** Delivers a signal to a fake process (no record). */
  kill(pid: number, signal: number): void {
    if (!this.alive(pid)) {
      throw new SyscallError({ syscall: "kill", errno: 3, path: `${pid}` });
    }
    if (!FATAL.has(signal)) return;
    if (this.lateKills) this.#procs.get(pid)!.pending ??= signal;
    else this.exit(pid, { signal });
  }

  /** Lets fake processes with a pending fatal signal run: they end of it. */
  runPending(pids: Iterable<number> = this.#procs.keys()): void {
    for (const pid of pids) {
      const p = this.#procs.get(pid);
      if (p?.pending !== undefined && !p.exited) this.exit(pid, { signal: p.pending });
    }
  }

  killPending(pid: number): boolean {
    const p = this.#procs.get(pid);
    return p !== undefined && !p.exited && p.pending === 9;
  }

  close(fd: number): void {
    this.#fds.delete(fd);
  }

  umountDetach(path: string): void {
    this.calls.push(`umountDetach ${path.slice(path.lastIndexOf("/") + 1)}`);
  }

  /** ESRCH unless `pid` is alive and started at `startTime` (as the native check). */
  #checked(pid: number, startTime: number, syscall: string): void {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`invalid pid ${pid}`);
    if (this.procStat(pid)?.startTime !== startTime) {
      throw new SyscallError({ syscall, errno: 3, path: `${pid}` });
    }
  }

  signalInit(pid: number, startTime: number, signal: number): Promise<void> {
    this.calls.push(`signalInit ${pid} ${signal}`);
    try {
      this.#checked(pid, startTime, "pidfd_send_signal");
      this.kill(pid, signal);
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  startInit(fifo: string, pid: number, startTime: number, _id: string): Promise<void> {
    this.calls.push(`startInit ${pid}`);
    try {
      this.#checked(pid, startTime, "start");
    } catch (e) {
      return Promise.reject(e);
    }
    const e = this.startInitError;
    if (e) {
      delete this.startInitError;
      return Promise.reject(e);
    }
    // The init opens the other end and execs; the fifo goes once it is released.
    try {
      Deno.removeSync(fifo);
    } catch { /* none */ }
    return Promise.resolve();
  }

  procStat(pid: number): { state: string; startTime: number } | undefined {
    const p = this.#procs.get(pid);
    if (!p || p.exited) return undefined;
    return { state: "S", startTime: p.startTime };
  }

  async spawnPlan(plan: PlanBuilder, opts: SpawnPlanOptions): Promise<Spawned> {
    const pid = this.spawn();
    this.calls.push(`spawnPlan ${pid} until=${opts.until} steps=${plan.steps.length > 0}`);
    this.plans.push(plan.steps);
    const fd = this.#nextFd++;
    this.#fds.set(fd, pid);
    try {
      // Never born in a cgroup: reported as the kernel refusing the flag (EOPNOTSUPP).
      if (opts.place) await opts.place(pid, 95);
      const during = opts.duringSetup?.(pid, this.procStat(pid)?.startTime ?? 0);
      during?.catch(() => {});
      if (opts.onBarrier) await opts.onBarrier(pid);
      await during;
      const e = this.spawnError;
      if (e) {
        delete this.spawnError;
        throw e;
      }
    } catch (e) {
      this.exit(pid, { signal: 9 });
      this.#fds.delete(fd);
      throw e;
    }
    return { pid, pidfd: fd, startTime: this.procStat(pid)?.startTime ?? 0 };
  }

  waitExit(pidfd: number): Promise<ExitStatus> {
    const p = this.#procs.get(this.#pidOf(pidfd))!;
    if (p.exited) return Promise.resolve(p.exited);
    return new Promise((resolve) => p.waiters.push(resolve));
  }

  prepareStdio(_opts?: StdioOptions) {
    return {
      fds: [0, 1, 2],
      closeChildEnds() {},
      parent: () => ({}),
      abort() {},
    };
  }

  runHook(
    path: string,
    _argv: string[],
    _env: string[],
    input: Uint8Array,
    _timeoutMs: number,
  ): Promise<number> {
    const state = JSON.parse(new TextDecoder().decode(input));
    this.calls.push(`hook ${path} ${state.status}`);
    this.hookInputs.push({ path, state });
    return Promise.resolve(this.hookResults.get(path) ?? 0);
  }

  terminal(_ptyFd: number): Terminal {
    throw new Error("the fake has no terminals");
  }

  sendFd(path: string, data: Uint8Array, fd: number): void {
    this.calls.push(`sendFd ${path} fd=${fd} ${new TextDecoder().decode(data)}`);
  }
}

/**
 * An in-memory cgroup: tracks pids, a frozen flag and the resources set, records
 * every call in the fake syscalls' log (`cgroup <verb> ...`), and signals its
 * fake processes.
 */
export class FakeCgroupManager implements CgroupManager {
  readonly driver = "none" as const;
  readonly capabilities: DriverCapabilities;
  /** The resources last set. */
  resources?: LinuxResources;
  /** A cgroup v2 directory to offer as `cloneTarget()` (none: the method says undefined). */
  cloneInto?: string;
  /** `set()` rejects with this (after its record). */
  setError?: Error;
  #sys: FakeSyscalls;
  #exists = false;
  #frozen = false;
  #pids = new Map<number, number | undefined>(); // pid -> its start time when it joined

  constructor(sys: FakeSyscalls, capabilities: Partial<DriverCapabilities> = {}) {
    this.#sys = sys;
    this.capabilities = {
      limitsBeforePid: true,
      processes: true,
      freezer: true,
      deviceRules: true,
      events: false,
      ...capabilities,
    };
  }

  #log(what: string): void {
    this.#sys.calls.push(`cgroup ${what}`);
  }

  view(): CgroupView {
    return { layout: "none", mounts: {} };
  }
  paths(): Record<string, string> {
    return {};
  }
  cloneTarget(): string | undefined {
    return this.cloneInto;
  }
  create(): Promise<void> {
    this.#log("create");
    this.#exists = true;
    return Promise.resolve();
  }
  apply(pid: number): Promise<void> {
    this.#log("apply");
    if (!(pid > 0)) return Promise.reject(new RangeError(`invalid pid ${pid}`));
    this.#exists = true;
    this.#pids.set(pid, this.#sys.procStat(pid)?.startTime);
    return Promise.resolve();
  }
  set(resources: LinuxResources): Promise<void> {
    this.#log("set");
    if (this.setError) return Promise.reject(this.setError);
    if (!this.#exists) return Promise.reject(new CgroupError("cgroup", "does not exist"));
    this.resources = resources;
    return Promise.resolve();
  }
  freeze(frozen: boolean): Promise<void> {
    this.#log(`freeze ${frozen}`);
    if (!this.capabilities.freezer) {
      return Promise.reject(new CgroupError("freezer", "the fake has no freezer"));
    }
    this.#frozen = frozen;
    // Thawed processes run, and act on a kill that was pending.
    if (!frozen) this.#sys.runPending(this.#pids.keys());
    return Promise.resolve();
  }
  frozen(): Promise<boolean> {
    return Promise.resolve(this.#frozen);
  }
  /** Sets the frozen flag without a record (to put a container in `paused`). */
  setFrozen(frozen: boolean): void {
    this.#frozen = frozen;
  }
  pids(): Promise<number[]> {
    // A process that took the number of one that left is not in this cgroup.
    return Promise.resolve(
      [...this.#pids].filter(([p, t]) => {
        const st = this.#sys.procStat(p);
        return st !== undefined && (t === undefined || st.startTime === t);
      }).map(([p]) => p),
    );
  }
  async killAll(signal: number): Promise<void> {
    this.#log(`killAll ${signal}`);
    if (!this.capabilities.processes) throw new CgroupError("cgroup", "no process tracking");
    for (const pid of await this.pids()) this.#sys.kill(pid, signal);
  }
  stats(): Promise<CgroupStats> {
    return Promise.resolve(emptyStats());
  }
  async *events(): AsyncIterable<CgroupEvent> {}
  exists(): Promise<boolean> {
    return Promise.resolve(this.#exists);
  }
  saved(): DriverState {
    return { driver: this.driver, paths: {}, extra: { fake: true } };
  }
  destroy(): Promise<void> {
    this.#log("destroy");
    this.#exists = false;
    return Promise.resolve();
  }
}

/**
 * Cgroup drivers for a `Factory` that hand out one {@link FakeCgroupManager} per
 * container id (the same one again on `load`, as the real ones find the same cgroup).
 */
export class FakeCgroupDrivers implements CgroupDrivers {
  readonly managers = new Map<string, FakeCgroupManager>();
  /** Offered by every manager made from now on as its `cloneTarget()`. */
  cloneInto?: string;
  /** Every manager made from now on fails `set()` with this. */
  setError?: Error;
  #sys: FakeSyscalls;
  #caps: Partial<DriverCapabilities>;

  constructor(sys: FakeSyscalls, capabilities: Partial<DriverCapabilities> = {}) {
    this.#sys = sys;
    this.#caps = capabilities;
  }

  create(config: CgroupConfig): FakeCgroupManager {
    const m = new FakeCgroupManager(this.#sys, this.#caps);
    if (this.cloneInto) m.cloneInto = this.cloneInto;
    if (this.setError) m.setError = this.setError;
    this.managers.set(config.id, m);
    return m;
  }

  load(config: CgroupConfig, _saved: DriverState): FakeCgroupManager {
    return this.managers.get(config.id) ?? this.create(config);
  }
}
