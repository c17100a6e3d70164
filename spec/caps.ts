/**
 * The Linux capability table (from `<linux/capability.h>`), and conversions between
 * capability names, numbers and bit masks.
 *
 * @example Building a mask
 * ```ts
 * import assert from "node:assert/strict";
 * import { capabilityMask, capabilityNumber } from "./caps.ts";
 * assert.equal(capabilityNumber("CAP_KILL"), 5);
 * assert.equal(capabilityMask(["CAP_CHOWN", "CAP_KILL"]), 0b100001n);
 * ```
 *
 * @module
 */

/**
 * Capability names indexed by capability number, `CAP_CHOWN` (0) to
 * `CAP_CHECKPOINT_RESTORE` (40).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CAPABILITIES } from "./caps.ts";
 * assert.equal(CAPABILITIES[21], "CAP_SYS_ADMIN");
 * assert.equal(CAPABILITIES.length, 41);
 * ```
 */
export const CAPABILITIES: readonly string[] = Object.freeze([
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
]);

const NUMBERS: ReadonlyMap<string, number> = new Map(CAPABILITIES.map((name, i) => [name, i]));

/**
 * Returns the number of a capability given its exact name (`CAP_SYS_ADMIN`), or
 * `undefined` for a name this table does not know.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { capabilityNumber } from "./caps.ts";
 * assert.equal(capabilityNumber("CAP_SYS_ADMIN"), 21);
 * assert.equal(capabilityNumber("CAP_BOGUS"), undefined);
 * ```
 */
export function capabilityNumber(name: string): number | undefined {
  return NUMBERS.get(name);
}

/**
 * Returns the capability set holding `names`: bit `i` is set for capability number `i`.
 *
 * @throws {RangeError} if a name is not a known capability.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { capabilityMask } from "./caps.ts";
 * assert.equal(capabilityMask([]), 0n);
 * assert.ok(capabilityMask(["CAP_CHECKPOINT_RESTORE"]) === 1n << 40n);
 * ```
 */
export function capabilityMask(names: string[]): bigint {
  let mask = 0n;
  for (const name of names) {
    const n = NUMBERS.get(name);
    if (n === undefined) throw new RangeError(`unknown capability "${name}"`);
    mask |= 1n << BigInt(n);
  }
  return mask;
}
