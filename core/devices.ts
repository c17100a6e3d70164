/**
 * Policy for what a container's cgroup gets of its spec: the device rules (what a
 * container may create and open). A create and a restore use it (`pids.limit` read as the
 * config's version means it, which every command that loads a container needs, is
 * `pidsAsVersioned` in factory.ts).
 *
 * @module
 */

import type { LinuxDeviceCgroup, LinuxResources, Spec } from "../spec/config.ts";

/**
 * Rules every container gets after the spec's own (runc's AllowedDevices): mknod
 * of any node, the default devices, /dev/pts/*, /dev/ptmx and /dev/net/tun.
 */
export const ALLOWED_DEVICE_RULES: readonly LinuxDeviceCgroup[] = Object.freeze([
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
  { allow: true, type: "c", major: 136, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" },
]);

/**
 * The resources to apply to a container's cgroup: the spec's, with the device
 * rules completed as runc does (the spec's rules, then the always-allowed ones,
 * then read/write/mknod for each device listed in `linux.devices`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { effectiveResources } from "./devices.ts";
 * const r = effectiveResources({ ociVersion: "1.0.2", linux: { resources: { devices: [{ allow: false, access: "rwm" }] } } });
 * assert.ok(r.devices!.length > 1);
 * assert.equal(r.devices![0].allow, false);
 * ```
 */
export function effectiveResources(spec: Spec): LinuxResources {
  const res: LinuxResources = { ...(spec.linux?.resources ?? {}) };
  const devices: LinuxDeviceCgroup[] = [...(res.devices ?? []), ...ALLOWED_DEVICE_RULES];
  for (const d of spec.linux?.devices ?? []) {
    if (d.type === "p" || d.type === "u" && d.major === undefined) continue;
    devices.push({
      allow: true,
      type: d.type === "u" ? "c" : d.type,
      major: d.major,
      minor: d.minor,
      access: "rwm",
    });
  }
  res.devices = devices;
  return res;
}
