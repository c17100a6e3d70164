/**
 * Flag parsing for the CLI, runc style: flags come before the positional
 * arguments (the first positional ends them, as Go's `flag` package does, so
 * `exec ID sh -c x` keeps `-c` for the command), `--flag value` and
 * `--flag=value` both work, single-dash long names (`-bundle`) are accepted as Go
 * accepts them, and a boolean may be written `--detach=false`.
 *
 * @module
 */

/** One flag: a string (possibly repeated) or a boolean, with an optional one-letter alias. */
export interface FlagSpec {
  /** `string` flags take a value; `boolean` flags do not. */
  type: "string" | "boolean";
  /** A one-letter alias, e.g. `b` for `--bundle`. */
  short?: string;
  /** The flag may be repeated; its value is then an array. */
  multiple?: boolean;
}

/** A set of flags, keyed by long name. */
export type FlagSpecs = Record<string, FlagSpec>;

/** The parsed flag values: strings, booleans, or arrays of strings for `multiple`. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/**
 * The command line is wrong (unknown flag, missing value, wrong number of
 * arguments). The CLI exits 1 with its message, as runc does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./flags.ts";
 * assert.equal(new UsageError("bad").name, "UsageError");
 * ```
 */
export class UsageError extends Error {
  /** Creates a usage error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Splits `args` into flags (parsed against `specs`) and positionals. Flags end
 * at the first positional or at `--`.
 *
 * @example Flags before the id, the command after it
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./flags.ts";
 * const { values, positionals } = parseFlags(
 *   ["--bundle=/b", "-d", "c1", "sh", "-c", "exit 3"],
 *   { bundle: { type: "string", short: "b" }, detach: { type: "boolean", short: "d" } },
 * );
 * assert.equal(values.bundle, "/b");
 * assert.equal(values.detach, true);
 * assert.equal(positionals.join(" "), "c1 sh -c exit 3");
 * ```
 */
export function parseFlags(
  args: string[],
  specs: FlagSpecs,
): { values: FlagValues; positionals: string[] } {
  const shorts = new Map<string, string>();
  for (const [name, s] of Object.entries(specs)) if (s.short) shorts.set(s.short, name);
  const flags: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    let a = args[i];
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    // Go accepts -name for --name.
    if (!a.startsWith("--")) {
      const name = a.slice(1).split("=")[0];
      if (name.length > 1 && specs[name]) a = "-" + a;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const spec = specs[name];
      if (!spec) throw new UsageError(`flag provided but not defined: --${name}`);
      if (spec.type === "boolean") {
        if (eq >= 0) {
          const v = a.slice(eq + 1);
          if (v === "true" || v === "1") flags.push(`--${name}`);
          else if (v !== "false" && v !== "0") {
            throw new UsageError(`invalid boolean value "${v}" for flag --${name}`);
          }
        } else {
          flags.push(a);
        }
        continue;
      }
      if (eq >= 0) {
        flags.push(a);
        continue;
      }
      if (i + 1 >= args.length) throw new UsageError(`flag needs an argument: --${name}`);
      flags.push(`--${name}=${args[++i]}`);
      continue;
    }
    // A cluster of one-letter flags: -dt, -b DIR, -bDIR.
    for (let j = 1; j < a.length; j++) {
      const name = shorts.get(a[j]);
      if (!name) throw new UsageError(`flag provided but not defined: -${a.slice(j)}`);
      if (specs[name].type === "boolean") {
        flags.push(`--${name}`);
        continue;
      }
      let value = a.slice(j + 1);
      if (value.startsWith("=")) value = value.slice(1);
      else if (value === "") {
        if (i + 1 >= args.length) throw new UsageError(`flag needs an argument: -${a[j]}`);
        value = args[++i];
      }
      flags.push(`--${name}=${value}`);
      break;
    }
  }
  // Every flag is now `--name` (a boolean) or `--name=value`.
  const values: FlagValues = {};
  for (const f of flags) {
    const eq = f.indexOf("=");
    const name = f.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (spec.type === "boolean") {
      values[name] = true;
    } else if (spec.multiple) {
      ((values[name] ??= []) as string[]).push(f.slice(eq + 1));
    } else {
      values[name] = f.slice(eq + 1);
    }
  }
  return { values, positionals: args.slice(i) };
}

/**
 * Checks the number of positional arguments, with runc's message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkArgs } from "./flags.ts";
 * checkArgs("start", ["c1"], 1, "exact");
 * let msg = "";
 * try { checkArgs("start", [], 1, "exact"); } catch (e) { msg = (e as Error).message; }
 * assert.equal(msg, '"start" requires exactly 1 argument(s)');
 * ```
 */
export function checkArgs(
  command: string,
  positionals: string[],
  n: number,
  kind: "exact" | "min" | "max",
): void {
  const count = positionals.length;
  if (kind === "exact" && count !== n) {
    throw new UsageError(`"${command}" requires exactly ${n} argument(s)`);
  }
  if (kind === "min" && count < n) {
    throw new UsageError(`"${command}" requires a minimum of ${n} argument(s)`);
  }
  if (kind === "max" && count > n) {
    throw new UsageError(`"${command}" requires a maximum of ${n} argument(s)`);
  }
}

/** A string flag's value (the last one if repeated). */
export function str(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  if (Array.isArray(v)) return v.at(-1);
  return typeof v === "string" ? v : undefined;
}

/** A repeated string flag's values (empty when absent). */
export function list(values: FlagValues, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v;
  return typeof v === "string" ? [v] : [];
}

/** A boolean flag's value (false when absent). */
export function bool(values: FlagValues, name: string): boolean {
  return values[name] === true;
}

/**
 * A non-negative integer flag, e.g. `--preserve-fds 2`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { uint } from "./flags.ts";
 * assert.equal(uint({ n: "2" }, "n"), 2);
 * assert.equal(uint({}, "n"), 0);
 * ```
 */
export function uint(values: FlagValues, name: string): number {
  const v = str(values, name);
  if (v === undefined) return 0;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new UsageError(`invalid value "${v}" for flag --${name}: not a non-negative integer`);
  }
  return Number(v);
}
