// End-to-end: a pid that an unrelated process took after a container's init died is never
// signalled by kill, kill --all or delete, from the CLI or the library. The reuse is made to
// happen, not simulated: the whole scenario runs in a private pid namespace (unshare), where
// writing the dead init's pid - 1 to /proc/sys/kernel/ns_last_pid makes the next fork get the
// init's pid.
import assert from "node:assert/strict";
import { makeBundle } from "../helpers/bundle.ts";
import { REPO_ROOT } from "../helpers/paths.ts";
import { nsinitCommand, run } from "../helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "../helpers/skip.ts";
import { stateEntries } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "real containers and pid namespaces need root") ||
  skipUnless(hasCommand("unshare"), "needs unshare(1) (util-linux)");

/** `key=value` lines of a script's output. */
function facts(out: string): Record<string, string> {
  return Object.fromEntries(
    out.split("\n").filter((l) => l.includes("=")).map((l) => [
      l.slice(0, l.indexOf("=")),
      l.slice(l.indexOf("=") + 1),
    ]),
  );
}

Deno.test({
  name:
    "pid reuse: kill, kill --all and delete from the CLI never signal the process that took a dead init's pid",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"], rootfs: "shared" });
    const r = await run("unshare", [
      "--pid",
      "--fork",
      "--mount-proc",
      "bash",
      `${REPO_ROOT}/tests/security/pid_reuse_cli.sh`,
      b.stateRoot,
      b.dir,
      b.id,
      ...nsinitCommand([]),
    ], { timeoutMs: 120_000, cwd: REPO_ROOT });
    const f = facts(r.stdout);
    assert.equal(f.error, undefined, `${r.stdout}\n${r.stderr}`);
    assert.equal(f.bystander, f.init, "the set-up did not reuse the pid");
    assert.match(f.state, /"status":"stopped"/, "a reused pid made the container look alive");
    assert.notEqual(f.kill, "0", "kill of a stopped container succeeded");
    assert.equal(f.killall, "0");
    assert.equal(f.delete, "0");
    assert.equal(f.bystander_state, "S", `the process that took pid ${f.init} was signalled`);
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});

const LIBRARY_SCRIPT = `
import { Factory } from "${REPO_ROOT}/mod.ts";
const [root, bundle, id] = Deno.args;
const f = new Factory({ root });
const c = await f.run(id, { bundle, stdio: { stdin: "null", stdout: "null", stderr: "null" } });
const pid = c.init.pid;
console.log("init=" + pid);
console.log("exit=" + JSON.stringify(await c.wait())); // reaped: the pid is free
// Deno's own threads take pids too: try until the bystander gets the init's.
let bystander;
for (let i = 0; i < 50; i++) {
  Deno.writeTextFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
  const p = new Deno.Command("sleep", { args: ["1000"], stdin: "null" }).spawn();
  if (p.pid === pid) { bystander = p; break; }
  p.kill("SIGKILL");
  await p.status;
}
if (!bystander) { console.log("error=pid " + pid + " was not reused"); Deno.exit(1); }
console.log("bystander=" + bystander.pid);
const result = (p) => p.then(() => "ok", (e) => e.constructor.name);
console.log("status=" + await c.status());
console.log("signal=" + await result(c.signal(9)));
const loaded = await f.load(id);
console.log("loaded_status=" + await loaded.status());
console.log("signal_all=" + await result(loaded.signal(9, { all: true })));
console.log("destroy=" + await result(loaded.destroy()));
const st = /^State:\\s*(.)/m.exec(Deno.readTextFileSync("/proc/" + pid + "/status"))?.[1];
console.log("bystander_state=" + st);
bystander.kill("SIGKILL");
await bystander.status;
`;

Deno.test({
  name:
    "pid reuse: signal, signal --all and destroy from the library never signal the process that took a dead init's pid",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"], rootfs: "shared" });
    const script = `${b.dir}/reuse.ts`;
    await Deno.writeTextFile(script, LIBRARY_SCRIPT);
    const r = await run("unshare", [
      "--pid",
      "--fork",
      "--mount-proc",
      Deno.execPath(),
      "run",
      "-A",
      "--no-lock",
      `--config=${REPO_ROOT}/deno.json`,
      script,
      b.stateRoot,
      b.dir,
      b.id,
    ], { timeoutMs: 120_000, cwd: REPO_ROOT });
    const f = facts(r.stdout);
    assert.equal(f.error, undefined, `${r.stdout}\n${r.stderr}`);
    assert.equal(f.bystander, f.init, `${r.stdout}\n${r.stderr}`);
    assert.equal(f.status, "stopped");
    assert.equal(f.signal, "StateError", "signal of a stopped container succeeded");
    assert.equal(f.loaded_status, "stopped");
    assert.equal(f.signal_all, "ok");
    assert.equal(f.destroy, "ok");
    assert.equal(f.bystander_state, "S", `the process that took pid ${f.init} was signalled`);
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});
