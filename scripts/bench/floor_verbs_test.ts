import { strict as assert } from "node:assert";
import { makeBenchBundle, REPO_ROOT } from "./host.ts";
import { LAUNCHER_DENO_FLAGS } from "../build.ts";

const FLOOR = `${REPO_ROOT}/scripts/bench/floor_verbs.js`;
const NSINIT = `${REPO_ROOT}/dist/nsinit`;
const built = (() => {
  try {
    return Deno.statSync(NSINIT).isFile &&
      Deno.statSync(`${REPO_ROOT}/dist/lib/libnsinit.so`).isFile;
  } catch {
    return false;
  }
})();
const root = Deno.uid() === 0;
const why = !root
  ? "needs root: it creates a container with cgroups"
  : "needs dist/ (deno task build): it creates the container with dist/nsinit";
const dec = new TextDecoder();

/** Runs `argv`; `quiet`: no pipes (a create's init holds its stdio open until start). */
async function run(
  argv: string[],
  quiet = false,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: { NSINIT_LIBDIR: `${REPO_ROOT}/dist/lib` },
    stdin: "null",
    stdout: quiet ? "null" : "piped",
    stderr: quiet ? "null" : "piped",
  }).output();
  if (quiet) return { code: out.code, stdout: "", stderr: "" };
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function gone(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return false;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
}

Deno.test({
  name: "floor_verbs.js does start, state, kill and delete of a real container and leaves nothing",
  ignore: !root || !built,
  fn: async () => {
    const tag = `nsinit-floors-test-${Deno.pid}`;
    const work = await Deno.makeTempDir({ prefix: "floors-test-" });
    const stateRoot = `/run/${tag}`;
    const id = "c1";
    const floor = (...args: string[]) =>
      run([Deno.execPath(), ...LAUNCHER_DENO_FLAGS, FLOOR, args[0], stateRoot, ...args.slice(1)]);
    const status = async () => JSON.parse((await floor("state", id)).stdout).status;
    try {
      const bundle = await makeBenchBundle(`${work}/bundle`, tag);
      const created = await run([
        NSINIT,
        "--root",
        stateRoot,
        "create",
        "--bundle",
        bundle.lifecycleDir,
        id,
      ], true);
      assert.equal(created.code, 0, created.stderr);
      assert.equal(await status(), "created");
      // delete refuses a container whose init runs, and changes nothing.
      assert.notEqual((await floor("delete", id)).code, 0);
      assert.ok(!gone(`${stateRoot}/${id}/state.json`));
      const started = await floor("start", id);
      assert.equal(started.code, 0, started.stderr);
      assert.ok(gone(`${stateRoot}/${id}/exec.fifo`));
      const st = JSON.parse((await floor("state", id)).stdout);
      assert.equal(st.status, "running");
      assert.equal(st.id, id);
      assert.ok(st.pid > 0);
      // nsinit reads what the floor left as nsinit would have left it.
      const ns = JSON.parse((await run([NSINIT, "--root", stateRoot, "state", id])).stdout);
      assert.equal(ns.status, "running");
      assert.equal(ns.pid, st.pid);
      // start again is refused; signal 0 leaves it running.
      assert.notEqual((await floor("start", id)).code, 0);
      assert.equal((await floor("kill", id, "0")).code, 0);
      assert.equal(await status(), "running");
      const cgroups: string[] = JSON.parse(
        Deno.readTextFileSync(`${stateRoot}/${id}/state.json`),
      ).cgroup.created;
      assert.ok(cgroups.length > 0, "nsinit made cgroups for the container");
      const killed = await floor("kill", id, "9");
      assert.equal(killed.code, 0, killed.stderr);
      for (let i = 0; i < 500 && (await status()) !== "stopped"; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await status(), "stopped");
      assert.notEqual((await floor("kill", id, "9")).code, 0, "kill of a stopped container");
      const deleted = await floor("delete", id);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.ok(gone(`${stateRoot}/${id}`), "the state directory is gone");
      for (const d of cgroups) assert.ok(gone(d), `cgroup ${d} is gone`);
    } finally {
      await run([NSINIT, "--root", stateRoot, "delete", "--force", id]).catch(() => {});
      await Deno.remove(stateRoot, { recursive: true }).catch(() => {});
      await Deno.remove(work, { recursive: true });
    }
  },
});
if (!root || !built) console.log(`floor_verbs_test: skipped: ${why}`);
