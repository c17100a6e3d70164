import assert from "node:assert/strict";
import { buildNative, NATIVE_SOURCES } from "./build.ts";
import { hasCommand } from "../tests/helpers/skip.ts";

Deno.test("NATIVE_SOURCES lists every file of native/src (remote builds fetch exactly these)", () => {
  const dir = new URL("./src/", import.meta.url);
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(names, [...NATIVE_SOURCES]);
});

Deno.test({
  name: "the helper is built with musl when musl-gcc is installed (no glibc cpuid probe per exec)",
  ignore: !hasCommand("musl-gcc") || !hasCommand("cc"),
  fn() {
    const dir = Deno.makeTempDirSync({ prefix: "nsinit-build-" });
    try {
      buildNative(dir);
      const bin = new TextDecoder("latin1").decode(Deno.readFileSync(`${dir}/nsinit-init`));
      // glibc's static start-up (init_cacheinfo, intel_check_word) and its name are absent.
      assert.ok(!bin.includes("intel_check_word"), "glibc's cache probe is linked in");
      assert.ok(!bin.includes("glibc"), "a glibc helper was built");
      // And the forced compiler is honoured: NSINIT_HELPER_CC=cc gives glibc's.
      Deno.env.set("NSINIT_HELPER_CC", "cc");
      try {
        buildNative(dir);
      } finally {
        Deno.env.delete("NSINIT_HELPER_CC");
      }
      const glibc = new TextDecoder("latin1").decode(Deno.readFileSync(`${dir}/nsinit-init`));
      assert.ok(glibc.includes("glibc"), "NSINIT_HELPER_CC=cc did not build with glibc");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
