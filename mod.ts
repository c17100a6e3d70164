/**
 * nsinit: a container runtime for Deno, modelled on runc's libcontainer.
 *
 * A {@link Factory} over a state root creates containers from OCI bundles; a
 * {@link Container} is started, signalled, paused, exec'd into and destroyed;
 * a {@link ContainerProcess} gives a process's stdio and exit status. The setup
 * between clone and exec is done by a small native helper that executes a plan
 * built in TypeScript.
 *
 * @example Run a container from a bundle and collect its output
 * ```ts ignore
 * import { Factory } from "./mod.ts";
 *
 * const factory = new Factory({ root: "/run/nsinit" });
 * await using container = await factory.run("hello", {
 *   bundle: "/path/to/bundle", // holds config.json and rootfs/
 *   stdio: { stdout: "piped", stderr: "piped" },
 * });
 * const { code, stdout } = await container.init!.output();
 * console.log(code, stdout);
 * ```
 *
 * @module
 */

export { type CreateOptions, DEFAULT_ROOT, Factory } from "./core/factory.ts";
export { readBundleSpec } from "./core/bundle_spec.ts";
export { Container, type ExecOptions, type OciState } from "./core/container.ts";
export { ContainerProcess } from "./core/process.ts";
export type { Terminal } from "./core/syscalls.ts";
export type {
  CheckpointOptions,
  CriuCommonOptions,
  CriuProgress,
  ManageCgroupsMode,
  RestoreOptions,
} from "./criu/options.ts";
export type { StdioMode, StdioOptions } from "./core/stdio.ts";
export { type ContainerState, validateId } from "./core/state.ts";
export type { ExitStatus } from "./native/reaper.ts";
export { configureNative } from "./native/ffi.ts";
export { configureLibsystemd } from "./native/ffi_systemd.ts";
export {
  CgroupError,
  ConfigError,
  ContainerIdError,
  DbusError,
  HookError,
  NotFoundError,
  StateError,
  type Status,
  SyscallError,
} from "./errors.ts";
export { defaultSpec, type DefaultSpecOptions } from "./spec/default.ts";
export { parseSpec, validateProcess, validateSpec } from "./spec/validate.ts";
export type * from "./spec/config.ts";
export type * from "./drivers/driver.ts";
export {
  type CallOptions,
  type CgroupMode,
  type CheckpointAction,
  type CheckpointOpts,
  Console,
  ConsoleSocket,
  type CreateOpts,
  type DeleteOpts,
  type EventsOpts,
  type ExecOpts,
  FdSocket,
  type KillOpts,
  lastErrorLine,
  leaveRunning,
  NullIO,
  OciRuntimeClient,
  type OciRuntimeClientOptions,
  OciRuntimeError,
  parsePsOutput,
  parseVersion,
  PidfdSocket,
  PipeIO,
  type PipeIOOptions,
  preDump,
  type ReceiveOptions,
  type RestoreOpts,
  type RuntimeContainer,
  type RuntimeEvent,
  type RuntimeIO,
  type RuntimeVersion,
  signalNumber,
  StdIO,
  type TopResults,
  type WinSize,
} from "./client/mod.ts";
export {
  type AttachSession,
  CONTAINER_CREATE_TIMEOUT,
  type ContainerConfig,
  type ContainerRecord,
  type ExecSession,
  type ExecStreamOptions,
  type ExecSyncResponse,
  filterAnnotations,
  HANDLER_TYPES,
  type HandlerContext,
  joinEntries,
  KubernetesLogWriter,
  type LogEntry,
  logTime,
  type ManagedStatus,
  type ManagerCheckpointOptions,
  type ManagerRestoreOptions,
  MAX_EXEC_SYNC_SIZE,
  parseKubernetesLog,
  readContainerLog,
  type RuntimeHandlerConfig,
  type RuntimeImpl,
  RuntimeManager,
  type RuntimeManagerOptions,
  type SessionTerminal,
  StopError,
  TIMED_OUT_MESSAGE,
} from "./manager/mod.ts";
export type {
  BlkioEntry,
  BlkioStats,
  CgroupStats,
  CpuUsage,
  HugetlbStats,
  MemoryEntry,
  MemoryStats,
  PidsStats,
  Throttling,
} from "./cgroups/stats.ts";
export {
  parseProfile,
  PROFILE_VERSION,
  readProfile,
  runSandbox,
  type SandboxOptions,
  type SandboxOutput,
  SandboxProcess,
  type SandboxSettings,
  type SandboxStatus,
  spawnSandbox,
  TIMEOUT_EXIT_CODE,
} from "./sandbox/mod.ts";
export { defaultRoot } from "./core/state_root.ts";
export type { LandlockPlan } from "./core/init_plan.ts";
