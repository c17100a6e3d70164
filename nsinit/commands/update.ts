/**
 * `nsinit update [flags] ID`: changes the resource limits of a live container, as
 * `runc update`. Either flags (`--memory 64m`, `--cpu-quota 50000`, ...) or a JSON
 * file of `linux.resources` fields (`-r FILE`, `-r -` for stdin; the flags are
 * then ignored, as runc does). Memory sizes take runc's (go-units') suffixes:
 * `k`, `m`, `g`, `t`, `p`, binary, case-insensitive, optionally followed by `b`
 * or `ib`; `-1` means unlimited. `--kernel-memory` and `--kernel-memory-tcp` are
 * accepted and ignored with a warning, as runc does.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { ConfigError } from "../../errors.ts";
import type { LinuxResources } from "../../spec/config.ts";
import {
  checkArgs,
  type FlagSpecs,
  type FlagValues,
  parseFlags,
  str,
  UsageError,
} from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { parseSize } from "../../util/size.ts";

/** The flags of `nsinit update`, as runc names them (`--cpu-shares` is an alias of `--cpu-share`). */
const UPDATE_FLAGS: FlagSpecs = {
  resources: { type: "string", short: "r" },
  "blkio-weight": { type: "string" },
  "cpu-period": { type: "string" },
  "cpu-quota": { type: "string" },
  "cpu-burst": { type: "string" },
  "cpu-share": { type: "string" },
  "cpu-shares": { type: "string" },
  "cpu-rt-period": { type: "string" },
  "cpu-rt-runtime": { type: "string" },
  "cpu-idle": { type: "string" },
  "cpuset-cpus": { type: "string" },
  "cpuset-mems": { type: "string" },
  "kernel-memory": { type: "string" },
  "kernel-memory-tcp": { type: "string" },
  memory: { type: "string" },
  "memory-reservation": { type: "string" },
  "memory-swap": { type: "string" },
  "pids-limit": { type: "string" },
  "l3-cache-schema": { type: "string" },
  "mem-bw-schema": { type: "string" },
};

/** A cpu or memory-node list such as `0-3,7`. */
const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

function bad(flag: string, value: string, why: string): UsageError {
  return new UsageError(`invalid value "${value}" for flag --${flag}: ${why}`);
}

/**
 * Parses a memory size as runc's `update` does (go-units `RAMInBytes`): a
 * decimal number, an optional space, then an optional binary unit `k`, `m`,
 * `g`, `t` or `p` (any case, optionally followed by `b` or `ib`), or a bare
 * `b`; `-1` means unlimited. Fractions are truncated to whole bytes. Throws a
 * `UsageError` naming `flag`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMemorySize } from "./update.ts";
 * assert.equal(parseMemorySize("64m", "memory"), 64 * 1024 * 1024);
 * assert.equal(parseMemorySize("1.5GiB", "memory"), 1610612736);
 * assert.equal(parseMemorySize("-1", "memory-swap"), -1);
 * let msg = "";
 * try { parseMemorySize("lots", "memory"); } catch (e) { msg = (e as Error).message; }
 * assert.ok(msg.includes("--memory"));
 * ```
 */
export function parseMemorySize(value: string, flag: string): number {
  try {
    return parseSize(value);
  } catch (e) {
    throw bad(flag, value, (e as Error).message);
  }
}

function integer(values: FlagValues, flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  const v = str(values, flag);
  if (v === undefined || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw bad(flag, v, "not an integer");
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw bad(
      flag,
      v,
      max === Number.MAX_SAFE_INTEGER ? `must be >= ${min}` : `must be between ${min} and ${max}`,
    );
  }
  return n;
}

function memorySize(values: FlagValues, flag: string): number | undefined {
  const v = str(values, flag);
  if (v === undefined || v === "") return undefined;
  return parseMemorySize(v, flag);
}

function cpuList(values: FlagValues, flag: string): string | undefined {
  const v = str(values, flag);
  if (v === undefined || v === "") return undefined;
  if (!CPU_LIST.test(v)) throw bad(flag, v, 'not a list such as "0-3,7"');
  return v;
}

/**
 * The resources that `update`'s flags ask for (only the fields given). Throws a
 * `UsageError` naming the flag of a bad value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resourcesFromFlags } from "./update.ts";
 * const r = resourcesFromFlags({ memory: "32m", "cpu-quota": "-1", "pids-limit": "10" });
 * assert.equal(r.memory?.limit, 33554432);
 * assert.equal(r.cpu?.quota, -1);
 * assert.equal(r.pids?.limit, 10);
 * ```
 */
export function resourcesFromFlags(values: FlagValues): LinuxResources {
  const r: LinuxResources = {};
  const memory: NonNullable<LinuxResources["memory"]> = {};
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  const set = <T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set(memory, "limit", memorySize(values, "memory"));
  set(memory, "reservation", memorySize(values, "memory-reservation"));
  set(memory, "swap", memorySize(values, "memory-swap"));
  if (str(values, "cpu-share") && str(values, "cpu-shares")) {
    throw new UsageError("--cpu-share and --cpu-shares are the same flag: give one");
  }
  set(cpu, "shares", integer(values, "cpu-share", 0) ?? integer(values, "cpu-shares", 0));
  set(cpu, "period", integer(values, "cpu-period", 0));
  set(cpu, "quota", integer(values, "cpu-quota", -1));
  set(cpu, "burst", integer(values, "cpu-burst", 0));
  set(cpu, "realtimePeriod", integer(values, "cpu-rt-period", 0));
  set(cpu, "realtimeRuntime", integer(values, "cpu-rt-runtime", -1));
  set(cpu, "idle", integer(values, "cpu-idle", 0, 1));
  set(cpu, "cpus", cpuList(values, "cpuset-cpus"));
  set(cpu, "mems", cpuList(values, "cpuset-mems"));
  if (Object.keys(memory).length > 0) r.memory = memory;
  if (Object.keys(cpu).length > 0) r.cpu = cpu;
  const weight = integer(values, "blkio-weight", 0, 1000);
  // runc: 0 leaves the weight alone; otherwise the kernel's range is 10..1000.
  if (weight !== undefined && weight !== 0) {
    if (weight < 10) throw bad("blkio-weight", String(weight), "must be between 10 and 1000");
    r.blockIO = { weight };
  }
  const pids = integer(values, "pids-limit", -1);
  // runc: 0 leaves the limit alone; -1 is unlimited.
  if (pids !== undefined && pids !== 0) r.pids = { limit: pids };
  return r;
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Validates the JSON of `update -r FILE`: an object with runc's update fields
 * (`memory`, `cpu`, `blockIO.weight`, `pids.limit`, `unified`). Unknown fields
 * are ignored (as Go's decoder does); `null` means absent. Throws a
 * `ConfigError` naming the file and the field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseResourcesJson } from "./update.ts";
 * const r = parseResourcesJson('{"memory":{"limit":1048576},"cpu":{"cpus":"0"}}', "r.json");
 * assert.equal(r.memory?.limit, 1048576);
 * assert.equal(r.cpu?.cpus, "0");
 * let msg = "";
 * try { parseResourcesJson('{"memory":{"limit":"1m"}}', "r.json"); } catch (e) { msg = (e as Error).message; }
 * assert.ok(msg.includes("memory.limit"));
 * ```
 */
export function parseResourcesJson(text: string, file: string): LinuxResources {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, "", `not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new ConfigError(file, "", "must be a JSON object");
  const out: LinuxResources = {};
  const section = (key: string): Obj | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) throw new ConfigError(file, key, "must be an object");
    return v;
  };
  const int = (o: Obj, path: string, key: string, min: number): number | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new ConfigError(file, `${path}.${key}`, `must be an integer >= ${min}`);
    }
    return v;
  };
  const string = (o: Obj, path: string, key: string): string | undefined => {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") throw new ConfigError(file, `${path}.${key}`, "must be a string");
    if (v !== "" && !CPU_LIST.test(v)) {
      throw new ConfigError(file, `${path}.${key}`, `invalid list "${v}" (expected e.g. "0-3,7")`);
    }
    return v === "" ? undefined : v;
  };
  const copy = <T extends object>(target: T, entries: [keyof T, unknown][]) => {
    for (const [k, v] of entries) if (v !== undefined) (target as Record<keyof T, unknown>)[k] = v;
  };
  const memory = section("memory");
  if (memory) {
    const m: NonNullable<LinuxResources["memory"]> = {};
    copy(m, [
      ["limit", int(memory, "memory", "limit", -1)],
      ["reservation", int(memory, "memory", "reservation", -1)],
      ["swap", int(memory, "memory", "swap", -1)],
      ["kernel", int(memory, "memory", "kernel", -1)],
      ["kernelTCP", int(memory, "memory", "kernelTCP", -1)],
    ]);
    const check = memory.checkBeforeUpdate;
    if (check !== undefined && check !== null) {
      if (typeof check !== "boolean") {
        throw new ConfigError(file, "memory.checkBeforeUpdate", "must be a boolean");
      }
      m.checkBeforeUpdate = check;
    }
    out.memory = m;
  }
  const cpu = section("cpu");
  if (cpu) {
    const c: NonNullable<LinuxResources["cpu"]> = {};
    copy(c, [
      ["shares", int(cpu, "cpu", "shares", 0)],
      ["quota", int(cpu, "cpu", "quota", -1)],
      ["burst", int(cpu, "cpu", "burst", 0)],
      ["period", int(cpu, "cpu", "period", 0)],
      ["realtimeRuntime", int(cpu, "cpu", "realtimeRuntime", -1)],
      ["realtimePeriod", int(cpu, "cpu", "realtimePeriod", 0)],
      ["idle", int(cpu, "cpu", "idle", 0)],
      ["cpus", string(cpu, "cpu", "cpus")],
      ["mems", string(cpu, "cpu", "mems")],
    ]);
    out.cpu = c;
  }
  const blockIO = section("blockIO");
  if (blockIO) {
    const weight = int(blockIO, "blockIO", "weight", 0);
    if (weight !== undefined && weight > 1000) {
      throw new ConfigError(file, "blockIO.weight", "must be between 10 and 1000");
    }
    if (weight) out.blockIO = { weight };
  }
  const pids = section("pids");
  if (pids) {
    const limit = int(pids, "pids", "limit", -1);
    if (limit) out.pids = { limit };
  }
  const unified = section("unified");
  if (unified) {
    for (const [k, v] of Object.entries(unified)) {
      if (typeof v !== "string") throw new ConfigError(file, `unified.${k}`, "must be a string");
    }
    out.unified = unified as Record<string, string>;
  }
  return out;
}

async function readAllStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

/**
 * The resources an `update` command line asks for: from `-r FILE` (`-` reads
 * stdin) when given, else from the flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { updateResources } from "./update.ts";
 * const r = await updateResources({ memory: "1g", "memory-swap": "-1" });
 * assert.equal(r.memory?.limit, 2 ** 30);
 * assert.equal(r.memory?.swap, -1);
 * ```
 */
export async function updateResources(
  values: FlagValues,
  warn: (msg: string) => void = () => {},
): Promise<LinuxResources> {
  if (str(values, "l3-cache-schema")) {
    throw new UsageError("Intel RDT/CAT: l3 cache schema is not enabled");
  }
  if (str(values, "mem-bw-schema")) {
    throw new UsageError("Intel RDT/MBA: memory bandwidth schema is not enabled");
  }
  const file = str(values, "resources");
  if (file) {
    const text = file === "-" ? await readAllStdin() : await Deno.readTextFile(file).catch((e) => {
      throw new UsageError(`--resources ${file}: ${(e as Error).message}`);
    });
    return parseResourcesJson(text, file === "-" ? "<stdin>" : file);
  }
  for (const flag of ["kernel-memory", "kernel-memory-tcp"]) {
    if (str(values, flag)) warn(`Setting --${flag} is ignored and will be removed`);
  }
  return resourcesFromFlags(values);
}

/** Runs `nsinit update`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, UPDATE_FLAGS);
  checkArgs("update", positionals, 1, "exact");
  const resources = await updateResources(values, (m) => g.logger.warn(m));
  const container = await new Factory({ root: g.root }).load(positionals[0]!);
  await container.set(resources);
  return 0;
}
