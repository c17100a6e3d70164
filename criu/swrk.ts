/**
 * CRIU's RPC: one `criu swrk 3` process per request, over a SOCK_SEQPACKET
 * socketpair made by the native library (Deno cannot hand a child extra fds).
 * The request goes out, and CRIU's notifications come back by name until the
 * final answer; each is answered after its handler ran.
 *
 * @module
 */

import { CriuError } from "../errors.ts";
import { check, cstr, cstrList, native } from "../native/ffi.ts";
import { reaper } from "../native/reaper.ts";
import {
  create,
  type criu_features,
  type criu_opts,
  criu_optsSchema,
  criu_req_type,
  criu_reqSchema,
  type criu_resp,
  criu_respSchema,
  fromBinary,
  toBinary,
} from "./proto.ts";

/** The environment variable naming the criu binary (after the option, before `criu` on PATH). */
export const CRIU_ENV = "NSINIT_CRIU";

/** The notification names CRIU sends during a dump or a restore. */
export type CriuNotifyName =
  | "pre-dump"
  | "post-dump"
  | "network-lock"
  | "network-unlock"
  | "setup-namespaces"
  | "post-setup-namespaces"
  | "post-restore"
  | "orphan-pts-master"
  | "status-ready"
  | "pre-resume"
  | "post-resume"
  | "pre-restore";

/** One notification: its name, the pid CRIU attached (0 when none), and a passed fd. */
export interface CriuNotify {
  /** The script name CRIU notifies, e.g. `post-dump`. */
  name: string;
  /** `notify.pid`: the restored init for `setup-namespaces`/`post-restore`; 0 when unset. */
  pid: number;
  /** An fd that came with the message (the pty master of `orphan-pts-master`), owned by the handler. */
  fd?: number;
}

/** A handler per notification name; a name without one is answered with success. */
export type CriuNotifyHandlers = Partial<
  Record<CriuNotifyName, (n: CriuNotify) => void | Promise<void>>
>;

/** One request to `criu swrk`. */
export interface SwrkRequest {
  /** The request type. */
  type: criu_req_type;
  /** Its options (CHECK needs them too). */
  opts?: criu_opts;
  /** The features a FEATURE_CHECK asks about. */
  features?: criu_features;
  /** stdin, stdout, stderr of CRIU (the restored process's stdio comes from them); default /dev/null. */
  stdio?: [number, number, number];
  /** Further fds CRIU gets as 4, 5, ... (for `inherit_fd`). */
  extraFds?: number[];
  /** Runs once CRIU exists, before the request is sent (e.g. puts CRIU into the container's cgroup). */
  onStart?: (criuPid: number) => Promise<void>;
  /** Notification handlers. */
  notify?: CriuNotifyHandlers;
  /** The log file to name in errors. */
  log?: string;
}

/**
 * The criu binary: the option, then `$NSINIT_CRIU`, then `criu`; a bare name is looked
 * up on PATH. Throws a {@link CriuError} naming what was tried when none exists.
 *
 * @example
 * ```ts ignore
 * import { resolveCriu } from "./swrk.ts";
 * console.log(resolveCriu()); // e.g. /usr/local/sbin/criu
 * ```
 */
export function resolveCriu(binary?: string): string {
  const name = binary || Deno.env.get(CRIU_ENV) || "criu";
  const candidates = name.includes("/")
    ? [name]
    : (Deno.env.get("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
      .split(":").filter((d) => d !== "").map((d) => `${d}/${name}`);
  for (const c of candidates) {
    try {
      const st = Deno.statSync(c);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return c;
    } catch { /* next */ }
  }
  throw new CriuError({
    request: "start",
    detail: `criu binary "${name}" not found${name.includes("/") ? "" : " on PATH"} ` +
      `(set --criu, the criu option or $${CRIU_ENV}; scripts/install_criu.sh installs one)`,
  });
}

/** The name rpc.proto gives a request type, e.g. `DUMP`. */
export function requestName(type: criu_req_type): string {
  return criu_req_type[type] ?? `type ${type}`;
}

/** Largest answer accepted from CRIU (its messages are a few hundred bytes). */
const MAX_PACKET = 1 << 20;

/**
 * Sends one request to a fresh `criu swrk` and returns CRIU's final answer.
 * Notifications are handled on the way; a handler's error answers the
 * notification with failure (CRIU then rolls back) and is thrown once CRIU answered.
 * CRIU's failure becomes a {@link CriuError} with its errno, message and log.
 */
export async function swrk(binary: string, req: SwrkRequest): Promise<criu_resp> {
  const lib = native();
  const request = requestName(req.type);
  const pair = new Int32Array(2);
  check(lib.nsi_seqpacket_pair(new Uint8Array(pair.buffer)), "socketpair");
  const [sock, peer] = [pair[0], pair[1]];
  const fds = new Int32Array([...(req.stdio ?? [-1, -1, -1]), peer, ...(req.extraFds ?? [])]);
  const out = new Int32Array(2);
  const argv = cstrList(["criu", "swrk", "3"]);
  const rc = lib.nsi_spawn_fds(
    cstr(binary),
    argv,
    argv.length,
    new Uint8Array(fds.buffer),
    fds.length,
    new Uint8Array(out.buffer),
  );
  lib.nsi_close(peer);
  if (rc < 0) {
    lib.nsi_close(sock);
    throw new CriuError({ request, errno: -rc, detail: `cannot start ${binary} swrk` });
  }
  const [pid, pidfd] = [out[0], out[1]];
  const exited = reaper.wait(pidfd).finally(() => lib.nsi_close(pidfd));
  let handlerError: unknown;
  try {
    if (req.onStart) await req.onStart(pid);
    const first = create(criu_reqSchema, { type: req.type });
    if (req.opts) first.opts = req.opts;
    if (req.features) first.features = req.features;
    await send(sock, toBinary(criu_reqSchema, first), request);
    const buf = new Uint8Array(MAX_PACKET);
    const fdOut = new Int32Array(1);
    for (;;) {
      const n = Number(
        await lib.nsi_recv_packet(sock, buf, BigInt(buf.length), new Uint8Array(fdOut.buffer)),
      );
      if (n < 0) {
        throw new CriuError({ request, errno: -n, detail: "reading CRIU's answer", ...logOf(req) });
      }
      if (n === 0) {
        const st = await exited;
        throw new CriuError({
          request,
          detail: `criu exited without an answer (${
            st.signal ? `signal ${st.signal}` : `exit status ${st.code}`
          })`,
          ...logOf(req),
          ...excerptOf(req.log),
        });
      }
      const resp = fromBinary(criu_respSchema, buf.subarray(0, n));
      if (!resp.success) {
        if (fdOut[0] >= 0) lib.nsi_close(fdOut[0]);
        if (handlerError) throw handlerError;
        throw new CriuError({
          request: resp.type === criu_req_type.NOTIFY ? request : requestName(resp.type),
          errno: resp.crErrno,
          detail: resp.crErrmsg || "CRIU reported failure",
          ...logOf(req),
          ...excerptOf(req.log),
        });
      }
      if (resp.type === criu_req_type.NOTIFY) {
        const name = resp.notify?.script ?? "";
        const notify: CriuNotify = { name, pid: resp.notify?.pid ?? 0 };
        if (fdOut[0] >= 0) notify.fd = fdOut[0];
        let ok = true;
        const handler = req.notify?.[name as CriuNotifyName];
        if (handler) {
          try {
            await handler(notify);
          } catch (e) {
            handlerError ??= e;
            ok = false;
          }
        } else if (notify.fd !== undefined) {
          lib.nsi_close(notify.fd);
        }
        const answer = create(criu_reqSchema, { type: criu_req_type.NOTIFY, notifySuccess: ok });
        await send(sock, toBinary(criu_reqSchema, answer), request);
        continue;
      }
      if (resp.type !== req.type) {
        throw new CriuError({
          request,
          detail: `unexpected answer ${requestName(resp.type)}`,
          ...logOf(req),
        });
      }
      if (handlerError) throw handlerError;
      return resp;
    }
  } finally {
    // Closing the socket ends CRIU (a PRE_DUMP waits for more requests until then).
    lib.nsi_close(sock);
    await exited.catch(() => {});
  }
}

async function send(sock: number, bytes: Uint8Array<ArrayBuffer>, request: string): Promise<void> {
  const n = Number(await native().nsi_write(sock, bytes, BigInt(bytes.length)));
  if (n < 0) throw new CriuError({ request, errno: -n, detail: "sending to criu swrk" });
}

function logOf(req: SwrkRequest): { log?: string } {
  return req.log ? { log: req.log } : {};
}

/**
 * The first lines of CRIU's log that say `Error` (as runc quotes them), shortened, so
 * the error says what went wrong without opening the log.
 */
export function excerptOf(log?: string): { excerpt?: string } {
  if (!log) return {};
  let text: string;
  try {
    text = Deno.readTextFileSync(log);
  } catch {
    return {};
  }
  const lines = text.split("\n").filter((l) => /Error|error \(/.test(l)).slice(0, 3)
    .map((l) => l.replace(/^\(\s*[\d.]+\)\s*/, "").trim());
  if (lines.length === 0) return {};
  const s = lines.join(" | ");
  return { excerpt: s.length > 400 ? s.slice(0, 400) + "..." : s };
}

/** CRIU's version, as runc compares it: major * 10000 + minor * 100 + sublevel. */
export interface CriuVersion {
  /** e.g. 40101 for 4.1.1. */
  number: number;
  /** e.g. "4.1.1". */
  text: string;
}

/** Asks CRIU its version (the VERSION request, ~6 ms). */
export async function criuVersion(binary: string): Promise<CriuVersion> {
  const resp = await swrk(binary, { type: criu_req_type.VERSION });
  const v = resp.version;
  if (!v) throw new CriuError({ request: "VERSION", detail: "the answer holds no version" });
  const sub = v.sublevel ?? 0;
  return {
    number: v.majorNumber * 10000 + v.minorNumber * 100 + sub,
    text: `${v.majorNumber}.${v.minorNumber}${sub ? `.${sub}` : ""}`,
  };
}

/** Options of a CRIU request that carries only a log (CHECK, FEATURE_CHECK). */
export function logOnlyOpts(workDirFd: number, logFile: string): criu_opts {
  return create(criu_optsSchema, { imagesDirFd: workDirFd, workDirFd, logFile, logLevel: 4 });
}
