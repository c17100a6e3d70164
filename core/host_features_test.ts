import assert from "node:assert/strict";
import {
  checkHostFeatures,
  execLabelWrite,
  resctrlGroup,
  withMountLabel,
} from "./host_features.ts";
import { buildInitPlan } from "./init_plan.ts";
import { defaultSpec } from "../spec/default.ts";
import { ConfigError } from "../errors.ts";
import { exists } from "../util/fs.ts";

const none = { apparmor: false, selinux: false };
const all = { apparmor: true, selinux: true, resctrl: "/sys/fs/resctrl" };

Deno.test("host features: each setting the host lacks is refused, naming the field", () => {
  const cases: [string, (s: ReturnType<typeof defaultSpec>) => void][] = [
    ["process.apparmorProfile", (s) => s.process!.apparmorProfile = "p"],
    ["linux.intelRdt", (s) => s.linux!.intelRdt = { closID: "g" }],
  ];
  for (const [field, edit] of cases) {
    const s = defaultSpec();
    edit(s);
    assert.throws(
      () => checkHostFeatures(s, none),
      (e: Error) => e instanceof ConfigError && e.field === field,
      field,
    );
    checkHostFeatures(s, all); // the host has it: accepted
  }
});

Deno.test("host features: SELinux labels on a host without SELinux are warnings, not errors", () => {
  const s = defaultSpec();
  s.process!.selinuxLabel = "system_u:system_r:container_t:s0";
  s.linux!.mountLabel = "system_u:object_r:container_file_t:s0";
  assert.deepEqual(checkHostFeatures(s, none), [
    "process.selinuxLabel is ignored: SELinux is not enabled on this host",
    "linux.mountLabel is ignored: SELinux is not enabled on this host",
  ]);
  assert.deepEqual(checkHostFeatures(s, all), []);
  assert.equal(execLabelWrite(s.process!, none), undefined);
});

Deno.test("host features: labels become plan steps when the host has the LSM", () => {
  const s = defaultSpec();
  s.process!.apparmorProfile = "nsinit-test";
  const w = execLabelWrite(s.process!, all)!;
  assert.equal(w.value, "exec nsinit-test");
  const plan = buildInitPlan(s, { bundle: "/b", execLabel: w, mountLabel: "system_u:object_r:c" });
  const i = plan.steps.indexOf(
    "set the exec label for process.apparmorProfile (exec nsinit-test)",
  );
  assert.ok(i > 0 && i < plan.steps.length - 1);
  assert.equal(
    execLabelWrite({ cwd: "/", user: { uid: 0, gid: 0 }, selinuxLabel: "l" }, all)?.path,
    "/proc/self/attr/exec",
  );
  assert.equal(withMountLabel("mode=755", "tmpfs", "l"), 'mode=755,context="l"');
  assert.equal(withMountLabel("", "sysfs", "l"), "");
});

Deno.test("host features: a resctrl group is created with its schemata, joined, and removed", () => {
  const root = Deno.makeTempDirSync({ prefix: "nsinit-resctrl-" });
  try {
    const mkdir = (d: string) => {
      Deno.mkdirSync(d);
      Deno.writeTextFileSync(`${d}/schemata`, "");
      Deno.writeTextFileSync(`${d}/tasks`, "");
    };
    const g = resctrlGroup(root, "c1", { l3CacheSchema: "L3:0=ff", memBwSchema: "MB:0=50" }, {
      mkdir,
    });
    g.create();
    assert.equal(g.created, true);
    assert.equal(Deno.readTextFileSync(`${root}/c1/schemata`), "L3:0=ff\nMB:0=50\n");
    g.apply(1234);
    assert.equal(Deno.readTextFileSync(`${root}/c1/tasks`), "1234");
    assert.throws(() => g.apply(0), RangeError);
    // An existing closID group is shared: joined, never removed.
    mkdir(`${root}/shared`);
    const s = resctrlGroup(root, "c2", { closID: "shared" }, { mkdir });
    s.create();
    assert.equal(s.created, false);
    s.destroy();
    assert.ok(Deno.statSync(`${root}/shared`).isDirectory);
    Deno.removeSync(`${root}/c1`, { recursive: true });
    // A closID group that does not exist and no schema to make it: refused, naming closID.
    assert.throws(
      () => resctrlGroup(root, "c3", { closID: "missing" }, { mkdir }).create(),
      (e: Error) => e instanceof ConfigError && e.field === "linux.intelRdt.closID",
    );
    // 1.3: enableMonitoring adds the container's monitoring group; schemata is written last.
    Deno.mkdirSync(`${root}/shared/mon_groups`);
    const m = resctrlGroup(root, "c4", {
      closID: "shared",
      memBwSchema: "MB:0=70",
      schemata: "L2:0=3",
      enableMonitoring: true,
    }, { mkdir });
    m.create();
    assert.equal(m.monitor, `${root}/shared/mon_groups/c4`);
    assert.equal(Deno.readTextFileSync(`${root}/shared/schemata`), "MB:0=70\nL2:0=3\n");
    m.apply(42);
    assert.equal(Deno.readTextFileSync(`${root}/shared/mon_groups/c4/tasks`), "42");
    // resctrl's rmdir takes a group's kernel files with it; in a plain directory they go first.
    for (const f of ["tasks", "schemata"]) Deno.removeSync(`${root}/shared/mon_groups/c4/${f}`);
    m.destroy();
    assert.equal(exists(`${root}/shared/mon_groups/c4`), false);
    assert.ok(Deno.statSync(`${root}/shared`).isDirectory);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
