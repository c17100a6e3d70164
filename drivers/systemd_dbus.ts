/**
 * The systemd manager calls the systemd driver makes, over one reused D-Bus connection
 * (`native/sdbus.ts`): `StartTransientUnit` and `StopUnit` waiting for their job's
 * `JobRemoved`, `SetUnitProperties`, `ResetFailedUnit`, unit and manager properties.
 * Every call has a timeout; a lost connection is reopened once and the call retried
 * (as runc's `retryOnDisconnect`); every failure is a `DbusError` with the D-Bus name.
 *
 * The connection: as root, systemd's private socket `/run/systemd/private` when it
 * exists (no bus daemon needed; it rejects `Hello`), else the system bus
 * (`$DBUS_SYSTEM_BUS_ADDRESS` or `/run/dbus/system_bus_socket`), where the job
 * signals are subscribed to first. A user's own manager (`systemd --user`, for rootless
 * containers) is found by {@link userManagerAddress}: its private socket
 * `$XDG_RUNTIME_DIR/systemd/private`, else the user bus.
 *
 * @module
 */

import { DbusError } from "../errors.ts";
import { type DbusArg, type DbusValue, isDisconnect, SdBus, Variant } from "../native/sdbus.ts";
import type { UnitProperty } from "./systemd_unit.ts";

/** What the systemd driver needs from systemd; tests pass a fake. */
export interface SystemdClient {
  /** systemd's version number (e.g. 252). */
  version(): Promise<number>;
  /**
   * Starts a transient unit (mode `replace`) and waits for its job to finish.
   * Throws `DbusError` (e.g. `org.freedesktop.systemd1.UnitExists`), or when the job
   * ends other than `done`.
   */
  startTransientUnit(unit: string, properties: readonly UnitProperty[]): Promise<void>;
  /** Stops a unit and waits for its job; a unit that is not loaded is not an error. */
  stopUnit(unit: string): Promise<void>;
  /** Forgets a failed unit (ignores "not loaded"). */
  resetFailedUnit(unit: string): Promise<void>;
  /** Sets properties of a running unit (runtime only). */
  setUnitProperties(unit: string, properties: readonly UnitProperty[]): Promise<void>;
  /** A property of a loaded unit, or undefined when the unit is not loaded. */
  unitProperty(unit: string, iface: string, name: string): Promise<DbusValue | undefined>;
  /**
   * Moves processes into a running unit's cgroup (`AttachProcessesToUnit`, systemd 238+;
   * `subcgroup` relative to the unit's, "" for its own). A user manager that may not move
   * them itself asks PID 1 to, which allows it when the unit, the caller and the
   * processes belong to the same user.
   */
  attachProcessesToUnit(unit: string, subcgroup: string, pids: readonly number[]): Promise<void>;
}

const DEST = "org.freedesktop.systemd1";
const PATH = "/org/freedesktop/systemd1";
const MANAGER = "org.freedesktop.systemd1.Manager";
const PROPERTIES = "org.freedesktop.DBus.Properties";

/** Where to reach systemd. */
export interface SystemdBusOptions {
  /** A D-Bus address; default: the private socket as root, else the system bus. */
  address?: string;
  /** Whether `address` is a bus daemon (default: true unless it is systemd's private socket). */
  busClient?: boolean;
  /** Timeout of each call, ms (default 25000, as D-Bus's default). */
  callTimeoutMs?: number;
  /** Timeout of waiting for a job to finish, ms (default 30000, as runc). */
  jobTimeoutMs?: number;
}

function defaultAddress(): { address: string; busClient: boolean } {
  const privateSocket = "/run/systemd/private";
  let isRoot = false;
  try {
    isRoot = Deno.uid() === 0;
  } catch {
    // no uid: not root
  }
  if (isRoot) {
    try {
      Deno.statSync(privateSocket);
      return { address: `unix:path=${privateSocket}`, busClient: false };
    } catch {
      // no private socket: try the system bus
    }
  }
  let env: string | undefined;
  try {
    env = Deno.env.get("DBUS_SYSTEM_BUS_ADDRESS");
  } catch {
    env = undefined;
  }
  return { address: env || "unix:path=/run/dbus/system_bus_socket", busClient: true };
}

/** Reads an environment variable; undefined when unset or not allowed. */
function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where the calling user's own systemd manager (`systemd --user`) answers, as runc and
 * podman reach it rootless: its private socket `$XDG_RUNTIME_DIR/systemd/private` (no
 * bus daemon), else the user bus (`$DBUS_SESSION_BUS_ADDRESS`, else
 * `$XDG_RUNTIME_DIR/bus`). `$XDG_RUNTIME_DIR` defaults to `/run/user/<uid>`. Undefined
 * when none of them exists. Nothing is connected: the socket's presence is checked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userManagerAddress } from "./systemd_dbus.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal(userManagerAddress({ runtimeDir: dir }), undefined);
 * await Deno.mkdir(`${dir}/systemd`);
 * await Deno.writeTextFile(`${dir}/systemd/private`, "");
 * assert.deepEqual(userManagerAddress({ runtimeDir: dir }), {
 *   address: `unix:path=${dir}/systemd/private`,
 *   busClient: false,
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function userManagerAddress(
  opts: { runtimeDir?: string; sessionBus?: string; uid?: number } = {},
): { address: string; busClient: boolean } | undefined {
  let uid = opts.uid;
  if (uid === undefined) {
    try {
      uid = Deno.uid() ?? undefined;
    } catch {
      uid = undefined;
    }
  }
  const dir = opts.runtimeDir ?? env("XDG_RUNTIME_DIR") ??
    (uid !== undefined ? `/run/user/${uid}` : undefined);
  const present = (p: string) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (dir !== undefined && present(`${dir}/systemd/private`)) {
    return { address: `unix:path=${dir}/systemd/private`, busClient: false };
  }
  const session = opts.runtimeDir !== undefined
    ? opts.sessionBus
    : opts.sessionBus ?? env("DBUS_SESSION_BUS_ADDRESS");
  if (session) return { address: session, busClient: true };
  if (dir !== undefined && present(`${dir}/bus`)) {
    return { address: `unix:path=${dir}/bus`, busClient: true };
  }
  return undefined;
}

/**
 * A {@link SystemdClient} over D-Bus. Connects on first use; `close()` is idempotent.
 *
 * @example Starting a scope for a process (needs a running systemd and root)
 * ```ts ignore
 * import { SystemdBus } from "./systemd_dbus.ts";
 * import { Variant } from "../native/sdbus.ts";
 * await using sd = new SystemdBus();
 * await sd.startTransientUnit("demo.scope", [["PIDs", new Variant("au", [Deno.pid])]]);
 * ```
 */
export class SystemdBus implements SystemdClient {
  #opts: SystemdBusOptions;
  #bus: SdBus | undefined;
  #version: number | undefined;
  readonly #callMs: number;
  readonly #jobMs: number;

  /** Makes a client; nothing connects until the first call. */
  constructor(opts: SystemdBusOptions = {}) {
    this.#opts = opts;
    this.#callMs = opts.callTimeoutMs ?? 25000;
    this.#jobMs = opts.jobTimeoutMs ?? 30000;
  }

  async #connect(): Promise<SdBus> {
    if (this.#bus?.open) return this.#bus;
    this.#bus?.close();
    this.#bus = undefined;
    const def = defaultAddress();
    const address = this.#opts.address ?? def.address;
    const busClient = this.#opts.busClient ??
      (this.#opts.address === undefined ? def.busClient : !address.endsWith("/systemd/private"));
    const bus = SdBus.connect({ address, busClient });
    if (busClient) {
      try {
        // A bus daemon routes signals only to those who ask; systemd sends job
        // signals on the bus only to subscribers. (Direct connections get them all.)
        await bus.call(
          "org.freedesktop.DBus",
          "/org/freedesktop/DBus",
          "org.freedesktop.DBus",
          "AddMatch",
          [["s", `type='signal',sender='${DEST}',interface='${MANAGER}',member='JobRemoved'`]],
          this.#callMs,
        );
        await bus.call(DEST, PATH, MANAGER, "Subscribe", [], this.#callMs);
      } catch (e) {
        bus.close();
        throw e;
      }
    }
    this.#bus = bus;
    return bus;
  }

  /** Runs `fn` on the connection; reconnects and retries once if it was lost. */
  async #retry<T>(fn: (bus: SdBus) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.#connect());
    } catch (e) {
      if (!isDisconnect(e)) throw e;
      this.#bus?.close();
      this.#bus = undefined;
      return await fn(await this.#connect());
    }
  }

  #call(member: string, args: readonly DbusArg[]): Promise<DbusValue[]> {
    return this.#retry((bus) => bus.call(DEST, PATH, MANAGER, member, args, this.#callMs));
  }

  /** systemd's version, from the manager's `Version` property (cached). */
  async version(): Promise<number> {
    if (this.#version !== undefined) return this.#version;
    const [v] = await this.#retry((bus) =>
      bus.call(DEST, PATH, PROPERTIES, "Get", [["s", MANAGER], ["s", "Version"]], this.#callMs)
    );
    const text = v instanceof Variant ? String(v.value) : "";
    const m = /^"?v?(\d+)/.exec(text);
    if (!m) {
      throw new DbusError(
        `${MANAGER}.Version`,
        "org.freedesktop.DBus.Error.InvalidSignature",
        `cannot read a version from ${JSON.stringify(text)}`,
      );
    }
    this.#version = Number(m[1]);
    return this.#version;
  }

  /**
   * Starts a job with `member` and waits for its `JobRemoved`; returns the job's result.
   * Only the call is retried after a lost connection: a job already queued is not
   * started twice.
   */
  async #job(member: string, unit: string, args: readonly DbusArg[]): Promise<string> {
    const [job] = await this.#call(member, args);
    const bus = await this.#connect();
    try {
      const signal = await bus.waitSignal(
        MANAGER,
        "JobRemoved",
        (s) => s.args[1] === job,
        this.#jobMs,
      );
      return String(signal.args[3]);
    } catch (e) {
      if (e instanceof DbusError && e.dbusName.endsWith(".Timeout")) {
        throw new DbusError(
          `${MANAGER}.${member}`,
          e.dbusName,
          `job ${String(job)} for ${unit} did not finish within ${this.#jobMs} ms`,
          e.errno,
        );
      }
      throw e;
    }
  }

  async startTransientUnit(unit: string, properties: readonly UnitProperty[]): Promise<void> {
    const result = await this.#job("StartTransientUnit", unit, [
      ["s", unit],
      ["s", "replace"],
      ["a(sv)", properties.map(([n, v]) => [n, v])],
      ["a(sa(sv))", []],
    ]);
    if (result !== "done") {
      await this.resetFailedUnit(unit).catch(() => {});
      throw new DbusError(
        `${MANAGER}.StartTransientUnit`,
        "org.freedesktop.systemd1.JobFailed",
        `starting ${unit}: job ${result}`,
      );
    }
  }

  async stopUnit(unit: string): Promise<void> {
    try {
      await this.#job("StopUnit", unit, [["s", unit], ["s", "replace"]]);
    } catch (e) {
      if (e instanceof DbusError && e.dbusName === "org.freedesktop.systemd1.NoSuchUnit") return;
      throw e;
    }
    await this.resetFailedUnit(unit).catch(() => {});
  }

  async resetFailedUnit(unit: string): Promise<void> {
    try {
      await this.#call("ResetFailedUnit", [["s", unit]]);
    } catch (e) {
      if (e instanceof DbusError && e.dbusName === "org.freedesktop.systemd1.NoSuchUnit") return;
      throw e;
    }
  }

  async setUnitProperties(unit: string, properties: readonly UnitProperty[]): Promise<void> {
    if (properties.length === 0) return;
    await this.#call("SetUnitProperties", [
      ["s", unit],
      ["b", true],
      ["a(sv)", properties.map(([n, v]) => [n, v])],
    ]);
  }

  async attachProcessesToUnit(
    unit: string,
    subcgroup: string,
    pids: readonly number[],
  ): Promise<void> {
    await this.#call("AttachProcessesToUnit", [["s", unit], ["s", subcgroup], ["au", [...pids]]]);
  }

  async unitProperty(unit: string, iface: string, name: string): Promise<DbusValue | undefined> {
    let path: DbusValue;
    try {
      [path] = await this.#call("GetUnit", [["s", unit]]);
    } catch (e) {
      if (e instanceof DbusError && e.dbusName === "org.freedesktop.systemd1.NoSuchUnit") {
        return undefined;
      }
      throw e;
    }
    const [v] = await this.#retry((bus) =>
      bus.call(DEST, String(path), PROPERTIES, "Get", [["s", iface], ["s", name]], this.#callMs)
    );
    return v instanceof Variant ? v.value : v;
  }

  /** Closes the connection. Idempotent. */
  close(): void {
    this.#bus?.close();
    this.#bus = undefined;
  }

  /** Closes the connection. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

const shared = new Map<string, SystemdBus>();

/** Reads `$NSINIT_SYSTEMD_TIMEOUT_MS` (a positive integer), if set. */
function timeoutFromEnv(): number | undefined {
  let v: string | undefined;
  try {
    v = Deno.env.get("NSINIT_SYSTEMD_TIMEOUT_MS");
  } catch {
    return undefined;
  }
  const n = Number(v);
  return v && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The process's one connection to a systemd manager, opened on first use and reused by
 * every manager (a CLI command makes one; a long-lived library user keeps it): the
 * system's (default), or the one at `address` (a user manager's, see
 * {@link userManagerAddress}). Each call and each job wait times out after
 * `$NSINIT_SYSTEMD_TIMEOUT_MS` when set (else 25 s and 30 s).
 */
export function sharedSystemdBus(address?: string): SystemdBus {
  const key = address ?? "";
  let bus = shared.get(key);
  if (bus === undefined) {
    const ms = timeoutFromEnv();
    bus = new SystemdBus({
      ...(ms ? { callTimeoutMs: ms, jobTimeoutMs: ms } : {}),
      ...(address !== undefined ? { address } : {}),
    });
    shared.set(key, bus);
  }
  return bus;
}
