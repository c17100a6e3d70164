/**
 * Policy: turns a validated OCI spec into the flat spawn plan that
 * nsinit-init executes. Everything decided about a container's setup (which
 * namespaces, which mounts in which order, devices, capabilities, the user,
 * seccomp) is decided here, in TypeScript.
 *
 * @module
 */

import { isAbsolute, join, resolve } from "../util/path.ts";
import type {
  CPUAffinity,
  Hook,
  Linux,
  LinuxDevice,
  LinuxMemoryPolicy,
  LinuxNamespace,
  Mount,
  NamespaceType,
  Process,
  Spec,
} from "../spec/config.ts";
import type { CgroupView } from "../drivers/driver.ts";
import { capabilityMask } from "../spec/caps.ts";
import { rlimitNumber } from "../spec/rlimits.ts";
import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_SLAVE,
  parseMountOptions,
} from "../spec/mount_options.ts";
import { ConfigError } from "../errors.ts";
import { withMountLabel } from "./host_features.ts";
import {
  CloneFlag,
  EARLY_CLONE_NS,
  NS_FLAG,
  nulList,
  Op,
  PlanBuilder,
  u32List,
} from "../native/plan.ts";
import { mapToolArgs, type RootlessMaps } from "./rootless.ts";
import { cstr, native } from "../native/ffi.ts";

/** /proc/<pid>/ns file name of each namespace type. */
export const NS_FILE: Record<NamespaceType, string> = {
  pid: "pid",
  network: "net",
  mount: "mnt",
  ipc: "ipc",
  uts: "uts",
  user: "user",
  cgroup: "cgroup",
  time: "time",
};

const JOIN_ORDER: NamespaceType[] = [
  "user",
  "ipc",
  "uts",
  "network",
  "pid",
  "cgroup",
  "time",
  "mount",
];

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The devices every container gets (runc's AllowedDevices that are created). */
export const DEFAULT_DEVICES: LinuxDevice[] = [
  { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/zero", type: "c", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/full", type: "c", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/random", type: "c", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/urandom", type: "c", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/tty", type: "c", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** Inputs besides the spec. */
export interface InitPlanOptions {
  /** The bundle directory (relative rootfs and bind sources resolve against it). */
  bundle: string;
  /** The exec fifo path: the init waits on it until `start`. Absent: exec right away. */
  fifoPath?: string;
  /** Use MS_MOVE + chroot instead of pivot_root (runc's --no-pivot). */
  noPivot?: boolean;
  /** Number of extra fds passed through after stdio (runc's --preserve-fds). */
  preserveFds?: number;
  /** Do not create a new session keyring (runc's --no-new-keyring). */
  noNewKeyring?: boolean;
  /** Container id, for the session keyring's name. */
  id?: string;
  /** The compiled seccomp filter, if the spec has one. */
  seccomp?: { bpf: Uint8Array; flags: number };
  /**
   * What a `cgroup` mount shows (the cgroup manager's `view()`); default: an
   * empty v1-style tmpfs.
   */
  cgroupView?: CgroupView;
  /**
   * A cgroup v2 directory, made and limited already, to clone the init straight into
   * (`clone3` with `CLONE_INTO_CGROUP`, as crun does; see `CgroupManager.cloneTarget`).
   */
  cloneInto?: string;
  /** Hooks the init takes part in (see core/hooks.ts). */
  hooks?: InitHooks;
  /** The LSM label to exec into: a procfs file and value (see host_features.ts). */
  execLabel?: { path: string; value: string; field?: string };
  /** SELinux label for the file systems mounted in the container. */
  mountLabel?: string;
  /**
   * The runtime is unprivileged: how it writes the id maps (see core/rootless.ts).
   * A map written directly by the runtime needs `setgroups` denied first.
   */
  rootless?: RootlessMaps;
  /** Landlock rules applied just before exec (see sandbox/landlock.ts). */
  landlock?: LandlockPlan;
  /**
   * Put a minimal pid 1 in front of the command: it forwards signals and reaps
   * orphans (a command as pid 1 ignores SIGTERM and SIGINT). The sandbox uses it.
   */
  reaperInit?: boolean;
  /** Bring up `lo` in the container's new network namespace. */
  loopback?: boolean;
  /** The host facts the plan depends on; default: this host's ({@link HOST_FACTS}). */
  host?: PlanHostFacts;
}

/** A Landlock ruleset, as the plan carries it. */
export interface LandlockPlan {
  /** The negotiated ABI version (for the step's description). */
  abi: number;
  /** Filesystem access rights the ruleset handles (denied unless a rule allows them). */
  handled: bigint;
  /** Paths (in the container) and the rights allowed beneath each. */
  rules: { path: string; access: bigint; optional?: boolean }[];
}

/** What a plan needs to know about the host's file systems (a fake in unit tests). */
export interface PlanHostFacts {
  /** Whether `dir` is on the initial ramfs, which pivot_root(2) cannot leave. */
  onInitialRamfs(dir: string): boolean;
  /** Whether a bind mount's source is a directory (else a file is made to mount on). */
  isDirectory(path: string): boolean;
  /** Whether a path exists (device nodes to bind in a user namespace); absent: assumed. */
  exists?(path: string): boolean;
  /** A host device node with these numbers, to bind in a user namespace. */
  deviceNode?(type: "c" | "b", major: number, minor: number): string | undefined;
  /**
   * The identity (nsfs inode) of the user namespace owning the namespace file at `path`
   * (`owner`, NS_GET_USERNS) or of the parent of the user namespace at `path` (`parent`,
   * NS_GET_PARENT); undefined when it cannot be told (no such file, the initial namespace) and
   * for a parent that is the runtime's own user namespace (nothing nested to get past).
   */
  namespaceOwner?(path: string, which: "owner" | "parent"): string | undefined;
  /**
   * Whether setgroups(2) is denied in a joined user namespace: known for `/proc/<pid>/ns/user`
   * (that process's `/proc/<pid>/setgroups`), else undefined.
   */
  setgroupsDenied?(userNsPath: string): boolean | undefined;
}

/** This host's facts: /proc/self/mountinfo and stat(2). */
export const HOST_FACTS: PlanHostFacts = {
  // Whether / is the initial ramfs cannot change while this process runs: read once, and
  // where it is not (nearly everywhere) no container start asks again. Where it is, a
  // directory is on it when it is on /'s device: a stat (mountinfo's read and parse took
  // 1.6 ms a container in the emulated VM). A bind of the ramfs mounted elsewhere counts as
  // on it too, where mountinfo's longest mount point did not: the rootfs is then moved into
  // (MS_MOVE + chroot), which works wherever it is.
  onInitialRamfs: (dir) => {
    if (!(rootIsInitialRamfs ??= onInitialRamfs("/"))) return false;
    try {
      return onRootDevice(Deno.statSync(dir).dev);
    } catch {
      return onInitialRamfs(dir); // cannot stat it: mountinfo says
    }
  },
  isDirectory: mountSourceIsDir,
  exists: (path) => {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  },
  deviceNode: (type, major, minor) => {
    // /dev/char/M:m and /dev/block/M:m where udev made them, else a node in /dev itself.
    const linked = `/dev/${type === "b" ? "block" : "char"}/${major}:${minor}`;
    try {
      Deno.statSync(linked);
      return linked;
    } catch { /* no udev links */ }
    const want = (BigInt(major) << 8n) | BigInt(minor); // small numbers: the old encoding
    for (const e of Deno.readDirSync("/dev")) {
      try {
        if (e.isSymlink) continue; // /dev/stdin and friends point at whatever fd 0 is
        const st = Deno.lstatSync(`/dev/${e.name}`);
        const isType = type === "b" ? st.isBlockDevice : st.isCharDevice;
        if (isType && st.rdev !== null && BigInt(st.rdev) === want) return `/dev/${e.name}`;
      } catch { /* vanished */ }
    }
    return undefined;
  },
  namespaceOwner: (path, which) => {
    const ino = native().nsi_ns_owner(cstr(path), which === "parent" ? 1 : 0);
    if (ino < 0) return undefined;
    // A user namespace whose parent is the runtime's own is not nested for a join.
    if (
      which === "parent" && BigInt(ino) === BigInt(Deno.statSync("/proc/self/ns/user").ino ?? -1)
    ) {
      return undefined;
    }
    return String(ino);
  },
  setgroupsDenied: (path) => {
    const pid = /^\/proc\/(\d+)\/ns\/user$/.exec(path)?.[1];
    if (!pid) return undefined;
    try {
      return Deno.readTextFileSync(`/proc/${pid}/setgroups`).trim() === "deny";
    } catch {
      return undefined;
    }
  },
};
let rootIsInitialRamfs: boolean | undefined;
/** The device of / (read once, where / is the initial ramfs). */
let rootDevice: number | undefined;

/** Whether a file on device `dev` is on / (asked where / is the initial ramfs). */
function onRootDevice(dev: number): boolean {
  return dev === (rootDevice ??= Deno.statSync("/").dev);
}

/**
 * {@link HOST_FACTS}, told what a create knows already of its rootfs (its stat, from the
 * rootfs check): where / is the initial ramfs the plan does not stat it again (a stat took
 * ~0.8 ms a container in the emulated VM, whose / is one, measured).
 */
export function hostFactsWithRootfs(rootfs: string, dev: number): PlanHostFacts {
  const facts: PlanHostFacts = Object.create(HOST_FACTS);
  facts.onInitialRamfs = (dir) =>
    dir === rootfs
      ? (rootIsInitialRamfs ??= onInitialRamfs("/")) && onRootDevice(dev)
      : HOST_FACTS.onInitialRamfs(dir);
  return facts;
}

/** The host's device node to bind for `d` in a user namespace. */
function hostDeviceNode(d: LinuxDevice, host: PlanHostFacts): string {
  const exists = host.exists ?? (() => true);
  if (exists(d.path)) return d.path;
  if (d.type !== "p" && d.major !== undefined && d.minor !== undefined && host.deviceNode) {
    const byNumber = host.deviceNode(d.type === "b" ? "b" : "c", d.major, d.minor);
    if (byNumber) return byNumber;
  }
  throw new ConfigError(
    "config.json",
    "linux.devices",
    `${d.path}: a user namespace cannot create device nodes (mknod), and the host has no ` +
      `node to bind (neither ${d.path} nor one numbered ${d.major}:${d.minor})`,
  );
}

/** Hook steps of an init plan. */
export interface InitHooks {
  /** Stop before pivot_root so the runtime runs prestart and createRuntime hooks. */
  barrier: boolean;
  /** Run in the container's namespaces before pivot_root. */
  createContainer: Hook[];
  /** Run in the container just before the user's program. */
  startContainer: Hook[];
  /** State JSON ("creating") around the pid, for createContainer. */
  creatingState: [string, string];
  /** State JSON ("created") around the pid, for startContainer. */
  createdState: [string, string];
}

function addHookSteps(
  plan: PlanBuilder,
  kind: string,
  hooks: Hook[],
  state: [string, string],
): void {
  for (const [i, h] of hooks.entries()) {
    plan.add(
      Op.C_HOOK,
      `run ${kind} hook #${i} ${h.path}`,
      h.path,
      nulList(h.args?.length ? h.args : [h.path]),
      nulList(h.env ?? []),
      state[0],
      state[1],
      h.timeout ?? 0,
    );
  }
}

function addCreateHooks(plan: PlanBuilder, hooks: InitHooks | undefined): void {
  if (!hooks) return;
  if (hooks.barrier) plan.add(Op.C_BARRIER, "wait for prestart and createRuntime hooks");
  addHookSteps(plan, "createContainer", hooks.createContainer, hooks.creatingState);
}

/** Namespaces the spec asks for, split into new ones and ones joined by path. */
export function namespaceFlags(namespaces: LinuxNamespace[] | undefined): {
  create: number;
  join: LinuxNamespace[];
  types: Set<NamespaceType>;
} {
  let create = 0;
  const join: LinuxNamespace[] = [];
  const types = new Set<NamespaceType>();
  for (const ns of namespaces ?? []) {
    types.add(ns.type);
    if (ns.path) join.push(ns);
    else create |= NS_FLAG[ns.type];
  }
  join.sort((a, b) => JOIN_ORDER.indexOf(a.type) - JOIN_ORDER.indexOf(b.type));
  return { create, join, types };
}

/**
 * The namespaces a create's helper may clone ahead of the plan (see `PlanBuilder.earlyClone`,
 * which checks the plan when it is built): the flags {@link buildInitPlan}'s clone will have,
 * where its helper steps are that clone and the exec fifo's opening only (no namespace joined
 * by path, no user or time namespace, no network device, no idmapped mount, no clone into a
 * cgroup); 0 otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { earlyCloneFlags } from "./init_plan.ts";
 * import { CloneFlag } from "../native/plan.ts";
 * import { defaultSpec } from "../spec/default.ts";
 * const spec = defaultSpec();
 * assert.ok(earlyCloneFlags(spec, {}) & CloneFlag.NEWNET);
 * assert.equal(earlyCloneFlags(spec, { cloneInto: "/sys/fs/cgroup/c1" }), 0);
 * ```
 */
export function earlyCloneFlags(spec: Spec, opts: { cloneInto?: string }): number {
  const linux = spec.linux ?? {};
  const ns = namespaceFlags(linux.namespaces);
  const flags = ns.create & ~(CloneFlag.NEWTIME | CloneFlag.NEWCGROUP);
  if (
    opts.cloneInto || ns.join.length > 0 || (ns.create & CloneFlag.NEWTIME) ||
    (flags & ~EARLY_CLONE_NS) !== 0 || Object.keys(linux.netDevices ?? {}).length > 0 ||
    idmappedMounts(spec).length > 0
  ) {
    return 0;
  }
  return flags;
}

function idMap(maps: { containerID: number; hostID: number; size: number }[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
}

function envPath(env: string[] | undefined): string {
  for (const e of env ?? []) if (e.startsWith("PATH=")) return e.slice(5);
  return DEFAULT_PATH;
}

/** The mounts with the `idmap` or `ridmap` option, with their index in `mounts`. */
function idmappedMounts(spec: Spec): [number, Mount][] {
  return [...(spec.mounts ?? []).entries()].filter(([, m]) => parseMountOptions(m.options).idmap);
}

/** A bind mount's source, absolute (relative ones are relative to the bundle). */
function bindSource(m: Mount, bundle: string): string {
  return isAbsolute(m.source ?? "") ? m.source! : resolve(bundle, m.source ?? "");
}

/** The rootfs directory of a spec, absolute. */
export function rootfsPath(spec: Spec, bundle: string): string {
  const p = spec.root?.path ?? "rootfs";
  return isAbsolute(p) ? p : resolve(bundle, p);
}

function mountSourceIsDir(src: string): boolean {
  try {
    return Deno.statSync(src).isDirectory;
  } catch {
    return true;
  }
}

function hasMount(spec: Spec, dest: string): boolean {
  return (spec.mounts ?? []).some((m) => m.destination.replace(/\/+$/, "") === dest);
}

/** sched_setattr(2) policy numbers. */
const SCHED_POLICY: Record<string, number> = {
  SCHED_OTHER: 0,
  SCHED_FIFO: 1,
  SCHED_RR: 2,
  SCHED_BATCH: 3,
  SCHED_ISO: 4,
  SCHED_IDLE: 5,
  SCHED_DEADLINE: 6,
};
/** sched_setattr(2) flag bits. */
const SCHED_FLAG: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01,
  SCHED_FLAG_RECLAIM: 0x02,
  SCHED_FLAG_DL_OVERRUN: 0x04,
  SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10,
  SCHED_FLAG_UTIL_CLAMP_MIN: 0x20,
  SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};
/** ioprio classes (linux/ioprio.h). */
const IOPRIO_CLASS: Record<string, number> = {
  IOPRIO_CLASS_RT: 1,
  IOPRIO_CLASS_BE: 2,
  IOPRIO_CLASS_IDLE: 3,
};
/** set_mempolicy(2) modes and mode flags. */
const MPOL_MODE: Record<string, number> = {
  MPOL_DEFAULT: 0,
  MPOL_PREFERRED: 1,
  MPOL_BIND: 2,
  MPOL_INTERLEAVE: 3,
  MPOL_LOCAL: 4,
  MPOL_PREFERRED_MANY: 5,
  MPOL_WEIGHTED_INTERLEAVE: 6,
};
const MPOL_FLAG: Record<string, number> = {
  MPOL_F_NUMA_BALANCING: 1 << 13,
  MPOL_F_RELATIVE_NODES: 1 << 14,
  MPOL_F_STATIC_NODES: 1 << 15,
};
const CAP_SYS_ADMIN = 21n;

/**
 * A CPU or NUMA node list ("0-3,7") as a bit mask of u64 words, as
 * sched_setaffinity(2) and set_mempolicy(2) take it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listMask } from "./init_plan.ts";
 * assert.deepEqual([...listMask("0-2,9")], [0b111, 0b10, 0, 0, 0, 0, 0, 0]);
 * ```
 */
export function listMask(list: string): Uint8Array {
  const bits: number[] = [];
  for (const part of list.split(",")) {
    if (part === "") continue;
    const [lo, hi = lo] = part.split("-").map(Number);
    if (!(hi >= lo) || hi > 8191) throw new RangeError(`invalid list "${list}"`);
    for (let i = lo; i <= hi; i++) bits.push(i);
  }
  const out = new Uint8Array(Math.max(8, Math.ceil((Math.max(-1, ...bits) + 1) / 64) * 8));
  for (const b of bits) out[b >> 3] |= 1 << (b & 7);
  return out;
}

/** Adds the process-level steps shared by an init and an exec'd process. */
function processSteps(plan: PlanBuilder, proc: Process, opts: {
  seccomp?: { bpf: Uint8Array; flags: number };
  preserveFds: number;
  fifo: boolean;
  terminal: boolean;
  setgroups: boolean;
  hooks?: InitHooks;
  execLabel?: { path: string; value: string; field?: string };
  landlock?: LandlockPlan;
  reaperInit?: boolean;
  memoryPolicy?: LinuxMemoryPolicy;
  affinity?: string;
}): void {
  const caps = proc.capabilities ?? {};
  const user = proc.user;
  if (!opts.setgroups && user.additionalGids?.length) {
    throw new ConfigError(
      "config.json",
      "process.user.additionalGids",
      "cannot be set: setgroups is denied in this user namespace (a rootless container whose " +
        "gid map is a single id); map a range of /etc/subgid through newgidmap, or drop them",
    );
  }
  if (opts.landlock && !proc.noNewPrivileges) {
    throw new ConfigError(
      "config.json",
      "process.noNewPrivileges",
      "must be true for a Landlock ruleset to be applied",
    );
  }
  for (const rl of proc.rlimits ?? []) {
    const res = rlimitNumber(rl.type);
    if (res === undefined) {
      throw new ConfigError("config.json", "process.rlimits", `unknown rlimit ${rl.type}`);
    }
    plan.add(Op.C_RLIMIT, `set ${rl.type}`, res, rlimitValue(rl.soft), rlimitValue(rl.hard));
  }
  // Scheduling, I/O priority, NUMA policy and affinity while every capability is still
  // held (SCHED_FIFO and the RT I/O class need CAP_SYS_NICE); exec keeps them all.
  const sched = proc.scheduler;
  if (sched) {
    plan.add(
      Op.C_SCHED,
      `set the scheduler ${sched.policy}`,
      SCHED_POLICY[sched.policy],
      (sched.flags ?? []).reduce((m, f) => m | SCHED_FLAG[f], 0),
      BigInt.asUintN(64, BigInt(sched.nice ?? 0)),
      sched.priority ?? 0,
      sched.runtime ?? 0,
      sched.deadline ?? 0,
      sched.period ?? 0,
    );
  }
  if (proc.ioPriority) {
    const { class: cls, priority } = proc.ioPriority;
    plan.add(
      Op.C_IOPRIO,
      `set the I/O priority ${cls} ${priority}`,
      (IOPRIO_CLASS[cls] << 13) | priority,
    );
  }
  if (opts.memoryPolicy) {
    const mp = opts.memoryPolicy;
    const mode = (mp.flags ?? []).reduce((m, f) => m | MPOL_FLAG[f], MPOL_MODE[mp.mode]);
    plan.add(
      Op.C_MEMPOLICY,
      `set the memory policy ${mp.mode}`,
      mode,
      mp.nodes ? listMask(mp.nodes) : new Uint8Array(),
    );
  }
  if (opts.affinity) {
    plan.add(Op.C_AFFINITY, `set the CPU affinity ${opts.affinity}`, listMask(opts.affinity));
  }
  if (opts.terminal) {
    const size = proc.consoleSize ?? { height: 0, width: 0 };
    plan.add(Op.C_TERMINAL, "set up the terminal", size.height, size.width, user.uid, user.gid);
  }
  plan.add(Op.C_CHDIR, `change to the working directory ${proc.cwd}`, proc.cwd);
  plan.add(Op.C_BOUNDING, "drop bounding capabilities", capabilityMask(caps.bounding ?? []));
  plan.add(Op.C_KEEPCAPS, "keep capabilities across the user switch", 1);
  plan.add(
    Op.C_USER,
    `switch to uid ${user.uid} gid ${user.gid}`,
    user.uid,
    user.gid,
    opts.setgroups ? 1 : 0,
    u32List(user.additionalGids ?? []),
  );
  const permitted = capabilityMask(caps.permitted ?? []);
  const inheritable = capabilityMask(caps.inheritable ?? []);
  // The filter is loaded last, just before execve, so nothing the runtime does depends
  // on what the user's profile allows (an allow-list need not list close_range). Without
  // no_new_privs loading it needs CAP_SYS_ADMIN: it stays effective until then. That
  // changes nothing the program gets: execve computes its capabilities from the
  // inheritable, ambient and bounding sets (and file capabilities), not the effective set.
  const loader = opts.seccomp && !proc.noNewPrivileges ? 1n << CAP_SYS_ADMIN : 0n;
  // The kernel raises an ambient capability only if it is permitted and inheritable;
  // runc warns about the others and goes on, and so do we (see ambientDropped).
  plan.add(
    Op.C_CAPS,
    "set capabilities",
    capabilityMask(caps.effective ?? []) | loader,
    permitted | loader,
    inheritable,
    capabilityMask(caps.ambient ?? []) & permitted & inheritable,
  );
  plan.add(Op.C_KEEPCAPS, "reset keep-capabilities", 0);
  plan.add(Op.C_UMASK, "set the umask", user.umask ?? 0o022);
  if (proc.noNewPrivileges) plan.add(Op.C_NNP, "set no_new_privs");
  if (opts.execLabel) {
    plan.add(
      Op.C_WRITE,
      `set the exec label ${
        opts.execLabel.field ? `for ${opts.execLabel.field} ` : ""
      }(${opts.execLabel.value})`,
      opts.execLabel.path,
      opts.execLabel.value,
    );
  }
  plan.add(Op.C_FINDEXEC, `find the executable ${proc.args![0]}`, proc.args![0], envPath(proc.env));
  plan.add(Op.C_CLOSEFDS, "close the runtime's file descriptors", 3 + opts.preserveFds);
  // A notify filter's listener goes out over the sync socket, which a created container's
  // init no longer has once it waits on the exec fifo: then the filter is loaded before
  // READY, as runc loads it (so the fifo, startContainer hooks and Landlock run under it).
  const notify = opts.seccomp !== undefined &&
    (opts.seccomp.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) !== 0;
  const early = notify && opts.fifo;
  if (early) addSeccomp(plan, opts.seccomp!, true);
  if (opts.fifo) {
    plan.add(Op.C_READY, "report ready");
    plan.add(Op.C_FIFOWAIT, "wait for start on the exec fifo");
  }
  if (opts.hooks) {
    addHookSteps(plan, "startContainer", opts.hooks.startContainer, opts.hooks.createdState);
  }
  if (opts.landlock) addLandlock(plan, opts.landlock);
  if (opts.seccomp && !early) addSeccomp(plan, opts.seccomp, notify);
  if (opts.reaperInit) plan.add(Op.C_INIT, "fork the command under a signal-forwarding pid 1");
  plan.add(Op.C_EXEC, `exec ${proc.args![0]}`, nulList(proc.args!), nulList(proc.env ?? []));
}

/** `SECCOMP_FILTER_FLAG_NEW_LISTENER` (seccomp/compile.ts sets it for `SCMP_ACT_NOTIFY`). */
const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;

function addSeccomp(
  plan: PlanBuilder,
  seccomp: { bpf: Uint8Array; flags: number },
  notify: boolean,
): void {
  plan.add(
    Op.C_SECCOMP,
    notify
      ? "load the seccomp filter and hand its notify listener to linux.seccomp.listenerPath"
      : "load the seccomp filter",
    seccomp.bpf,
    seccomp.flags,
  );
}

function addLandlock(plan: PlanBuilder, ll: LandlockPlan): void {
  const access = new Uint8Array(ll.rules.length * 8);
  const flags = new Uint8Array(ll.rules.length * 8);
  const dv = new DataView(access.buffer), fv = new DataView(flags.buffer);
  ll.rules.forEach((r, i) => {
    dv.setBigUint64(i * 8, r.access, true);
    fv.setBigUint64(i * 8, r.optional ? 1n : 0n, true);
  });
  plan.add(
    Op.C_LANDLOCK,
    `apply the Landlock ruleset (ABI ${ll.abi}, ${ll.rules.length} paths)`,
    ll.handled,
    nulList(ll.rules.map((r) => r.path)),
    access,
    flags,
  );
}

/**
 * Builds the plan for a container's init process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildInitPlan } from "./init_plan.ts";
 * import { defaultSpec } from "../spec/default.ts";
 * const plan = buildInitPlan(defaultSpec(), { bundle: "/tmp/bundle" });
 * assert.ok(plan.steps.includes("pivot_root into the rootfs"));
 * ```
 */
export function buildInitPlan(spec: Spec, opts: InitPlanOptions): PlanBuilder {
  // Asked twice of the rootfs (procfs, pivot_root): where / is an initramfs, each answer is a
  // read of mountinfo (2.6 ms a container in the emulated VM, whose / is one): once a plan.
  const facts = opts.host ?? HOST_FACTS;
  const ramfs = new Map<string, boolean>();
  const host: PlanHostFacts = Object.create(facts); // the others as they are
  host.onInitialRamfs = (dir) => {
    let on = ramfs.get(dir);
    if (on === undefined) ramfs.set(dir, on = facts.onInitialRamfs(dir));
    return on;
  };
  opts = { ...opts, host };
  const plan = new PlanBuilder();
  const linux = spec.linux ?? {};
  const proc = spec.process!;
  const ns = namespaceFlags(linux.namespaces);
  const userns = ns.types.has("user");
  const newUserns = (ns.create & CloneFlag.NEWUSER) !== 0;

  // Network devices are named in the runtime's namespaces: the helper opens what it
  // needs for them before it joins any namespace, and moves them once the child exists.
  const netns = linux.namespaces?.find((n) => n.type === "network")?.path ?? "";
  for (const [dev, d] of Object.entries(linux.netDevices ?? {})) {
    const name = d.name ?? dev;
    plan.add(
      Op.H_NETDEV,
      `move network device ${dev} into the container as ${name}`,
      dev,
      name,
      netns,
    );
  }
  // Idmapped mounts are made by the helper with the runtime's privileges (the container's
  // root cannot idmap a host file system), detached, and attached by the child.
  for (const [i, m] of idmappedMounts(spec)) {
    const o = parseMountOptions(m.options);
    plan.add(
      Op.H_IDMOUNT,
      `make the idmapped mount of mounts[${i}] (${m.destination})`,
      bindSource(m, opts.bundle),
      idMap(m.uidMappings?.length ? m.uidMappings : linux.uidMappings ?? []),
      idMap(m.gidMappings?.length ? m.gidMappings : linux.gidMappings ?? []),
      o.recursive ? 1 : 0,
      o.idmapRecursive ? 1 : 0,
    );
  }
  addPathJoins(plan, ns.join, opts.host ?? HOST_FACTS);
  if (ns.create & CloneFlag.NEWTIME) {
    const off = linux.timeOffsets ?? {};
    const text = Object.entries(off).map(([clock, o]) =>
      `${clock} ${o.secs ?? 0} ${o.nanosecs ?? 0}\n`
    ).join("");
    plan.add(Op.H_TIMENS, "create the time namespace", text);
  }
  // The time namespace is unshared by the helper (offsets must be written before
  // any process enters it); the cgroup namespace by the child once it is in its cgroup.
  if (opts.cloneInto) {
    plan.add(Op.H_CGROUP, `clone into the cgroup ${opts.cloneInto}`, opts.cloneInto);
  }
  plan.add(Op.H_CLONE, "clone", ns.create & ~(CloneFlag.NEWTIME | CloneFlag.NEWCGROUP));
  // The child's id maps are written from outside after clone. The kernel lets an unprivileged
  // writer (a rootless runtime, or newuidmap/newgidmap for one) open /proc/<child>/uid_map only
  // if /proc/<child> is its own, which it is only while the child is dumpable; root writes the
  // maps with its capabilities. A dumpable init is open to the ptrace rules, under which a
  // root container that sees it (sharing its pid namespace) holds every capability in a user
  // namespace root owns: so the window is opened only for a writer who needs it, and closed
  // by the child's first steps below (docs/security.md).
  const dumpableWindow = newUserns && opts.rootless !== undefined;
  if (dumpableWindow) {
    plan.add(Op.H_DUMPABLE, "clone the init dumpable (the id maps' writer is unprivileged)");
  }
  let setgroupsDenied = false;
  if (newUserns) {
    checkMapped(proc, linux);
    setgroupsDenied = addIdMaps(plan, linux, opts.rootless);
  }
  const joinedUser = ns.join.find((j) => j.type === "user");
  if (joinedUser && (opts.host ?? HOST_FACTS).setgroupsDenied?.(joinedUser.path!) === true) {
    // A joined user namespace that denies setgroups(2) (a rootless container's, with one gid
    // mapped): the process keeps the groups it has, as in a new one that denies it.
    setgroupsDenied = true;
  }
  if (opts.fifoPath) plan.add(Op.H_FIFO, "open the exec fifo", opts.fifoPath);

  plan.add(Op.C_SETSID, "create a session");
  if (proc.oomScoreAdj !== undefined) {
    // While the child's ids are still the runtime's: /proc/self belongs to the runtime's user
    // (the child is dumpable, rootless) or to root of the runtime's user namespace (it is not),
    // and the container's mapped root may not write it.
    plan.add(
      Op.C_WRITE,
      "set oom_score_adj (process.oomScoreAdj)",
      "/proc/self/oom_score_adj",
      String(proc.oomScoreAdj),
    );
  }
  if (dumpableWindow) {
    // From here on, nothing may trace the init or open its /proc files.
    plan.add(Op.C_DUMPABLE, "make the init non-dumpable again", 0);
  }
  if (opts.loopback && (ns.create & CloneFlag.NEWNET)) {
    plan.add(Op.C_LOOPBACK, "bring up lo in the new network namespace");
  }
  if (newUserns && (linux.uidMappings ?? []).some((m) => m.containerID === 0)) {
    // Until it switches, the child's ids are the unmapped host ones: files it creates
    // would fail with EOVERFLOW. Become root of the new user namespace first.
    // (A map without root, such as the sandbox's uid -> same uid, keeps the ids: they
    // are mapped, and the child holds every capability in its new namespace anyway.)
    plan.add(Op.C_USER, "become root in the user namespace", 0, 0, 0, new Uint8Array());
  }
  if (!opts.noNewKeyring) {
    plan.add(Op.C_KEYRING, "join a new session keyring", `_ses.${opts.id ?? "nsinit"}`);
  }
  if (ns.create & CloneFlag.NEWCGROUP) {
    plan.add(Op.C_UNSHARE, "create the cgroup namespace", CloneFlag.NEWCGROUP);
  }
  if (ns.types.has("mount")) addRootfs(plan, spec, opts, userns, ns.types);
  else {
    addCreateHooks(plan, opts.hooks);
    // root.path is the container's root whatever the namespaces (validate.ts refuses
    // mounts and the like without a mount namespace).
    const rootfs = rootfsPath(spec, opts.bundle);
    plan.add(Op.C_CHROOT, `chroot into the rootfs ${rootfs}`, rootfs);
  }
  if (ns.types.has("uts") && spec.hostname !== undefined && spec.hostname !== "") {
    plan.add(Op.C_HOSTNAME, `set hostname ${spec.hostname}`, spec.hostname);
  }
  if (ns.types.has("uts") && spec.domainname) {
    plan.add(Op.C_DOMAINNAME, `set domainname ${spec.domainname}`, spec.domainname);
  }
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) {
    plan.add(
      Op.C_WRITE,
      `set sysctl ${key} (linux.sysctl)`,
      `/proc/sys/${key.replaceAll(".", "/")}`,
      value,
    );
  }
  if (ns.types.has("mount")) {
    for (const p of linux.readonlyPaths ?? []) plan.add(Op.C_READONLY, `make ${p} read-only`, p);
    for (const p of linux.maskedPaths ?? []) plan.add(Op.C_MASK, `mask ${p}`, p);
    if (spec.root?.readonly) {
      plan.add(Op.C_REMOUNT, "make the rootfs read-only", "/", MS_RDONLY, 0);
    }
  }
  if (nestsUserNamespace(spec, opts)) {
    plan.add(
      Op.C_LOCKMOUNTS,
      "lock the mounts: nest a user namespace (identity maps) and a mount namespace",
    );
  }
  if (linux.personality) {
    const persona = linux.personality.domain === "LINUX32" ? 0x0008 : 0x0000;
    plan.add(Op.C_PERSONALITY, `set personality ${linux.personality.domain}`, persona);
  }
  processSteps(plan, proc, {
    seccomp: opts.seccomp,
    preserveFds: opts.preserveFds ?? 0,
    fifo: opts.fifoPath !== undefined,
    terminal: proc.terminal === true,
    setgroups: !setgroupsDenied && (!newUserns || linux.uidMappings !== undefined),
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.execLabel ? { execLabel: opts.execLabel } : {}),
    ...(opts.landlock ? { landlock: opts.landlock } : {}),
    ...(opts.reaperInit ? { reaperInit: true } : {}),
    ...(linux.memoryPolicy ? { memoryPolicy: linux.memoryPolicy } : {}),
  });
  return plan;
}

/**
 * Whether the init locks its mounts (`C_LOCKMOUNTS`): a rootless container with a user and a
 * mount namespace of its own, after every mount, mask and read-only path is in place, unshares
 * a user namespace nested in the container's, with a mount namespace. The kernel locks every
 * mount (MNT_LOCKED, and its flags) that a mount namespace copied into a less privileged user
 * namespace receives (mount_namespaces(7)), so nothing in the container, CAP_SYS_ADMIN or not,
 * unmounts the read-only cover of /sys/fs/cgroup over the host's hierarchies, a masked path or
 * a read-only path, or remounts them writable (as bubblewrap does). Only for a process that
 * may hold CAP_SYS_ADMIN (in any of its capability sets): without it in the bounding set no
 * process of the container can gain it in the container's user namespace, so none can unmount
 * or remount anything there (a user namespace it makes below receives the mounts locked, as
 * above), and the container keeps one user namespace, which tools that join a rootless
 * container's namespaces by pid need (`slirp4netns <pid>`, `nsenter -t <pid> -a`: in the nested
 * one they hold no capability over the container's network, ipc, uts, pid and cgroup
 * namespaces). Not for:
 * - a root-run container: one user namespace (CRIU cannot checkpoint nested ones), and its
 *   mounts are the root caller's to grant;
 * - `noPivot` or an initial ramfs (chroot: the kernel refuses a new user namespace to a
 *   chrooted process);
 * - a container without a procfs at /proc: the nested namespace's maps are written through
 *   /proc/<init>.
 * Exec'd processes then join the nested namespaces (the state's `nestedUserns`).
 */
export function nestsUserNamespace(
  spec: Spec,
  opts: Pick<InitPlanOptions, "rootless" | "noPivot" | "host" | "bundle">,
): boolean {
  if (!opts.rootless || opts.noPivot) return false;
  const caps = spec.process?.capabilities ?? {};
  const sets = [caps.bounding, caps.effective, caps.permitted, caps.inheritable, caps.ambient];
  if (!sets.some((set) => set?.includes("CAP_SYS_ADMIN"))) return false;
  const ns = namespaceFlags(spec.linux?.namespaces);
  if (!(ns.create & CloneFlag.NEWUSER) || !(ns.create & CloneFlag.NEWNS)) return false;
  const proc = (spec.mounts ?? []).some((m) =>
    m.destination.replace(/\/+$/, "") === "/proc" &&
    (m.type === "proc" || (m.source ?? "").replace(/\/+$/, "") === "/proc")
  );
  return proc && !(opts.host ?? HOST_FACTS).onInitialRamfs(rootfsPath(spec, opts.bundle));
}

/**
 * The joins of namespaces given by path, in {@link JOIN_ORDER}: the user namespace first, whose
 * capabilities the others' setns(2) needs. Unless the joined user namespace is nested and its
 * parent owns joined namespaces, as a rootless container that locks its mounts has
 * ({@link nestsUserNamespace}: a pod's container joining such a container's
 * `/proc/<pid>/ns/{user,net,ipc,uts}`): the nested one holds no capability over them. Then, as
 * `exec` does ({@link buildExecPlan}): the parent (`H_JOINOWNER`), the namespaces it owns, the
 * given user namespace, and the rest (mount last). Decided from the namespaces' owners
 * (NS_GET_USERNS, NS_GET_PARENT); without them (a host fact that cannot tell) the order is
 * the usual one.
 */
function addPathJoins(plan: PlanBuilder, join: LinuxNamespace[], host: PlanHostFacts): void {
  let order = join;
  let owner: LinuxNamespace | undefined;
  const user = join.find((j) => j.type === "user");
  if (user && join.length > 1 && host.namespaceOwner) {
    const parent = host.namespaceOwner(user.path!, "parent");
    const others = join.filter((j) => j !== user && j.type !== "mount");
    const byParent = parent === undefined
      ? []
      : others.filter((j) => host.namespaceOwner!(j.path!, "owner") === parent);
    if (byParent.length) {
      owner = byParent[0];
      order = [...byParent, user, ...join.filter((j) => j !== user && !byParent.includes(j))];
    }
  }
  if (owner) {
    plan.add(
      Op.H_JOINOWNER,
      `join the user namespace owning ${owner.path} (the parent of ${user!.path}, nested)`,
      owner.path!,
    );
  }
  for (const j of order) {
    plan.add(Op.H_JOIN, `join the ${j.type} namespace ${j.path}`, j.path!, NS_FLAG[j.type]);
  }
}

/** Refuses a process user whose ids the new user namespace's maps do not hold (EINVAL later). */
function checkMapped(proc: Process, linux: Linux): void {
  const has = (maps: Linux["uidMappings"], id: number) =>
    (maps ?? []).some((m) => id >= m.containerID && id < m.containerID + m.size);
  const check = (field: string, id: number, maps: Linux["uidMappings"], mapField: string) => {
    if (maps?.length && !has(maps, id)) {
      throw new ConfigError(
        "config.json",
        field,
        `${id} is not mapped in the container's user namespace (${mapField} covers ${
          maps.map((m) => `${m.containerID}-${m.containerID + m.size - 1}`).join(", ")
        })`,
      );
    }
  };
  check("process.user.uid", proc.user.uid, linux.uidMappings, "linux.uidMappings");
  check("process.user.gid", proc.user.gid, linux.gidMappings, "linux.gidMappings");
  for (const [i, g] of (proc.user.additionalGids ?? []).entries()) {
    check(`process.user.additionalGids[${i}]`, g, linux.gidMappings, "linux.gidMappings");
  }
}

/**
 * Adds the steps that write a new user namespace's maps. Privileged: the helper
 * writes them. Rootless: the single mapping of one's own id is written directly,
 * after `setgroups` is denied (the kernel's rule for unprivileged writers); ranges
 * go through newuidmap/newgidmap. Returns whether setgroups ends up denied.
 */
function addIdMaps(plan: PlanBuilder, linux: Linux, rootless: RootlessMaps | undefined): boolean {
  const uids = linux.uidMappings ?? [], gids = linux.gidMappings ?? [];
  if (!rootless) {
    if (uids.length) plan.add(Op.H_UIDMAP, "write uid_map", idMap(uids));
    if (gids.length) plan.add(Op.H_GIDMAP, "write gid_map", idMap(gids));
    return false;
  }
  const { uid, gid } = rootless;
  if (uid.kind === "tool") {
    plan.add(
      Op.H_MAPCMD,
      `write uid_map with ${uid.tool} (linux.uidMappings)`,
      uid.tool,
      mapToolArgs(uids),
    );
  } else plan.add(Op.H_UIDMAP, "write uid_map (linux.uidMappings)", idMap(uids));
  if (gid.kind === "tool") {
    plan.add(
      Op.H_MAPCMD,
      `write gid_map with ${gid.tool} (linux.gidMappings)`,
      gid.tool,
      mapToolArgs(gids),
    );
    return false;
  }
  plan.add(Op.H_SETGROUPS, "deny setgroups (needed to write gid_map unprivileged)", "deny");
  plan.add(Op.H_GIDMAP, "write gid_map (linux.gidMappings)", idMap(gids));
  return true;
}

function addRootfs(
  plan: PlanBuilder,
  spec: Spec,
  opts: InitPlanOptions,
  userns: boolean,
  types: Set<NamespaceType>,
): void {
  const linux = spec.linux ?? {};
  const rootfs = rootfsPath(spec, opts.bundle);
  const prop = propagationFlag(linux.rootfsPropagation) ?? (MS_SLAVE | MS_REC);
  plan.add(Op.C_PROPAGATE, "make / a slave mount", "/", MS_SLAVE | MS_REC, 0);
  plan.add(Op.C_ROOTFS, `bind the rootfs ${rootfs}`, rootfs);
  const idmapped = new Map(idmappedMounts(spec).map(([i], k) => [i, k]));
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    addMount(plan, m, i, opts, userns, types, idmapped.get(i));
  }

  const devices = [...DEFAULT_DEVICES];
  for (const d of linux.devices ?? []) {
    const at = devices.findIndex((x) => x.path === d.path);
    if (at >= 0) devices[at] = d;
    else devices.push(d);
  }
  for (const d of devices) {
    if (userns) {
      // mknod is not allowed in a user namespace: bind the host's node instead (the one at
      // the same path, else the one with the same numbers: /dev/char/M:m, /dev/block/M:m).
      const src = hostDeviceNode(d, opts.host ?? HOST_FACTS);
      plan.add(Op.C_MOUNT, `bind device ${d.path} from ${src}`, src, d.path, "", MS_BIND, "", 2, 1);
    } else {
      const kind = d.type === "b" ? S_IFBLK : d.type === "p" ? S_IFIFO : S_IFCHR;
      const dev = d.type === "p" ? 0n : makedev(d.major ?? 0, d.minor ?? 0);
      plan.add(
        Op.C_MKNOD,
        `create device ${d.path}`,
        d.path,
        kind | (d.fileMode ?? 0o666),
        dev,
        d.uid ?? 0,
        d.gid ?? 0,
      );
    }
  }
  for (
    const [link, target] of [
      ["/dev/fd", "/proc/self/fd"],
      ["/dev/stdin", "/proc/self/fd/0"],
      ["/dev/stdout", "/proc/self/fd/1"],
      ["/dev/stderr", "/proc/self/fd/2"],
    ]
  ) {
    plan.add(Op.C_SYMLINK, `link ${link}`, target, link);
  }
  if (hasMount(spec, "/dev/pts")) plan.add(Op.C_SYMLINK, "link /dev/ptmx", "pts/ptmx", "/dev/ptmx");
  addCreateHooks(plan, opts.hooks);
  // pivot_root cannot leave the initial ramfs (initramfs): there, MS_MOVE + chroot.
  const noPivot = opts.noPivot === true || (opts.host ?? HOST_FACTS).onInitialRamfs(rootfs);
  plan.add(
    Op.C_PIVOT,
    noPivot ? "move into the rootfs (no pivot)" : "pivot_root into the rootfs",
    noPivot ? 1 : 0,
  );
  if (linux.rootfsPropagation) {
    plan.add(Op.C_PROPAGATE, `set rootfs propagation ${linux.rootfsPropagation}`, "/", prop, 0);
  }
}

/**
 * Whether `dir` lies on the initial root filesystem (an initramfs: fstype
 * "rootfs" or "ramfs" at "/"), from which pivot_root(2) refuses to move.
 */
export function onInitialRamfs(dir: string, mountinfo?: string): boolean {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/mountinfo");
    } catch {
      return false;
    }
  }
  // The mount holding dir is the one with the longest mount point that prefixes it.
  let best = "", bestType = "";
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0) continue;
    const point = fields[4].replace(/\\040/g, " ");
    const inside = point === "/" || dir === point || dir.startsWith(point + "/");
    if (inside && point.length >= best.length) {
      best = point;
      bestType = fields[sep + 1];
    }
  }
  return best === "/" && (bestType === "rootfs" || bestType === "ramfs");
}

function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major), mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

function propagationFlag(p: string | undefined): number | undefined {
  switch (p) {
    case "private":
      return 1 << 18;
    case "rprivate":
      return (1 << 18) | MS_REC;
    case "slave":
      return MS_SLAVE;
    case "rslave":
      return MS_SLAVE | MS_REC;
    case "shared":
      return 1 << 20;
    case "rshared":
      return (1 << 20) | MS_REC;
    case "unbindable":
      return 1 << 17;
    case "runbindable":
      return (1 << 17) | MS_REC;
  }
  return undefined;
}

function addMount(
  plan: PlanBuilder,
  m: Mount,
  index: number,
  opts: InitPlanOptions,
  userns: boolean,
  types: Set<NamespaceType>,
  idmapped?: number,
): void {
  const o = parseMountOptions(m.options);
  const dest = m.destination;
  const what = `mount ${m.type ?? "bind"} at ${dest} (mounts[${index}])`;
  let type = m.type ?? "";
  if (idmapped !== undefined) {
    // The helper made it (H_IDMOUNT number `idmapped`): attach it, then apply its flags.
    const create = (opts.host ?? HOST_FACTS).isDirectory(bindSource(m, opts.bundle)) ? 1 : 2;
    plan.add(Op.C_MOVEMOUNT, what, idmapped, dest, create);
    const flags = o.flags & ~o.clearFlags & ~(MS_BIND | MS_REC);
    if (flags) plan.add(Op.C_REMOUNT, `${what}: flags`, dest, flags | MS_BIND, 1);
  } else if (o.bind || type === "bind") {
    const src = bindSource(m, opts.bundle);
    const create = (opts.host ?? HOST_FACTS).isDirectory(src) ? 1 : 2;
    const flags = (o.flags | MS_BIND | (o.recursive ? MS_REC : 0)) & ~o.clearFlags;
    plan.add(Op.C_MOUNT, what, src, dest, "", flags, "", create, 1);
  } else if (type === "cgroup" || type === "cgroup2") {
    addCgroupMount(plan, m, o.flags, what, opts, types);
    return;
  } else {
    let flags = o.flags & ~o.clearFlags;
    let src = m.source ?? type;
    if (type === "sysfs" && userns && !types.has("network")) {
      // sysfs needs a network namespace owned by the user namespace: bind the host's.
      type = "";
      src = "/sys";
      flags = MS_BIND | MS_REC | (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC));
      plan.add(Op.C_MOUNT, what, src, dest, type, flags, "", 1, 1);
    } else {
      plan.add(
        Op.C_MOUNT,
        what,
        src,
        dest,
        type,
        flags,
        withMountLabel(o.data, type, opts.mountLabel),
        1,
        1,
      );
    }
  }
  for (const p of o.propagation) plan.add(Op.C_PROPAGATE, `${what}: propagation`, dest, p, 1);
  if (o.recAttrSet || o.recAttrClr) {
    plan.add(Op.C_SETATTR, `${what}: recursive attributes`, dest, o.recAttrSet, o.recAttrClr, 1);
  }
}

function addCgroupMount(
  plan: PlanBuilder,
  m: Mount,
  flags: number,
  what: string,
  opts: InitPlanOptions,
  types: Set<NamespaceType>,
): void {
  const dest = m.destination;
  const base = (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) | MS_NOSUID | MS_NODEV |
    MS_NOEXEC;
  const { layout, mounts: paths } = opts.cgroupView ?? { layout: "v1", mounts: {} };
  if (layout === "none") return;
  if (layout === "v2") {
    if (types.has("cgroup")) {
      // cgroup2 has one superblock: MS_RDONLY at mount time would ask to make it read-only
      // for everyone (EBUSY in a user namespace); read-only is per mount, by a remount.
      plan.add(Op.C_MOUNT, what, "cgroup2", dest, "cgroup2", base & ~MS_RDONLY, "", 1, 1);
      if (base & MS_RDONLY) plan.add(Op.C_REMOUNT, `${what}: read-only`, dest, base, 1);
    } else if (paths[""]) {
      plan.add(Op.C_MOUNT, what, paths[""], dest, "", base | MS_BIND | MS_REC, "", 1, 1);
    }
    return;
  }
  // v1 and hybrid: a tmpfs holding a bind of the container's own cgroup of each hierarchy.
  plan.add(
    Op.C_MOUNT,
    what,
    "tmpfs",
    dest,
    "tmpfs",
    MS_NOSUID | MS_NODEV | MS_NOEXEC,
    "mode=755",
    1,
    1,
  );
  // By name (a plain sort() turns each [name, dir] pair into a string at every comparison;
  // the order is the same: names hold no character below ",").
  const byName = Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [sub, dir] of byName) {
    plan.add(
      Op.C_MOUNT,
      `${what}: ${sub}`,
      dir,
      join(dest, sub),
      "",
      base | MS_BIND | MS_REC,
      "",
      1,
      1,
    );
  }
  if (flags & MS_RDONLY) plan.add(Op.C_REMOUNT, `${what}: read-only`, dest, base | MS_RDONLY, 1);
}

/** Options for an exec'd process. */
export interface ExecPlanOptions {
  /** Pid of the container's init, whose namespaces are joined. */
  initPid: number;
  /** Namespace types of the container to join. */
  namespaces: NamespaceType[];
  /** Extra fds passed through after stdio. */
  preserveFds?: number;
  /** Compiled seccomp filter to apply. */
  seccomp?: { bpf: Uint8Array; flags: number };
  /** Whether the container has its own user namespace. */
  userns?: boolean;
  /**
   * The init nested a user namespace to lock its mounts ({@link nestsUserNamespace}):
   * `/proc/<init>/ns/user` is the nested one, and the container's other namespaces belong to
   * its parent.
   */
  nestedUserns?: boolean;
  /** setgroups(2) is denied in the container's user namespace (rootless, single gid). */
  setgroupsDenied?: boolean;
  /** The container's rootfs, to chroot into when it has no mount namespace. */
  chroot?: string;
  /** The container's NUMA memory policy (`linux.memoryPolicy`). */
  memoryPolicy?: LinuxMemoryPolicy;
  /** The LSM label to exec into: a procfs file and value (see host_features.ts). */
  execLabel?: { path: string; value: string; field?: string };
}

/**
 * Builds the plan for a process joining a running container (`exec`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildExecPlan } from "./init_plan.ts";
 * const plan = buildExecPlan(
 *   { args: ["/bin/true"], cwd: "/", user: { uid: 0, gid: 0 } },
 *   { initPid: 1234, namespaces: ["mount", "pid"] },
 * );
 * assert.equal(plan.steps[0], "join the pid namespace /proc/1234/ns/pid");
 * ```
 */
export function buildExecPlan(proc: Process, opts: ExecPlanOptions): PlanBuilder {
  const plan = new PlanBuilder();
  let types = [...opts.namespaces].sort((a, b) => JOIN_ORDER.indexOf(a) - JOIN_ORDER.indexOf(b));
  if (opts.nestedUserns && types.includes("user")) {
    // The init's user namespace is nested in the container's, which owns the other
    // namespaces: setns(2) into those needs CAP_SYS_ADMIN over their owner, which the nested
    // namespace has not. So: the owner first, the others, then the nested user namespace and
    // the mount namespace it owns (the exec'd process sees the same locked mounts as the init).
    const owned = types.filter((t) => t !== "user" && t !== "mount");
    if (owned.length) {
      const path = `/proc/${opts.initPid}/ns/${NS_FILE[owned[0]]}`;
      plan.add(
        Op.H_JOINOWNER,
        `join the user namespace owning ${path} (the container's; the init's is nested in it)`,
        path,
      );
    }
    types = [...owned, ...types.filter((t) => t === "user" || t === "mount")];
  }
  for (const t of types) {
    const path = `/proc/${opts.initPid}/ns/${NS_FILE[t]}`;
    plan.add(Op.H_JOIN, `join the ${t} namespace ${path}`, path, NS_FLAG[t]);
  }
  // execCPUAffinity.initial: the helper's affinity, inherited by the child before the
  // runtime moves it into the container's cgroup; final: set by the child after that.
  const affinity: CPUAffinity = proc.execCPUAffinity ?? {};
  if (affinity.initial) {
    plan.add(
      Op.H_AFFINITY,
      `set the initial CPU affinity ${affinity.initial}`,
      listMask(affinity.initial),
    );
  }
  if (proc.oomScoreAdj !== undefined) {
    // By the helper at its start, before it makes itself non-dumpable (the clone inherits
    // it): a non-dumpable process's /proc/self is root's, which a rootless caller may not write.
    plan.add(Op.H_OOMSCOREADJ, "set oom_score_adj", String(proc.oomScoreAdj));
  }
  plan.add(Op.H_CLONE, "clone", 0);
  // Every exec'd process leads its own session, as runc's do: it must not share the runtime
  // caller's process group (conmon kills the exec's group when an execSync times out).
  plan.add(Op.C_SETSID, "create a session");
  if (opts.chroot) plan.add(Op.C_CHROOT, `chroot into the rootfs ${opts.chroot}`, opts.chroot);
  processSteps(plan, proc, {
    seccomp: opts.seccomp,
    preserveFds: opts.preserveFds ?? 0,
    fifo: false,
    terminal: proc.terminal === true,
    setgroups: opts.setgroupsDenied !== true,
    ...(opts.memoryPolicy ? { memoryPolicy: opts.memoryPolicy } : {}),
    ...(affinity.final ? { affinity: affinity.final } : {}),
    ...(opts.execLabel ? { execLabel: opts.execLabel } : {}),
  });
  return plan;
}

/**
 * An rlimit as the kernel's u64. 18446744073709551615 (RLIM_INFINITY) reaches us as the
 * double 2^64, which would wrap to 0: it is unlimited. (Larger JSON integers are refused by
 * validation.)
 */
function rlimitValue(n: number): bigint {
  return n >= 2 ** 64 ? (1n << 64n) - 1n : BigInt(n);
}
