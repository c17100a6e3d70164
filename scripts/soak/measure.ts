/**
 * What the soak measures and how it judges the curve: a process's open file descriptors
 * (`/proc/<pid>/fd`), resident memory (`VmRSS`) and threads (`/proc/<pid>/task`), sampled at
 * intervals and at drain points (no container in flight). A leak is judged on the trend of the
 * drain points, with generous bounds, never on timing.
 *
 * @module
 */

/** One measurement of a process. */
export interface Sample {
  /** Seconds since the soak began. */
  t: number;
  /** Open file descriptors. */
  fds: number;
  /** Resident set size, KiB. */
  rssKiB: number;
  /** Threads. */
  threads: number;
  /** Containers in flight when it was taken (0 at a drain point). */
  inflight: number;
  /** Container cycles completed so far. */
  cycles: number;
}

/** Measures process `pid` (default: this one); `hwmKiB` is its peak RSS so far. */
export function measure(
  pid: number | "self" = "self",
): Omit<Sample, "t" | "inflight" | "cycles"> & { hwmKiB: number } {
  const count = (dir: string) => {
    let n = 0;
    for (const _ of Deno.readDirSync(dir)) n++;
    return n;
  };
  // readDirSync holds one fd on /proc/self/fd while it lists it.
  const fds = count(`/proc/${pid}/fd`) - (pid === "self" ? 1 : 0);
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? 0);
  return {
    fds,
    rssKiB: kib("VmRSS"),
    hwmKiB: kib("VmHWM"),
    threads: count(`/proc/${pid}/task`),
  };
}

/** The bounds a trend must stay within (generous: a leak grows without bound, noise does not). */
export interface Bounds {
  /** Extra fds the last third's maximum may have over the first third's. */
  fds: number;
  /** Extra threads, likewise (Deno's blocking pool grows and shrinks with load). */
  threads: number;
  /** Extra RSS, KiB, likewise, on top of `rssRatio`. */
  rssKiB: number;
  /** The last third's median RSS may be this many times the first third's maximum (plus `rssKiB`). */
  rssRatio: number;
}

/** Default bounds. */
export const DEFAULT_BOUNDS: Bounds = Object.freeze({
  fds: 4,
  threads: 24,
  rssKiB: 64 * 1024,
  rssRatio: 1.25,
});

/** The verdict on one quantity. */
export interface Verdict {
  /** `fds`, `threads` or `rssKiB`. */
  what: "fds" | "threads" | "rssKiB";
  /** The group it is of (the CLI's verb), if any. */
  group?: string;
  /** The first drain point after the warm-up. */
  start: number;
  /** The last drain point. */
  end: number;
  /** The largest value the last third may have. */
  limit: number;
  /** What was compared with `limit` (the last third's maximum, or median for RSS). */
  observed: number;
  /** Whether it stayed within `limit`. */
  ok: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Judges the drain points (at least 3): the last third of them against the first third.
 * fds and threads: the last third's maximum may exceed the first third's maximum by
 * `bounds.fds` / `bounds.threads`; RSS: the last third's median may be at most
 * `rssRatio` times the first third's maximum plus `rssKiB`.
 *
 * @example A flat curve passes, a growing one fails
 * ```ts
 * import assert from "node:assert/strict";
 * import { judge } from "./measure.ts";
 * const at = (i: number, fds: number) =>
 *   ({ t: i, fds, rssKiB: 50_000, threads: 10, inflight: 0, cycles: i });
 * assert.ok(judge([1, 2, 3, 4, 5, 6].map((i) => at(i, 20))).every((v) => v.ok));
 * const leak = judge([1, 2, 3, 4, 5, 6].map((i) => at(i, 20 + 10 * i)));
 * assert.equal(leak.find((v) => v.what === "fds")?.ok, false);
 * ```
 */
export function judge(drains: Sample[], bounds: Bounds = DEFAULT_BOUNDS): Verdict[] {
  if (drains.length < 3) {
    throw new RangeError(`judge: needs at least 3 drain points, got ${drains.length}`);
  }
  const third = Math.max(1, Math.floor(drains.length / 3));
  const first = drains.slice(0, third), last = drains.slice(-third);
  const max = (xs: Sample[], k: "fds" | "threads" | "rssKiB") => Math.max(...xs.map((s) => s[k]));
  const verdict = (what: Verdict["what"], limit: number, observed: number): Verdict => ({
    what,
    start: drains[0][what],
    end: drains[drains.length - 1][what],
    limit,
    observed,
    ok: observed <= limit,
  });
  return [
    verdict("fds", max(first, "fds") + bounds.fds, max(last, "fds")),
    verdict("threads", max(first, "threads") + bounds.threads, max(last, "threads")),
    verdict(
      "rssKiB",
      Math.round(max(first, "rssKiB") * bounds.rssRatio + bounds.rssKiB),
      median(last.map((s) => s.rssKiB)),
    ),
  ];
}

/** What a soak's containers could leave behind, counted by the soak's own names. */
export interface Leftovers {
  /** Entries in the soak's state root (container state directories). */
  state: number;
  /** Cgroup directories (any hierarchy) below this process's own cgroup named with the prefix. */
  cgroups: number;
  /** Mounts (this mount namespace) whose mount point names the prefix or the state root. */
  mounts: number;
  /** Processes other than this one and its ancestors whose environment holds `NSINIT_SOAK=<marker>`. */
  processes: number;
}

/** This process's cgroup directory in every hierarchy mounted under /sys/fs/cgroup. */
export function ownCgroupDirs(): string[] {
  const own = new Map<string, string>(); // controller list ("" for cgroup2) -> path
  for (const line of Deno.readTextFileSync("/proc/self/cgroup").split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[1], m[2]);
  }
  const dirs: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 0) continue;
    const [fstype, , superOpts] = f.slice(sep + 1);
    const mnt = f[4], root = f[3];
    if (!mnt.startsWith("/sys/fs/cgroup")) continue;
    let path: string | undefined;
    if (fstype === "cgroup2") path = own.get("");
    else if (fstype === "cgroup") {
      const opts = superOpts.split(",");
      for (const [ctrls, p] of own) {
        if (ctrls && ctrls.split(",").every((c) => opts.includes(c))) path = p;
      }
    }
    if (path === undefined) continue;
    const rel = root === "/" ? path : path.startsWith(root) ? path.slice(root.length) : path;
    dirs.push(`${mnt}${rel === "/" ? "" : rel}`);
  }
  return dirs;
}

/**
 * Counts what is left of a soak's containers: state directories under `root`, cgroups and
 * mounts named with `prefix`, processes marked `NSINIT_SOAK=<marker>`.
 */
export function countLeftovers(opts: { root: string; prefix: string; marker: string }): Leftovers {
  let state = 0;
  try {
    for (const _ of Deno.readDirSync(opts.root)) state++;
  } catch { /* no root yet */ }
  let cgroups = 0;
  for (const dir of ownCgroupDirs()) {
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (e.isDirectory && e.name.includes(opts.prefix)) cgroups++;
      }
    } catch { /* hierarchy without our cgroup */ }
  }
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .filter((l) => l.includes(opts.prefix) || l.includes(opts.root)).length;
  const mine = new Set<number>();
  for (let p = Deno.pid; p > 1;) {
    mine.add(p);
    const m = /^PPid:\s+(\d+)$/m.exec(readOr(`/proc/${p}/status`));
    p = m ? Number(m[1]) : 0;
  }
  const needle = `\0NSINIT_SOAK=${opts.marker}\0`;
  let processes = 0;
  for (const e of Deno.readDirSync("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid) || mine.has(pid)) continue;
    if (`\0${readOr(`/proc/${pid}/environ`)}`.includes(needle)) processes++;
  }
  return { state, cgroups, mounts, processes };
}

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** One command's measurement (the CLI soak): its verb and the largest values seen. */
export interface CommandPoint {
  /** Seconds since the soak began, at the command's end. */
  t: number;
  /** The subcommand (`create`, `state` ...). */
  verb: string;
  /** Open fds. */
  fds: number;
  /** Peak RSS, KiB. */
  rssKiB: number;
  /** Threads. */
  threads: number;
}

/**
 * Judges short-lived commands, per verb (at least 6 measurements of it): the median of the
 * last third against the median of the first third; fds and threads may exceed it by
 * `bounds.fds` / `bounds.threads` (doubled: a command is caught at a random moment of its
 * life), RSS by `rssRatio` plus `rssKiB / 4`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { judgeCommands } from "./measure.ts";
 * const pts = Array.from({ length: 9 }, (_, i) =>
 *   ({ t: i, verb: "state", fds: 20 + i * 5, rssKiB: 40_000, threads: 8 }));
 * const v = judgeCommands(pts);
 * assert.equal(v.find((x) => x.what === "fds")?.ok, false);
 * assert.equal(v.find((x) => x.what === "rssKiB")?.ok, true);
 * ```
 */
export function judgeCommands(points: CommandPoint[], bounds: Bounds = DEFAULT_BOUNDS): Verdict[] {
  const byVerb = new Map<string, CommandPoint[]>();
  for (const p of points) byVerb.set(p.verb, [...(byVerb.get(p.verb) ?? []), p]);
  const out: Verdict[] = [];
  for (const [verb, pts] of [...byVerb].sort()) {
    if (pts.length < 6) continue;
    pts.sort((a, b) => a.t - b.t);
    const third = Math.floor(pts.length / 3);
    const first = pts.slice(0, third), last = pts.slice(-third);
    const med = (xs: CommandPoint[], k: "fds" | "threads" | "rssKiB") =>
      median(xs.map((p) => p[k]));
    const verdict = (what: Verdict["what"], limit: number): Verdict => {
      const observed = med(last, what);
      return {
        what,
        group: verb,
        start: med(first, what),
        end: observed,
        limit,
        observed,
        ok: observed <= limit,
      };
    };
    out.push(
      verdict("fds", med(first, "fds") + 2 * bounds.fds),
      verdict("threads", med(first, "threads") + 2 * bounds.threads),
      verdict("rssKiB", Math.round(med(first, "rssKiB") * bounds.rssRatio + bounds.rssKiB / 4)),
    );
  }
  return out;
}
