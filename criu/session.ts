/**
 * What a checkpoint and a restore share: CRIU found and checked before any work,
 * directories opened as raw fds in this process (CRIU opens them through
 * /proc/<our pid>/fd/N), progress from the images' sizes, the pid check every pid
 * from CRIU passes.
 *
 * @module
 */

import { CriuError } from "../errors.ts";
import { check, cstr, native } from "../native/ffi.ts";
import { join, resolve } from "../util/path.ts";
import { writeAtomic } from "../core/state_write.ts";
import {
  create,
  criu_cg_mode,
  criu_featuresSchema,
  criu_network_lock_method,
  type criu_opts,
  criu_req_type,
} from "./proto.ts";
import { type CriuVersion, criuVersion, logOnlyOpts, resolveCriu, swrk } from "./swrk.ts";
import type { CriuCommonOptions, CriuProgress, ManageCgroupsMode } from "./options.ts";

/** The oldest CRIU accepted: 3.15 (external pid namespaces, cgroup v2 freezer, status-ready). */
export const MIN_CRIU_VERSION = 31500;

const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;

/** Checked CRIU binaries of this process: a CHECK costs ~0.1 s, done once per binary. */
const checked = new Map<string, Promise<CriuVersion>>();

/** The file, in a state root, that remembers a passed check across processes. */
export const CHECK_CACHE = ".criu-checked.json";

/**
 * Finds the criu binary and makes sure it works before any work starts: its
 * version (VERSION request) must be at least 3.15 and `criu check` (the CHECK
 * request) must pass on this kernel. Errors name the binary and what failed.
 * With `cacheDir` (the state root), a passed check is remembered there for this
 * binary (path, size, mtime) until the next boot, so each command does not pay it.
 */
export function prepareCriu(
  binary?: string,
  cacheDir?: string,
): Promise<{ binary: string; version: CriuVersion }> {
  const path = resolveCriu(binary);
  let p = checked.get(path);
  if (!p) {
    p = cachedCheck(path, cacheDir);
    checked.set(path, p);
    p.catch(() => checked.delete(path));
  }
  return p.then((version) => ({ binary: path, version }));
}

/** What identifies a check: the binary (path, size, mtime) and this boot. */
function checkKey(binary: string): string | undefined {
  try {
    const st = Deno.statSync(binary);
    const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    return `${binary} ${st.size} ${st.mtime?.getTime()} ${boot}`;
  } catch {
    return undefined;
  }
}

async function cachedCheck(binary: string, cacheDir?: string): Promise<CriuVersion> {
  const key = checkKey(binary);
  const file = cacheDir ? join(cacheDir, CHECK_CACHE) : undefined;
  if (file && key) {
    try {
      const c = JSON.parse(Deno.readTextFileSync(file));
      if (c.key === key && typeof c.version?.number === "number") return c.version as CriuVersion;
    } catch { /* none yet, or unreadable: check */ }
  }
  const version = await preflight(binary);
  if (file && key) {
    try {
      Deno.mkdirSync(cacheDir!, { recursive: true, mode: 0o700 });
      await writeAtomic(file, JSON.stringify({ key, version }));
    } catch { /* a read-only root: check again next time */ }
  }
  return version;
}

async function preflight(binary: string): Promise<CriuVersion> {
  let version: CriuVersion;
  try {
    version = await criuVersion(binary);
  } catch (e) {
    throw new CriuError({
      request: "VERSION",
      detail: `${binary} does not answer its RPC (${(e as Error).message})`,
    }, { cause: e });
  }
  if (version.number < MIN_CRIU_VERSION) {
    throw new CriuError({
      request: "VERSION",
      detail: `${binary} is CRIU ${version.text}; nsinit needs 3.15 or newer`,
    });
  }
  const dir = Deno.makeTempDirSync({ prefix: "nsinit-criu-check-" });
  const fd = openDir(dir);
  try {
    await swrk(binary, {
      type: criu_req_type.CHECK,
      opts: logOnlyOpts(fd, "check.log"),
      log: `${dir}/check.log`,
    });
  } catch (e) {
    const log = (() => {
      try {
        return Deno.readTextFileSync(`${dir}/check.log`).trim().split("\n").slice(-3).join(" | ");
      } catch {
        return "";
      }
    })();
    throw new CriuError({
      request: "CHECK",
      ...(e instanceof CriuError ? { errno: e.errno } : {}),
      detail: `criu check fails with ${binary} (CRIU ${version.text})${log ? `: ${log}` : ""}`,
    }, { cause: e });
  } finally {
    native().nsi_close(fd);
    Deno.removeSync(dir, { recursive: true });
  }
  return version;
}

/** CRIU features a request may need (rpc.proto's `criu_features`). */
export type CriuFeature = "memTrack" | "lazyPages";

const FEATURE_NEEDS: Record<CriuFeature, string> = {
  memTrack: "memory tracking for pre-dumps (the kernel needs CONFIG_MEM_SOFT_DIRTY)",
  lazyPages: "lazy pages (the kernel needs userfaultfd)",
};

/**
 * Asks CRIU (FEATURE_CHECK) whether the features exist on this host, as runc does
 * before a pre-dump or a lazy migration; throws a CriuError naming those missing.
 *
 * @example
 * ```ts ignore
 * import { requireFeatures } from "./session.ts";
 * await requireFeatures("/usr/local/sbin/criu", "PRE_DUMP", ["memTrack"]);
 * ```
 */
export async function requireFeatures(
  binary: string,
  request: string,
  wanted: CriuFeature[],
): Promise<void> {
  if (wanted.length === 0) return;
  const features = create(criu_featuresSchema, {});
  for (const w of wanted) features[w] = true;
  const resp = await swrk(binary, { type: criu_req_type.FEATURE_CHECK, features });
  const missing = wanted.filter((w) => resp.features?.[w] !== true);
  if (missing.length > 0) {
    throw new CriuError({
      request,
      detail: `CRIU lacks ${missing.map((m) => FEATURE_NEEDS[m]).join(" and ")} on this host`,
    });
  }
}

/** Opens a directory as a raw fd of this process (the caller closes it). */
export function openDir(path: string): number {
  return check(native().nsi_open(cstr(path), O_RDONLY | O_DIRECTORY, 0), "open", path);
}

/** Creates `path` (mode 0700) unless it exists, then opens it. */
export function makeDir(path: string): number {
  try {
    Deno.mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  return openDir(path);
}

/** runc's `--manage-cgroups-mode` to CRIU's enum. */
export function cgMode(mode?: ManageCgroupsMode): criu_cg_mode {
  switch (mode) {
    case undefined:
      return criu_cg_mode.DEFAULT;
    case "soft":
      return criu_cg_mode.SOFT;
    case "full":
      return criu_cg_mode.FULL;
    case "strict":
      return criu_cg_mode.STRICT;
    case "ignore":
      return criu_cg_mode.IGNORE;
    default:
      throw new RangeError(
        `manage-cgroups-mode: "${mode}" is not one of soft, full, strict, ignore`,
      );
  }
}

/** Sets CRIU's network lock method from the option (unset: CRIU's default, iptables). */
export function networkLock(
  opts: criu_opts,
  method: "iptables" | "nftables" | "skip" | undefined,
): void {
  if (method === undefined) return;
  const m = {
    iptables: criu_network_lock_method.IPTABLES,
    nftables: criu_network_lock_method.NFTABLES,
    skip: criu_network_lock_method.SKIP,
  }[method];
  if (m === undefined) {
    throw new RangeError(`network-lock: "${method}" is not one of iptables, nftables, skip`);
  }
  opts.networkLock = m;
}

/** The CRIU configuration file: the `org.criu.config` annotation, else /etc/criu/nsinit.conf. */
export function configFile(
  opts: criu_opts,
  annotations: Record<string, string> | undefined,
): void {
  const a = annotations?.["org.criu.config"];
  if (a === undefined) opts.configFile = "/etc/criu/nsinit.conf";
  else if (a !== "") opts.configFile = a;
}

/**
 * The options a dump and a restore set alike: CRIU's work directory (`workPath`, its fd
 * pushed on `fds` for the caller to close), the configuration file and the network lock.
 * Returns the directory CRIU writes its log to: the work directory, else `imagePath`.
 */
export function commonOpts(
  ropts: criu_opts,
  opts: CriuCommonOptions,
  annotations: Record<string, string> | undefined,
  imagePath: string,
  fds: number[],
): string {
  let logDir = imagePath;
  if (opts.workPath) {
    const workPath = resolve(opts.workPath);
    const workFd = makeDir(workPath);
    fds.push(workFd);
    ropts.workDirFd = workFd;
    logDir = workPath;
  }
  configFile(ropts, annotations);
  networkLock(ropts, opts.networkLock);
  return logDir;
}

/**
 * Checks that `fd` is an fd of this process open for writing (runc's `--status-fd` check),
 * from /proc/self/fdinfo: a RangeError naming the fd otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkStatusFd } from "./session.ts";
 * assert.throws(() => checkStatusFd(-1), RangeError);
 * assert.throws(() => checkStatusFd(987654), /fd 987654 is not open/);
 * ```
 */
export function checkStatusFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0) {
    throw new RangeError(`status-fd: ${fd} is not a file descriptor number`);
  }
  let info: string;
  try {
    info = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
  } catch {
    throw new RangeError(`status-fd: fd ${fd} is not open in this process`);
  }
  const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? "0", 8);
  if ((flags & 3) === 0) throw new RangeError(`status-fd: fd ${fd} is not open for writing`);
}

/**
 * What a lazy checkpoint does when CRIU's page server is ready (the `status-ready`
 * notification, as runc handles it for CRIU 3.15+): one `\0` on `statusFd` (then closed) and
 * `onLazyPagesReady`. The status fd belongs to the checkpoint: `close()` closes it if the
 * checkpoint ended before it was ready, so a reader sees the end instead of waiting.
 */
export class LazyReady {
  #fd?: number;
  #callback?: () => void | Promise<void>;

  /** Takes the status fd (checked) and the callback of a checkpoint's options. */
  constructor(
    opts: { lazyPages?: boolean; statusFd?: number; onLazyPagesReady?: () => void | Promise<void> },
  ) {
    if (!opts.lazyPages) return;
    if (opts.statusFd !== undefined) {
      checkStatusFd(opts.statusFd);
      this.#fd = opts.statusFd;
    }
    if (opts.onLazyPagesReady) this.#callback = opts.onLazyPagesReady;
  }

  /** CRIU's page server is ready: tell the status fd and the callback (each once). */
  async ready(): Promise<void> {
    if (this.#fd !== undefined) {
      const fd = this.#fd;
      this.#fd = undefined;
      try {
        const n = Number(await native().nsi_write(fd, new Uint8Array(1), 1n));
        if (n < 0) {
          throw new CriuError({ request: "DUMP", errno: -n, detail: `writing to status-fd ${fd}` });
        }
      } finally {
        native().nsi_close(fd);
      }
    }
    const cb = this.#callback;
    this.#callback = undefined;
    if (cb) await cb();
  }

  /** Closes the status fd if readiness never came. */
  close(): void {
    if (this.#fd !== undefined) native().nsi_close(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * A pid from CRIU (a notification's or the restore answer's) must be a real
 * process: -1 or 0 would make kill(2) signal a group or every process.
 */
export function validPid(pid: number | undefined, where: string): number {
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) {
    throw new CriuError({
      request: "RESTORE",
      detail: `CRIU sent an invalid pid ${pid} in ${where}`,
    });
  }
  return pid;
}

/**
 * Emits progress events while CRIU works: on each phase, and every 250 ms with the
 * pages and bytes written so far (CRIU's page files are pages-*.img).
 */
export class ProgressTicker implements Disposable {
  #start = performance.now();
  #phase = "start";
  #timer?: ReturnType<typeof setInterval>;
  #dir: string;
  #op: CriuProgress["operation"];
  #emit?: (p: CriuProgress) => void;

  /** Starts ticking over `dir` when there is a listener. */
  constructor(dir: string, op: CriuProgress["operation"], emit?: (p: CriuProgress) => void) {
    this.#dir = dir;
    this.#op = op;
    if (emit) this.#emit = emit;
    if (!emit) return;
    this.#timer = setInterval(() => this.#tick(), 250);
    this.#tick();
  }

  /** Enters a phase (a CRIU notification name, or `done`). */
  phase(name: string): void {
    this.#phase = name;
    this.#tick();
  }

  #tick(): void {
    if (!this.#emit) return;
    let pages = 0, bytes = 0;
    try {
      for (const e of Deno.readDirSync(this.#dir)) {
        if (!e.isFile || !e.name.endsWith(".img")) continue;
        const size = Deno.statSync(`${this.#dir}/${e.name}`).size;
        bytes += size;
        if (e.name.startsWith("pages-")) pages += Math.floor(size / 4096);
      }
    } catch { /* the directory is being written or removed */ }
    this.#emit({
      phase: this.#phase,
      operation: this.#op,
      pages,
      bytes,
      elapsedMs: Math.round(performance.now() - this.#start),
    });
  }

  /** Stops ticking. */
  [Symbol.dispose](): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Reads the links of a process's fds 0-2 (runc's descriptors.json: `pipe:[N]`, paths). */
export function stdioDescriptors(pid: number): string[] {
  const out: string[] = [];
  for (let fd = 0; fd < 3; fd++) {
    try {
      out.push(Deno.readLinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      out.push("/dev/null");
    }
  }
  return out;
}
