import assert from "node:assert/strict";
import { rlimitNumber, RLIMITS } from "./rlimits.ts";

const HEADER = "/usr/include/asm-generic/resource.h";

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

Deno.test("rlimitNumber maps names to Linux resource numbers", () => {
  assert.equal(rlimitNumber("RLIMIT_CPU"), 0);
  assert.equal(rlimitNumber("RLIMIT_NOFILE"), 7);
  assert.equal(rlimitNumber("RLIMIT_RTTIME"), 15);
  assert.equal(rlimitNumber("RLIMIT_NLIMITS"), undefined);
  assert.equal(rlimitNumber("nofile"), undefined);
  assert.equal(RLIMITS.length, 16);
});

const { text: header, why } = readHeader(HEADER);
if (why) console.log(`skipped header comparison: ${why}`);
Deno.test({
  name: "RLIMITS matches <asm-generic/resource.h>",
  ignore: header === undefined,
  fn() {
    const defined = new Map<string, number>();
    for (const m of header!.matchAll(/^#\s*define\s+(RLIMIT_[A-Z]+)\s+(\d+)/gm)) {
      defined.set(m[1], Number(m[2]));
    }
    for (const [i, name] of RLIMITS.entries()) assert.equal(defined.get(name), i, name);
  },
});
