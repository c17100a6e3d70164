import assert from "node:assert/strict";
import { CgroupError } from "../errors.ts";
import type { LinuxResources } from "../spec/config.ts";
import { NoCgroupManager } from "./none.ts";

Deno.test("none: nothing to create, nothing to remove", async () => {
  const m = new NoCgroupManager();
  assert.equal(m.driver, "none");
  assert.deepEqual(m.paths(), {});
  await m.apply(123);
  await assert.rejects(() => m.apply(0), RangeError);
  assert.equal(await m.exists(), false);
  assert.equal(await m.frozen(), false);
  assert.deepEqual(await m.pids(), []);
  assert.equal((await m.stats()).pids.current, 0);
  await m.destroy();
  const events = [];
  for await (const e of m.events()) events.push(e);
  assert.deepEqual(events, []);
});

Deno.test("none: empty resources are fine, any limit names its field", async () => {
  const m = new NoCgroupManager();
  await m.set({});
  await m.set({ memory: {}, devices: [{ allow: true, access: "rwm" }] });
  for (
    const [resources, field] of [
      [{ memory: { limit: 1024 } }, "linux.resources.memory.limit"],
      [{ cpu: { cpus: "0" } }, "linux.resources.cpu.cpus"],
      [{ blockIO: { weight: 100 } }, "linux.resources.blockIO.weight"],
      [{ devices: [{ allow: false, access: "rwm" }] }, "linux.resources.devices[0]"],
      [{ unified: { "memory.high": "1G" } }, 'linux.resources.unified["memory.high"]'],
    ] as [LinuxResources, string][]
  ) {
    await assert.rejects(() => m.set(resources), (e: unknown) => {
      assert.ok(e instanceof CgroupError);
      assert.equal(e.field, field);
      assert.match(e.message, /without cgroups/);
      return true;
    });
  }
});

Deno.test("none: freeze and killAll cannot work without a cgroup", async () => {
  const m = new NoCgroupManager();
  await assert.rejects(() => m.freeze(true), CgroupError);
  await assert.rejects(() => m.killAll(9), CgroupError);
});
