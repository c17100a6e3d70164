// What the systemd end-to-end tests share: whether PID 1 is systemd, whether the host's
// cgroup tree is v2, and `systemctl show` as a record.
import assert from "node:assert/strict";
import { type Bundle, makeBundle } from "../helpers/bundle.ts";
import { run } from "../helpers/run.ts";
import { cgroupV2 } from "../helpers/host.ts";

/** PID 1 is a running systemd (these tests need one; elsewhere they skip). */
export function systemdIsInit(): boolean {
  try {
    return Deno.statSync("/run/systemd/system").isDirectory &&
      Deno.readTextFileSync("/proc/1/comm").trim() === "systemd";
  } catch {
    return false;
  }
}

/** /sys/fs/cgroup is a cgroup2 mount (the unified hierarchy). */
export const V2: boolean = cgroupV2();

/**
 * A bundle of two sleeping processes in scope nsinit-test-ID.scope of system.slice, with
 * memory, pids and cpu limits for systemctl and the cgroup files to show, collected by
 * systemd even when it fails.
 */
export async function limitedScopeBundle(id: string): Promise<Bundle> {
  const b = await makeBundle({
    id,
    args: ["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
    cgroupsPath: `system.slice:nsinit-test:${id}`,
  });
  b.config.linux!.resources = {
    ...b.config.linux!.resources,
    memory: { limit: 64 << 20 },
    pids: { limit: 32 },
    cpu: { shares: 512, quota: 50000, period: 100000 },
  };
  b.config.annotations = { "org.systemd.property.CollectMode": "'inactive-or-failed'" };
  await b.write();
  return b;
}

/** `systemctl show UNIT --property=...` as a record of property to value. */
export async function show(unit: string, ...props: string[]): Promise<Record<string, string>> {
  const r = await run("systemctl", ["show", unit, ...props.map((p) => `--property=${p}`)]);
  assert.equal(r.code, 0, r.stderr);
  return Object.fromEntries(
    r.stdout.trim().split("\n").filter((l) => l.includes("=")).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
}
