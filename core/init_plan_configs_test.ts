// Plans for the configs other tools write and for runtime-spec 1.3 fields (issue 8 items 6, 7).
import assert from "node:assert/strict";
import { buildExecPlan, buildInitPlan, listMask } from "./init_plan.ts";
import { defaultSpec } from "../spec/default.ts";
import { decodePlan, type OpName, type PlanBuilder } from "../native/plan.ts";
import { capabilityMask } from "../spec/caps.ts";

const seccomp = { bpf: new Uint8Array(8), flags: 0 };
const CAP_SYS_ADMIN = 1n << 21n;

function records(plan: PlanBuilder) {
  return decodePlan(plan.encode());
}
function opIndex(plan: PlanBuilder, op: OpName): number {
  return records(plan).findIndex((r) => r.op === op);
}

Deno.test("seccomp is loaded last, just before exec, with or without no_new_privs", () => {
  for (const nnp of [true, false]) {
    const spec = defaultSpec();
    spec.process!.noNewPrivileges = nnp;
    const plan = buildInitPlan(spec, { bundle: "/b", fifoPath: "/f", seccomp });
    const ops = records(plan).map((r) => r.op);
    assert.deepEqual(ops.slice(-2), ["C_SECCOMP", "C_EXEC"], `noNewPrivileges ${nnp}`);
    assert.ok(ops.indexOf("C_CLOSEFDS") < ops.indexOf("C_SECCOMP"));
    assert.ok(ops.indexOf("C_FIFOWAIT") < ops.indexOf("C_SECCOMP"));
    // Without no_new_privs the load needs CAP_SYS_ADMIN: effective and permitted until exec.
    const caps = records(plan).find((r) => r.op === "C_CAPS")!.args as bigint[];
    const effective = capabilityMask(spec.process!.capabilities!.effective!);
    assert.equal(caps[0], nnp ? effective : effective | CAP_SYS_ADMIN);
    assert.equal((caps[1] & CAP_SYS_ADMIN) !== 0n, !nnp);
    // Ambient and inheritable are what the program keeps: never widened.
    assert.equal(caps[2], capabilityMask(spec.process!.capabilities!.inheritable ?? []));
  }
});

Deno.test("without seccomp no capability is added", () => {
  const spec = defaultSpec();
  spec.process!.noNewPrivileges = false;
  const caps = records(buildInitPlan(spec, { bundle: "/b" })).find((r) => r.op === "C_CAPS")!;
  assert.equal(caps.args[0], capabilityMask(spec.process!.capabilities!.effective!));
});

Deno.test("no mount namespace: chroot into root.path, no rootfs mounts or pivot", () => {
  const spec = defaultSpec();
  spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "mount");
  spec.mounts = [];
  const plan = buildInitPlan(spec, { bundle: "/b" });
  const recs = records(plan);
  const chroot = recs.find((r) => r.op === "C_CHROOT");
  assert.deepEqual(chroot?.args, ["/b/rootfs"]);
  for (const op of ["C_ROOTFS", "C_PIVOT", "C_MOUNT", "C_MKNOD", "C_MASK"] as const) {
    assert.equal(recs.some((r) => r.op === op), false, op);
  }
  assert.ok(opIndex(plan, "C_CHROOT") < opIndex(plan, "C_CHDIR"));
});

Deno.test("hostname in a joined uts namespace is set", () => {
  const spec = defaultSpec();
  spec.hostname = "joined";
  spec.linux!.namespaces!.find((n) => n.type === "uts")!.path = "/proc/1/ns/uts";
  const recs = records(buildInitPlan(spec, { bundle: "/b" }));
  assert.deepEqual(recs.find((r) => r.op === "C_HOSTNAME")?.args, ["joined"]);
});

Deno.test("scheduler, I/O priority and memory policy are set before the user switch", () => {
  const spec = defaultSpec();
  spec.process!.scheduler = {
    policy: "SCHED_RR",
    priority: 5,
    nice: -3,
    flags: ["SCHED_FLAG_RESET_ON_FORK"],
  };
  spec.process!.ioPriority = { class: "IOPRIO_CLASS_IDLE", priority: 7 };
  spec.linux!.memoryPolicy = { mode: "MPOL_BIND", nodes: "0", flags: ["MPOL_F_STATIC_NODES"] };
  const plan = buildInitPlan(spec, { bundle: "/b" });
  const recs = records(plan);
  const sched = recs.find((r) => r.op === "C_SCHED")!.args;
  assert.deepEqual(sched, [2n, 1n, BigInt.asUintN(64, -3n), 5n, 0n, 0n, 0n]);
  assert.deepEqual(recs.find((r) => r.op === "C_IOPRIO")!.args, [(3n << 13n) | 7n]);
  const mp = recs.find((r) => r.op === "C_MEMPOLICY")!.args;
  assert.equal(mp[0], 2n | (1n << 15n));
  assert.deepEqual([...(mp[1] as Uint8Array)], [1, 0, 0, 0, 0, 0, 0, 0]);
  const user = recs.findIndex((r) => r.op === "C_USER" && r.args[0] === 0n && r.args[2] === 1n);
  for (const op of ["C_SCHED", "C_IOPRIO", "C_MEMPOLICY"] as const) {
    assert.ok(opIndex(plan, op) < user, `${op} before the user switch`);
  }
});

Deno.test("netDevices: moved by the helper, after clone for a new network namespace", () => {
  const spec = defaultSpec();
  spec.linux!.namespaces!.push({ type: "network" });
  spec.linux!.netDevices = { dummy0: { name: "eth9" }, dummy1: {} };
  const recs = records(buildInitPlan(spec, { bundle: "/b" }));
  const moves = recs.filter((r) => r.op === "H_NETDEV").map((r) => r.args);
  assert.deepEqual(moves, [["dummy0", "eth9", ""], ["dummy1", "dummy1", ""]]);
  // A namespace joined by path is opened before any join.
  spec.linux!.namespaces = spec.linux!.namespaces!.map((n) =>
    n.type === "network" ? { type: "network", path: "/run/netns/x" } : n
  );
  const joined = records(buildInitPlan(spec, { bundle: "/b" }));
  const first = joined.findIndex((r) => r.op === "H_JOIN");
  const move = joined.findIndex((r) => r.op === "H_NETDEV");
  assert.ok(move >= 0 && (first < 0 || move < first));
  assert.equal(joined[move].args[2], "/run/netns/x");
});

Deno.test("exec: execCPUAffinity initial in the helper, final in the child; chroot", () => {
  const plan = buildExecPlan(
    {
      args: ["sh"],
      cwd: "/",
      user: { uid: 0, gid: 0 },
      execCPUAffinity: { initial: "0-1", final: "1" },
    },
    { initPid: 42, namespaces: ["pid"], chroot: "/b/rootfs" },
  );
  const recs = records(plan);
  const initial = recs.findIndex((r) => r.op === "H_AFFINITY");
  assert.ok(initial >= 0 && initial < recs.findIndex((r) => r.op === "H_CLONE"));
  assert.deepEqual([...(recs[initial].args[0] as Uint8Array)].slice(0, 1), [0b11]);
  const final = recs.find((r) => r.op === "C_AFFINITY")!;
  assert.deepEqual([...(final.args[0] as Uint8Array)].slice(0, 1), [0b10]);
  assert.deepEqual(recs.find((r) => r.op === "C_CHROOT")?.args, ["/b/rootfs"]);
  // The init plan ignores execCPUAffinity (the spec: not for the init process).
  const spec = defaultSpec();
  spec.process!.execCPUAffinity = { final: "0" };
  assert.equal(
    records(buildInitPlan(spec, { bundle: "/b" })).some((r) => r.op === "C_AFFINITY"),
    false,
  );
});

Deno.test("listMask: CPU and node lists as bit masks", () => {
  assert.deepEqual([...listMask("0")], [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(listMask("64-65").length, 16);
  assert.throws(() => listMask("3-1"), RangeError);
});

Deno.test("idmapped mounts: made by the helper before any join, attached by the child", () => {
  const spec = defaultSpec();
  spec.linux!.namespaces!.push({ type: "user" });
  spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  spec.mounts!.push(
    {
      destination: "/own",
      type: "bind",
      source: "/srv/a",
      options: ["rbind", "ro", "idmap"],
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
    },
    { destination: "/ns", type: "bind", source: "b", options: ["rbind", "ridmap"] },
  );
  const recs = records(buildInitPlan(spec, { bundle: "/bundle" }));
  const made = recs.filter((r) => r.op === "H_IDMOUNT").map((r) => r.args);
  assert.deepEqual(made, [
    ["/srv/a", "0 1000 1\n", "0 1000 1\n", 1n, 0n],
    ["/bundle/b", "0 100000 65536\n", "0 100000 65536\n", 1n, 1n],
  ]);
  assert.ok(
    recs.findIndex((r) => r.op === "H_IDMOUNT") < recs.findIndex((r) => r.op === "H_CLONE"),
  );
  const moves = recs.filter((r) => r.op === "C_MOVEMOUNT").map((r) => r.args.slice(0, 2));
  assert.deepEqual(moves, [[0n, "/own"], [1n, "/ns"]]);
  // ro is applied to the attached mount; no plain bind of an idmapped source.
  const ro = recs.find((r) => r.op === "C_REMOUNT" && r.args[0] === "/own");
  assert.ok(ro && ((ro.args[1] as bigint) & 1n) === 1n);
  assert.equal(recs.some((r) => r.op === "C_MOUNT" && r.args[0] === "/srv/a"), false);
});
