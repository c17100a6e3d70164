/**
 * The state JSON as runc prints it (`runc state`, `runc list --format json`):
 * its field order, `annotations` only when present.
 *
 * @module
 */

import type { OciState } from "../core/container.ts";

/**
 * Reorders a container's OCI state into runc's field order, with `owner` replaced when given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runcState } from "./oci_state.ts";
 * const s = runcState({
 *   ociVersion: "1.0.2", id: "c1", pid: 0, status: "stopped", bundle: "/b", rootfs: "/b/rootfs",
 *   created: "2026-01-01T00:00:00Z", owner: "", annotations: { a: "b" },
 * }, "root");
 * assert.equal(Object.keys(s).join(), "ociVersion,id,pid,status,bundle,rootfs,created,annotations,owner");
 * assert.equal(s.owner, "root");
 * ```
 */
export function runcState(s: OciState, owner?: string): OciState {
  const out: OciState = {
    ociVersion: s.ociVersion,
    id: s.id,
    pid: s.pid,
    status: s.status,
    bundle: s.bundle,
    rootfs: s.rootfs,
    created: s.created,
  } as OciState;
  if (s.annotations && Object.keys(s.annotations).length > 0) out.annotations = s.annotations;
  out.owner = owner ?? s.owner;
  return out;
}
