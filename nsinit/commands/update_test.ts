// `nsinit update`: flag and file parsing, and a real running container whose limits change.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import { ConfigError } from "../../errors.ts";
import { UsageError } from "../flags.ts";
import {
  parseMemorySize,
  parseResourcesJson,
  resourcesFromFlags,
  updateResources,
} from "./update.ts";
import { makeBundle } from "../../tests/helpers/bundle.ts";
import { hasCgroup, isRoot, skipUnless } from "../../tests/helpers/skip.ts";
import { run, runNsinit, type RunOptions, type RunResult } from "../../tests/helpers/run.ts";

/**
 * `nsinit --root ROOT ARGS...` as a subprocess. Until the command is in main.ts's table,
 * the command module's `run()` is driven directly (in a subprocess, as main() would).
 */
async function cli(root: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const { COMMANDS } = await import("../main.ts");
  const all = ["--root", root, ...args];
  if (Object.hasOwn(COMMANDS, args[0]!)) {
    return await runNsinit(all, { timeoutMs: 30_000, ...opts });
  }
  const code = `
    import { run } from ${JSON.stringify(new URL(`./${args[0]}.ts`, import.meta.url).href)};
    import { parseGlobal } from ${JSON.stringify(new URL("../global.ts", import.meta.url).href)};
    const p = parseGlobal(${JSON.stringify(all)});
    try { Deno.exit(await run(p.args, p.options)); }
    catch (e) { console.error("nsinit: " + (e instanceof Error ? e.message : String(e))); Deno.exit(1); }`;
  return await run(Deno.execPath(), ["eval", code], { timeoutMs: 30_000, ...opts });
}

Deno.test("parseMemorySize takes runc's sizes", () => {
  const M = 1024 * 1024;
  const cases: [string, number][] = [
    ["0", 0],
    ["1048576", M],
    ["512", 512],
    ["512b", 512],
    ["1k", 1024],
    ["1K", 1024],
    ["64m", 64 * M],
    ["64M", 64 * M],
    ["64mb", 64 * M],
    ["64MiB", 64 * M],
    ["64 m", 64 * M],
    ["1g", 1024 * M],
    ["1.5g", 1536 * M],
    ["2t", 2 * 2 ** 40],
    ["1p", 2 ** 50],
    ["-1", -1],
  ];
  for (const [text, bytes] of cases) assert.equal(parseMemorySize(text, "memory"), bytes, text);
  for (const bad of ["", "m", "lots", "-2", "1x", "1mbb", "1kb2", "0x10", "1e3"]) {
    assert.throws(
      () => parseMemorySize(bad, "memory-swap"),
      (e: unknown) => e instanceof UsageError && e.message.includes("--memory-swap"),
      bad,
    );
  }
});

Deno.test("resourcesFromFlags: every runc update flag, errors naming the flag", () => {
  assert.deepEqual(
    resourcesFromFlags({
      memory: "32m",
      "memory-reservation": "16m",
      "memory-swap": "-1",
      "cpu-shares": "512",
      "cpu-quota": "50000",
      "cpu-period": "100000",
      "cpu-rt-runtime": "-1",
      "cpu-rt-period": "1000000",
      "cpu-burst": "1000",
      "cpu-idle": "1",
      "cpuset-cpus": "0-1",
      "cpuset-mems": "0",
      "pids-limit": "100",
      "blkio-weight": "500",
    }),
    {
      memory: { limit: 32 << 20, reservation: 16 << 20, swap: -1 },
      cpu: {
        shares: 512,
        period: 100000,
        quota: 50000,
        burst: 1000,
        realtimePeriod: 1000000,
        realtimeRuntime: -1,
        idle: 1,
        cpus: "0-1",
        mems: "0",
      },
      blockIO: { weight: 500 },
      pids: { limit: 100 },
    },
  );
  assert.deepEqual(resourcesFromFlags({ "cpu-share": "2" }), { cpu: { shares: 2 } });
  // runc: 0 leaves the pids limit and the blkio weight alone.
  assert.deepEqual(resourcesFromFlags({ "pids-limit": "0", "blkio-weight": "0" }), {});
  assert.deepEqual(resourcesFromFlags({}), {});
  const bad: [Record<string, string>, string][] = [
    [{ memory: "32q" }, "--memory"],
    [{ "memory-reservation": "x" }, "--memory-reservation"],
    [{ "cpu-shares": "-5" }, "--cpu-shares"],
    [{ "cpu-share": "1.5" }, "--cpu-share"],
    [{ "cpu-quota": "-2" }, "--cpu-quota"],
    [{ "cpu-period": "abc" }, "--cpu-period"],
    [{ "cpu-rt-runtime": "1s" }, "--cpu-rt-runtime"],
    [{ "cpu-rt-period": "-1" }, "--cpu-rt-period"],
    [{ "cpuset-cpus": "0-" }, "--cpuset-cpus"],
    [{ "cpuset-mems": "a" }, "--cpuset-mems"],
    [{ "pids-limit": "many" }, "--pids-limit"],
    [{ "blkio-weight": "5" }, "--blkio-weight"],
    [{ "blkio-weight": "1001" }, "--blkio-weight"],
    [{ "cpu-idle": "2" }, "--cpu-idle"],
  ];
  for (const [values, flag] of bad) {
    assert.throws(
      () => resourcesFromFlags(values),
      (e: unknown) => e instanceof UsageError && e.message.includes(flag),
      JSON.stringify(values),
    );
  }
});

Deno.test("updateResources: -r wins over flags; kernel memory is ignored with a warning", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-update-" });
  try {
    const file = `${dir}/r.json`;
    await Deno.writeTextFile(file, JSON.stringify({ memory: { limit: 1 << 20 }, devices: [] }));
    assert.deepEqual(await updateResources({ resources: file, memory: "5m" }), {
      memory: { limit: 1 << 20 },
    });
    const warnings: string[] = [];
    assert.deepEqual(
      await updateResources({ "kernel-memory": "1m", memory: "2m" }, (w) => warnings.push(w)),
      { memory: { limit: 2 << 20 } },
    );
    assert.deepEqual(warnings, ["Setting --kernel-memory is ignored and will be removed"]);
    await assert.rejects(
      () => updateResources({ resources: `${dir}/missing.json` }),
      (e: unknown) => e instanceof UsageError && e.message.includes("--resources"),
    );
    await assert.rejects(() => updateResources({ "l3-cache-schema": "L3:0=f" }), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseResourcesJson: runc's update fields, errors naming file and field", () => {
  assert.deepEqual(
    parseResourcesJson(
      JSON.stringify({
        memory: { limit: 1024, reservation: 0, swap: -1, checkBeforeUpdate: true },
        cpu: { shares: 2, quota: -1, period: 1000, cpus: "", mems: "0" },
        blockIO: { weight: 100 },
        pids: { limit: 5 },
        unified: { "memory.high": "max" },
        hugepageLimits: null,
      }),
      "r.json",
    ),
    {
      memory: { limit: 1024, reservation: 0, swap: -1, checkBeforeUpdate: true },
      cpu: { shares: 2, quota: -1, period: 1000, mems: "0" },
      blockIO: { weight: 100 },
      pids: { limit: 5 },
      unified: { "memory.high": "max" },
    },
  );
  const bad: [string, string][] = [
    ["[1]", ""],
    ["{", ""],
    ['{"memory": 5}', "memory"],
    ['{"memory": {"limit": "1m"}}', "memory.limit"],
    ['{"memory": {"swap": -2}}', "memory.swap"],
    ['{"memory": {"checkBeforeUpdate": 1}}', "memory.checkBeforeUpdate"],
    ['{"cpu": {"shares": 1.5}}', "cpu.shares"],
    ['{"cpu": {"cpus": "x"}}', "cpu.cpus"],
    ['{"blockIO": {"weight": 5000}}', "blockIO.weight"],
    ['{"pids": {"limit": "10"}}', "pids.limit"],
    ['{"unified": {"memory.high": 5}}', 'unified["memory.high"]'],
  ];
  for (const [text, field] of bad) {
    assert.throws(
      () => parseResourcesJson(text, "r.json"),
      (e: unknown) =>
        e instanceof ConfigError && e.message.startsWith("r.json") && (
          field === "" || e.message.includes(field)
        ),
      text,
    );
  }
});

Deno.test({
  name: "nsinit update changes a running container's limits (memory, cpu, pids; flags, -r, -r -)",
  ignore: skipUnless(
    isRoot() && hasCgroup("memory") && hasCgroup("cpu") && hasCgroup("pids"),
    "real containers need root and the v1 memory, cpu and pids hierarchies",
  ),
  async fn() {
    await using bundle = await makeBundle({ args: ["sleep", "1000"] });
    bundle.config.linux!.resources = {
      ...bundle.config.linux!.resources,
      memory: { limit: 32 << 20 },
    };
    await bundle.write();
    const factory = new Factory({ root: bundle.stateRoot });
    await using container = await factory.run(bundle.id, {
      bundle: bundle.dir,
      stdio: { stdin: "null", stdout: "null", stderr: "null" },
    });
    try {
      const paths = container.cgroup.paths();
      const read = (controller: string, file: string) =>
        Deno.readTextFileSync(`${paths[controller]}/${file}`).trim();
      assert.equal(read("memory", "memory.limit_in_bytes"), String(32 << 20));

      let r = await cli(bundle.stateRoot, ["update", "--memory", "64m", bundle.id]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(read("memory", "memory.limit_in_bytes"), String(64 << 20));

      r = await cli(bundle.stateRoot, [
        "update",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        "--pids-limit",
        "50",
        "--memory-reservation",
        "16M",
        bundle.id,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(read("cpu", "cpu.cfs_period_us"), "100000");
      assert.equal(read("cpu", "cpu.cfs_quota_us"), "50000");
      assert.equal(read("pids", "pids.max"), "50");
      assert.equal(read("memory", "memory.soft_limit_in_bytes"), String(16 << 20));

      const file = `${bundle.dir}/resources.json`;
      await Deno.writeTextFile(file, JSON.stringify({ memory: { limit: 48 << 20 } }));
      r = await cli(bundle.stateRoot, ["update", "-r", file, bundle.id]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(read("memory", "memory.limit_in_bytes"), String(48 << 20));

      r = await cli(bundle.stateRoot, ["update", "--resources", "-", bundle.id], {
        stdin: JSON.stringify({ memory: { limit: 40 << 20 }, pids: { limit: 60 } }),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(read("memory", "memory.limit_in_bytes"), String(40 << 20));
      assert.equal(read("pids", "pids.max"), "60");

      // The new limits are recorded in the container's state.
      const saved = (await factory.load(bundle.id)).persisted.config.linux?.resources;
      assert.equal(saved?.memory?.limit, 40 << 20);
      assert.equal(saved?.pids?.limit, 60);

      // Bad values: exit 1, one line naming the flag, nothing changed.
      r = await cli(bundle.stateRoot, ["update", "--memory", "lots", bundle.id]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^nsinit: invalid value "lots" for flag --memory: .*\n$/);
      r = await cli(bundle.stateRoot, ["update", "--cpu-quota", "x", bundle.id]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /--cpu-quota/);
      assert.equal(read("memory", "memory.limit_in_bytes"), String(40 << 20));
      // A missing container is an error too.
      r = await cli(bundle.stateRoot, ["update", "--memory", "64m", "no-such-container"]);
      assert.equal(r.code, 1);
    } finally {
      await container.destroy({ force: true });
    }
  },
});
