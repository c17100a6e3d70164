/**
 * The spawn plan encoder: TypeScript decides every step, in order; nsinit-init
 * executes them. The format and op numbers are defined in `native/src/plan.h`.
 *
 * @module
 */

/** Op codes, mirroring `enum nsi_op` in plan.h. */
export const Op = {
  H_CLONE: 1,
  H_JOIN: 2,
  H_TIMENS: 3,
  H_UIDMAP: 4,
  H_GIDMAP: 5,
  H_SETGROUPS: 6,
  H_FIFO: 7,
  H_MAPCMD: 8,
  C_SETSID: 64,
  C_UNSHARE: 65,
  C_ROOTFS: 66,
  C_MOUNT: 67,
  C_REMOUNT: 68,
  C_PROPAGATE: 69,
  C_SETATTR: 70,
  C_MKNOD: 71,
  C_SYMLINK: 72,
  C_PIVOT: 73,
  C_MASK: 74,
  C_READONLY: 75,
  C_WRITE: 76,
  C_HOSTNAME: 77,
  C_DOMAINNAME: 78,
  C_RLIMIT: 79,
  C_BOUNDING: 80,
  C_KEEPCAPS: 81,
  C_USER: 82,
  C_CAPS: 83,
  C_UMASK: 84,
  C_NNP: 85,
  C_SECCOMP: 86,
  C_CHDIR: 87,
  C_TERMINAL: 88,
  C_FINDEXEC: 89,
  C_READY: 90,
  C_FIFOWAIT: 91,
  C_CLOSEFDS: 92,
  C_EXEC: 93,
  C_DUMPABLE: 94,
  C_PERSONALITY: 96,
  C_MKDIR: 97,
  C_KEYRING: 98,
  C_BARRIER: 99,
  C_HOOK: 100,
  C_LANDLOCK: 101,
  C_INIT: 102,
  C_LOOPBACK: 103,
} as const;

/** Message types on the sync socket (`enum nsi_msg_type`). */
export const Msg = { PID: 1, READY: 2, ERROR: 3, PTY: 4, GO: 5, BARRIER: 6 } as const;

/** clone(2) namespace flags. */
export const CloneFlag = {
  NEWTIME: 0x80,
  NEWNS: 0x20000,
  NEWCGROUP: 0x02000000,
  NEWUTS: 0x04000000,
  NEWIPC: 0x08000000,
  NEWUSER: 0x10000000,
  NEWPID: 0x20000000,
  NEWNET: 0x40000000,
} as const;

type Arg = string | number | bigint | Uint8Array;

const enc = new TextEncoder();
const MAGIC = 0x3149534e;

/**
 * Builds a plan record by record. Each record carries a human description
 * (`step`) so a failure in the child can be reported as "mount proc at /proc".
 *
 * @example
 * ```ts
 * import { Op, PlanBuilder } from "./plan.ts";
 * const plan = new PlanBuilder();
 * plan.add(Op.C_HOSTNAME, "set hostname", "box");
 * const bytes = plan.encode();
 * console.assert(bytes.length > 8 && plan.steps[0] === "set hostname");
 * ```
 */
export class PlanBuilder {
  /** Step descriptions, by record index. */
  readonly steps: string[] = [];
  #records: Uint8Array[] = [];

  /** Appends a record. Numbers and bigints become u64, strings NUL-terminated. */
  add(op: number, step: string, ...args: Arg[]): this {
    const parts = args.map(encodeArg);
    let len = 8;
    for (const p of parts) len += 4 + pad4(p.length);
    const rec = new Uint8Array(len);
    const dv = new DataView(rec.buffer);
    dv.setUint16(0, op, true);
    dv.setUint16(2, parts.length, true);
    dv.setUint32(4, len, true);
    let off = 8;
    for (const p of parts) {
      dv.setUint32(off, p.length, true);
      rec.set(p, off + 4);
      off += 4 + pad4(p.length);
    }
    this.#records.push(rec);
    this.steps.push(step);
    return this;
  }

  /** Number of records so far. */
  get length(): number {
    return this.#records.length;
  }

  /** The plan's bytes. */
  encode(): Uint8Array<ArrayBuffer> {
    let total = 8;
    for (const r of this.#records) total += r.length;
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, total, true);
    let off = 8;
    for (const r of this.#records) {
      out.set(r, off);
      off += r.length;
    }
    return out;
  }
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function encodeArg(a: Arg): Uint8Array {
  if (typeof a === "string") {
    if (a.includes("\0")) throw new TypeError(`plan argument contains a NUL byte: ${JSON.stringify(a)}`);
    const b = enc.encode(a);
    const out = new Uint8Array(b.length + 1);
    out.set(b);
    return out;
  }
  if (typeof a === "number" || typeof a === "bigint") {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(a)), true);
    return out;
  }
  return a;
}

/** Joins strings as NUL-terminated entries (argv/envp for C_EXEC). */
export function nulList(items: string[]): Uint8Array {
  const parts = items.map((s) => {
    if (s.includes("\0")) throw new TypeError(`argument contains a NUL byte: ${JSON.stringify(s)}`);
    return enc.encode(s);
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

/** Packs gids as u32 little-endian. */
export function u32List(items: number[]): Uint8Array {
  const out = new Uint8Array(items.length * 4);
  const dv = new DataView(out.buffer);
  items.forEach((v, i) => dv.setUint32(i * 4, v, true));
  return out;
}
