/**
 * Which sysctls a container may set: only those that live in a namespace the container has
 * for itself, so a write never reaches the host (runc's `validator.sysctl`).
 *
 * - ipc: `kernel.msgmax`, `kernel.msgmnb`, `kernel.msgmni`, `kernel.sem`, `kernel.shmall`,
 *   `kernel.shmmax`, `kernel.shmmni`, `kernel.shm_rmid_forced`, `fs.mqueue.*`
 * - uts: `kernel.hostname`, `kernel.domainname`
 * - network: `net.*`
 *
 * Everything else (`vm.*`, `kernel.*` in general, `fs.*`) is machine-wide and refused, as runc
 * does: `sysctl "kernel.domainname" is not in a separate kernel namespace`.
 *
 * A namespace is the container's own when `linux.namespaces` lists it without a path, or
 * with a path to a namespace that is not the runtime's own (the one the "host" side is in).
 *
 * @module
 */

import type { NamespaceType } from "./config.ts";

const IPC_SYSCTLS = new Set([
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
]);

/** The namespace a sysctl key lives in, or undefined for a machine-wide one. */
function sysctlNamespace(key: string): NamespaceType | undefined {
  // `sysctl` accepts both `net.ipv4.ip_forward` and `net/ipv4/ip_forward`.
  const k = key.replaceAll("/", ".");
  if (IPC_SYSCTLS.has(k) || k.startsWith("fs.mqueue.")) return "ipc";
  if (k === "kernel.hostname" || k === "kernel.domainname") return "uts";
  if (k.startsWith("net.")) return "network";
  return undefined;
}

const PROC_NS: Record<string, string> = { ipc: "ipc", uts: "uts", network: "net" };

/**
 * Whether the namespace at `path` is the runtime's own one of `type` (same device and
 * inode as `/proc/self/ns/<type>`). A path that cannot be read is not (joining it fails later,
 * with its own error).
 */
function isRuntimeNamespace(type: NamespaceType, path: string): boolean {
  try {
    const a = Deno.statSync(path);
    const b = Deno.statSync(`/proc/self/ns/${PROC_NS[type] ?? type}`);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/**
 * Returns why `key` may not be set, or undefined when the container has its own namespace
 * for it. `namespaces` maps a namespace type to its path (`""` for a new one).
 *
 * @example
 * ```ts
 * import { sysctlRefusal } from "./sysctl.ts";
 * const ns = new Map([["network", ""], ["ipc", ""]]);
 * if (sysctlRefusal("net.ipv4.ip_forward", ns) !== undefined) throw new Error("net.* refused");
 * if (sysctlRefusal("vm.swappiness", ns) !== 'sysctl "vm.swappiness" is not in a separate kernel namespace') {
 *   throw new Error("vm.* accepted");
 * }
 * ```
 */
export function sysctlRefusal(
  key: string,
  namespaces: Map<string, string>,
  isHost: (type: NamespaceType, path: string) => boolean = isRuntimeNamespace,
): string | undefined {
  const type = sysctlNamespace(key);
  if (type !== undefined) {
    const path = namespaces.get(type);
    if (path === "" || (path !== undefined && !isHost(type, path))) return undefined;
    if (type === "ipc") return `sysctl "${key}" is not allowed in the host's ipc namespace`;
    if (type === "network") return `sysctl "${key}" is not allowed in the host's network namespace`;
  }
  return `sysctl "${key}" is not in a separate kernel namespace`;
}
