import assert from "node:assert/strict";
import { CAPABILITIES, capabilityMask, capabilityNumber } from "./caps.ts";

const HEADER = "/usr/include/linux/capability.h";

/** Reads a header, or returns why it cannot (printed when the test is skipped). */
function readHeader(path: string): { text?: string; why?: string } {
  try {
    return { text: Deno.readTextFileSync(path) };
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) {
      return { why: `no read permission for ${path} (run with -A)` };
    }
    return { why: `${path} is missing (apt-get install linux-libc-dev)` };
  }
}

Deno.test("CAPABILITIES runs from CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40)", () => {
  assert.equal(CAPABILITIES.length, 41);
  assert.equal(CAPABILITIES[0], "CAP_CHOWN");
  assert.equal(CAPABILITIES[21], "CAP_SYS_ADMIN");
  assert.equal(CAPABILITIES[24], "CAP_SYS_RESOURCE");
  assert.equal(CAPABILITIES[40], "CAP_CHECKPOINT_RESTORE");
  assert.equal(new Set(CAPABILITIES).size, 41);
  assert.throws(() => (CAPABILITIES as string[]).push("CAP_X"), TypeError);
});

const { text: header, why } = readHeader(HEADER);
Deno.test({
  name: "CAPABILITIES matches <linux/capability.h>",
  ignore: header === undefined,
  fn() {
    const defined = new Map<string, number>();
    for (const m of header!.matchAll(/^#define\s+(CAP_[A-Z_]+)\s+(\d+)\s*$/gm)) {
      defined.set(m[1], Number(m[2]));
    }
    for (const [i, name] of CAPABILITIES.entries()) assert.equal(defined.get(name), i, name);
    const last = Math.max(...defined.values());
    assert.equal(last, CAPABILITIES.length - 1, "the header knows capabilities this table lacks");
  },
});
if (why) console.log(`skipped header comparison: ${why}`);

Deno.test("capabilityNumber knows exact names only", () => {
  assert.equal(capabilityNumber("CAP_CHOWN"), 0);
  assert.equal(capabilityNumber("CAP_NET_BIND_SERVICE"), 10);
  assert.equal(capabilityNumber("CAP_BPF"), 39);
  assert.equal(capabilityNumber("cap_chown"), undefined);
  assert.equal(capabilityNumber("CHOWN"), undefined);
  assert.equal(capabilityNumber("CAP_BOGUS"), undefined);
  assert.equal(capabilityNumber("toString"), undefined);
});

Deno.test("capabilityMask sets bit i for capability i", () => {
  assert.equal(capabilityMask([]), 0n);
  assert.equal(
    capabilityMask(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]),
    (1n << 29n) | (1n << 5n) | (1n << 10n),
  );
  assert.equal(capabilityMask(["CAP_KILL", "CAP_KILL"]), 1n << 5n);
  assert.equal(capabilityMask([...CAPABILITIES]), (1n << 41n) - 1n);
});

Deno.test("capabilityMask rejects unknown names with a RangeError", () => {
  assert.throws(() => capabilityMask(["CAP_KILL", "CAP_FOO"]), {
    name: "RangeError",
    message: 'unknown capability "CAP_FOO"',
  });
});
