// Fuzzed input, seeded and reproducible: config.json, process.json, update resources, CLI
// command lines and ids, mutated from valid ones. Each case ends in a clear error (a domain
// error naming what is wrong; never an internal TypeError, a stack trace or a hang) or a
// working container, and leaves nothing behind.
//
//   NSINIT_FUZZ_SEED    the seed (default: a fixed one; a failure names the seed and case)
//   NSINIT_FUZZ_CASES   pure cases per document kind (default 3000)
//   NSINIT_FUZZ_RUNS    cases run as real containers and as CLI command lines (default 60)
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import { validateProcess, validateSpec } from "../../spec/validate.ts";
import { buildExecPlan, buildInitPlan } from "../../core/init_plan.ts";
import { translateResources } from "../../cgroups/resources.ts";
import { compileSeccomp } from "../../seccomp/compile.ts";
import { parseResourcesJson } from "../../nsinit/commands/update.ts";
import { defaultSpec } from "../../spec/default.ts";
import type { LinuxResources, Spec } from "../../spec/config.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { makeTempDir, mountsUnder } from "../helpers/paths.ts";
import { runNsinit } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { checkClear, INTERNAL, mutate, randomArgs, Rng } from "./fuzz.ts";
import { cgroupDirsNamed, stateEntries } from "./helpers.ts";

const SEED = Number(Deno.env.get("NSINIT_FUZZ_SEED") ?? "20261130");
const CASES = Number(Deno.env.get("NSINIT_FUZZ_CASES") ?? "3000");
const RUNS = Number(Deno.env.get("NSINIT_FUZZ_RUNS") ?? "60");

/** The V1-like host translateResources writes for. */
const HOST = {
  versionOf: (c: string) =>
    ["memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "hugetlb", "devices", "freezer"]
        .includes(c)
      ? 1 as const
      : undefined,
  has: () => true,
};

function baseSpec(): Spec {
  const s = defaultSpec();
  s.linux!.resources = {
    memory: { limit: 64 << 20, swap: 128 << 20 },
    cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0" },
    pids: { limit: 100 },
    devices: [{ allow: false, access: "rwm" }, {
      allow: true,
      type: "c",
      major: 1,
      minor: 3,
      access: "rwm",
    }],
  };
  s.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
  s.linux!.seccomp = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["execve", "exit_group", "read", "write"], action: "SCMP_ACT_ALLOW" }],
  };
  s.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 1024 }];
  s.mounts!.push({ destination: "/data", type: "bind", source: "/tmp", options: ["rbind", "ro"] });
  return s;
}

Deno.test(`fuzz: ${CASES} mutated config.json, process.json and resources documents end in clear errors (seed ${SEED})`, () => {
  const rng = new Rng(SEED);
  const base = baseSpec();
  let accepted = 0;
  for (let i = 0; i < CASES; i++) {
    const { doc, changes } = mutate(base, rng);
    const what = `seed ${SEED} config case ${i} (${changes.join("; ")})`;
    try {
      // Through JSON, as from a file.
      const spec = validateSpec(JSON.parse(JSON.stringify(doc)));
      buildInitPlan(spec, { bundle: "/tmp/nsinit-fuzz-bundle", id: "fuzz" });
      if (spec.linux?.resources) translateResources(spec.linux.resources, HOST);
      if (spec.linux?.seccomp) compileSeccomp(spec.linux.seccomp, { requireExecve: true });
      accepted++;
    } catch (e) {
      checkClear(e, what);
    }
  }
  for (let i = 0; i < CASES; i++) {
    const { doc, changes } = mutate(base.process!, rng);
    const what = `seed ${SEED} process case ${i} (${changes.join("; ")})`;
    try {
      const proc = validateProcess(JSON.parse(JSON.stringify(doc)));
      buildExecPlan(proc, { initPid: 1, namespaces: ["pid", "mount", "ipc", "uts"] });
    } catch (e) {
      checkClear(e, what);
    }
  }
  for (let i = 0; i < CASES; i++) {
    const { doc, changes } = mutate(base.linux!.resources as LinuxResources, rng);
    const what = `seed ${SEED} resources case ${i} (${changes.join("; ")})`;
    try {
      translateResources(parseResourcesJson(JSON.stringify(doc), "resources.json"), HOST);
    } catch (e) {
      checkClear(e, what);
    }
  }
  // The mutations are not all rejections: some configs must stay valid, or the fuzz tests
  // only the first check.
  assert.ok(accepted > CASES / 20, `only ${accepted} of ${CASES} mutated configs were valid`);
});

const ignore = skipUnless(isRoot(), "real containers need root");

Deno.test({
  name:
    `fuzz: ${RUNS} mutated configs run as real containers: a clear error or a working container, nothing left (seed ${SEED})`,
  ignore,
  async fn() {
    const rng = new Rng(SEED + 1);
    await using b = await makeBundle({ args: ["true"] });
    const base = structuredClone(b.config);
    base.root!.readonly = false;
    const factory = new Factory({ root: b.stateRoot });
    const cgroup = base.linux!.cgroupsPath!;
    let ran = 0;
    for (let i = 0; i < RUNS; i++) {
      const { doc, changes } = mutate(base, rng);
      const what = `seed ${SEED + 1} container case ${i} (${changes.join("; ")})`;
      const id = `${b.id}-${i}`;
      // A cgroupsPath the mutation did not touch stays this test's own.
      const spec = structuredClone(doc) as Spec;
      if (spec.linux && typeof spec.linux === "object" && spec.linux.cgroupsPath === cgroup) {
        spec.linux.cgroupsPath = `${cgroup}-${i}`;
      }
      try {
        const c = await factory.run(id, {
          bundle: b.dir,
          spec,
          stdio: { stdin: "null", stdout: "null", stderr: "null" },
        });
        try {
          await Promise.race([
            c.wait(),
            new Promise((r) => setTimeout(r, 5000)),
          ]);
        } finally {
          await c.destroy({ force: true });
        }
        ran++;
      } catch (e) {
        checkClear(e, what);
      }
      assert.deepEqual(stateEntries(b.stateRoot), [], `${what}: state left`);
      assert.deepEqual(cgroupDirsNamed(`${cgroup}-${i}`), [], `${what}: cgroup left`);
      assert.deepEqual(mountsUnder(b.dir), [], `${what}: mounts left`);
    }
    console.log(`fuzz: ${ran} of ${RUNS} mutated configs ran a container`);
  },
});

Deno.test({
  name:
    `fuzz: ${RUNS} random command lines and ids: an exit status and a one-line error, nothing left (seed ${SEED})`,
  ignore,
  async fn() {
    const rng = new Rng(SEED + 2);
    await using dir = await makeTempDir("fuzz-cli");
    await using b = await makeBundle({ args: ["true"] });
    const root = `${dir.path}/state`;
    for (let i = 0; i < RUNS; i++) {
      const args = ["--root", root, ...randomArgs(rng, b.id, b.dir, dir.path)];
      const what = `seed ${SEED + 2} cli case ${i}: nsinit ${JSON.stringify(args)}`;
      const r = await runNsinit(args, { cwd: dir.path, timeoutMs: 20_000 });
      const streams = args.includes("events") || args.includes("ps");
      assert.ok(!r.timedOut || streams, `${what}: hung`);
      if (r.code !== 0 && !r.timedOut) {
        assert.doesNotMatch(r.stderr, /^\s+at .*\.ts:\d+/m, `${what}: a stack trace\n${r.stderr}`);
        assert.doesNotMatch(r.stderr, INTERNAL, `${what}: an internal error\n${r.stderr}`);
        assert.ok(r.stderr.trim().length > 0, `${what}: failed (${r.code}) with no message`);
      }
      // Whatever it made goes: every container listed is deleted.
      for (const id of stateEntries(root)) {
        const d = await runNsinit(["--root", root, "delete", "--force", id]);
        assert.equal(d.code, 0, `${what}: delete --force ${id}: ${d.stderr}`);
      }
      assert.deepEqual(stateEntries(root), [], `${what}: state left`);
      assert.deepEqual(mountsUnder(b.dir), [], `${what}: mounts left`);
    }
    assert.deepEqual(cgroupDirsNamed(b.config.linux!.cgroupsPath!), [], "cgroup left");
  },
});
