/**
 * The wire formats shared with the native side that every verb may need without the spawn
 * plan's op tables (plan.ts builds those at import): the sync socket's message
 * (`struct nsi_msg` in `native/src/plan.h`, whose size the library is checked against on
 * load) and NUL-terminated string lists. plan.ts re-exports them.
 *
 * @module
 */

import { utf8 } from "../util/bytes.ts";

/** Message types on the sync socket (`enum nsi_msg_type`). */
export const Msg = { PID: 1, READY: 2, ERROR: 3, PTY: 4, GO: 5, BARRIER: 6, SECCOMP: 7 } as const;

/** `struct nsi_msg` (one message on the sync socket): each field's C type and offset. */
export const MSG_FIELDS = {
  type: { c: "uint32_t", offset: 0 },
  err: { c: "int32_t", offset: 4 },
  op_index: { c: "int32_t", offset: 8 },
  op: { c: "uint32_t", offset: 12 },
  pid: { c: "int64_t", offset: 16 },
  text: { c: "char[480]", offset: 24 },
} as const;

/** Size in bytes of `struct nsi_msg` (also checked against the library on load). */
export const MSG_SIZE = 504;

/** Joins strings as NUL-terminated entries (argv/envp for C_EXEC). */
export function nulList(items: string[]): Uint8Array {
  const parts = items.map((s) => {
    if (s.includes("\0")) throw new TypeError(`argument contains a NUL byte: ${JSON.stringify(s)}`);
    return utf8(s);
  });
  let len = 0;
  for (const p of parts) len += p.length + 1;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length + 1;
  }
  return out;
}
