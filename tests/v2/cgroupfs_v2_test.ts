/**
 * The cgroup v2 driver on a real cgroup v2 host with controllers: the VM of scripts/v2vm
 * (`bash scripts/v2vm/run.sh`). Elsewhere (a hybrid host, whose controllers are bound to v1)
 * every test here is skipped with the reason printed.
 */

import assert from "node:assert/strict";
import { createCgroupManager } from "../../drivers/factory.ts";
import type { CgroupManager } from "../../drivers/driver.ts";
import { attachedDeviceFilters } from "../../cgroups/devicefilter.ts";
import { Factory } from "../../mod.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { uniqueId } from "../helpers/ids.ts";
import { testRun } from "../helpers/paths.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { cgroupV2 } from "../helpers/host.ts";

testRun();

const ROOT = "/sys/fs/cgroup";

/** Why this host cannot run these tests, or undefined when it can. */
function unsupported(): string | undefined {
  if (!isRoot()) return "needs root";
  if (!cgroupV2()) return `${ROOT} is not cgroup2 (run these tests with scripts/v2vm/run.sh)`;
  const controllers = Deno.readTextFileSync(`${ROOT}/cgroup.controllers`).split(/\s+/);
  const missing = ["cpu", "memory", "pids"].filter((c) => !controllers.includes(c));
  if (missing.length > 0) return `${ROOT} lacks the controllers ${missing.join(", ")}`;
  return undefined;
}

const reason = unsupported();
const ignore = skipUnless(reason === undefined, `cgroup v2 host tests: ${reason}`);

function read(dir: string, file: string): string {
  return Deno.readTextFileSync(`${dir}/${file}`).trim();
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A `sleep` child and a manager for a fresh cgroup below this process's own. */
async function withSleeper(
  fn: (m: CgroupManager, child: Deno.ChildProcess, dir: string) => Promise<void>,
): Promise<void> {
  const id = uniqueId("v2");
  const m = await createCgroupManager({ id, cgroupsPath: `nsinit-test-${id}` });
  assert.equal(m.view().layout, "v2");
  const child = new Deno.Command("sleep", { args: ["1000"], stdin: "null", stdout: "null" })
    .spawn();
  try {
    await m.apply(child.pid);
    await fn(m, child, m.paths()[""]!);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await m.destroy();
  }
}

Deno.test({
  name: "v2 host: apply, set every resource and read it back",
  ignore,
  async fn() {
    await withSleeper(async (m, child, dir) => {
      assert.ok(dir.startsWith(`${ROOT}/`), dir);
      assert.ok(read(dir, "cgroup.procs").split("\n").includes(String(child.pid)));
      const names = new Set([...Deno.readDirSync(dir)].map((e) => e.name));
      const MiB = 1024 * 1024;
      // The smallest huge page size (limits are rounded down to whole pages).
      const hugetlb = names.has("hugetlb.2MB.max")
        ? "hugetlb.2MB.max"
        : [...names].find((n) => /^hugetlb\.[0-9]+[KM]B\.max$/.test(n));
      await m.set({
        memory: { limit: 64 * MiB, reservation: 16 * MiB, swap: 96 * MiB },
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0", mems: "0" },
        pids: { limit: 20 },
        ...(names.has("io.weight") ? { blockIO: { weight: 500 } } : {}),
        ...(hugetlb
          ? { hugepageLimits: [{ pageSize: hugetlb.split(".")[1]!, limit: 4 * MiB }] }
          : {}),
        unified: { "memory.high": "80M" },
      });
      assert.equal(read(dir, "memory.max"), String(64 * MiB));
      assert.equal(read(dir, "memory.low"), String(16 * MiB));
      assert.equal(read(dir, "memory.swap.max"), String(32 * MiB));
      assert.equal(read(dir, "memory.high"), String(80 * MiB));
      assert.equal(read(dir, "cpu.weight"), "20");
      assert.equal(read(dir, "cpu.max"), "50000 100000");
      assert.equal(read(dir, "cpuset.cpus"), "0");
      assert.equal(read(dir, "cpuset.mems"), "0");
      assert.equal(read(dir, "pids.max"), "20");
      if (names.has("io.weight")) assert.match(read(dir, "io.weight"), /^default 4950$/m);
      else console.error("skipped: io.weight (no io controller here)");
      if (hugetlb) {
        assert.equal(read(dir, hugetlb), String(4 * MiB));
      } else console.error("skipped: hugetlb (no hugetlb.*.max file here)");
      // "Unlimited" values go back to max (runtime-spec 1.3: a pids limit of 0 is 0, -1 is max).
      await m.set({ memory: { limit: -1, swap: -1 }, pids: { limit: -1 } });
      assert.equal(read(dir, "memory.max"), "max");
      assert.equal(read(dir, "pids.max"), "max");
      const stats = await m.stats();
      assert.ok(JSON.stringify(stats).length > 2);
      assert.deepEqual(await m.pids(), [child.pid]);
    });
  },
});

Deno.test({
  name: "v2 host: freeze and thaw through cgroup.freeze, kill through cgroup.kill, destroy",
  ignore,
  async fn() {
    let dir = "";
    await withSleeper(async (m, child, d) => {
      dir = d;
      await m.freeze(true);
      assert.equal(await m.frozen(), true);
      assert.match(read(dir, "cgroup.events"), /^frozen 1$/m);
      const state = read(`/proc/${child.pid}`, "stat").split(") ")[1]!.split(" ")[0];
      assert.ok(state === "S" || state === "D" || state === "T", `state ${state}`);
      await m.freeze(false);
      assert.equal(await m.frozen(), false);
      assert.match(read(dir, "cgroup.events"), /^frozen 0$/m);
      await m.killAll(9);
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      await waitFor(async () => (await m.pids()).length === 0, "an empty cgroup");
      await m.destroy();
      assert.equal(exists(dir), false);
      assert.equal(await m.exists(), false);
    });
    assert.ok(dir !== "" && !exists(dir));
  },
});

Deno.test({
  name: "v2 host: device rules become one eBPF program on the cgroup, replaced on update",
  ignore,
  async fn() {
    await withSleeper(async (m, _child, dir) => {
      await m.set({
        devices: [
          { allow: false, access: "rwm" },
          { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
        ],
      });
      assert.equal(attachedDeviceFilters(dir).length, 1);
      await m.set({ devices: [{ allow: true, access: "rwm" }] });
      assert.equal(attachedDeviceFilters(dir).length, 1);
    });
  },
});

Deno.test({
  name: "v2 host: a container with memory and pids limits and the device filter",
  ignore,
  async fn() {
    const script = [
      "echo hi > /dev/null && echo null-ok",
      "mknod /dev/nsinit-mem c 1 1 && echo mknod-ok",
      "head -c 1 /dev/nsinit-mem > /dev/null 2> /dev/nsinit-err || echo mem-denied",
      "cat /dev/nsinit-err",
      "echo ready",
      "sleep 100",
    ].join("; ");
    await using b = await makeBundle({ args: ["sh", "-c", script] });
    const caps = b.config.process!.capabilities!;
    for (const set of [caps.bounding, caps.effective, caps.permitted]) set?.push("CAP_MKNOD");
    b.config.linux!.resources = {
      ...b.config.linux!.resources,
      memory: { limit: 48 * 1024 * 1024 },
      pids: { limit: 16 },
    };
    const factory = new Factory({ root: b.stateRoot });
    let dir = "";
    {
      await using c = await factory.run(b.id, {
        bundle: b.dir,
        spec: b.config,
        stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
      });
      dir = c.cgroup.paths()[""]!;
      assert.ok(dir.startsWith(`${ROOT}/`), dir);
      const reader = c.init!.stdout!.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes("ready\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      reader.releaseLock();
      assert.match(out, /null-ok/);
      assert.match(out, /mknod-ok/);
      assert.match(out, /mem-denied/);
      assert.match(out, /Operation not permitted/);
      assert.equal(read(dir, "memory.max"), String(48 * 1024 * 1024));
      assert.equal(read(dir, "pids.max"), "16");
      assert.ok(read(dir, "cgroup.procs").split("\n").includes(String(c.init!.pid)));
      assert.equal(attachedDeviceFilters(dir).length, 1);
      await c.signal(9, { all: true });
      assert.equal((await c.wait()).signal, 9);
    }
    assert.equal(exists(dir), false, `${dir} was removed`);
  },
});
