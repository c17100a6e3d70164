/**
 * Settings that need a host feature: AppArmor profiles, SELinux labels and Intel
 * RDT (resctrl). Applied when the host has the feature; otherwise an error that
 * names the field, never a silent ignore.
 *
 * @module
 */

import type { Spec } from "../spec/config.ts";
import { ConfigError, SyscallError } from "../errors.ts";
import { exists } from "../util/fs.ts";

/** What the host offers (injectable for tests). */
export interface HostFeatures {
  /** AppArmor is enabled (/sys/module/apparmor/parameters/enabled is Y). */
  apparmor: boolean;
  /** SELinux is enabled (selinuxfs is mounted). */
  selinux: boolean;
  /** The resctrl filesystem root, if mounted (Intel RDT). */
  resctrl?: string;
}

function readFlag(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return undefined;
  }
}

/** Probes this host. */
export function probeHostFeatures(): HostFeatures {
  const f: HostFeatures = {
    apparmor: readFlag("/sys/module/apparmor/parameters/enabled") === "Y",
    selinux: exists("/sys/fs/selinux/enforce"),
  };
  if (exists("/sys/fs/resctrl/schemata")) f.resctrl = "/sys/fs/resctrl";
  return f;
}

/**
 * Refuses what the host cannot apply, naming the field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkHostFeatures } from "./host_features.ts";
 * let msg = "";
 * try {
 *   checkHostFeatures({ ociVersion: "1.2.0", process: { cwd: "/", user: { uid: 0, gid: 0 }, apparmorProfile: "p" } },
 *     { apparmor: false, selinux: false });
 * } catch (e) { msg = (e as Error).message; }
 * assert.equal(msg, "config.json: process.apparmorProfile: AppArmor is not enabled on this host");
 * ```
 */
export function checkHostFeatures(spec: Spec, host: HostFeatures): void {
  const p = spec.process;
  if (p?.apparmorProfile && !host.apparmor) {
    throw new ConfigError(
      "config.json",
      "process.apparmorProfile",
      "AppArmor is not enabled on this host",
    );
  }
  if (p?.selinuxLabel && !host.selinux) {
    throw new ConfigError(
      "config.json",
      "process.selinuxLabel",
      "SELinux is not enabled on this host",
    );
  }
  if (spec.linux?.mountLabel && !host.selinux) {
    throw new ConfigError("config.json", "linux.mountLabel", "SELinux is not enabled on this host");
  }
  if (spec.linux?.intelRdt && !host.resctrl) {
    throw new ConfigError(
      "config.json",
      "linux.intelRdt",
      "Intel RDT (resctrl) is not available on this host",
    );
  }
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    const idmap = m.options?.some((o) => o === "idmap" || o === "ridmap");
    if (m.uidMappings?.length || m.gidMappings?.length || idmap) {
      throw new ConfigError(
        "config.json",
        `mounts[${i}]`,
        "idmapped mounts are not supported by nsinit yet",
      );
    }
  }
}

/**
 * The procfs file and value that set the label the process execs into (the
 * init writes it just before execve): AppArmor's `exec <profile>`, or an SELinux
 * label.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { execLabelWrite } from "./host_features.ts";
 * const w = execLabelWrite({ cwd: "/", user: { uid: 0, gid: 0 }, apparmorProfile: "p" }, { apparmor: true, selinux: false });
 * assert.equal(w?.value, "exec p");
 * ```
 */
export function execLabelWrite(
  proc: NonNullable<Spec["process"]>,
  host: HostFeatures,
): { path: string; value: string } | undefined {
  if (proc.apparmorProfile && host.apparmor) {
    // Newer kernels have AppArmor's own attr directory; the generic file works on all.
    const path = exists("/proc/self/attr/apparmor/exec")
      ? "/proc/self/attr/apparmor/exec"
      : "/proc/self/attr/exec";
    return { path, value: `exec ${proc.apparmorProfile}` };
  }
  if (proc.selinuxLabel && host.selinux) {
    return { path: "/proc/self/attr/exec", value: proc.selinuxLabel };
  }
  return undefined;
}

/**
 * Adds an SELinux mount label to a mount's data, for the file systems that take
 * one (as runc's label.FormatMountLabel).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withMountLabel } from "./host_features.ts";
 * assert.equal(withMountLabel("size=1m", "tmpfs", "system_u:object_r:c"), 'size=1m,context="system_u:object_r:c"');
 * assert.equal(withMountLabel("", "proc", "x"), "");
 * ```
 */
export function withMountLabel(data: string, fstype: string, label: string | undefined): string {
  if (!label || !["tmpfs", "mqueue", "devpts", "shm"].includes(fstype)) return data;
  const ctx = `context="${label}"`;
  return data ? `${data},${ctx}` : ctx;
}

/** The resctrl group of a container: created, joined, removed. */
export interface ResctrlGroup {
  /** The group directory. */
  readonly dir: string;
  /** Whether create() made the directory (a shared closID group is only joined). */
  readonly created: boolean;
  /** Creates the group (unless it is a shared, pre-existing closID) and writes its schemata. */
  create(): void;
  /** Moves a task into the group. */
  apply(pid: number): void;
  /** Removes the group if this container created it. */
  destroy(): void;
}

/**
 * The container's resctrl group: `closID` if given (an existing shared group is
 * joined, not removed), else one named after the container.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resctrlGroup } from "./host_features.ts";
 * const root = Deno.makeTempDirSync();
 * const g = resctrlGroup(root, "c1", { l3CacheSchema: "L3:0=f" }, { mkdir: (d) => { Deno.mkdirSync(d); Deno.writeTextFileSync(`${d}/schemata`, ""); Deno.writeTextFileSync(`${d}/tasks`, ""); } });
 * g.create();
 * assert.equal(Deno.readTextFileSync(`${root}/c1/schemata`), "L3:0=f\n");
 * g.destroy();
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function resctrlGroup(
  root: string,
  id: string,
  rdt: NonNullable<NonNullable<Spec["linux"]>["intelRdt"]>,
  ops: { mkdir?: (dir: string) => void } = {},
): ResctrlGroup {
  const dir = `${root}/${rdt.closID ?? id}`;
  let created = false;
  const write = (file: string, value: string) => {
    try {
      Deno.writeTextFileSync(`${dir}/${file}`, value);
    } catch (e) {
      throw new SyscallError({
        syscall: "write",
        errno: 22,
        path: `${dir}/${file}`,
        detail: (e as Error).message,
      });
    }
  };
  return {
    dir,
    get created() {
      return created;
    },
    create() {
      if (!exists(dir)) {
        (ops.mkdir ?? ((d: string) => Deno.mkdirSync(d)))(dir);
        created = true;
      }
      const lines = rdt.schemata !== undefined
        ? [rdt.schemata.trimEnd()]
        : [rdt.l3CacheSchema, rdt.memBwSchema].filter((l): l is string => !!l);
      if (lines.length) write("schemata", lines.join("\n") + "\n");
    },
    apply(pid: number) {
      if (!(pid > 0)) throw new RangeError(`invalid pid ${pid}`);
      write("tasks", String(pid));
    },
    destroy() {
      if (!created) return;
      try {
        Deno.removeSync(dir);
      } catch { /* already gone */ }
    },
  };
}
