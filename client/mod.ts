/**
 * A typed client for OCI runtime binaries (runc, crun, nsinit's CLI), as
 * containerd's go-runc is for Go: {@link OciRuntimeClient}, its options, and the
 * IO it gives containers (pipes, the caller's stdio, null, a console socket).
 *
 * @module
 */

export {
  type CallOptions,
  type CgroupMode,
  type CheckpointAction,
  type CheckpointOpts,
  type CreateOpts,
  type DeleteOpts,
  type EventsOpts,
  type ExecOpts,
  type KillOpts,
  leaveRunning,
  OciRuntimeClient,
  type OciRuntimeClientOptions,
  OciRuntimeError,
  preDump,
  type RestoreOpts,
  type RuntimeContainer,
  type RuntimeEvent,
  signalNumber,
} from "./client.ts";
export {
  Console,
  ConsoleSocket,
  FdSocket,
  PidfdSocket,
  type ReceiveOptions,
  type WinSize,
} from "./console.ts";
export { NullIO, PipeIO, type PipeIOOptions, type RuntimeIO, StdIO } from "./io.ts";
export {
  lastErrorLine,
  parsePsOutput,
  parseVersion,
  type RuntimeVersion,
  type TopResults,
} from "./parse.ts";
