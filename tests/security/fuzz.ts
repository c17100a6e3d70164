/**
 * Seeded mutation of JSON documents and command lines for the fuzz tests. Every case is a
 * pure function of (seed, index): a failure message names both, and
 * `NSINIT_FUZZ_SEED=<seed>` replays the run.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Error classes that are answers, not crashes. */
export const CLEAR = new Set([
  "ConfigError",
  "CgroupError",
  "SyscallError",
  "StateError",
  "ContainerIdError",
  "NotFoundError",
  "HookError",
  "RangeError",
  "UsageError",
  "CriuError",
  "DbusError",
]);
/** What an internal bug looks like in a message. */
export const INTERNAL =
  /Cannot read properties|is not a function|is not iterable|Cannot convert|Maximum call stack|Invalid array length|\bundefined\b|\[object Object\]|\bNaN\b/;

/** Fails unless `e` is a clear answer: a domain error with a message, not an internal bug. */
export function checkClear(e: unknown, what: string): void {
  assert.ok(e instanceof Error, `${what}: threw a non-Error ${String(e)}`);
  const ok = CLEAR.has(e.name) || (e.name === "TypeError" && !INTERNAL.test(e.message));
  assert.ok(ok, `${what}: ${e.name}: ${e.message}\n${e.stack}`);
  assert.doesNotMatch(e.message, INTERNAL, `${what}: ${e.name}: ${e.message}`);
  assert.ok(e.message.length > 0, `${what}: empty message`);
}

/** A small, fast PRNG (mulberry32): the same seed gives the same sequence everywhere. */
export class Rng {
  #s: number;
  /** A generator for `seed`. */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#s += 0x6d2b79f5) >>> 0;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** One element of `a`. */
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

/** Values that broke runtimes before: edges of every integer width, paths, odd strings. */
const NUMBERS = [
  -1,
  0,
  1,
  -0,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 + 2,
  2 ** 63,
  2 ** 64,
  1e21,
  -(2 ** 63),
  0.5,
  -1.5,
  4294967295,
  65536,
];
const STRINGS = [
  "",
  "/",
  "..",
  "../../..",
  "/../../../etc",
  "a\0b",
  "x".repeat(5000),
  "/proc/self/exe",
  "/dev/null",
  "/sys/fs/cgroup",
  "💥",
  "-rf",
  "SCMP_ACT_ALLOW",
  "rbind",
  "ro",
  "CAP_SYS_ADMIN",
  "RLIMIT_NOFILE",
  "net.ipv4.ip_forward",
  "kernel.domainname",
  "1:3",
  "100M",
  "0-1",
  "proc",
  "tmpfs",
];

/** A random JSON value (or a value JSON cannot hold, when `jsonOnly` is false). */
export function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 1 ? 4 : 7)) {
    case 0:
      return rng.pick(NUMBERS);
    case 1:
      return rng.pick(STRINGS);
    case 2:
      return rng.pick([true, false, null]);
    case 3:
      return rng.int(1 << 20);
    case 4:
      return [randomValue(rng, depth + 1), randomValue(rng, depth + 1)];
    case 5:
      return { [rng.pick(STRINGS) || "k"]: randomValue(rng, depth + 1) };
    default:
      return [];
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path (list of keys/indices) to a node of `doc`, root excluded. */
function paths(doc: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  if (Array.isArray(doc)) {
    doc.forEach((v, i) => {
      out.push([...prefix, i]);
      paths(v, [...prefix, i], out);
    });
  } else if (doc !== null && typeof doc === "object") {
    for (const [k, v] of Object.entries(doc)) {
      out.push([...prefix, k]);
      paths(v, [...prefix, k], out);
    }
  }
  return out;
}

/**
 * Applies 1 to 3 random mutations to a copy of `doc`: delete a field, replace it with a
 * random value, or add a random field or element next to it. Returns the copy and what
 * was done (for a failure message).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mutate, Rng } from "./fuzz.ts";
 * const a = mutate({ a: 1, b: [1, 2] }, new Rng(7));
 * const b = mutate({ a: 1, b: [1, 2] }, new Rng(7));
 * assert.deepEqual(a, b);
 * ```
 */
export function mutate<T>(doc: T, rng: Rng): { doc: T; changes: string[] } {
  const copy = structuredClone(doc) as unknown as Json;
  const changes: string[] = [];
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const all = paths(copy);
    if (all.length === 0) break;
    const path = rng.pick(all);
    let parent = copy as Record<string | number, Json>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
    const key = path.at(-1)!;
    const where = path.join(".");
    switch (rng.int(4)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
        changes.push(`delete ${where}`);
        break;
      case 1:
      case 2: {
        const v = randomValue(rng) as Json;
        parent[key] = v;
        changes.push(`set ${where} = ${JSON.stringify(v)?.slice(0, 80)}`);
        break;
      }
      default: {
        const v = randomValue(rng) as Json;
        if (Array.isArray(parent)) parent.push(structuredClone(parent[key]!) ?? v);
        else parent[rng.pick(STRINGS) || "extra"] = v;
        changes.push(`add next to ${where}`);
      }
    }
  }
  return { doc: copy as unknown as T, changes };
}

/** A random container id: mostly valid, often not. */
export function randomId(rng: Rng, base: string): string {
  return rng.pick([
    base,
    `${base}-${rng.int(1000)}`,
    "",
    ".",
    "..",
    "a/b",
    "../x",
    "-x",
    "x".repeat(1024),
    `${base}\n`,
    `${base} x`,
    "💥",
    `${base}.${rng.int(9)}`,
  ]);
}

/** Flags of the CLI's commands, for random command lines. */
const FLAGS = [
  "--bundle",
  "-b",
  "--pid-file",
  "--console-socket",
  "--no-pivot",
  "--no-new-keyring",
  "--preserve-fds",
  "--detach",
  "-d",
  "--format",
  "--force",
  "--all",
  "--user",
  "--cwd",
  "--env",
  "--cap",
  "--tty",
  "--memory",
  "--cpu-period",
  "--pids-limit",
  "--resources",
  "--process",
  "--keep",
  "--root",
  "--log",
  "--log-format",
  "--systemd-cgroup",
  "--interval",
  "--stats",
  "--bogus",
];
const COMMANDS = [
  "create",
  "start",
  "run",
  "exec",
  "kill",
  "delete",
  "state",
  "list",
  "ps",
  "pause",
  "resume",
  "update",
  "events",
  "features",
  "spec",
  "checkpoint",
  "restore",
  "bogus",
];

/**
 * A random command line: a command, some flags with random values, an id. `bundle` and
 * `id` are the real ones (so some lines do something); `safe` flags are kept out of paths
 * outside the test's own directory.
 */
export function randomArgs(rng: Rng, id: string, bundle: string, dir: string): string[] {
  const args = [rng.pick(COMMANDS)];
  for (let n = rng.int(4); n > 0; n--) {
    const flag = rng.pick(FLAGS);
    args.push(flag);
    if (rng.int(3) > 0) {
      args.push(rng.pick([
        bundle,
        `${dir}/file-${rng.int(5)}`,
        String(rng.pick(NUMBERS)),
        "json",
        "table",
        "0:0",
        "4294967295:4294967295",
        "KILL",
        "9",
        "-1",
        "",
        "x=y",
      ]));
    }
  }
  args.push(randomId(rng, id));
  if (args[0] === "exec" || args[0] === "kill") args.push(rng.pick(["true", "9", "TERM", "0"]));
  return args;
}
