import assert from "node:assert/strict";
import { ensureBuild } from "../scripts/build.ts";
import { symbolDef, symbolTable } from "./ffi.ts";
import { SYMBOLS } from "./ffi_symbols.ts";

/**
 * Runs `code` (a module body that may import `ffi` and `spawn` from the vars below) in a fresh
 * Deno process: which library a process loads is decided once per process.
 */
async function fresh(code: string, env: Record<string, string> = {}) {
  const ffi = new URL("./ffi.ts", import.meta.url).href;
  const spawn = new URL("./spawn.ts", import.meta.url).href;
  const plan = new URL("./plan.ts", import.meta.url).href;
  const body = `const ffi = await import(${JSON.stringify(ffi)});
const spawn = await import(${JSON.stringify(spawn)});
const plan = await import(${JSON.stringify(plan)});
${code}`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-lock", "--quiet", body],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("a library directory without the helper: signals work, a spawn says the helper is missing", async () => {
  ensureBuild();
  const dir = await Deno.makeTempDir({ prefix: "nsinit-ffi-" });
  try {
    const lib = new URL("../dist/lib/libnsinit.so", import.meta.url).pathname;
    await Deno.copyFile(lib, `${dir}/libnsinit.so`);
    const r = await fresh(`
ffi.configureNative({ libDir: ${JSON.stringify(dir)} });
await ffi.ensureNative();
const fd = ffi.native().nsi_pidfd_open(Deno.pid);
if (fd < 0) throw new Error("pidfd_open: " + fd);
ffi.native().nsi_close(fd);
console.log("signals ok");
try {
  await spawn.spawnPlan(new plan.PlanBuilder(), { fds: [0, 1, 2], until: "exec" });
  console.log("spawned");
} catch (e) {
  console.log("spawn: " + e.message);
}
`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^signals ok$/m);
    assert.match(r.stdout, new RegExp(`^spawn: the nsinit helper ${dir}/nsinit-init is missing`, "m"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a configured library directory that has no library: the checkout's build is loaded instead", async () => {
  ensureBuild();
  const dir = await Deno.makeTempDir({ prefix: "nsinit-ffi-" });
  try {
    const r = await fresh(
      `ffi.configureNative({ libDir: ${JSON.stringify(dir)} });
ffi.native();
console.log("helper " + ffi.helperPath());`,
    );
    assert.equal(r.code, 0, r.stderr);
    const distLib = decodeURIComponent(new URL("../dist/lib", import.meta.url).pathname);
    assert.equal(r.stdout.trim(), `helper ${distLib}/nsinit-init`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("signalInit and startInit refuse a process whose start time is not the recorded one (pid reuse)", async () => {
  ensureBuild();
  const { realSyscalls, } = await import("../core/syscalls.ts");
  const { procStat } = await import("../core/state.ts");
  await realSyscalls.ready();
  const child = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
  try {
    const st = procStat(child.pid);
    assert.ok(st, "the child runs");
    await assert.rejects(
      () => realSyscalls.signalInit(child.pid, st.startTime + 1, 9),
      (e: Error & { errno?: number }) => e.errno === 3,
    );
    await assert.rejects(
      () => realSyscalls.startInit("/nonexistent/exec.fifo", child.pid, st.startTime + 1, "x"),
      (e: Error & { errno?: number }) => e.errno === 3,
    );
    assert.ok(procStat(child.pid), "refused: the process still runs");
    await realSyscalls.signalInit(child.pid, st.startTime, 9);
    assert.equal((await child.status).signal, "SIGKILL");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  }
});

Deno.test("the compact symbol table binds what ffi_symbols.ts declares, symbol for symbol", () => {
  const table = symbolTable();
  assert.deepEqual([...table.keys()].sort(), Object.keys(SYMBOLS).sort());
  for (const [name, def] of Object.entries(SYMBOLS)) {
    const d = def as Deno.ForeignFunction;
    const want: Deno.ForeignFunction = {
      ...(d.name ? { name: d.name } : {}),
      parameters: [...d.parameters],
      result: d.result,
      ...(d.nonblocking ? { nonblocking: true } : {}),
    };
    assert.deepEqual(table.get(name), want, name);
    // The one-symbol look-up the lazy binding uses finds the same.
    assert.deepEqual(symbolDef(name), want, `symbolDef(${name})`);
  }
  // A prefix of a name, a C name bound under another, and an unknown name find nothing.
  assert.equal(symbolDef("nsi_spawn_f"), undefined);
  assert.deepEqual(symbolDef("nsi_write"), table.get("nsi_write"));
  assert.equal(symbolDef("nsi_no_such"), undefined);
});
