import assert from "node:assert/strict";
import { buildLauncher, buildNative, cString, NATIVE_SOURCES } from "./build.ts";
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

Deno.test({
  name: "the launcher runs its command line with the caller's arguments and NSINIT_LIBDIR",
  ignore: !hasCommand("cc"),
  fn() {
    const dir = Deno.makeTempDirSync({ prefix: "nsinit-launcher-" });
    try {
      const out = `${dir}/nsinit`;
      // A path with a space, a quote and a backslash is compiled in as it is.
      const odd = `${dir}/a "b"\\c`;
      buildLauncher(out, ["/bin/sh", "-c", 'printf "%s|" "$NSINIT_LIBDIR" "$0" "$@"', "zero"], odd);
      assert.ok(Deno.statSync(out).mode! & 0o111, "not executable");
      const run = (args: string[], env: Record<string, string>, clearEnv = false) => {
        const o = new Deno.Command(out, { args, env, clearEnv, stdout: "piped", stderr: "piped" })
          .outputSync();
        return { code: o.code, out: new TextDecoder().decode(o.stdout) };
      };
      // Unset or empty: the built-in directory; set: the caller's.
      assert.deepEqual(run(["x y", "", "-z"], {}, true), { code: 0, out: `${odd}|zero|x y||-z|` });
      assert.deepEqual(run([], { NSINIT_LIBDIR: "" }), { code: 0, out: `${odd}|zero|` });
      assert.deepEqual(run(["q"], { NSINIT_LIBDIR: "/mine" }), { code: 0, out: "/mine|zero|q|" });
      // A command that cannot run: exit 127 and a message naming it.
      buildLauncher(out, [`${dir}/missing`], dir);
      const o = new Deno.Command(out, { stdout: "piped", stderr: "piped" }).outputSync();
      assert.equal(o.code, 127);
      assert.match(new TextDecoder().decode(o.stderr), /nsinit: cannot run .*missing: No such file/);
      assert.throws(() => buildLauncher(out, ["/bin/sh\n"], dir), /control character/);
      assert.equal(cString("plain"), '"plain"');
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
