/**
 * TypeScript types for the OCI runtime spec's `config.json` (versions 1.0 to 1.2) and the
 * OCI container state, with field names exactly as they appear in JSON
 * (runtime-spec `specs-go/config.go` and `specs-go/state.go`).
 *
 * Only the Linux platform is modelled; `solaris`, `windows`, `vm` and `zos` are left out.
 * Integers are `number`: the int64/uint64 values met in practice fit in a double.
 *
 * @example Typing a minimal config
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Spec } from "./config.ts";
 * const spec: Spec = {
 *   ociVersion: "1.2.0",
 *   root: { path: "rootfs" },
 *   process: { cwd: "/", args: ["sh"], user: { uid: 0, gid: 0 } },
 * };
 * assert.equal(spec.process?.args?.[0], "sh");
 * ```
 *
 * @module
 */

/** The container configuration, `config.json`. */
export interface Spec {
  /** Version of the OCI runtime spec the bundle complies with, e.g. `1.2.0`. */
  ociVersion: string;
  /** The container process. */
  process?: Process;
  /** The container's root filesystem. */
  root?: Root;
  /** The container's hostname (UTS namespace). */
  hostname?: string;
  /** The container's NIS domain name (UTS namespace). */
  domainname?: string;
  /** Additional mounts beyond `root`, in order. */
  mounts?: Mount[];
  /** Lifecycle hooks. */
  hooks?: Hooks;
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** Linux-specific configuration. */
  linux?: Linux;
}

/** The container process (`process`, and the whole of `exec --process` JSON). */
export interface Process {
  /** Whether a terminal is attached to the process. */
  terminal?: boolean;
  /** Console size in characters, when `terminal` is set. */
  consoleSize?: Box;
  /** The user the process runs as. */
  user: User;
  /** Argv of the process; `args[0]` is resolved against `PATH`. */
  args?: string[];
  /** Windows only: the full command line. */
  commandLine?: string;
  /** Environment, `KEY=value` strings. */
  env?: string[];
  /** Working directory, an absolute path inside the container. */
  cwd: string;
  /** Capability sets. */
  capabilities?: LinuxCapabilities;
  /** Resource limits (setrlimit). */
  rlimits?: POSIXRlimit[];
  /** Sets PR_SET_NO_NEW_PRIVS. */
  noNewPrivileges?: boolean;
  /** AppArmor profile name. */
  apparmorProfile?: string;
  /** Value for `/proc/<pid>/oom_score_adj`. */
  oomScoreAdj?: number;
  /** Scheduling policy and parameters (sched_setattr), since 1.2. */
  scheduler?: Scheduler;
  /** SELinux label of the process. */
  selinuxLabel?: string;
  /** I/O priority (ioprio_set), since 1.2. */
  ioPriority?: LinuxIOPriority;
  /** CPU affinity of `runc exec`'d processes, since 1.2. */
  execCPUAffinity?: CPUAffinity;
}

/** Width and height of a console, in characters. */
export interface Box {
  /** Rows. */
  height: number;
  /** Columns. */
  width: number;
}

/** The user a process runs as. */
export interface User {
  /** User id in the container's namespace. */
  uid: number;
  /** Group id in the container's namespace. */
  gid: number;
  /** File mode creation mask. */
  umask?: number;
  /** Supplementary group ids. */
  additionalGids?: number[];
  /** Windows only: the user name. */
  username?: string;
}

/** Linux capability sets; each entry is a `CAP_*` name. */
export interface LinuxCapabilities {
  /** The bounding set. */
  bounding?: string[];
  /** The effective set. */
  effective?: string[];
  /** The inheritable set. */
  inheritable?: string[];
  /** The permitted set. */
  permitted?: string[];
  /** The ambient set. */
  ambient?: string[];
}

/** One resource limit, as in setrlimit(2). */
export interface POSIXRlimit {
  /** The resource, e.g. `RLIMIT_NOFILE`. */
  type: string;
  /** Hard limit. */
  hard: number;
  /** Soft limit. */
  soft: number;
}

/** Scheduling policies accepted in `process.scheduler.policy`. */
export type SchedulerPolicy =
  | "SCHED_OTHER"
  | "SCHED_FIFO"
  | "SCHED_RR"
  | "SCHED_BATCH"
  | "SCHED_ISO"
  | "SCHED_IDLE"
  | "SCHED_DEADLINE";

/** Flags accepted in `process.scheduler.flags`. */
export type SchedulerFlag =
  | "SCHED_FLAG_RESET_ON_FORK"
  | "SCHED_FLAG_RECLAIM"
  | "SCHED_FLAG_DL_OVERRUN"
  | "SCHED_FLAG_KEEP_POLICY"
  | "SCHED_FLAG_KEEP_PARAMS"
  | "SCHED_FLAG_UTIL_CLAMP_MIN"
  | "SCHED_FLAG_UTIL_CLAMP_MAX";

/** Scheduling attributes, as in sched_setattr(2). */
export interface Scheduler {
  /** The policy. */
  policy: SchedulerPolicy;
  /** Nice value for SCHED_OTHER/SCHED_BATCH. */
  nice?: number;
  /** Static priority for SCHED_FIFO/SCHED_RR. */
  priority?: number;
  /** Scheduling flags. */
  flags?: SchedulerFlag[];
  /** SCHED_DEADLINE runtime, in nanoseconds. */
  runtime?: number;
  /** SCHED_DEADLINE deadline, in nanoseconds. */
  deadline?: number;
  /** SCHED_DEADLINE period, in nanoseconds. */
  period?: number;
}

/** I/O scheduling classes accepted in `process.ioPriority.class`. */
export type IOPriorityClass = "IOPRIO_CLASS_RT" | "IOPRIO_CLASS_BE" | "IOPRIO_CLASS_IDLE";

/** I/O priority of the process, as in ioprio_set(2). */
export interface LinuxIOPriority {
  /** The class. */
  class: IOPriorityClass;
  /** Priority within the class, 0 (highest) to 7. */
  priority: number;
}

/** CPU affinity for processes joining the container (`runc exec`). */
export interface CPUAffinity {
  /** Affinity applied before the process joins the cgroup, a cpu list like `0-3,7`. */
  initial?: string;
  /** Affinity applied after it joined the cgroup. */
  final?: string;
}

/** The container's root filesystem. */
export interface Root {
  /** Path to the root filesystem, absolute or relative to the bundle. */
  path: string;
  /** Whether the root filesystem is read-only. */
  readonly?: boolean;
}

/** A mount, as in mount(8). */
export interface Mount {
  /** Absolute path of the mount point inside the container. */
  destination: string;
  /** Filesystem type, e.g. `proc`, `tmpfs`, `bind`. */
  type?: string;
  /** Device name, path or filesystem-specific source. */
  source?: string;
  /** Mount options, e.g. `nosuid`, `rbind`, `mode=755`. */
  options?: string[];
  /** UID mappings of an idmapped mount (since 1.1). */
  uidMappings?: LinuxIDMapping[];
  /** GID mappings of an idmapped mount (since 1.1). */
  gidMappings?: LinuxIDMapping[];
}

/** A lifecycle hook command. */
export interface Hook {
  /** Absolute path of the executable. */
  path: string;
  /** Argv, including argv[0]. */
  args?: string[];
  /** Environment, `KEY=value` strings. */
  env?: string[];
  /** Timeout in seconds; must be positive when set. */
  timeout?: number;
}

/** The lifecycle hooks. */
export interface Hooks {
  /** Deprecated: run after the container is created, in the runtime namespace. */
  prestart?: Hook[];
  /** Run during create, after the namespaces exist, in the runtime namespace. */
  createRuntime?: Hook[];
  /** Run during create, in the container namespace, before pivot_root. */
  createContainer?: Hook[];
  /** Run during start, in the container namespace, before the user process. */
  startContainer?: Hook[];
  /** Run after the user process started, in the runtime namespace. */
  poststart?: Hook[];
  /** Run after the container is deleted, in the runtime namespace. */
  poststop?: Hook[];
}

/** Namespace types of `linux.namespaces[].type`. */
export type NamespaceType =
  | "pid"
  | "network"
  | "mount"
  | "ipc"
  | "uts"
  | "user"
  | "cgroup"
  | "time";

/** A namespace to create, or to join when `path` is set. */
export interface LinuxNamespace {
  /** The namespace type. */
  type: NamespaceType;
  /** A namespace file to join, e.g. `/proc/1234/ns/net`. */
  path?: string;
}

/** A user namespace id mapping (one line of uid_map/gid_map). */
export interface LinuxIDMapping {
  /** First id in the container. */
  containerID: number;
  /** First id on the host. */
  hostID: number;
  /** Number of ids mapped. */
  size: number;
}

/** An offset for a clock of the time namespace. */
export interface LinuxTimeOffset {
  /** Seconds. */
  secs?: number;
  /** Nanoseconds. */
  nanosecs?: number;
}

/** Clocks accepted as keys of `linux.timeOffsets`. */
export type TimeOffsetClock = "monotonic" | "boottime";

/** Device types of `linux.devices[].type`. */
export type DeviceType = "c" | "b" | "u" | "p";

/** A device node to create in the container's /dev. */
export interface LinuxDevice {
  /** Path in the container, e.g. `/dev/fuse`. */
  path: string;
  /** `c` (character), `b` (block), `u` (unbuffered character) or `p` (FIFO). */
  type: DeviceType;
  /** Major number (not for `p`). */
  major?: number;
  /** Minor number (not for `p`). */
  minor?: number;
  /** File mode (permission bits). */
  fileMode?: number;
  /** Owner uid in the container. */
  uid?: number;
  /** Owner gid in the container. */
  gid?: number;
}

/** A rule of the devices cgroup. */
export interface LinuxDeviceCgroup {
  /** Allow (true) or deny (false). */
  allow: boolean;
  /** `a` (all), `c` or `b`; absent means all. */
  type?: string;
  /** Major number; absent means all (`*`). */
  major?: number;
  /** Minor number; absent means all (`*`). */
  minor?: number;
  /** Access: any of `r`, `w`, `m`. */
  access?: string;
}

/** Memory cgroup settings. Limits are in bytes; -1 means unlimited. */
export interface LinuxMemory {
  /** Memory usage limit. */
  limit?: number;
  /** Soft limit. */
  reservation?: number;
  /** Memory plus swap limit. */
  swap?: number;
  /** Deprecated: kernel memory limit. */
  kernel?: number;
  /** Deprecated: kernel TCP buffer memory limit. */
  kernelTCP?: number;
  /** Swappiness, 0 to 100. */
  swappiness?: number;
  /** Disables the OOM killer. */
  disableOOMKiller?: boolean;
  /** Enables hierarchical accounting (cgroup v1). */
  useHierarchy?: boolean;
  /** Refuse an update lowering the limit below current usage (since 1.1). */
  checkBeforeUpdate?: boolean;
}

/** CPU and cpuset cgroup settings. */
export interface LinuxCPU {
  /** Relative weight (cpu.shares). */
  shares?: number;
  /** CFS quota in microseconds per period; -1 means unlimited. */
  quota?: number;
  /** CFS burst in microseconds (since 1.1). */
  burst?: number;
  /** CFS period in microseconds. */
  period?: number;
  /** Realtime runtime in microseconds. */
  realtimeRuntime?: number;
  /** Realtime period in microseconds. */
  realtimePeriod?: number;
  /** CPUs allowed, a cpu list like `0-3,7`. */
  cpus?: string;
  /** Memory nodes allowed, a list like `0-1`. */
  mems?: string;
  /** cgroup v2 cpu.idle: 1 makes the cgroup SCHED_IDLE (since 1.1). */
  idle?: number;
}

/** pids cgroup settings. */
export interface LinuxPids {
  /**
   * Maximum number of tasks: -1 is unlimited ("max"), 0 is 0 (since 1.3; in a config
   * of an older version 0 means unlimited). Unset: pids.max is left as it is.
   */
  limit?: number;
}

/** A per-device blkio weight. */
export interface LinuxWeightDevice {
  /** Device major number. */
  major: number;
  /** Device minor number. */
  minor: number;
  /** Bandwidth weight. */
  weight?: number;
  /** Bandwidth weight for the cgroup's own tasks. */
  leafWeight?: number;
}

/** A per-device blkio throttle. */
export interface LinuxThrottleDevice {
  /** Device major number. */
  major: number;
  /** Device minor number. */
  minor: number;
  /** Rate limit, bytes or operations per second. */
  rate: number;
}

/** blkio (v1) / io (v2) cgroup settings. */
export interface LinuxBlockIO {
  /** Bandwidth weight, 10 to 1000. */
  weight?: number;
  /** Weight for the cgroup's own tasks, 10 to 1000. */
  leafWeight?: number;
  /** Per-device weights. */
  weightDevice?: LinuxWeightDevice[];
  /** Per-device read rate limits, bytes per second. */
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  /** Per-device write rate limits, bytes per second. */
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  /** Per-device read rate limits, IO per second. */
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  /** Per-device write rate limits, IO per second. */
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

/** A hugetlb cgroup limit. */
export interface LinuxHugepageLimit {
  /** Page size, e.g. `2MB`, `1GB`. */
  pageSize: string;
  /** Limit in bytes. */
  limit: number;
}

/** A net_prio priority for one interface. */
export interface LinuxInterfacePriority {
  /** Interface name. */
  name: string;
  /** Priority. */
  priority: number;
}

/** net_cls / net_prio cgroup settings. */
export interface LinuxNetwork {
  /** net_cls class id. */
  classID?: number;
  /** net_prio priorities. */
  priorities?: LinuxInterfacePriority[];
}

/** rdma cgroup limits for one device. */
export interface LinuxRdma {
  /** Maximum number of HCA handles. */
  hcaHandles?: number;
  /** Maximum number of HCA objects. */
  hcaObjects?: number;
}

/** cgroup resource settings (`linux.resources`). */
export interface LinuxResources {
  /** Devices cgroup rules, in order. */
  devices?: LinuxDeviceCgroup[];
  /** Memory settings. */
  memory?: LinuxMemory;
  /** CPU settings. */
  cpu?: LinuxCPU;
  /** pids settings. */
  pids?: LinuxPids;
  /** Block I/O settings. */
  blockIO?: LinuxBlockIO;
  /** Hugetlb limits. */
  hugepageLimits?: LinuxHugepageLimit[];
  /** Network class and priority settings. */
  network?: LinuxNetwork;
  /** rdma limits keyed by device name. */
  rdma?: Record<string, LinuxRdma>;
  /** Raw cgroup v2 files and values, e.g. `{"memory.high": "1G"}` (since 1.0.2). */
  unified?: Record<string, string>;
}

/** Seccomp actions (`defaultAction`, `syscalls[].action`). */
export type LinuxSeccompAction =
  | "SCMP_ACT_KILL"
  | "SCMP_ACT_KILL_PROCESS"
  | "SCMP_ACT_KILL_THREAD"
  | "SCMP_ACT_TRAP"
  | "SCMP_ACT_ERRNO"
  | "SCMP_ACT_TRACE"
  | "SCMP_ACT_ALLOW"
  | "SCMP_ACT_LOG"
  | "SCMP_ACT_NOTIFY";

/** Seccomp argument comparison operators. */
export type LinuxSeccompOperator =
  | "SCMP_CMP_NE"
  | "SCMP_CMP_LT"
  | "SCMP_CMP_LE"
  | "SCMP_CMP_EQ"
  | "SCMP_CMP_GE"
  | "SCMP_CMP_GT"
  | "SCMP_CMP_MASKED_EQ";

/** Seccomp architectures, `SCMP_ARCH_*` names. */
export type Arch = string;

/** Seccomp filter flags, `SECCOMP_FILTER_FLAG_*` names. */
export type LinuxSeccompFlag = string;

/** A condition on one syscall argument. */
export interface LinuxSeccompArg {
  /** Argument index, 0 to 5. */
  index: number;
  /** Value compared with. */
  value: number;
  /** Second value, for SCMP_CMP_MASKED_EQ (the mask is `value`). */
  valueTwo?: number;
  /** The comparison. */
  op: LinuxSeccompOperator;
}

/** A seccomp rule for a set of syscalls. */
export interface LinuxSyscall {
  /** Syscall names. */
  names: string[];
  /** Action when they match. */
  action: LinuxSeccompAction;
  /** errno returned for SCMP_ACT_ERRNO (default EPERM). */
  errnoRet?: number;
  /** Argument conditions, all of which must hold. */
  args?: LinuxSeccompArg[];
}

/** The seccomp configuration. */
export interface LinuxSeccomp {
  /** Action for syscalls no rule matches. */
  defaultAction: LinuxSeccompAction;
  /** errno returned when `defaultAction` is SCMP_ACT_ERRNO. */
  defaultErrnoRet?: number;
  /** Architectures the filter accepts. */
  architectures?: Arch[];
  /** Filter flags. */
  flags?: LinuxSeccompFlag[];
  /** Unix socket to pass the notify fd to, for SCMP_ACT_NOTIFY. */
  listenerPath?: string;
  /** Opaque data sent to the listener. */
  listenerMetadata?: string;
  /** The rules. */
  syscalls?: LinuxSyscall[];
}

/** Intel RDT (resctrl) settings. */
export interface LinuxIntelRdt {
  /** resctrl group (CLOS) name. */
  closID?: string;
  /** Schemata lines written as they are, after the two schemas below (1.2; order: 1.3). */
  schemata?: string;
  /** L3 cache allocation schema line. */
  l3CacheSchema?: string;
  /** Memory bandwidth allocation schema line. */
  memBwSchema?: string;
  /** Enable Cache Monitoring Technology counters. */
  enableCMT?: boolean;
  /** Enable Memory Bandwidth Monitoring counters. */
  enableMBM?: boolean;
  /** Give the container its own resctrl monitoring group (since 1.3). */
  enableMonitoring?: boolean;
}

/** NUMA memory policy modes of `linux.memoryPolicy.mode` (set_mempolicy(2)). */
export type MemoryPolicyMode =
  | "MPOL_DEFAULT"
  | "MPOL_BIND"
  | "MPOL_INTERLEAVE"
  | "MPOL_WEIGHTED_INTERLEAVE"
  | "MPOL_PREFERRED"
  | "MPOL_PREFERRED_MANY"
  | "MPOL_LOCAL";

/** Mode flags of `linux.memoryPolicy.flags`. */
export type MemoryPolicyFlag =
  | "MPOL_F_NUMA_BALANCING"
  | "MPOL_F_RELATIVE_NODES"
  | "MPOL_F_STATIC_NODES";

/** The NUMA memory policy of the container process (since 1.3). */
export interface LinuxMemoryPolicy {
  /** The policy mode. */
  mode: MemoryPolicyMode;
  /** NUMA nodes, a list like `0-3,7`; required by every mode but DEFAULT, LOCAL, PREFERRED. */
  nodes?: string;
  /** Mode flags. */
  flags?: MemoryPolicyFlag[];
}

/** Execution domains of `linux.personality.domain`. */
export type LinuxPersonalityDomain = "LINUX" | "LINUX32";

/** The process execution domain (personality(2)). */
export interface LinuxPersonality {
  /** The domain. */
  domain: LinuxPersonalityDomain;
  /** Additional flags (none are defined yet). */
  flags?: string[];
}

/**
 * A network device to move into the container's network namespace (since 1.3). Its
 * permanent addresses move with it and it is set up; when the namespace goes away the
 * kernel returns a physical device to the host and destroys a virtual one.
 */
export interface LinuxNetDevice {
  /** Name of the device inside the container; defaults to the host name. */
  name?: string;
}

/** Root filesystem propagation modes of `linux.rootfsPropagation`. */
export type RootfsPropagation =
  | "private"
  | "shared"
  | "slave"
  | "unbindable"
  | "rprivate"
  | "rshared"
  | "rslave"
  | "runbindable";

/** Linux-specific configuration (`linux`). */
export interface Linux {
  /** User namespace uid mappings. */
  uidMappings?: LinuxIDMapping[];
  /** User namespace gid mappings. */
  gidMappings?: LinuxIDMapping[];
  /** Time namespace clock offsets (since 1.1), keyed by `monotonic` or `boottime`. */
  timeOffsets?: Partial<Record<TimeOffsetClock, LinuxTimeOffset>>;
  /** Kernel parameters, e.g. `{"net.ipv4.ip_forward": "1"}`. */
  sysctl?: Record<string, string>;
  /** cgroup resource settings. */
  resources?: LinuxResources;
  /** cgroup path, absolute, relative, or `slice:prefix:name` for systemd. */
  cgroupsPath?: string;
  /** Namespaces to create or join. */
  namespaces?: LinuxNamespace[];
  /** Device nodes to create. */
  devices?: LinuxDevice[];
  /** Seccomp filter. */
  seccomp?: LinuxSeccomp;
  /** Propagation of the root mount. */
  rootfsPropagation?: string;
  /** Paths masked with /dev/null or an empty read-only tmpfs. */
  maskedPaths?: string[];
  /** Paths remounted read-only. */
  readonlyPaths?: string[];
  /** SELinux context of the container's mounts. */
  mountLabel?: string;
  /** Intel RDT settings. */
  intelRdt?: LinuxIntelRdt;
  /** Execution domain. */
  personality?: LinuxPersonality;
  /** Network devices to move into the container, keyed by host name (since 1.3). */
  netDevices?: Record<string, LinuxNetDevice>;
  /** NUMA memory policy of the container's processes (since 1.3). */
  memoryPolicy?: LinuxMemoryPolicy;
}

/** Container statuses in the OCI state (plus runc's `paused`). */
export type ContainerStatus = "creating" | "created" | "running" | "stopped" | "paused";

/** The OCI runtime state, as `state` prints it and hooks receive on stdin. */
export interface State {
  /** Version of the runtime spec the state complies with. */
  ociVersion: string;
  /** The container id. */
  id: string;
  /** The runtime status. */
  status: ContainerStatus;
  /** Pid of the container process on the host, when created or running. */
  pid?: number;
  /** Absolute path of the bundle directory. */
  bundle: string;
  /** Annotations from the config. */
  annotations?: Record<string, string>;
}
