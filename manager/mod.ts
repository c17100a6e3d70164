/**
 * A runtime manager with pluggable runtime handlers, monitors and Kubernetes-style logs, as
 * CRI-O's `internal/oci` package is for Kubernetes: {@link RuntimeManager}.
 *
 * @module
 */

export {
  CONTAINER_CREATE_TIMEOUT,
  type ContainerConfig,
  filterAnnotations,
  HANDLER_TYPES,
  RuntimeManager,
  type RuntimeManagerOptions,
} from "./manager.ts";
export {
  type AttachSession,
  type ExecSession,
  type ExecStreamOptions,
  type ExecSyncResponse,
  type HandlerContext,
  type ManagerCheckpointOptions,
  type ManagerRestoreOptions,
  MAX_EXEC_SYNC_SIZE,
  type RuntimeHandlerConfig,
  type RuntimeImpl,
  type SessionTerminal,
  TIMED_OUT_MESSAGE,
} from "./runtime_impl.ts";
export { type ContainerRecord, type ManagedStatus } from "./store.ts";
export { StopError } from "./stop.ts";
export {
  joinEntries,
  KubernetesLogWriter,
  type LogEntry,
  logTime,
  parseKubernetesLog,
  readContainerLog,
} from "./k8s_log.ts";
