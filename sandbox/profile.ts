/**
 * The sandbox profile file: the sandbox's settings for a project, in JSON, so
 * a team writes them once instead of repeating flags. Documented in
 * docs/sandbox.md; the format is versioned (`"version": 1`), and a key this
 * version does not know is refused, naming it (a typo must never silently
 * weaken a sandbox).
 *
 * ```json
 * {
 *   "version": 1,
 *   "allowWrite": ["./build", "~/.cache/deno"],
 *   "allowRead": ["~/.cache/deno"],
 *   "denyRead": ["./secrets"],
 *   "net": false,
 *   "memory": "2g",
 *   "cpus": 2,
 *   "pids": 512,
 *   "timeout": 600,
 *   "env": ["CI", "LANG=C.UTF-8"],
 *   "landlock": true,
 *   "seccomp": true
 * }
 * ```
 *
 * Relative paths resolve against the profile's directory; `~/` is the home directory.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { dirname, isAbsolute, resolve } from "../util/path.ts";

/** The profile format version this code reads. */
export const PROFILE_VERSION = 1;

/** Settings a profile (or flags, or a library call) gives a sandbox. */
export interface SandboxSettings {
  /** Paths the command may write (besides the working directory and a private /tmp). */
  allowWrite?: string[];
  /**
   * Paths the command may read besides the system directories and the working
   * directory (Landlock refuses the rest); also un-hides a secret path.
   */
  allowRead?: string[];
  /** Paths hidden from the command (an empty directory or an empty file in their place). */
  denyRead?: string[];
  /** Share the host's network (default: a private network with only loopback). */
  net?: boolean;
  /** Memory limit in bytes, or a size such as "512m". */
  memory?: number | string;
  /** CPU limit in CPUs (1.5: one and a half CPUs' time). */
  cpus?: number;
  /** Maximum number of processes and threads. */
  pids?: number;
  /** Seconds after which the command is killed. */
  timeout?: number;
  /** `NAME=value` to set, or `NAME` to pass the caller's value (secret-looking ones are dropped otherwise). */
  env?: string[];
  /** Landlock as a second wall: `true` requires it, `false` turns it off, absent uses it when the kernel has it. */
  landlock?: boolean;
  /** The sandbox's default seccomp filter (default true). */
  seccomp?: boolean;
}

const KEYS: Record<
  keyof SandboxSettings | "version",
  "paths" | "bool" | "size" | "number" | "list" | "version"
> = {
  version: "version",
  allowWrite: "paths",
  allowRead: "paths",
  denyRead: "paths",
  net: "bool",
  memory: "size",
  cpus: "number",
  pids: "number",
  timeout: "number",
  env: "list",
  landlock: "bool",
  seccomp: "bool",
};

/** Expands `~/` and resolves a relative path against `base`. */
export function expandPath(p: string, base: string, home: string | undefined): string {
  if (p === "~" || p.startsWith("~/")) {
    if (!home) throw new RangeError(`path "${p}": HOME is not set`);
    return resolve(home, p.slice(2));
  }
  return isAbsolute(p) ? resolve(p) : resolve(base, p);
}

/**
 * Parses a profile; throws a `ConfigError` naming the file and the key for
 * anything wrong: bad JSON, a missing or unknown version, an unknown key, a
 * value of the wrong type.
 *
 * @example
 * ```ts
 * import { parseProfile } from "./profile.ts";
 * import assert from "node:assert/strict";
 * const s = parseProfile('{"version": 1, "allowWrite": ["out"], "memory": "64m"}', "/p/sandbox.json");
 * assert.deepEqual(s.allowWrite, ["/p/out"]);
 * assert.throws(() => parseProfile('{"version": 1, "alowWrite": []}', "f.json"), /alowWrite: unknown key/);
 * ```
 */
export function parseProfile(
  text: string,
  file: string,
  home: string | undefined = Deno.env.get("HOME"),
): SandboxSettings {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, "", `not valid JSON: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(file, "", "a sandbox profile is a JSON object");
  }
  const obj = doc as Record<string, unknown>;
  if (obj.version !== PROFILE_VERSION) {
    throw new ConfigError(
      file,
      "version",
      obj.version === undefined
        ? `missing: add "version": ${PROFILE_VERSION}`
        : `unsupported version ${
          JSON.stringify(obj.version)
        }: this nsinit reads version ${PROFILE_VERSION}`,
    );
  }
  const base = dirname(resolve(file));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const kind = Object.hasOwn(KEYS, key) ? KEYS[key as keyof typeof KEYS] : undefined;
    if (kind === undefined) {
      throw new ConfigError(
        file,
        key,
        `unknown key (known: ${Object.keys(KEYS).join(", ")})`,
      );
    }
    const bad = (want: string) =>
      new ConfigError(file, key, `must be ${want}, got ${JSON.stringify(value)}`);
    switch (kind) {
      case "version":
        break;
      case "paths":
      case "list":
        if (!Array.isArray(value) || value.some((v) => typeof v !== "string" || v === "")) {
          throw bad("an array of non-empty strings");
        }
        out[key] = kind === "paths" ? value.map((p) => expandPath(p, base, home)) : [...value];
        break;
      case "bool":
        if (typeof value !== "boolean") throw bad("true or false");
        out[key] = value;
        break;
      case "size":
        if (typeof value !== "string" && !(typeof value === "number" && value > 0)) {
          throw bad('a size such as "512m" or a number of bytes');
        }
        out[key] = value;
        break;
      case "number":
        if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
          throw bad("a positive number");
        }
        out[key] = value;
        break;
    }
  }
  return out as SandboxSettings;
}

/** Reads and parses a profile file. */
export async function readProfile(path: string): Promise<SandboxSettings> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new ConfigError(path, "", "no such file");
    throw e;
  }
  return parseProfile(text, path);
}
