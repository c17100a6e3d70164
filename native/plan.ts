/**
 * The spawn plan encoder: TypeScript decides every step, in order; nsinit-init
 * executes them. The format and op numbers are defined in `native/src/plan.h`.
 *
 * @module
 */

// The sync socket's messages and the NUL-list encoding live in wire.ts, which the verbs that
// only signal or delete load without this module's op tables; re-exported for plan users.
export { Msg, MSG_FIELDS, MSG_SIZE, nulList } from "./wire.ts";
import type { NamespaceType } from "../spec/config.ts";

/**
 * The ops, as `NSI_OPS` in plan.h defines them: name, number and argument kinds, one
 * letter per argument in order (`u` an integer, u64; `s` a string; `b` bytes). A test
 * (plan_contract_test.ts) parses plan.h and fails when this table disagrees with it.
 */
export const OPS = {
  H_CLONE: [1, "u"],
  H_JOIN: [2, "su"],
  H_TIMENS: [3, "s"],
  H_UIDMAP: [4, "s"],
  H_GIDMAP: [5, "s"],
  H_SETGROUPS: [6, "s"],
  H_FIFO: [7, "s"],
  H_MAPCMD: [8, "ss"],
  H_AFFINITY: [9, "b"],
  H_NETDEV: [10, "sss"],
  H_IDMOUNT: [11, "sssuu"],
  H_CGROUP: [12, "s"],
  H_DUMPABLE: [13, ""],
  H_JOINOWNER: [14, "s"],
  H_OOMSCOREADJ: [15, "s"],
  C_SETSID: [64, ""],
  C_UNSHARE: [65, "u"],
  C_ROOTFS: [66, "s"],
  C_MOUNT: [67, "sssusuu"],
  C_REMOUNT: [68, "suu"],
  C_PROPAGATE: [69, "suu"],
  C_SETATTR: [70, "suuu"],
  C_MKNOD: [71, "suuuu"],
  C_SYMLINK: [72, "ss"],
  C_PIVOT: [73, "u"],
  C_MASK: [74, "s"],
  C_READONLY: [75, "s"],
  C_WRITE: [76, "ss"],
  C_HOSTNAME: [77, "s"],
  C_DOMAINNAME: [78, "s"],
  C_RLIMIT: [79, "uuu"],
  C_BOUNDING: [80, "u"],
  C_KEEPCAPS: [81, "u"],
  C_USER: [82, "uuub"],
  C_CAPS: [83, "uuuu"],
  C_UMASK: [84, "u"],
  C_NNP: [85, ""],
  C_SECCOMP: [86, "bu"],
  C_CHDIR: [87, "s"],
  C_TERMINAL: [88, "uuuu"],
  C_FINDEXEC: [89, "ss"],
  C_READY: [90, ""],
  C_FIFOWAIT: [91, ""],
  C_CLOSEFDS: [92, "u"],
  C_EXEC: [93, "bb"],
  C_DUMPABLE: [94, "u"],
  C_PERSONALITY: [96, "u"],
  C_MKDIR: [97, "su"],
  C_KEYRING: [98, "s"],
  C_BARRIER: [99, ""],
  C_HOOK: [100, "sbbssu"],
  C_CHROOT: [101, "s"],
  C_SCHED: [102, "uuuuuuu"],
  C_IOPRIO: [103, "u"],
  C_MEMPOLICY: [104, "ub"],
  C_AFFINITY: [105, "b"],
  C_LANDLOCK: [106, "ubbb"],
  C_INIT: [107, ""],
  C_LOOPBACK: [108, ""],
  C_MOVEMOUNT: [109, "usu"],
  C_LOCKMOUNTS: [110, ""],
} as const;

/** An op's name (plan.h's, without `NSI_`). */
export type OpName = keyof typeof OPS;
/** An op's number. */
export type OpCode = (typeof OPS)[OpName][0];
/** An argument kind: `u` an integer (u64), `s` a string, `b` bytes. */
export type ArgKind = "u" | "s" | "b";

/** The TypeScript type of an argument of each kind. */
export interface ArgTypes {
  /** An integer, encoded as u64 (negative numbers wrap, as in C). */
  u: number | bigint;
  /** A string without NUL bytes, encoded NUL-terminated. */
  s: string;
  /** Raw bytes. */
  b: Uint8Array;
}

/** The argument tuple a kinds string spells: `"su"` is `[string, number | bigint]`. */
export type ArgsOf<K extends string> = K extends `${infer H extends ArgKind}${infer T}`
  ? [ArgTypes[H], ...ArgsOf<T>]
  : [];

/** The kinds string of the op numbered `C`. */
export type KindsOf<C extends OpCode> = {
  [N in OpName]: (typeof OPS)[N][0] extends C ? (typeof OPS)[N][1] : never;
}[OpName];

/** Op numbers by name, mirroring `enum nsi_op` in plan.h. */
export const Op: { readonly [N in OpName]: (typeof OPS)[N][0] } = Object.freeze(
  Object.fromEntries(Object.entries(OPS).map(([name, [code]]) => [name, code])),
) as { readonly [N in OpName]: (typeof OPS)[N][0] };

const KINDS_BY_CODE: ReadonlyMap<number, string> = new Map(
  Object.values(OPS).map(([code, kinds]) => [code, kinds]),
);

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

/** The clone flag of each namespace type (the plan builder's and the benchmark's floor's). */
export const NS_FLAG: Record<NamespaceType, number> = {
  pid: CloneFlag.NEWPID,
  network: CloneFlag.NEWNET,
  mount: CloneFlag.NEWNS,
  ipc: CloneFlag.NEWIPC,
  uts: CloneFlag.NEWUTS,
  user: CloneFlag.NEWUSER,
  cgroup: CloneFlag.NEWCGROUP,
  time: CloneFlag.NEWTIME,
};

/**
 * The namespaces a helper may clone ahead of its plan (init.c's NSI_EARLY_NS): those whose
 * setup needs nothing of the helper after the clone (no user namespace's id maps, no time
 * namespace's offsets).
 */
export const EARLY_CLONE_NS: number = CloneFlag.NEWNS | CloneFlag.NEWUTS | CloneFlag.NEWIPC |
  CloneFlag.NEWPID | CloneFlag.NEWNET;

type Arg = ArgTypes[ArgKind];

const enc = new TextEncoder();
const MAGIC = 0x3149534e;

/**
 * Builds a plan record by record. Each record carries a human description
 * (`step`) so a failure in the child can be reported as "mount proc at /proc".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Op, PlanBuilder } from "./plan.ts";
 * const plan = new PlanBuilder();
 * plan.add(Op.C_HOSTNAME, "set hostname", "box");
 * const bytes = plan.encode();
 * assert.ok(bytes.length > 8);
 * assert.equal(plan.steps[0], "set hostname");
 * ```
 */
export class PlanBuilder {
  /** Step descriptions, by record index. */
  readonly steps: string[] = [];
  // The records are encoded straight into one growing buffer (after the 8-byte header):
  // a plan of ~60 records was ~200 small arrays and as many BigInts (0.3 ms a container).
  #buf = new Uint8Array(4096);
  #dv = new DataView(this.#buf.buffer);
  #len = 8;
  /** The clone's flags while the helper's steps are one clone and the fifo's opening. */
  #early: number | undefined;
  /** A helper step besides those. */
  #helperWork = false;

  /**
   * Appends a record: the op's arguments are typed by its kinds in {@link OPS}, and
   * checked again here (count and kinds) for callers that are not type-checked.
   */
  add<C extends OpCode>(op: C, step: string, ...args: ArgsOf<KindsOf<C>>): this {
    const kinds = KINDS_BY_CODE.get(op);
    if (kinds === undefined) throw new TypeError(`plan: unknown op ${op} (${step})`);
    if (args.length !== kinds.length) {
      throw new TypeError(
        `plan: op ${op} (${step}) takes ${kinds.length} arguments, got ${args.length}`,
      );
    }
    // Written past the end until every argument is checked; a throw leaves the plan as it was.
    const start = this.#len;
    let off = start + 8;
    for (let i = 0; i < args.length; i++) {
      const a = args[i] as Arg;
      if (kindOf(a) !== kinds[i]) {
        throw new TypeError(`plan: op ${op} (${step}) argument ${i}: expected kind ${kinds[i]}`);
      }
      off = this.#arg(off, a);
    }
    this.#reserve(off);
    this.#dv.setUint16(start, op, true);
    this.#dv.setUint16(start + 2, args.length, true);
    this.#dv.setUint32(start + 4, off - start, true);
    this.#len = off;
    this.steps.push(step);
    if (op === Op.H_CLONE && this.#early === undefined && typeof args[0] === "number") {
      this.#early = args[0];
    } else if (op < 64 && op !== Op.H_FIFO) this.#helperWork = true;
    return this;
  }

  /**
   * The namespace flags of this plan's clone when a helper that cloned them ahead of the plan
   * can run it (`nsi_helper_start` with them): its helper steps are one clone of some of
   * {@link EARLY_CLONE_NS} and the exec fifo's opening. Otherwise undefined.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { CloneFlag, Op, PlanBuilder } from "./plan.ts";
   * const p = new PlanBuilder().add(Op.H_CLONE, "clone", CloneFlag.NEWPID | CloneFlag.NEWNS);
   * assert.equal(p.earlyClone, CloneFlag.NEWPID | CloneFlag.NEWNS);
   * p.add(Op.H_TIMENS, "create the time namespace", "");
   * assert.equal(p.earlyClone, undefined);
   * ```
   */
  get earlyClone(): number | undefined {
    const f = this.#early;
    if (this.#helperWork || !f || (f & ~EARLY_CLONE_NS) !== 0) return undefined;
    return f;
  }

  /** Writes one argument (length, bytes, zero padding) at `off`; returns where the next goes. */
  #arg(off: number, a: Arg): number {
    let n: number;
    if (typeof a === "string") {
      if (a.includes("\0")) {
        throw new TypeError(`plan argument contains a NUL byte: ${JSON.stringify(a)}`);
      }
      this.#reserve(off + 4 + a.length * 3 + 4); // UTF-8: at most 3 bytes per UTF-16 unit
      // ASCII (paths, names: nearly every argument) byte by byte; else the encoder, which
      // costs a view of the buffer and a call into the runtime per string.
      const buf = this.#buf, at = off + 4, len = a.length;
      let i = 0;
      for (; i < len; i++) {
        const c = a.charCodeAt(i);
        if (c > 0x7f) break;
        buf[at + i] = c;
      }
      n = (i === len ? len : enc.encodeInto(a, buf.subarray(at)).written) + 1;
    } else if (typeof a === "number" || typeof a === "bigint") {
      this.#reserve(off + 12);
      n = 8;
      if (typeof a === "number" && Number.isInteger(a)) {
        // Two's complement in 64 bits, as BigInt.asUintN(64, ...) gives (ToUint32 wraps).
        this.#dv.setUint32(off + 4, a >>> 0, true);
        this.#dv.setUint32(off + 8, Math.floor(a / 0x100000000) >>> 0, true);
      } else {
        this.#dv.setBigUint64(off + 4, BigInt.asUintN(64, BigInt(a)), true);
      }
    } else {
      n = a.length;
      this.#reserve(off + 4 + n + 3);
      this.#buf.set(a, off + 4);
    }
    this.#dv.setUint32(off, n, true);
    const end = off + 4 + pad4(n);
    this.#buf.fill(0, off + 4 + (typeof a === "string" ? n - 1 : n), end); // NUL and padding
    return end;
  }

  /** Grows the buffer to hold at least `size` bytes. */
  #reserve(size: number): void {
    if (size <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(size, this.#buf.length * 2));
    bigger.set(this.#buf); // with the record being written
    this.#buf = bigger;
    this.#dv = new DataView(bigger.buffer);
  }

  /** Number of records so far. */
  get length(): number {
    return this.steps.length;
  }

  /** The plan's bytes. */
  encode(): Uint8Array<ArrayBuffer> {
    const out = this.#buf.slice(0, this.#len);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint32(4, this.#len, true);
    return out;
  }
}

function kindOf(a: Arg): ArgKind {
  return typeof a === "string" ? "s" : a instanceof Uint8Array ? "b" : "u";
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}


/** Packs gids as u32 little-endian. */
export function u32List(items: number[]): Uint8Array {
  const out = new Uint8Array(items.length * 4);
  const dv = new DataView(out.buffer);
  items.forEach((v, i) => dv.setUint32(i * 4, v, true));
  return out;
}

/** One record of an encoded plan, decoded (see {@link decodePlan}). */
export interface PlanRecord {
  /** The op's name in {@link OPS}. */
  op: OpName;
  /** Its arguments: `u` as bigint, `s` as string, `b` as bytes. */
  args: (bigint | string | Uint8Array)[];
}

const dec = new TextDecoder();

/**
 * Decodes a plan's bytes into records by the {@link OPS} table: what nsinit-init will
 * run, for tests and debugging. Throws on bytes that are not a well-formed plan.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePlan, Op, PlanBuilder } from "./plan.ts";
 * const bytes = new PlanBuilder().add(Op.C_RLIMIT, "set RLIMIT_NOFILE", 7, 1024, 1024n).encode();
 * assert.deepEqual(decodePlan(bytes), [{ op: "C_RLIMIT", args: [7n, 1024n, 1024n] }]);
 * ```
 */
export function decodePlan(bytes: Uint8Array): PlanRecord[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8 || dv.getUint32(0, true) !== MAGIC || dv.getUint32(4, true) !== bytes.length) {
    throw new TypeError("plan: bad header");
  }
  const names = new Map(Object.entries(OPS).map(([name, [code]]) => [code as number, name as OpName]));
  const out: PlanRecord[] = [];
  for (let off = 8; off < bytes.length;) {
    const code = dv.getUint16(off, true), nargs = dv.getUint16(off + 2, true);
    const len = dv.getUint32(off + 4, true);
    const op = names.get(code);
    if (op === undefined) throw new TypeError(`plan: unknown op ${code} at byte ${off}`);
    const kinds = OPS[op][1];
    if (nargs !== kinds.length || len < 8 || off + len > bytes.length) {
      throw new TypeError(`plan: malformed ${op} record at byte ${off}`);
    }
    const args: PlanRecord["args"] = [];
    for (let i = 0, a = off + 8; i < nargs; i++) {
      const n = dv.getUint32(a, true);
      const raw = bytes.subarray(a + 4, a + 4 + n);
      const kind = kinds[i];
      args.push(
        kind === "u"
          ? dv.getBigUint64(a + 4, true)
          : kind === "s"
          ? dec.decode(raw.subarray(0, n - 1))
          : raw.slice(),
      );
      a += 4 + pad4(n);
    }
    out.push({ op, args });
    off += len;
  }
  return out;
}
