// Unit tests of the systemd driver with a fake systemd (a recording SystemdClient that makes
// and removes the scope's directory as systemd would) on a temp cgroup v2 tree. The real
// systemd is tested in tests/systemd/systemd_test.ts.
import assert from "node:assert/strict";
import { SystemdManager } from "./systemd.ts";
import type { SystemdClient } from "./systemd_dbus.ts";
import type { UnitProperty } from "./systemd_unit.ts";
import { describeCgroupRoot } from "../cgroups/paths.ts";
import { CgroupError, DbusError } from "../errors.ts";
import type { DbusValue } from "../native/sdbus.ts";

class FakeSystemd implements SystemdClient {
  calls: [string, string, Record<string, DbusValue>][] = [];
  units = new Set<string>();
  /** Makes the next call of this name fail with this D-Bus error name. */
  failNext = new Map<string, string>();
  constructor(readonly root: string) {}
  #fail(member: string) {
    const name = this.failNext.get(member);
    if (name) {
      this.failNext.delete(member);
      throw new DbusError(`org.freedesktop.systemd1.Manager.${member}`, name, "fake");
    }
  }
  version() {
    return Promise.resolve(252);
  }
  async startTransientUnit(unit: string, props: readonly UnitProperty[]) {
    this.calls.push(["start", unit, Object.fromEntries(props.map(([n, v]) => [n, v.value]))]);
    this.#fail("StartTransientUnit");
    if (this.units.has(unit)) {
      throw new DbusError("StartTransientUnit", "org.freedesktop.systemd1.UnitExists", "exists");
    }
    this.units.add(unit);
    const slice = props.find(([n]) => n === "Slice")![1].value as string;
    await Deno.mkdir(`${this.root}/${slice}/${unit}`, { recursive: true });
    for (const f of ["cgroup.procs", "memory.max", "pids.max", "cgroup.freeze", "cpu.weight"]) {
      await Deno.writeTextFile(`${this.root}/${slice}/${unit}/${f}`, "");
    }
    await Deno.writeTextFile(
      `${this.root}/${slice}/${unit}/cgroup.controllers`,
      "cpu memory pids\n",
    );
  }
  async stopUnit(unit: string) {
    this.calls.push(["stop", unit, {}]);
    this.#fail("StopUnit");
    if (!this.units.delete(unit)) return;
    await Deno.remove(`${this.root}/system.slice/${unit}`, { recursive: true }).catch(() => {});
  }
  resetFailedUnit(unit: string) {
    this.calls.push(["reset-failed", unit, {}]);
    return Promise.resolve();
  }
  setUnitProperties(unit: string, props: readonly UnitProperty[]) {
    this.calls.push(["set", unit, Object.fromEntries(props.map(([n, v]) => [n, v.value]))]);
    this.#fail("SetUnitProperties");
    return Promise.resolve();
  }
  unitProperty() {
    return Promise.resolve(undefined);
  }
  attachProcessesToUnit(unit: string, subcgroup: string, pids: readonly number[]) {
    this.calls.push(["attach", unit, { subcgroup, pids: [...pids] }]);
    return Promise.resolve();
  }
}

async function withRoot(fn: (root: string, sd: FakeSystemd) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "nsinit-test-sd-" });
  try {
    await Deno.writeTextFile(`${root}/cgroup.controllers`, "cpu memory pids\n");
    await fn(root, new FakeSystemd(root));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function manager(
  root: string,
  sd: FakeSystemd,
  extra: Partial<ConstructorParameters<typeof SystemdManager>[0]> = {},
) {
  return new SystemdManager({
    config: {
      id: "c1",
      driver: "systemd",
      resources: { memory: { limit: 1 << 20 } },
      annotations: { "org.systemd.property.CollectMode": "'inactive-or-failed'" },
    },
    host: describeCgroupRoot(root),
    client: sd,
    systemdCgroups: { "": "/init.scope" },
    // A temp tree is not cgroupfs: rmdir takes the control files with it.
    dirOps: {
      mkdir: (p) => Deno.mkdir(p),
      rmdir: (p) => Deno.remove(p, { recursive: true }),
    },
    ...extra,
  });
}

Deno.test("systemd driver: apply starts the scope with the pid, runc's properties and annotations", async () => {
  await withRoot(async (root, sd) => {
    const m = manager(root, sd);
    assert.equal(m.capabilities.limitsBeforePid, false);
    await m.create(); // nothing: a scope needs a pid
    assert.equal(sd.calls.length, 0);
    assert.equal(await m.exists(), false);
    await m.apply(4242);
    const [what, unit, props] = sd.calls[0]!;
    assert.equal(what, "start");
    assert.equal(unit, "nsinit-c1.scope");
    assert.deepEqual(props.PIDs, [4242]);
    assert.equal(props.Slice, "system.slice");
    assert.equal(props.Delegate, true);
    assert.equal(props.DefaultDependencies, false);
    assert.equal(props.MemoryMax, 1n << 20n);
    assert.equal(props.CollectMode, "inactive-or-failed");
    const dir = `${root}/system.slice/nsinit-c1.scope`;
    assert.deepEqual(m.paths(), { "": dir });
    assert.deepEqual(m.view(), { layout: "v2", mounts: { "": dir } });
    assert.equal(Deno.readTextFileSync(`${dir}/cgroup.procs`), "4242");
    assert.deepEqual(m.saved().extra, {
      unit: "nsinit-c1.scope",
      slice: "system.slice",
      cgroup: "/system.slice/nsinit-c1.scope",
    });
    // set: systemd first, then the files
    await m.set({ memory: { limit: 2 << 20 }, pids: { limit: 7 } });
    assert.deepEqual(sd.calls.at(-1), ["set", "nsinit-c1.scope", {
      MemoryMax: 2n << 20n,
      TasksMax: 7n,
    }]);
    assert.equal(Deno.readTextFileSync(`${dir}/memory.max`), String(2 << 20));
    assert.equal(Deno.readTextFileSync(`${dir}/pids.max`), "7");
    // A later command's manager, from the state: exec joins, destroy stops the unit.
    const again = manager(root, sd, { saved: m.saved() });
    await again.apply(4343);
    assert.equal(sd.calls.filter(([c]) => c === "start").length, 1, "no second start");
    await again.destroy();
    assert.deepEqual(sd.calls.at(-1)?.slice(0, 2), ["stop", "nsinit-c1.scope"]);
    assert.equal(await again.exists(), false);
  });
});

Deno.test("systemd driver: a unit that exists is reset and retried, then refused and never touched", async () => {
  await withRoot(async (root, sd) => {
    const first = manager(root, sd);
    await first.apply(10);
    const second = manager(root, sd);
    await assert.rejects(
      () => second.apply(11),
      (e: unknown) =>
        e instanceof CgroupError && e.field === "linux.cgroupsPath" &&
        /already exists/.test(e.message),
    );
    assert.deepEqual(sd.calls.map(([c]) => c), [
      "start",
      ...Array(4).fill("start").flatMap((c, i) => (i === 0 ? [c] : ["reset-failed", c])),
    ]);
    await second.killAll(9);
    await second.destroy();
    assert.ok(sd.units.has("nsinit-c1.scope"), "the first container's unit is untouched");
    assert.equal(await first.exists(), true);
    await first.destroy();
  });
});

Deno.test("systemd driver: set before apply waits for the scope; D-Bus errors pass through", async () => {
  await withRoot(async (root, sd) => {
    const m = manager(root, sd, { config: { id: "c1", driver: "systemd" } });
    await m.set({ pids: { limit: 3 } });
    assert.equal(sd.calls.length, 0);
    await m.apply(12);
    assert.equal(sd.calls[0]![2].TasksMax, 3n);
    assert.equal(Deno.readTextFileSync(`${root}/system.slice/nsinit-c1.scope/pids.max`), "3");
    sd.failNext.set("SetUnitProperties", "org.freedesktop.DBus.Error.AccessDenied");
    await assert.rejects(() => m.set({ pids: { limit: 4 } }), /D-Bus .*AccessDenied/);
    await m.destroy();
  });
});

Deno.test("systemd driver: destroy when systemd does not answer removes the cgroups and warns", async () => {
  await withRoot(async (root, sd) => {
    const warnings: string[] = [];
    const m = manager(root, sd, { onWarning: (w) => warnings.push(w) });
    await m.apply(13);
    sd.failNext.set("StopUnit", "org.freedesktop.DBus.Error.Timeout");
    // systemd did not remove it: the driver does
    await m.destroy();
    assert.equal(await m.exists(), false);
    assert.match(warnings.join(), /Timeout.*systemctl stop nsinit-c1\.scope/);
    // any other error is thrown (after the directories are gone)
    const n = manager(root, sd, { config: { id: "c2", driver: "systemd" } });
    await n.apply(14);
    sd.failNext.set("StopUnit", "org.freedesktop.systemd1.JobFailed");
    await assert.rejects(() => n.destroy(), /JobFailed/);
    assert.equal(await n.exists(), false);
  });
});

Deno.test("systemd driver: a malformed cgroupsPath or annotation is refused before anything", () => {
  const host = { mode: "v2" as const, v1: [], unifiedControllers: [], own: { "": "/" } };
  assert.throws(
    () =>
      new SystemdManager({ config: { id: "c1", cgroupsPath: "/abs" }, host, systemdCgroups: {} }),
    (e: unknown) => e instanceof CgroupError && e.field === "linux.cgroupsPath",
  );
  assert.throws(
    () =>
      new SystemdManager({
        config: { id: "c1", annotations: { "org.systemd.property.x": "1" } },
        host,
        systemdCgroups: {},
      }),
    (e: unknown) => e instanceof CgroupError && /org\.systemd\.property\.x/.test(e.field),
  );
  assert.throws(
    () => new SystemdManager({ config: { id: "c1", rootless: true }, host, systemdCgroups: {} }),
    (e: unknown) => e instanceof CgroupError && e.field === "--systemd-cgroup",
  );
});

Deno.test("systemd driver: a user manager's scope goes to user.slice, without device rules, and is saved", async () => {
  await withRoot(async (root, sd) => {
    const userManager = { address: "unix:path=/run/user/1000/systemd/private", cgroup: "" };
    const m = manager(root, sd, {
      config: {
        id: "c1",
        driver: "systemd",
        rootless: true,
        resources: { memory: { limit: 1 << 20 }, devices: [{ allow: false, access: "rwm" }] },
      },
      userManager,
    });
    assert.equal(m.unit, "nsinit-c1.scope");
    assert.equal(m.slice, "user.slice");
    assert.deepEqual(m.paths(), { "": `${root}/user.slice/nsinit-c1.scope` });
    await m.apply(Deno.pid);
    const [, unit, props] = sd.calls.find(([c]) => c === "start")!;
    assert.equal(unit, "nsinit-c1.scope");
    assert.equal(props.Slice, "user.slice");
    assert.equal(props.Delegate, true);
    assert.equal(props.MemoryMax, BigInt(1 << 20));
    assert.equal(props.DevicePolicy, undefined, "a user manager gets no device rules");
    const saved = m.saved();
    assert.deepEqual(saved.extra?.user, userManager);
    // A later command's manager (from the state) talks to the same user manager.
    const again = manager(root, sd, {
      config: { id: "c1" },
      saved: JSON.parse(JSON.stringify(saved)),
    });
    assert.deepEqual(again.userManager, userManager);
    assert.deepEqual(again.paths(), m.paths());
    await again.destroy();
    assert.ok(sd.calls.some(([c, u]) => c === "stop" && u === "nsinit-c1.scope"));
    assert.equal(await again.exists(), false);
  });
});

Deno.test("systemd driver: rootless without a user manager, or a user manager on v1, is refused naming the flag", () => {
  const flag = (re: RegExp) => (e: unknown) =>
    e instanceof CgroupError && e.field === "--systemd-cgroup" && re.test(e.message);
  const v2 = {
    mode: "v2" as const,
    v1: [],
    unifiedControllers: ["memory"],
    own: { "": "/" },
    unified: { version: 2 as const, mountPoint: "/sys/fs/cgroup", root: "/", controllers: [] },
  };
  assert.throws(
    () => new SystemdManager({ config: { id: "c1", rootless: true }, host: v2 }),
    flag(/systemd --user/),
  );
  assert.throws(
    () =>
      new SystemdManager({
        config: { id: "c1", rootless: true },
        host: { ...v2, mode: "hybrid" },
        userManager: { address: "unix:path=/x", cgroup: "/u" },
      }),
    flag(/cgroup v2 only/),
  );
});
