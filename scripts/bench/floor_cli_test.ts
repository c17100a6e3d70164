import { strict as assert } from "node:assert";
import { floorCgroupDirs, floorCli } from "./floor_cli.ts";
import { cgroupScopes } from "./cgroup_scopes.ts";
import { benchSpec, ensureFloorCli, REPO_ROOT } from "./host.ts";
import { LAUNCHER_DENO_FLAGS } from "../build.ts";

const root = Deno.uid() === 0;
const why = "needs root: the CLI floor clones into new namespaces and makes cgroups";

/** A bundle directory holding only the bench's config.json (the floor reads nothing else). */
async function configDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "clifloor-test-" });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(benchSpec("x")));
  return dir;
}

function gone(dirs: string[]): void {
  for (const d of dirs) assert.throws(() => Deno.statSync(d), Deno.errors.NotFound, d);
}

Deno.test("floorCgroupDirs: one directory per hierarchy below this process's own cgroup", () => {
  const scopes = cgroupScopes();
  const { dirs, cloneInto } = floorCgroupDirs("floor-test-x");
  assert.deepEqual(dirs, scopes.map((s) => `${s.own}/floor-test-x`));
  const v2 = scopes.length === 1 && scopes[0].fstype === "cgroup2";
  assert.equal(cloneInto, v2 ? dirs[0] : undefined);
  assert.throws(() => floorCgroupDirs("../escape"), RangeError);
});

Deno.test({
  name: "floorCli runs /bin/true, with and without cgroups, and leaves no cgroup behind",
  ignore: !root,
  fn: async () => {
    const dir = await configDir();
    const name = `floor-test-${Deno.pid}`;
    try {
      await floorCli(dir);
      await floorCli(dir, name);
      gone(floorCgroupDirs(name).dirs);
    } finally {
      for (const d of floorCgroupDirs(name).dirs) await Deno.remove(d).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
if (!root) console.log(`floor_cli_test: the run tests are skipped: ${why}`);

Deno.test({
  name: "the bundled CLI floor runs with the launcher's flags and exits 0, 1 or 2",
  ignore: !root,
  fn: async () => {
    const js = await ensureFloorCli(() => {});
    assert.ok(js);
    const dir = await configDir();
    const name = `floor-test-b${Deno.pid}`;
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [...LAUNCHER_DENO_FLAGS, js!, ...args],
        env: { NSINIT_LIBDIR: `${REPO_ROOT}/dist/lib` },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).output();
    try {
      const plain = await run([dir]);
      assert.equal(plain.code, 0, new TextDecoder().decode(plain.stderr));
      const cg = await run([dir, "--cgroup", name]);
      assert.equal(cg.code, 0, new TextDecoder().decode(cg.stderr));
      gone(floorCgroupDirs(name).dirs);
      assert.equal((await run([dir, "--cgroup"])).code, 2);
      const missing = await run([`${dir}/nothing`]);
      assert.equal(missing.code, 1);
      assert.match(new TextDecoder().decode(missing.stderr), /^floor_cli: /);
    } finally {
      for (const d of floorCgroupDirs(name).dirs) await Deno.remove(d).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
