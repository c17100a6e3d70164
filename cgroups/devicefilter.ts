/**
 * The cgroup v2 device filter: cgroup v2 has no `devices` controller, so the OCI device rules
 * (`linux.resources.devices`) become an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE`
 * attached to the container's cgroup directory, as runc's `devicefilter.go` does.
 *
 * The rules are first applied in order the way the v1 devices controller applies writes to
 * `devices.allow` / `devices.deny` ({@linkcode emulateDeviceRules}): a rule of type `a` resets
 * the default (allow or deny every device) and drops every exception; any other rule adds an
 * exception against the default, or takes access away from one. The default before the first
 * rule is "allow", as a fresh v1 cgroup (and this project's v1 driver) has it; runc starts from
 * "deny" instead, which only matters for rule lists without an `a` rule. The program then
 * checks the exceptions one block each and returns the default for anything else.
 *
 * Program generation is pure TypeScript; {@linkcode attachDeviceFilter} loads and attaches the
 * program through the native helper (`native/src/lib_bpf.c`).
 *
 * @module
 */

import type { LinuxDeviceCgroup } from "../spec/config.ts";
import { CgroupError, SyscallError } from "../errors.ts";
import { deviceRuleString } from "./resources.ts";
import { check, cstr, native } from "../native/ffi.ts";

/** One device exception: a device (or range, with -1 for "any") and the access it concerns. */
export interface DeviceException {
  /** `c` (char) or `b` (block). */
  type: "b" | "c";
  /** Major number, -1 for any. */
  major: number;
  /** Minor number, -1 for any. */
  minor: number;
  /** A non-empty subset of `rwm`, in that order. */
  access: string;
}

/** The state of a v1-style device controller after a list of rules. */
export interface DeviceRuleSet {
  /** Whether devices no exception names are allowed. */
  defaultAllow: boolean;
  /** Exceptions to the default (denied if `defaultAllow`, else allowed), sorted by major, minor, type. */
  exceptions: DeviceException[];
}

/** An eBPF program for `BPF_PROG_LOAD`. */
export interface DeviceFilterProgram {
  /** `struct bpf_insn` array: 8 bytes per instruction, little-endian. */
  insns: Uint8Array<ArrayBuffer>;
  /** The license string the kernel is given (no GPL-only helper is used). */
  license: string;
  /** The rule set the program implements. */
  ruleSet: DeviceRuleSet;
}

/** Options of {@linkcode emulateDeviceRules} and {@linkcode deviceFilterProgram}. */
export interface DeviceRuleOptions {
  /** The default before the first rule; default `true` (a fresh v1 cgroup allows every device). */
  defaultAllow?: boolean;
  /** The field named in errors; default `linux.resources.devices`. */
  field?: string;
}

const FIELD = "linux.resources.devices";
const ACCESS_ORDER = "rwm";

function normAccess(access: string): string {
  return [...ACCESS_ORDER].filter((c) => access.includes(c)).join("");
}

/**
 * Applies device rules in order as the v1 devices controller would, giving the default and
 * the exceptions left. Invalid rules throw `CgroupError` naming `linux.resources.devices[i]`;
 * so does taking access away from one device while a wildcard exception grants it (v1 would
 * silently ignore it; runc refuses it too).
 *
 * @example A deny-all list with /dev/null allowed
 * ```ts
 * import assert from "node:assert/strict";
 * import { emulateDeviceRules } from "./devicefilter.ts";
 * const s = emulateDeviceRules([
 *   { allow: false, access: "rwm" },
 *   { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
 * ]);
 * assert.ok(!s.defaultAllow);
 * assert.equal(s.exceptions.length, 1);
 * assert.equal(s.exceptions[0].access, "rw");
 * ```
 */
export function emulateDeviceRules(
  rules: readonly LinuxDeviceCgroup[],
  opts: DeviceRuleOptions = {},
): DeviceRuleSet {
  const field = opts.field ?? FIELD;
  let defaultAllow = opts.defaultAllow ?? true;
  const map = new Map<string, DeviceException>();
  const keyOf = (t: string, major: number, minor: number) => `${t}:${major}:${minor}`;
  rules.forEach((rule, i) => {
    const f = `${field}[${i}]`;
    // Validates type, numbers and access; gives "t MAJ:MIN acc" with * for any.
    const [type, nums, access] = deviceRuleString(rule, f).split(" ") as [string, string, string];
    if (type === "a") {
      // As the kernel: an `a` rule resets everything, whatever its numbers and access.
      defaultAllow = rule.allow;
      map.clear();
      return;
    }
    const [major, minor] = nums.split(":").map((n) => (n === "*" ? -1 : Number(n))) as [
      number,
      number,
    ];
    for (const [n, k] of [[major, "major"], [minor, "minor"]] as const) {
      if (n > 0x7fffffff) {
        throw new CgroupError(`${f}.${k}`, `device ${k} ${n} is out of range`);
      }
    }
    const key = keyOf(type, major, minor);
    const old = map.get(key)?.access ?? "";
    if (rule.allow !== defaultAllow) {
      map.set(key, {
        type: type as "b" | "c",
        major,
        minor,
        access: normAccess(old + access),
      });
      return;
    }
    // Take `access` away from the exception for exactly this device, refusing to punch a
    // hole into a wildcard exception that grants it.
    for (const [wm, wn] of [[-1, minor], [major, -1], [-1, -1]]) {
      if (wm === major && wn === minor) continue;
      const wild = map.get(keyOf(type, wm!, wn!));
      if (wild && [...access].some((c) => wild.access.includes(c))) {
        const what = deviceRuleString({ allow: rule.allow, type, major, minor, access });
        const range = deviceRuleString({ ...wild, allow: !rule.allow });
        throw new CgroupError(
          f,
          `rule "${what}" cannot take access away from part of the wildcard rule "${range}"`,
        );
      }
    }
    const left = [...old].filter((c) => !access.includes(c)).join("");
    if (left === "") map.delete(key);
    else map.set(key, { ...map.get(key)!, access: left });
  });
  const exceptions = [...map.values()].sort((a, b) =>
    a.major - b.major || a.minor - b.minor || a.type.localeCompare(b.type)
  );
  return { defaultAllow, exceptions };
}

// struct bpf_cgroup_dev_ctx { u32 access_type /* access << 16 | type */; u32 major; u32 minor; }
const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACC: Record<string, number> = { m: 1, r: 2, w: 4 };

// Opcodes (class | op | source).
const LDX_MEM_W = 0x61;
const ALU32_AND_K = 0x54;
const ALU32_RSH_K = 0x74;
const ALU32_MOV_K = 0xb4;
const ALU32_MOV_X = 0xbc;
const JMP_JNE_K = 0x55;
const JMP_JNE_X = 0x5d;
const JMP_EXIT = 0x95;

type Insn = [code: number, dst: number, src: number, off: number, imm: number];

/**
 * Builds the device filter program for `rules` (OCI `linux.resources.devices`, e.g. the list
 * `effectiveResources` produces). Registers: r2 = device type, r3 = requested access, r4 =
 * major, r5 = minor; one block per exception jumps to the next block unless type, access (a
 * subset of the exception's), major and minor match, and otherwise returns the exception's
 * verdict; the last block returns the default.
 *
 * @example Only /dev/null, read and write
 * ```ts
 * import assert from "node:assert/strict";
 * import { deviceFilterProgram, disassemble } from "./devicefilter.ts";
 * const p = deviceFilterProgram([
 *   { allow: false, access: "rwm" },
 *   { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
 * ]);
 * assert.equal(p.insns.length, 16 * 8); // 16 instructions of 8 bytes
 * assert.equal(p.license, "Apache");
 * assert.equal(disassemble(p.insns).at(-2), "MovImm32 dst: r0 imm: 0");
 * ```
 */
export function deviceFilterProgram(
  rules: readonly LinuxDeviceCgroup[],
  opts: DeviceRuleOptions = {},
): DeviceFilterProgram {
  // Containers of one config share their rules: the program is built once per process for
  // each rule list (6.5 ms a container in the emulated VM, measured) and shared, frozen.
  const key = JSON.stringify([rules, opts]);
  const hit = programs.get(key);
  if (hit) return hit;
  const program = buildProgram(rules, opts);
  if (programs.size >= MAX_CACHED) {
    const [oldKey, old] = programs.entries().next().value!;
    programs.delete(oldKey);
    const fd = loaded.get(old);
    loaded.delete(old);
    if (fd !== undefined) native().nsi_close(fd);
  }
  programs.set(key, program);
  return program;
}

/** Programs built, by their rules (see {@link deviceFilterProgram}); at most MAX_CACHED. */
const programs = new Map<string, DeviceFilterProgram>();
/** The fd of each cached program once loaded (see {@link attachDeviceFilter}); kept open. */
const loaded = new Map<DeviceFilterProgram, number>();
const MAX_CACHED = 16;

function buildProgram(
  rules: readonly LinuxDeviceCgroup[],
  opts: DeviceRuleOptions,
): DeviceFilterProgram {
  const ruleSet = emulateDeviceRules(rules, opts);
  const insns: Insn[] = [
    [LDX_MEM_W, 2, 1, 0, 0],
    [ALU32_AND_K, 2, 0, 0, 0xffff],
    [LDX_MEM_W, 3, 1, 0, 0],
    [ALU32_RSH_K, 3, 0, 0, 16],
    [LDX_MEM_W, 4, 1, 4, 0],
    [LDX_MEM_W, 5, 1, 8, 0],
  ];
  const verdict = (allow: boolean): Insn[] => [
    [ALU32_MOV_K, 0, 0, 0, allow ? 1 : 0],
    [JMP_EXIT, 0, 0, 0, 0],
  ];
  for (const e of ruleSet.exceptions) {
    const access = [...e.access].reduce((a, c) => a | ACC[c]!, 0);
    const block: Insn[] = [];
    const jumps: number[] = []; // positions in `block` of the jumps to the next block
    const jumpUnless = (code: number, dst: number, src: number, imm: number) => {
      jumps.push(block.length);
      block.push([code, dst, src, 0, imm]);
    };
    jumpUnless(JMP_JNE_K, 2, 0, e.type === "c" ? DEV_CHAR : DEV_BLOCK);
    if (access !== 7) {
      // if ((r3 & access) != r3) goto next: the request must be within the exception's access.
      block.push([ALU32_MOV_X, 1, 3, 0, 0], [ALU32_AND_K, 1, 0, 0, access]);
      jumpUnless(JMP_JNE_X, 1, 3, 0);
    }
    if (e.major >= 0) jumpUnless(JMP_JNE_K, 4, 0, e.major);
    if (e.minor >= 0) jumpUnless(JMP_JNE_K, 5, 0, e.minor);
    block.push(...verdict(!ruleSet.defaultAllow));
    for (const k of jumps) block[k]![3] = block.length - k - 1;
    insns.push(...block);
  }
  insns.push(...verdict(ruleSet.defaultAllow));
  Object.freeze(ruleSet.exceptions);
  return Object.freeze({
    insns: encode(insns),
    license: "Apache",
    ruleSet: Object.freeze(ruleSet),
  });
}

function encode(insns: Insn[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach(([code, dst, src, off, imm], i) => {
    view.setUint8(i * 8, code);
    view.setUint8(i * 8 + 1, (src << 4) | dst);
    view.setInt16(i * 8 + 2, off, true);
    view.setInt32(i * 8 + 4, imm, true);
  });
  return out;
}

/**
 * Lists a device filter program one instruction per line, in the notation of cilium/ebpf's
 * `asm` package that runc's tests use (`JNEImm dst: r2 off: 4 imm: 2`). Only the opcodes
 * {@linkcode deviceFilterProgram} emits have names; others print as `op 0x..`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deviceFilterProgram, disassemble } from "./devicefilter.ts";
 * const lines = disassemble(deviceFilterProgram([]).insns);
 * assert.equal(lines[0], "LdXMemW dst: r2 src: r1 off: 0 imm: 0");
 * assert.equal(lines.at(-1), "Exit");
 * ```
 */
export function disassemble(insns: Uint8Array): string[] {
  if (insns.length % 8 !== 0) throw new RangeError("not a whole number of 8-byte instructions");
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const lines: string[] = [];
  for (let i = 0; i < insns.length; i += 8) {
    const code = view.getUint8(i);
    const dst = `r${view.getUint8(i + 1) & 0xf}`;
    const src = `r${view.getUint8(i + 1) >> 4}`;
    const off = view.getInt16(i + 2, true);
    const imm = view.getInt32(i + 4, true);
    switch (code) {
      case LDX_MEM_W:
        lines.push(`LdXMemW dst: ${dst} src: ${src} off: ${off} imm: ${imm}`);
        break;
      case ALU32_AND_K:
        lines.push(`AndImm32 dst: ${dst} imm: ${imm}`);
        break;
      case ALU32_RSH_K:
        lines.push(`RShImm32 dst: ${dst} imm: ${imm}`);
        break;
      case ALU32_MOV_K:
        lines.push(`MovImm32 dst: ${dst} imm: ${imm}`);
        break;
      case ALU32_MOV_X:
        lines.push(`MovReg32 dst: ${dst} src: ${src}`);
        break;
      case JMP_JNE_K:
        lines.push(`JNEImm dst: ${dst} off: ${off} imm: ${imm}`);
        break;
      case JMP_JNE_X:
        lines.push(`JNEReg dst: ${dst} off: ${off} src: ${src}`);
        break;
      case JMP_EXIT:
        lines.push("Exit");
        break;
      default:
        lines.push(`op 0x${code.toString(16).padStart(2, "0")}`);
    }
  }
  return lines;
}

const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;
const MAX_PROGS = 64; // the kernel's limit of programs per cgroup and attach type

function openDir(dir: string): number {
  return check(native().nsi_open(cstr(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0), "open", dir);
}

function queryIds(fd: number, dir: string): number[] {
  const ids = new Uint32Array(MAX_PROGS);
  const n = check(native().nsi_bpf_prog_query_dev(fd, ids, MAX_PROGS), "bpf(BPF_PROG_QUERY)", dir);
  return [...ids.subarray(0, n)];
}

/**
 * Ids of the device programs attached to the cgroup directory `dir` (needs the native helper
 * and CAP_SYS_ADMIN or CAP_BPF).
 *
 * @example
 * ```ts ignore
 * import { attachedDeviceFilters } from "./devicefilter.ts";
 * console.log(attachedDeviceFilters("/sys/fs/cgroup/mycontainer"));
 * ```
 */
export function attachedDeviceFilters(dir: string): number[] {
  const fd = openDir(dir);
  try {
    return queryIds(fd, dir);
  } finally {
    native().nsi_close(fd);
  }
}

/**
 * Loads `program` and attaches it to the cgroup directory `dir` (`BPF_F_ALLOW_MULTI`) in place
 * of the device programs attached there before, as runc does: a single old program is replaced
 * atomically (`BPF_F_REPLACE`); several are detached after the new one is attached. Throws
 * `SyscallError` naming the bpf(2) command and `dir`; a program the verifier refuses has the
 * verifier's log in the message.
 *
 * @example
 * ```ts ignore
 * import { attachDeviceFilter, deviceFilterProgram } from "./devicefilter.ts";
 * attachDeviceFilter("/sys/fs/cgroup/mycontainer", deviceFilterProgram([{ allow: false, access: "rwm" }]));
 * ```
 */
export function attachDeviceFilter(dir: string, program: DeviceFilterProgram): void {
  const lib = native();
  const fd = openDir(dir);
  const fds: number[] = [];
  try {
    const old = queryIds(fd, dir);
    // A cgroup with no device program yet (a new container's) gets the program this process
    // loaded for an earlier one of the same rules, if any: the kernel's verifier runs once
    // per rule list, not per container. A cgroup that has one gets a new load, which
    // replaces it (the kernel refuses to attach one program twice to a cgroup).
    const cached = old.length === 0 && [...programs.values()].includes(program);
    const shared = cached ? loaded.get(program) : undefined;
    if (shared !== undefined) {
      check(lib.nsi_bpf_prog_attach_dev(fd, shared, -1), "bpf(BPF_PROG_ATTACH)", dir);
      return;
    }
    const log = new Uint8Array(64 * 1024);
    const prog = Number(
      lib.nsi_bpf_prog_load_dev(
        program.insns,
        program.insns.length,
        cstr(program.license),
        log,
        log.length,
      ),
    );
    if (prog < 0) {
      const text = new TextDecoder().decode(log.subarray(0, Math.max(0, log.indexOf(0)))).trim();
      throw new SyscallError({
        syscall: "bpf(BPF_PROG_LOAD)",
        errno: -prog,
        path: dir,
        ...(text !== "" ? { detail: `verifier: ${text.split("\n").slice(-5).join(" | ")}` } : {}),
      });
    }
    if (cached) {
      try {
        check(lib.nsi_bpf_prog_attach_dev(fd, prog, -1), "bpf(BPF_PROG_ATTACH)", dir);
      } catch (e) {
        lib.nsi_close(prog);
        throw e;
      }
      loaded.set(program, prog); // not loaded before (else `shared` was used above)
      return;
    }
    fds.push(prog);
    let replace = -1;
    if (old.length === 1) {
      replace = lib.nsi_bpf_prog_get_fd(old[0]!);
      if (replace >= 0) fds.push(replace);
    }
    let r = lib.nsi_bpf_prog_attach_dev(fd, prog, replace);
    if (r === -22 /* EINVAL: a kernel without BPF_F_REPLACE */ && replace >= 0) {
      replace = -1;
      r = lib.nsi_bpf_prog_attach_dev(fd, prog, -1);
    }
    check(r, "bpf(BPF_PROG_ATTACH)", dir);
    if (replace >= 0) return;
    for (const id of old) {
      const oldFd = lib.nsi_bpf_prog_get_fd(id);
      if (oldFd === -2 /* ENOENT: gone meanwhile */) continue;
      fds.push(check(oldFd, "bpf(BPF_PROG_GET_FD_BY_ID)", dir));
      const d = lib.nsi_bpf_prog_detach_dev(fd, oldFd);
      if (d !== -2) check(d, "bpf(BPF_PROG_DETACH)", dir);
    }
  } finally {
    for (const f of fds) lib.nsi_close(f);
    lib.nsi_close(fd);
  }
}
