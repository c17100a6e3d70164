/**
 * A small D-Bus client over libsystemd's sd-bus (loaded by `ffi.ts`): sd-bus does the
 * wire format and authentication; this module turns typed JavaScript values into
 * `sd_bus_message_append_basic` / `open_container` calls and replies back into values.
 * Raw pointers never leave it: callers see {@link SdBus}, plain values and
 * {@link Variant}s, and a `DbusError` (with the D-Bus error name) for every failure.
 *
 * Values are written by signature: `s`, `o`, `g` take strings; `b` a boolean; `y`, `n`,
 * `q`, `i`, `u`, `h` numbers; `x`, `t` bigints or safe-integer numbers; `d` a number;
 * `aT` an array of T; `(…)` an array of the members; `{KV}` a `[key, value]` pair;
 * `v` a {@link Variant}. Replies come back the same way (`x`/`t` as bigint).
 *
 * One connection serves one caller at a time: every call and signal wait is queued,
 * and each has a timeout.
 *
 * @module
 */

import { DbusError, describeErrno } from "../errors.ts";
import { cstr } from "./ffi.ts";
import { libsystemd, type Libsystemd } from "./ffi_systemd.ts";

/** A D-Bus variant: a value with its own signature. */
export class Variant {
  /** Makes a variant of `value` with the single complete type `signature`. */
  constructor(readonly signature: string, readonly value: DbusValue) {}
}

/** A value as this module writes and reads it. */
export type DbusValue =
  | string
  | number
  | bigint
  | boolean
  | Variant
  | Uint8Array
  | DbusValue[];

/** One argument of a call: its signature and value. */
export type DbusArg = readonly [signature: string, value: DbusValue];

/** A signal received on the connection. */
export interface DbusSignal {
  /** The object path it was sent from. */
  path: string;
  /** Its arguments. */
  args: DbusValue[];
}

/**
 * Splits a signature into its complete types: `"sa(sv)"` → `["s", "a(sv)"]`.
 * Throws a `TypeError` on a malformed one.
 *
 * @example
 * ```ts
 * import { splitSignature } from "./sdbus.ts";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 * assertEquals(splitSignature("ssa(sv)a(sa(sv))"), ["s", "s", "a(sv)", "a(sa(sv))"]);
 * ```
 */
export function splitSignature(sig: string): string[] {
  const out: string[] = [];
  let i = 0;
  const one = (): void => {
    const c = sig[i];
    if (c === undefined) throw new TypeError(`incomplete D-Bus signature ${JSON.stringify(sig)}`);
    i++;
    if (c === "a") return one();
    if (c === "(" || c === "{") {
      const close = c === "(" ? ")" : "}";
      while (sig[i] !== close) {
        if (i >= sig.length) throw new TypeError(`unclosed ${c} in D-Bus signature ${sig}`);
        one();
      }
      i++;
      return;
    }
    if (!"ybnqiuxtdsoghv".includes(c)) {
      throw new TypeError(`bad type ${JSON.stringify(c)} in D-Bus signature ${JSON.stringify(sig)}`);
    }
  };
  while (i < sig.length) {
    const start = i;
    one();
    out.push(sig.slice(start, i));
  }
  return out;
}

const ENCODER = new TextEncoder();

/** The errnos that mean the connection is gone (a reconnect may help). */
const DISCONNECTED = new Set([104 /* ECONNRESET */, 107 /* ENOTCONN */, 32 /* EPIPE */]);

/** Whether `e` says the connection was lost, so a new connection could succeed. */
export function isDisconnect(e: unknown): boolean {
  return e instanceof DbusError &&
    (e.dbusName === "org.freedesktop.DBus.Error.Disconnected" ||
      (e.errno !== undefined && DISCONNECTED.has(e.errno)));
}

function errnoDbusName(errno: number): string {
  switch (errno) {
    case 110:
      return "org.freedesktop.DBus.Error.Timeout";
    case 104:
    case 107:
    case 32:
      return "org.freedesktop.DBus.Error.Disconnected";
    case 2:
    case 111:
      return "org.freedesktop.DBus.Error.NoServer";
    case 13:
    case 1:
      return "org.freedesktop.DBus.Error.AccessDenied";
    default:
      return "org.freedesktop.DBus.Error.Failed";
  }
}

/** Options for {@link SdBus.connect}. */
export interface SdBusOptions {
  /** A D-Bus address, e.g. `unix:path=/run/systemd/private`. */
  address: string;
  /**
   * Whether the peer is a bus daemon (send `Hello`, get a unique name); false for a
   * direct connection to systemd's private socket, which rejects `Hello`.
   */
  busClient: boolean;
}

/**
 * One D-Bus connection. `close()` is idempotent; `await using` closes it too.
 *
 * @example Asking systemd for its version (needs a running systemd)
 * ```ts ignore
 * import { SdBus } from "./sdbus.ts";
 * await using bus = SdBus.connect({ address: "unix:path=/run/systemd/private", busClient: false });
 * const [v] = await bus.call("org.freedesktop.systemd1", "/org/freedesktop/systemd1",
 *   "org.freedesktop.DBus.Properties", "Get",
 *   [["s", "org.freedesktop.systemd1.Manager"], ["s", "Version"]]);
 * ```
 */
export class SdBus {
  #lib: Libsystemd;
  #bus: Deno.PointerValue;
  #queue: Promise<unknown> = Promise.resolve();
  /** The address it is connected to. */
  readonly address: string;

  private constructor(lib: Libsystemd, bus: Deno.PointerValue, address: string) {
    this.#lib = lib;
    this.#bus = bus;
    this.address = address;
  }

  /** Opens a connection. Throws `DbusError` (name `…NoServer` when nothing listens). */
  static connect(opts: SdBusOptions): SdBus {
    const what = `connect ${opts.address}`;
    let lib: Libsystemd;
    try {
      lib = libsystemd();
    } catch (e) {
      throw new DbusError(what, "org.freedesktop.DBus.Error.NotSupported", (e as Error).message);
    }
    const out = new BigUint64Array(1);
    let r = lib.sd_bus_new(out);
    if (r < 0) throw new DbusError(what, errnoDbusName(-r), `sd_bus_new: ${describeErrno(-r)}`, -r);
    const bus = Deno.UnsafePointer.create(out[0]!);
    const fail = (step: string, r: number): never => {
      lib.sd_bus_close_unref(bus);
      throw new DbusError(what, errnoDbusName(-r), `${step}: ${describeErrno(-r)}`, -r);
    };
    r = lib.sd_bus_set_address(bus, cstr(opts.address));
    if (r < 0) fail("sd_bus_set_address", r);
    r = lib.sd_bus_set_bus_client(bus, opts.busClient ? 1 : 0);
    if (r < 0) fail("sd_bus_set_bus_client", r);
    // sd_bus_start connects without blocking (sd-bus sockets are non-blocking) and queues
    // the authentication; the first call completes it, under that call's timeout.
    r = lib.sd_bus_start(bus);
    if (r < 0) fail("sd_bus_start", r);
    return new SdBus(lib, bus, opts.address);
  }

  /** Whether the connection is still open. */
  get open(): boolean {
    return this.#bus !== null && this.#lib.sd_bus_is_open(this.#bus) > 0;
  }

  /** Runs `fn` after every earlier operation on this connection. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Calls `iface.member` on `dest` at `path` with `args`; resolves to the reply's
   * values. Throws `DbusError` with the peer's error name, or `…Timeout` after
   * `timeoutMs` (default 25000), or `…Disconnected` when the connection is lost.
   */
  call(
    dest: string,
    path: string,
    iface: string,
    member: string,
    args: readonly DbusArg[],
    timeoutMs = 25000,
  ): Promise<DbusValue[]> {
    return this.#serial(async () => {
      const what = `${iface}.${member}`;
      const deadline = Date.now() + timeoutMs;
      const bus = await this.#ready(what, deadline);
      const lib = this.#lib;
      const out = new BigUint64Array(1);
      let r = lib.sd_bus_message_new_method_call(
        bus,
        out,
        cstr(dest),
        cstr(path),
        cstr(iface),
        cstr(member),
      );
      if (r < 0) throw new DbusError(what, errnoDbusName(-r), describeErrno(-r), -r);
      const m = Deno.UnsafePointer.create(out[0]!);
      let reply: Deno.PointerValue = null;
      try {
        for (const [sig, value] of args) {
          const parts = splitSignature(sig);
          if (parts.length !== 1) throw new TypeError(`${what}: ${sig} is not one complete type`);
          this.#append(m, sig, value, what);
        }
        const err = new Uint8Array(24); // sd_bus_error { name, message, _need_free }
        const rep = new BigUint64Array(1);
        const left = Math.max(1, deadline - Date.now());
        r = await lib.sd_bus_call(bus, m, BigInt(left) * 1000n, err, rep);
        if (r < 0) {
          const view = new DataView(err.buffer);
          const name = readCString(view.getBigUint64(0, true));
          const text = readCString(view.getBigUint64(8, true));
          lib.sd_bus_error_free(err);
          throw new DbusError(
            what,
            name ?? errnoDbusName(-r),
            text ?? describeErrno(-r),
            -r,
          );
        }
        reply = Deno.UnsafePointer.create(rep[0]!);
        return this.#readAll(reply);
      } finally {
        lib.sd_bus_message_unref(m);
        if (reply) lib.sd_bus_message_unref(reply);
      }
    });
  }

  /**
   * Waits for the signal `iface.member` for which `match` returns true, discarding
   * other messages. Signals that arrived during an earlier `call` are seen too.
   * Throws `DbusError` `…Timeout` after `timeoutMs`, `…Disconnected` if the
   * connection is lost.
   */
  waitSignal(
    iface: string,
    member: string,
    match: (s: DbusSignal) => boolean,
    timeoutMs: number,
  ): Promise<DbusSignal> {
    return this.#serial(async () => {
      const what = `waiting for ${iface}.${member}`;
      const deadline = Date.now() + timeoutMs;
      await this.#ready(what, deadline);
      const lib = this.#lib;
      const ciface = cstr(iface);
      const cmember = cstr(member);
      const out = new BigUint64Array(1);
      for (;;) {
        const bus = this.#live(what);
        out[0] = 0n;
        const r = lib.sd_bus_process(bus, out);
        if (r < 0) throw new DbusError(what, errnoDbusName(-r), describeErrno(-r), -r);
        if (out[0]) {
          const m = Deno.UnsafePointer.create(out[0]);
          try {
            if (lib.sd_bus_message_is_signal(m, ciface, cmember) > 0) {
              const sig = {
                path: readCString(Deno.UnsafePointer.value(lib.sd_bus_message_get_path(m))) ?? "",
                args: this.#readAll(m),
              };
              if (match(sig)) return sig;
            }
          } finally {
            lib.sd_bus_message_unref(m);
          }
        }
        if (r > 0) continue; // more may be queued
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new DbusError(
            what,
            "org.freedesktop.DBus.Error.Timeout",
            `no signal within ${timeoutMs} ms`,
            110,
          );
        }
        const w = await lib.sd_bus_wait(bus, BigInt(Math.min(left, 1000)) * 1000n);
        if (w < 0) throw new DbusError(what, errnoDbusName(-w), describeErrno(-w), -w);
      }
    });
  }

  /**
   * Completes the connection's authentication by `deadline` (sd-bus itself would
   * wait up to 90 s for a peer that accepted the connection but does not answer).
   */
  async #ready(what: string, deadline: number): Promise<NonNullable<Deno.PointerValue>> {
    const lib = this.#lib;
    for (;;) {
      const bus = this.#live(what);
      const ready = lib.sd_bus_is_ready(bus);
      if (ready > 0) return bus;
      if (ready < 0) throw new DbusError(what, errnoDbusName(-ready), describeErrno(-ready), -ready);
      const r = lib.sd_bus_process(bus, null);
      if (r < 0) throw new DbusError(what, errnoDbusName(-r), describeErrno(-r), -r);
      if (r > 0) continue;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new DbusError(
          what,
          "org.freedesktop.DBus.Error.Timeout",
          `${this.address} did not complete the connection in time`,
          110,
        );
      }
      const w = await lib.sd_bus_wait(bus, BigInt(Math.min(left, 1000)) * 1000n);
      if (w < 0) throw new DbusError(what, errnoDbusName(-w), describeErrno(-w), -w);
    }
  }

  #live(what: string): NonNullable<Deno.PointerValue> {
    if (this.#bus === null) {
      throw new DbusError(what, "org.freedesktop.DBus.Error.Disconnected", "connection closed", 107);
    }
    return this.#bus;
  }

  #append(m: Deno.PointerValue, sig: string, value: DbusValue, what: string): void {
    const lib = this.#lib;
    const t = sig[0]!;
    const check = (r: number) => {
      if (r < 0) {
        throw new DbusError(
          what,
          "org.freedesktop.DBus.Error.InvalidArgs",
          `cannot append ${sig} ${JSON.stringify(String(value))}: ${describeErrno(-r)}`,
          -r,
        );
      }
    };
    const bad = (): never => {
      throw new TypeError(`${what}: value ${String(value)} does not match D-Bus type ${sig}`);
    };
    if (t === "a") {
      const elem = sig.slice(1);
      const items = value instanceof Uint8Array ? [...value] : Array.isArray(value) ? value : bad();
      check(lib.sd_bus_message_open_container(m, code("a"), cstr(elem)));
      for (const item of items) this.#append(m, elem, item, what);
      check(lib.sd_bus_message_close_container(m));
      return;
    }
    if (t === "(" || t === "{") {
      const inner = splitSignature(sig.slice(1, -1));
      if (!Array.isArray(value) || value.length !== inner.length) bad();
      check(lib.sd_bus_message_open_container(m, code(t === "(" ? "r" : "e"), cstr(sig.slice(1, -1))));
      inner.forEach((s, i) => this.#append(m, s, (value as DbusValue[])[i]!, what));
      check(lib.sd_bus_message_close_container(m));
      return;
    }
    if (t === "v") {
      if (!(value instanceof Variant)) return bad();
      check(lib.sd_bus_message_open_container(m, code("v"), cstr(value.signature)));
      this.#append(m, value.signature, value.value, what);
      check(lib.sd_bus_message_close_container(m));
      return;
    }
    check(lib.sd_bus_message_append_basic(m, code(t), encodeBasic(t, value, bad)));
  }

  #readAll(m: Deno.PointerValue): DbusValue[] {
    const out: DbusValue[] = [];
    for (;;) {
      const v = this.#readNext(m);
      if (v === END) return out;
      out.push(v);
    }
  }

  #readNext(m: Deno.PointerValue): DbusValue | typeof END {
    const lib = this.#lib;
    const type = new Uint8Array(1);
    const contents = new BigUint64Array(1);
    let r = lib.sd_bus_message_peek_type(m, type, contents);
    if (r <= 0) return END;
    const t = String.fromCharCode(type[0]!);
    if (t === "a" || t === "r" || t === "e" || t === "v") {
      const inner = readCString(contents[0]!) ?? "";
      r = lib.sd_bus_message_enter_container(m, type[0]!, cstr(inner));
      if (r < 0) return END;
      let value: DbusValue;
      if (t === "v") {
        const v = this.#readNext(m);
        value = new Variant(inner, v === END ? "" : v);
      } else {
        value = this.#readAll(m);
        if (t === "a" && inner === "y") value = Uint8Array.from(value as number[]);
      }
      lib.sd_bus_message_exit_container(m);
      return value;
    }
    const buf = new Uint8Array(8);
    r = lib.sd_bus_message_read_basic(m, type[0]!, buf);
    if (r <= 0) return END;
    return decodeBasic(t, new DataView(buf.buffer));
  }

  /** Closes the connection. Idempotent. */
  close(): void {
    if (this.#bus === null) return;
    this.#lib.sd_bus_close_unref(this.#bus);
    this.#bus = null;
  }

  /** Closes the connection (after any queued operation). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#queue;
    this.close();
  }
}

const END: unique symbol = Symbol("end");

function code(c: string): number {
  return c.charCodeAt(0);
}

function readCString(ptr: bigint): string | undefined {
  if (ptr === 0n) return undefined;
  const p = Deno.UnsafePointer.create(ptr);
  return p === null ? undefined : Deno.UnsafePointerView.getCString(p);
}

function encodeBasic(t: string, value: DbusValue, bad: () => never): Uint8Array<ArrayBuffer> {
  if (t === "s" || t === "o" || t === "g") {
    if (typeof value !== "string") bad();
    const b = ENCODER.encode(value as string);
    if (b.includes(0)) bad();
    return cstr(value as string);
  }
  const buf = new Uint8Array(8);
  const v = new DataView(buf.buffer);
  const num = (): number => {
    if (typeof value === "bigint" && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(value);
    if (typeof value !== "number" || !Number.isInteger(value)) bad();
    return value as number;
  };
  const big = (): bigint => {
    if (typeof value === "bigint") return value;
    if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
    return bad();
  };
  const inRange = (n: number, lo: number, hi: number): number => (n < lo || n > hi ? bad() : n);
  switch (t) {
    case "b":
      if (typeof value !== "boolean") bad();
      v.setInt32(0, value ? 1 : 0, true);
      break;
    case "y":
      v.setUint8(0, inRange(num(), 0, 0xff));
      break;
    case "n":
      v.setInt16(0, inRange(num(), -0x8000, 0x7fff), true);
      break;
    case "q":
      v.setUint16(0, inRange(num(), 0, 0xffff), true);
      break;
    case "i":
    case "h":
      v.setInt32(0, inRange(num(), -0x80000000, 0x7fffffff), true);
      break;
    case "u":
      v.setUint32(0, inRange(num(), 0, 0xffffffff), true);
      break;
    case "x": {
      const b = big();
      if (b < -(1n << 63n) || b >= 1n << 63n) bad();
      v.setBigInt64(0, b, true);
      break;
    }
    case "t": {
      const b = big();
      if (b < 0n || b >= 1n << 64n) bad();
      v.setBigUint64(0, b, true);
      break;
    }
    case "d":
      if (typeof value !== "number") bad();
      v.setFloat64(0, value as number, true);
      break;
    default:
      bad();
  }
  return buf;
}

function decodeBasic(t: string, v: DataView): DbusValue {
  switch (t) {
    case "y":
      return v.getUint8(0);
    case "b":
      return v.getInt32(0, true) !== 0;
    case "n":
      return v.getInt16(0, true);
    case "q":
      return v.getUint16(0, true);
    case "i":
    case "h":
      return v.getInt32(0, true);
    case "u":
      return v.getUint32(0, true);
    case "x":
      return v.getBigInt64(0, true);
    case "t":
      return v.getBigUint64(0, true);
    case "d":
      return v.getFloat64(0, true);
    default: // s, o, g: a const char *
      return readCString(v.getBigUint64(0, true)) ?? "";
  }
}

