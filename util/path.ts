/**
 * POSIX path helpers. The runtime uses these instead of `node:path`: importing
 * any `node:` module starts Deno's Node compatibility layer, which costs the CLI
 * about 9 ms on every command (measured; see docs/benchmarks.md).
 *
 * @module
 */

/** What {@link normalize} changes: `//`, a `.` or `..` component, a trailing `/`. */
const UNNORMAL = /\/\/|(^|\/)\.\.?(\/|$)|\/$/;

/**
 * Normalizes a path: collapses `//`, `.` and `..` (`..` at the root stays at the root).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalize } from "./path.ts";
 * assert.equal(normalize("/a//b/./c/../d/"), "/a/b/d");
 * assert.equal(normalize("a/../../b"), "../b");
 * assert.equal(normalize(""), ".");
 * ```
 */
export function normalize(p: string): string {
  if (p !== "" && !UNNORMAL.test(p)) return p; // most paths are normal already
  const abs = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!abs) out.push("..");
      continue;
    }
    out.push(part);
  }
  const s = out.join("/");
  return abs ? "/" + s : s || ".";
}

/**
 * Whether a path is absolute.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isAbsolute } from "./path.ts";
 * assert.ok(isAbsolute("/x"));
 * assert.ok(!isAbsolute("x"));
 * ```
 */
export function isAbsolute(p: string): boolean {
  return p.startsWith("/");
}

/**
 * Joins and normalizes path segments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "./path.ts";
 * assert.equal(join("/a", "b/", "../c"), "/a/c");
 * ```
 */
export function join(...parts: string[]): string {
  return normalize(parts.filter((x) => x !== "").join("/"));
}

/**
 * Resolves segments against the working directory, right to left, to an absolute path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolve } from "./path.ts";
 * assert.equal(resolve("/a", "b", "/c", "d"), "/c/d");
 * assert.ok(resolve("x").startsWith("/"));
 * ```
 */
export function resolve(...parts: string[]): string {
  let out = "";
  for (let i = parts.length - 1; i >= 0 && !out.startsWith("/"); i--) {
    if (parts[i] !== "") out = out ? `${parts[i]}/${out}` : parts[i];
  }
  if (!out.startsWith("/")) out = `${Deno.cwd()}/${out}`;
  return normalize(out);
}

/**
 * The directory part of a path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dirname } from "./path.ts";
 * assert.equal(dirname("/a/b/c"), "/a/b");
 * assert.equal(dirname("/a"), "/");
 * assert.equal(dirname("a"), ".");
 * ```
 */
export function dirname(p: string): string {
  const n = normalize(p);
  const i = n.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : n.slice(0, i);
}

/**
 * The relative path from `from` to `to` (both absolute or both relative to the same place).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { relative } from "./path.ts";
 * assert.equal(relative("/a/b", "/a/c/d"), "../c/d");
 * assert.equal(relative("/a", "/a"), "");
 * assert.equal(relative("/a", "/a/b/c"), "b/c");
 * assert.equal(relative("/a", "/ab"), "../ab");
 * ```
 */
export function relative(from: string, to: string): string {
  const f0 = normalize(from), t0 = normalize(to);
  // `to` at or below an absolute `from` (a cgroup below its mount's root, nearly every call):
  // the rest of it, without splitting either.
  if (f0.startsWith("/") && t0.startsWith("/")) {
    if (t0 === f0) return "";
    if (f0 === "/") return t0.slice(1);
    if (t0.startsWith(f0) && t0.charCodeAt(f0.length) === 47) return t0.slice(f0.length + 1);
  }
  const f = f0.split("/").filter((x) => x);
  const t = t0.split("/").filter((x) => x);
  let i = 0;
  while (i < f.length && i < t.length && f[i] === t[i]) i++;
  return [...Array(f.length - i).fill(".."), ...t.slice(i)].join("/");
}
