// What the systemd end-to-end tests share: whether PID 1 is systemd, whether the host's
// cgroup tree is v2, and `systemctl show` as a record.
import assert from "node:assert/strict";
import { run } from "../helpers/run.ts";

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
export const V2: boolean = (() => {
  try {
    return Deno.readTextFileSync("/proc/self/mounts").split("\n").some((l) =>
      l.split(" ")[1] === "/sys/fs/cgroup" && l.split(" ")[2] === "cgroup2"
    );
  } catch {
    return false;
  }
})();

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
