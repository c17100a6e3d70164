/**
 * Copies of JSON data.
 *
 * @module
 */

/** How deep {@link cloneJson} goes before it calls the data cyclic. */
const MAX_DEPTH = 200;

/**
 * A deep copy of JSON data (plain objects, arrays and primitives), as `structuredClone`
 * makes one but in about a third of its time for a container's config (Deno's
 * structuredClone serializes and deserializes). Anything else (a Date, a Map, a function,
 * a class instance) is kept as it is, not copied: the spec's validation names such a
 * value where a field needs JSON. A cycle is a TypeError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cloneJson } from "./json.ts";
 * const spec = { process: { args: ["sh"] }, hostname: "x" };
 * const copy = cloneJson(spec);
 * assert.deepEqual(copy, spec);
 * assert.notEqual(copy.process, spec.process);
 * ```
 */
export function cloneJson<T>(value: T): T {
  return copy(value, 0) as T;
}

function copy(v: unknown, depth: number): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (depth > MAX_DEPTH) {
    throw new TypeError(`data nested over ${MAX_DEPTH} levels deep (a cycle?)`);
  }
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i], depth + 1);
    return out;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const c = copy((v as Record<string, unknown>)[k], depth + 1);
    // An own "__proto__" (JSON.parse makes one) stays a property, never the prototype.
    if (k === "__proto__") {
      Object.defineProperty(out, k, {
        value: c,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else out[k] = c;
  }
  return out;
}
