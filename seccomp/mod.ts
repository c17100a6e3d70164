/**
 * Seccomp for nsinit: compiles an OCI `linux.seccomp` profile to a classic BPF program with the
 * system's libseccomp (through `Deno.dlopen`), for the container init to load with seccomp(2).
 *
 * @example Compiling a default-allow profile
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileSeccomp } from "./mod.ts";
 * const { bpf, flags } = compileSeccomp({
 *   defaultAction: "SCMP_ACT_ALLOW",
 *   syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO" }],
 *   flags: [],
 * });
 * assert.equal(bpf.length % 8, 0);
 * assert.equal(flags, 0);
 * ```
 *
 * @module
 */

export {
  type CompiledSeccomp,
  compileSeccomp,
  type CompileSeccompOptions,
  SECCOMP_FILTER_FLAGS,
} from "./compile.ts";
export { LibraryLoadError, type LibseccompOptions } from "./libseccomp.ts";
