// End-to-end: what runtime-spec 1.1 to 1.3 added for Linux, applied for real: linux.netDevices
// (a veth device the test creates), linux.memoryPolicy, process.scheduler, process.ioPriority,
// process.execCPUAffinity, pids.limit semantics. runc 1.1.5 (this machine's) implements none of
// these, so the expected values come from the kernel's own views (/proc, sysfs, cgroup files).
import assert from "node:assert/strict";
import { Factory } from "../mod.ts";
import { type Bundle, makeBundle } from "./helpers/bundle.ts";
import { runToExit } from "./helpers/container.ts";
import { uniqueId } from "./helpers/ids.ts";
import { REPO_ROOT } from "./helpers/paths.ts";
import { run } from "./helpers/run.ts";
import { hasCgroup, hasCommand, isRoot, skipUnless } from "./helpers/skip.ts";
import { exists } from "../util/fs.ts";

const NSINIT = `${REPO_ROOT}/dist/nsinit`;
const ignore = skipUnless(isRoot(), "real containers need root") ||
  skipUnless(exists(NSINIT), "dist/nsinit is not built (deno task build)");

function v13(b: Bundle): void {
  b.config.ociVersion = "1.3.0";
}

/** Runs the bundle with the CLI (`run`), returns exit code, stdout and stderr; deletes it. */
async function cliRun(b: Bundle) {
  await b.write();
  const root = `${b.dir}/cli-state`;
  try {
    return await run(NSINIT, ["--root", root, "run", "--bundle", b.dir, b.id], {
      timeoutMs: 60_000,
    });
  } finally {
    await run(NSINIT, ["--root", root, "delete", "--force", b.id]);
  }
}

Deno.test({
  name: "1.3 netDevices: a veth device moves in renamed, with its address, up; host keeps nothing",
  ignore: ignore || skipUnless(hasCommand("ip"), "iproute2 is not installed"),
  async fn() {
    const tag = uniqueId("n").replace(/[^a-z0-9]/g, "").slice(-8);
    const host = `nsi${tag}a`, peer = `nsi${tag}b`;
    const octet = 1 + (Number.parseInt(tag.slice(-4), 36) % 250);
    const addr = `10.231.${octet}.1/24`;
    const ip = async (...args: string[]) => {
      const r = await run("ip", args);
      assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
    };
    await ip("link", "add", host, "type", "veth", "peer", "name", peer);
    try {
      await ip("addr", "add", addr, "dev", host);
      await using b = await makeBundle({
        args: ["sh", "-c", "ip -o addr show dev ctr0; ip -o link show ctr0"],
      });
      v13(b);
      assert.ok(b.config.linux!.namespaces!.some((n) => n.type === "network" && !n.path));
      b.config.linux!.netDevices = { [host]: { name: "ctr0" } };
      const out = await cliRun(b);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, new RegExp(`inet ${addr.replace(/\./g, "\\.")} `));
      assert.match(out.stdout, /ctr0(@\S+)?: <[^>]*\bUP\b/);
      // The container's network namespace is gone: so is the veth pair (a virtual device).
      const left = await run("ip", ["-o", "link", "show", host]);
      assert.notEqual(left.code, 0, "the moved device did not come back to the host");

      // A device that does not exist: refused naming it, nothing left behind.
      const missing = await cliRun(b);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, new RegExp(`network device ${host}`));
      assert.deepEqual([...Deno.readDirSync(`${b.dir}/cli-state`)], []);
      // A network namespace joined by path (one the test made): the device goes there, and
      // stays there after the container (the namespace outlives it). The namespace is bound on
      // a file in the bundle, not made with `ip netns add`, which leaves a /run/netns mount.
      const netns = `${b.dir}/netns`;
      Deno.writeTextFileSync(netns, "");
      const made = await run("unshare", [`--net=${netns}`, "true"]);
      assert.equal(made.code, 0, made.stderr);
      try {
        await ip("link", "add", host, "type", "veth", "peer", "name", peer);
        b.config.linux!.namespaces = b.config.linux!.namespaces!.map((n) =>
          n.type === "network" ? { type: "network", path: netns } : n
        );
        const joined = await cliRun(b);
        assert.equal(joined.code, 0, joined.stderr);
        assert.match(joined.stdout, /ctr0(@\S+)?: <[^>]*\bUP\b/);
        const inside = await run("nsenter", [`--net=${netns}`, "ip", "-o", "link", "show", "ctr0"]);
        assert.equal(inside.code, 0, "the device is in the joined namespace");
      } finally {
        await run("umount", [netns]);
      }
    } finally {
      await run("ip", ["link", "del", host]);
      await run("ip", ["link", "del", peer]);
    }
  },
});

Deno.test({
  name: "1.3 memoryPolicy: the process runs with the NUMA policy (numa_maps), CLI and library",
  ignore: ignore || skipUnless(exists("/proc/self/numa_maps"), "kernel without NUMA support"),
  async fn() {
    await using b = await makeBundle({
      args: [
        "sh",
        "-c",
        "grep -m1 -o -E ' (bind|prefer|interleave|local|default)[:a-z0-9]*' /proc/self/numa_maps",
      ],
    });
    v13(b);
    b.config.linux!.memoryPolicy = { mode: "MPOL_BIND", nodes: "0" };
    const cli = await cliRun(b);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, " bind:0\n");
    b.config.linux!.memoryPolicy = { mode: "MPOL_PREFERRED", nodes: "0" };
    const lib = await runToExit(b);
    assert.equal(lib.code, 0, lib.stderr);
    assert.equal(lib.stdout, " prefer:0\n");
    // A node the host does not have: the kernel refuses, the error names the step.
    b.config.linux!.memoryPolicy = { mode: "MPOL_BIND", nodes: "63" };
    const bad = await cliRun(b);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /set the memory policy MPOL_BIND/);
  },
});

Deno.test({
  name: "1.2 scheduler and ioPriority: the process has the policy, nice value and I/O class",
  ignore,
  async fn() {
    await using b = await makeBundle({
      args: ["sh", "-c", "awk '{print $19, $41}' /proc/self/stat; ionice -p $$"],
    });
    v13(b);
    b.config.process!.scheduler = { policy: "SCHED_BATCH", nice: 7 };
    b.config.process!.ioPriority = { class: "IOPRIO_CLASS_BE", priority: 6 };
    const out = await cliRun(b);
    assert.equal(out.code, 0, out.stderr);
    // stat field 19 is the nice value, 41 the policy (SCHED_BATCH is 3).
    assert.equal(out.stdout, "7 3\nbest-effort: prio 6\n");
    // The library, another policy and class (a real-time policy would depend on the cpu
    // cgroup's rt_runtime_us, 0 in a new v1 cgroup: sched_setattr says EPERM there).
    b.config.process!.scheduler = { policy: "SCHED_IDLE" };
    b.config.process!.ioPriority = { class: "IOPRIO_CLASS_IDLE", priority: 0 };
    const lib = await runToExit(b);
    assert.equal(lib.code, 0, lib.stderr);
    assert.equal(lib.stdout, "0 5\nidle\n");
  },
});

Deno.test({
  name: "1.2 execCPUAffinity: an exec'd process ends on the final CPU list",
  ignore: ignore || skipUnless(navigator.hardwareConcurrency >= 2, "needs 2 CPUs"),
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"] });
    v13(b);
    await b.write();
    const root = `${b.dir}/cli-state`;
    try {
      const started = await run(NSINIT, ["--root", root, "run", "-d", "--bundle", b.dir, b.id]);
      assert.equal(started.code, 0, started.stderr);
      const proc = {
        ...b.config.process!,
        args: ["sh", "-c", "grep Cpus_allowed_list /proc/self/status"],
        execCPUAffinity: { initial: "0", final: "1" },
      };
      await Deno.writeTextFile(`${b.dir}/process.json`, JSON.stringify(proc));
      const ex = await run(NSINIT, [
        "--root",
        root,
        "exec",
        "--process",
        `${b.dir}/process.json`,
        b.id,
      ]);
      assert.equal(ex.code, 0, ex.stderr);
      assert.match(ex.stdout, /Cpus_allowed_list:\s+1\n/);
    } finally {
      await run(NSINIT, ["--root", root, "delete", "--force", b.id]);
    }
  },
});

Deno.test({
  name: "1.3 pids.limit: 0 is 0, -1 is max, unset leaves pids.max alone; 0 before 1.3 is max",
  ignore: ignore || skipUnless(hasCgroup("pids"), "no pids cgroup controller"),
  async fn() {
    const cases = [
      ["1.3.0", 0, "0"],
      ["1.3.0", -1, "max"],
      ["1.3.0", undefined, "max"],
      ["1.3.0", 17, "17"],
      ["1.2.0", 0, "max"], // before 1.3, 0 meant unlimited
    ] as const;
    for (const [version, limit, want] of cases) {
      await using b = await makeBundle({ args: ["sleep", "60"] });
      b.config.ociVersion = version;
      b.config.linux!.resources = { ...b.config.linux!.resources, pids: { limit } };
      if (limit === undefined) b.config.linux!.resources.pids = {};
      const c = await new Factory({ root: b.stateRoot }).create(b.id, {
        bundle: b.dir,
        spec: b.config,
        stdio: { stdin: "null", stdout: "null", stderr: "null" },
      });
      try {
        const pid = (await c.state()).pid;
        const line = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n")
          .find((l) => /^\d+:([^:]*,)?pids(,[^:]*)?:/.test(l))!;
        const path = line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
        const dir = exists("/sys/fs/cgroup/pids") ? "/sys/fs/cgroup/pids" : "/sys/fs/cgroup";
        assert.equal(
          Deno.readTextFileSync(`${dir}${path}/pids.max`).trim(),
          want,
          `limit ${limit}`,
        );
      } finally {
        await c.destroy({ force: true });
      }
    }
  },
});

Deno.test({
  name: "1.2 idmapped mounts: host files seen through the mapping; with a user namespace's too",
  ignore,
  async fn() {
    await using b = await makeBundle({
      args: ["sh", "-c", "stat -c %u:%g /idmapped/owned; cat /idmapped/owned"],
    });
    v13(b);
    const src = `${b.dir}/idmap-src`;
    await Deno.mkdir(src);
    await Deno.writeTextFile(`${src}/owned`, "shared\n");
    await Deno.chown(`${src}/owned`, 0, 0);
    // No user namespace: the mount's own mapping; on-disk 0 is shown as 1000 (the kernel's
    // idmapped mounts, as runc and crun apply the spec's mappings).
    b.config.mounts!.push({
      destination: "/idmapped",
      type: "bind",
      source: src,
      options: ["rbind", "idmap"],
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    });
    const own = await cliRun(b);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.stdout, "1000:1000\nshared\n");

    // A user namespace (root is host 100000) and no mapping of the mount's own: the
    // container's is used, so the host's root files are the container root's.
    const userns = await makeBundle({
      rootless: true,
      owner: { uid: 100000, gid: 100000 },
      args: ["sh", "-c", "stat -c %u:%g /idmapped/owned; touch /idmapped/made"],
    });
    try {
      v13(userns);
      userns.config.mounts!.push({
        destination: "/idmapped",
        type: "bind",
        source: src,
        options: ["rbind", "idmap"],
      });
      const r = await runToExit(userns);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "0:0\n");
      const made = Deno.statSync(`${src}/made`);
      assert.equal(made.uid, 0, "a file the container's root made belongs to the host's root");
    } finally {
      await userns[Symbol.asyncDispose]();
    }
  },
});
