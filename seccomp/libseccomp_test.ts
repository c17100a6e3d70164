import assert from "node:assert/strict";
import { SyscallError } from "../errors.ts";
import {
  actErrno,
  actTrace,
  archNative,
  resolveArchName,
  resolveSyscallName,
  SCMP_ACT,
  SCMP_CMP,
  SeccompFilter,
} from "./libseccomp.ts";

const NATIVE: Record<string, string> = { x86_64: "x86_64", aarch64: "aarch64" };

Deno.test("libseccomp: arch and syscall names", () => {
  assert.equal(archNative(), resolveArchName(NATIVE[Deno.build.arch]));
  assert.equal(resolveArchName("SCMP_ARCH_X86_64"), undefined);
  assert.equal(resolveSyscallName("no_such_syscall"), undefined);
  const x86 = resolveArchName("x86")!;
  const x86_64 = resolveArchName("x86_64")!;
  assert.equal(resolveSyscallName("getpid", x86_64), 39);
  assert.equal(resolveSyscallName("getpid", x86), 20);
  assert.throws(() => resolveSyscallName("get\0pid"), TypeError);
});

Deno.test("libseccomp: action encodings", () => {
  assert.equal(actErrno(38), 0x00050026);
  assert.equal(actTrace(0xffff), 0x7ff0ffff);
  assert.throws(() => actErrno(0x10000), RangeError);
  assert.throws(() => actErrno(-1), RangeError);
});

Deno.test("libseccomp: SeccompFilter lifecycle and errors", () => {
  const filter = SeccompFilter.create(SCMP_ACT.ALLOW);
  assert.equal(filter.addArch(archNative()), false); // the native arch is already there
  assert.equal(filter.addArch(resolveArchName("x86")!), true);
  filter.removeArch(resolveArchName("x86")!);
  // libseccomp rejects a rule whose action is the default action.
  assert.throws(
    () => filter.addRule(SCMP_ACT.ALLOW, resolveSyscallName("getpid")!),
    (err: unknown) => err instanceof SyscallError && err.syscall === "seccomp_rule_add_array",
  );
  filter.addRule(actErrno(1), resolveSyscallName("ioctl")!, [
    { arg: 1, op: SCMP_CMP.MASKED_EQ, datumA: 0xffffffffn, datumB: 0x5412n },
  ]);
  assert.throws(
    () =>
      filter.addRule(actErrno(1), resolveSyscallName("ioctl")!, [
        { arg: 6, op: SCMP_CMP.EQ, datumA: 0n, datumB: 0n },
      ]),
    RangeError,
  );
  const bpf = filter.exportBpf();
  assert.ok(bpf.length > 0 && bpf.length % 8 === 0);
  filter.close();
  filter.close(); // idempotent
  assert.throws(() => filter.exportBpf(), TypeError);
  assert.throws(() => SeccompFilter.create(0x12345678), SyscallError);
});

Deno.test("libseccomp: a load failure lists every path tried", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-seccomp-load-" });
  try {
    const script = `${dir}/load.ts`;
    await Deno.writeTextFile(
      script,
      `import { archNative } from ${
        JSON.stringify(new URL("./libseccomp.ts", import.meta.url).href)
      };
try { archNative({ libraryPath: "/nonexistent/option.so" }); } catch (e) {
  console.log(JSON.stringify({ name: e.name, message: e.message, tried: e.tried.map((t) => t.path) }));
}`,
    );
    // ffi is granted only below /nonexistent, so even the system libseccomp cannot load.
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--allow-read",
        "--allow-env",
        "--allow-ffi=/nonexistent",
        script,
      ],
      env: { NSINIT_LIBSECCOMP: "/nonexistent/env.so" },
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(result.name, "LibraryLoadError");
    assert.deepEqual(result.tried, [
      "/nonexistent/option.so",
      "/nonexistent/env.so",
      "libseccomp.so.2",
    ]);
    assert.match(result.message, /\/nonexistent\/option\.so: .*\/nonexistent\/env\.so: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
