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
import { validateResources } from "../../spec/validate.ts";
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

/** An integer flag value (its range is the validator's: see {@link resourcesFromFlags}). */
function integer(v: string, flag: string): number {
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) throw bad(flag, v, "not an integer");
  return n;
}

type Section = "memory" | "cpu" | "blockIO" | "pids";

/** Each flag: the `linux.resources` field it sets, and how its text becomes a value. */
const FLAG_FIELDS: [flag: string, section: Section, key: string, parse: "size" | "int" | "list"][] =
  [
    ["memory", "memory", "limit", "size"],
    ["memory-reservation", "memory", "reservation", "size"],
    ["memory-swap", "memory", "swap", "size"],
    ["cpu-share", "cpu", "shares", "int"],
    ["cpu-shares", "cpu", "shares", "int"],
    ["cpu-period", "cpu", "period", "int"],
    ["cpu-quota", "cpu", "quota", "int"],
    ["cpu-burst", "cpu", "burst", "int"],
    ["cpu-rt-period", "cpu", "realtimePeriod", "int"],
    ["cpu-rt-runtime", "cpu", "realtimeRuntime", "int"],
    ["cpu-idle", "cpu", "idle", "int"],
    ["cpuset-cpus", "cpu", "cpus", "list"],
    ["cpuset-mems", "cpu", "mems", "list"],
    ["blkio-weight", "blockIO", "weight", "int"],
    ["pids-limit", "pids", "limit", "int"],
  ];

/**
 * runc's rule for a blkio weight given to `update` (flag or file): 0 leaves it alone,
 * otherwise the kernel's range, 10 to 1000.
 */
function updateWeight(
  weight: number | undefined,
  fail: (why: string) => Error,
): number | undefined {
  if (weight === undefined || weight === 0) return undefined;
  if (weight < 10 || weight > 1000) throw fail("must be between 10 and 1000");
  return weight;
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
  if (str(values, "cpu-share") && str(values, "cpu-shares")) {
    throw new UsageError("--cpu-share and --cpu-shares are the same flag: give one");
  }
  const r: Record<string, Record<string, unknown>> = {};
  const given = new Map<string, string>(); // field path -> flag
  for (const [flag, section, key, parse] of FLAG_FIELDS) {
    const v = str(values, flag);
    if (v === undefined || v === "") continue;
    (r[section] ??= {})[key] = parse === "size"
      ? parseMemorySize(v, flag)
      : parse === "int"
      ? integer(v, flag)
      : v;
    given.set(`${section}.${key}`, flag);
  }
  // The values' ranges and forms are the config validator's, named by flag here.
  try {
    validateResources(structuredClone(r), "flags");
  } catch (e) {
    const flag = e instanceof ConfigError ? given.get(e.field) : undefined;
    if (flag === undefined) throw e;
    throw bad(flag, str(values, flag)!, (e as ConfigError).problem);
  }
  const out = r as LinuxResources;
  const weight = updateWeight(
    out.blockIO?.weight ?? undefined,
    (why) => bad("blkio-weight", str(values, "blkio-weight")!, why),
  );
  if (weight === undefined) delete out.blockIO;
  // runc: 0 leaves the limit alone; -1 is unlimited.
  if (out.pids?.limit === 0) delete out.pids;
  return out;
}

/**
 * Reads the JSON of `update -r FILE`: a `linux.resources` object, checked by the
 * config validator, of which runc's update fields are kept (`memory`, `cpu`,
 * `blockIO.weight`, `pids.limit`, `unified`). Unknown fields are ignored (as Go's
 * decoder does); `null` means absent. Throws a `ConfigError` naming the file and
 * the field.
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
  const all = validateResources(raw, file);
  const out: LinuxResources = {};
  if (all.memory) {
    const { limit, reservation, swap, kernel, kernelTCP, checkBeforeUpdate } = all.memory;
    out.memory = dropUndefined({ limit, reservation, swap, kernel, kernelTCP, checkBeforeUpdate });
  }
  if (all.cpu) {
    const { shares, quota, burst, period, realtimeRuntime, realtimePeriod, idle, cpus, mems } =
      all.cpu;
    out.cpu = dropUndefined({
      shares,
      quota,
      burst,
      period,
      realtimeRuntime,
      realtimePeriod,
      idle,
      cpus: cpus || undefined,
      mems: mems || undefined,
    });
  }
  const weight = updateWeight(
    all.blockIO?.weight ?? undefined,
    (why) => new ConfigError(file, "blockIO.weight", why),
  );
  if (weight !== undefined) out.blockIO = { weight };
  if (all.pids?.limit) out.pids = { limit: all.pids.limit };
  if (all.unified) out.unified = all.unified;
  return out;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
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
