import assert from "node:assert/strict";
import { buildExecPlan, buildInitPlan, onInitialRamfs } from "./init_plan.ts";
import { defaultSpec } from "../spec/default.ts";

const MI_RAMFS = "1 0 0:2 / / rw - rootfs rootfs rw\n22 1 0:20 / /proc rw - proc proc rw\n";
const MI_EXT4 =
  "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n30 22 0:30 / /tmp/x rw - ramfs none rw\n";

Deno.test("onInitialRamfs: only the initial root filesystem counts", () => {
  assert.equal(onInitialRamfs("/bundle/rootfs", MI_RAMFS), true);
  assert.equal(onInitialRamfs("/bundle/rootfs", MI_EXT4), false);
  assert.equal(onInitialRamfs("/tmp/x/rootfs", MI_EXT4), false); // a ramfs mounted later can pivot
});

Deno.test("init plan: ordered steps, user switch after capabilities are kept", () => {
  const spec = defaultSpec();
  const plan = buildInitPlan(spec, { bundle: "/b", fifoPath: "/run/x/exec.fifo" });
  const i = (s: string) => plan.steps.findIndex((x) => x.startsWith(s));
  assert.ok(i("bind the rootfs") < i("mount proc at /proc"));
  assert.ok(i("mount proc at /proc") < i("pivot_root"));
  assert.ok(i("pivot_root") < i("mask /proc/kcore"));
  assert.ok(i("keep capabilities") < i("switch to uid 0"));
  assert.ok(i("switch to uid 0") < i("set capabilities"));
  assert.ok(i("report ready") < i("wait for start on the exec fifo"));
  assert.equal(plan.steps.at(-1), "exec sh");
});

Deno.test("init plan: hostname only with a uts namespace; sysctl paths", () => {
  const spec = defaultSpec();
  spec.hostname = "h";
  spec.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
  assert.ok(buildInitPlan(spec, { bundle: "/b" }).steps.includes("set hostname h"));
  assert.ok(buildInitPlan(spec, { bundle: "/b" }).steps.includes("set sysctl net.ipv4.ip_forward"));
  spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "uts");
  assert.ok(!buildInitPlan(spec, { bundle: "/b" }).steps.includes("set hostname h"));
});

Deno.test("exec plan: joins the user namespace first and the mount namespace last", () => {
  const plan = buildExecPlan({ args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } }, {
    initPid: 7,
    namespaces: ["mount", "pid", "user", "network"],
  });
  assert.deepEqual(plan.steps.slice(0, 4), [
    "join the user namespace /proc/7/ns/user",
    "join the network namespace /proc/7/ns/net",
    "join the pid namespace /proc/7/ns/pid",
    "join the mount namespace /proc/7/ns/mnt",
  ]);
  assert.ok(plan.length > 4);
});
