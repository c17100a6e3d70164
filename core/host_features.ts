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

/** What a host without any of these features has (all a spec that asks for none needs). */
export const NO_HOST_FEATURES: Readonly<HostFeatures> = Object.freeze({
  apparmor: false,
  selinux: false,
});

/**
 * Whether `spec` asks for anything {@link HostFeatures} decides (a label, Intel RDT): one
 * that does not is created alike on every host, and needs no probe.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostFeaturesMatter } from "./host_features.ts";
 * assert.equal(hostFeaturesMatter({ ociVersion: "1.3.0" }), false);
 * assert.equal(hostFeaturesMatter({ ociVersion: "1.3.0", linux: { intelRdt: {} } }), true);
 * ```
 */
export function hostFeaturesMatter(spec: Spec): boolean {
  const p = spec.process;
  return !!(p?.apparmorProfile || p?.selinuxLabel || spec.linux?.mountLabel ||
    spec.linux?.intelRdt);
}

/**
 * Refuses what the host cannot apply, naming the field, and returns warnings for
 * what is skipped instead: SELinux labels on a host without SELinux are ignored
 * with a warning, as runc and crun do (configs written by tools carry them), while
 * an AppArmor profile without AppArmor is refused (as runc does).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkHostFeatures } from "./host_features.ts";
 * const spec = { ociVersion: "1.3.0", process: { cwd: "/", user: { uid: 0, gid: 0 }, apparmorProfile: "p" } };
 * assert.throws(() => checkHostFeatures(spec, { apparmor: false, selinux: false }),
 *   { message: "config.json: process.apparmorProfile: AppArmor is not enabled on this host" });
 * const labelled = { ociVersion: "1.3.0", linux: { mountLabel: "system_u:object_r:container_file_t:s0" } };
 * assert.deepEqual(checkHostFeatures(labelled, { apparmor: false, selinux: false }),
 *   ["linux.mountLabel is ignored: SELinux is not enabled on this host"]);
 * ```
 */
export function checkHostFeatures(spec: Spec, host: HostFeatures): string[] {
  const warnings: string[] = [];
  const p = spec.process;
  if (p?.apparmorProfile && !host.apparmor) {
    throw new ConfigError(
      "config.json",
      "process.apparmorProfile",
      "AppArmor is not enabled on this host",
    );
  }
  if (!host.selinux) {
    if (p?.selinuxLabel) {
      warnings.push("process.selinuxLabel is ignored: SELinux is not enabled on this host");
    }
    if (spec.linux?.mountLabel) {
      warnings.push("linux.mountLabel is ignored: SELinux is not enabled on this host");
    }
  }
  if (spec.linux?.intelRdt && !host.resctrl) {
    throw new ConfigError(
      "config.json",
      "linux.intelRdt",
      "Intel RDT (resctrl) is not available on this host",
    );
  }
  return warnings;
}

/** A write that sets the label a process execs into, and the config field it comes from. */
export interface ExecLabel {
  /** The procfs file, e.g. `/proc/self/attr/apparmor/exec`. */
  path: string;
  /** What is written, e.g. `exec <profile>`. */
  value: string;
  /** The field, named by the plan step (a profile that is not loaded fails there). */
  field: string;
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
): ExecLabel | undefined {
  if (proc.apparmorProfile && host.apparmor) {
    // Newer kernels have AppArmor's own attr directory; the generic file works on all.
    const path = exists("/proc/self/attr/apparmor/exec")
      ? "/proc/self/attr/apparmor/exec"
      : "/proc/self/attr/exec";
    return { path, value: `exec ${proc.apparmorProfile}`, field: "process.apparmorProfile" };
  }
  if (proc.selinuxLabel && host.selinux) {
    return {
      path: "/proc/self/attr/exec",
      value: proc.selinuxLabel,
      field: "process.selinuxLabel",
    };
  }
  return undefined;
}

/**
 * The label an exec'd process execs into: its own `apparmorProfile` (or `selinuxLabel`), else
 * the container's, as runc's exec does. A profile without AppArmor is refused, naming the field;
 * an SELinux label without SELinux is ignored (as at create).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { execProcessLabel } from "./host_features.ts";
 * const base = { cwd: "/", user: { uid: 0, gid: 0 } };
 * const aa = { apparmor: true, selinux: false };
 * assert.equal(execProcessLabel(base, { ...base, apparmorProfile: "c" }, aa)?.value, "exec c");
 * assert.equal(execProcessLabel({ ...base, apparmorProfile: "e" }, { ...base, apparmorProfile: "c" }, aa)?.value, "exec e");
 * assert.equal(execProcessLabel(base, base, aa), undefined);
 * assert.throws(() => execProcessLabel({ ...base, apparmorProfile: "e" }, base, { apparmor: false, selinux: false }),
 *   { message: "exec: process.apparmorProfile: AppArmor is not enabled on this host" });
 * ```
 */
export function execProcessLabel(
  proc: NonNullable<Spec["process"]>,
  container: Spec["process"],
  host: HostFeatures = probeHostFeatures(),
): ExecLabel | undefined {
  const apparmorProfile = proc.apparmorProfile || container?.apparmorProfile;
  const selinuxLabel = proc.selinuxLabel || container?.selinuxLabel;
  if (apparmorProfile && !host.apparmor) {
    throw new ConfigError(
      "exec",
      "process.apparmorProfile",
      "AppArmor is not enabled on this host",
    );
  }
  return execLabelWrite({
    ...proc,
    ...(apparmorProfile ? { apparmorProfile } : {}),
    ...(selinuxLabel ? { selinuxLabel } : {}),
  }, host);
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
  /** The container's monitoring group (`enableMonitoring`), once created. */
  readonly monitor: string | undefined;
  /** Creates the group (unless it is a shared, pre-existing closID) and writes its schemata. */
  create(): void;
  /** Moves a task into the group (and into its monitoring group). */
  apply(pid: number): void;
  /** Removes the monitoring group, and the group if this container created it. */
  destroy(): void;
}

/**
 * The schemata lines to write, in runtime-spec 1.3's order: `l3CacheSchema` (without
 * an `MB:` line when `memBwSchema` gives one), `memBwSchema`, then `schemata` last.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resctrlSchemata } from "./host_features.ts";
 * assert.deepEqual(
 *   resctrlSchemata({ l3CacheSchema: "L3:0=f\nMB:0=20", memBwSchema: "MB:0=70", schemata: "L2:0=3" }),
 *   ["L3:0=f", "MB:0=70", "L2:0=3"],
 * );
 * ```
 */
export function resctrlSchemata(
  rdt: NonNullable<NonNullable<Spec["linux"]>["intelRdt"]>,
): string[] {
  const lines = (s: string | undefined) =>
    (s ?? "").split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const l3 = lines(rdt.l3CacheSchema).filter((l) => !(rdt.memBwSchema && l.startsWith("MB:")));
  return [...l3, ...lines(rdt.memBwSchema), ...lines(rdt.schemata)];
}

/**
 * The container's resctrl group: `closID` if given, else one named after the container.
 * A `closID` group that exists is shared: joined, never removed; one that does not is
 * created when the config gives a schema, and refused when it gives none (the spec: a
 * pre-configured group must exist). `enableMonitoring` adds a monitoring group of the
 * container under the group's `mon_groups`.
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
  const mkdir = ops.mkdir ?? ((d: string) => Deno.mkdirSync(d));
  let created = false;
  let monitor: string | undefined;
  const write = (file: string, value: string) => {
    try {
      Deno.writeTextFileSync(file, value);
    } catch (e) {
      throw new SyscallError({
        syscall: "write",
        errno: 22,
        path: file,
        detail: (e as Error).message,
      });
    }
  };
  return {
    dir,
    get created() {
      return created;
    },
    get monitor() {
      return monitor;
    },
    create() {
      const lines = resctrlSchemata(rdt);
      if (!exists(dir)) {
        if (rdt.closID !== undefined && lines.length === 0) {
          throw new ConfigError(
            "config.json",
            "linux.intelRdt.closID",
            `resctrl group "${rdt.closID}" does not exist (and no schema is given to create it)`,
          );
        }
        mkdir(dir);
        created = true;
      }
      if (lines.length) write(`${dir}/schemata`, lines.join("\n") + "\n");
      if (rdt.enableMonitoring) {
        monitor = `${dir}/mon_groups/${id}`;
        mkdir(monitor);
      }
    },
    apply(pid: number) {
      if (!(pid > 0)) throw new RangeError(`invalid pid ${pid}`);
      write(`${dir}/tasks`, String(pid));
      // A task joins a monitoring group only from its parent group.
      if (monitor) write(`${monitor}/tasks`, String(pid));
    },
    destroy() {
      for (const d of [monitor, created ? dir : undefined]) {
        if (!d) continue;
        try {
          Deno.removeSync(d);
        } catch { /* already gone */ }
      }
    },
  };
}
