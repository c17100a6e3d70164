/**
 * Where the cgroup hierarchies are and where a container's cgroups go.
 *
 * Reads `/proc/self/mountinfo` and `/proc/<pid>/cgroup` (through an injectable
 * reader, so tests use fixed text), tells v1, hybrid and v2 hosts apart, and
 * resolves `linux.cgroupsPath` the way runc's cgroupfs drivers do:
 *
 * - an **absolute** path is taken below each hierarchy's mount point
 *   (`/sys/fs/cgroup/memory` + `/a/b`);
 * - a **relative** path nests under the runtime's own cgroup in each hierarchy
 *   (read from `/proc/self/cgroup`, made relative to the mount's root);
 * - an **empty or absent** path is the container id, relative: runc 1.1's
 *   `specconv.CreateCgroupConfig` sets `Name = id` with no parent for the cgroupfs
 *   driver, so the container lands in `<runtime's own cgroup>/<id>`.
 *
 * On a pure v2 host runc 1.1 (`fs2.defaultDirPath`) nests a relative path under the
 * **parent** of the runtime's own cgroup, since the runtime's own cgroup holds
 * processes and so cannot enable controllers for a child; this module does the same.
 * On a hybrid host the unified tree's path nests under the runtime's own cgroup there.
 *
 * @module
 */

import * as posix from "../util/path.ts";
import { isDirectory } from "../util/fs.ts";
import { CgroupError, ConfigError } from "../errors.ts";

/** How the host has mounted cgroups. */
export type CgroupMode = "v1" | "hybrid" | "v2";

/** One line of `/proc/<pid>/mountinfo`. */
export interface MountInfoEntry {
  /** Mount id. */
  id: number;
  /** Parent mount id. */
  parentId: number;
  /** `major:minor` of the filesystem. */
  device: string;
  /** The directory of the filesystem that is mounted (the mount's root). */
  root: string;
  /** Where it is mounted. */
  mountPoint: string;
  /** Per-mount options. */
  mountOptions: string;
  /** Filesystem type, e.g. `cgroup`, `cgroup2`. */
  fsType: string;
  /** Mount source. */
  source: string;
  /** Per-superblock options (for cgroup v1: the controllers, e.g. `rw,cpu,cpuacct`). */
  superOptions: string;
}

/** A mounted cgroup hierarchy. */
export interface CgroupMount {
  /** 1 for a `cgroup` (v1) mount, 2 for `cgroup2`. */
  version: 1 | 2;
  /** Where it is mounted. */
  mountPoint: string;
  /** The cgroup that is the mount's root (`/` unless bind-mounted or in a cgroup namespace). */
  root: string;
  /**
   * v1: the controllers bound to it (`cpu`, `cpuacct`, `name=systemd`, ...).
   * v2: always empty (see {@link CgroupHost.unifiedControllers}).
   */
  controllers: string[];
}

/** What the host's cgroup layout is and where the runtime itself sits in it. */
export interface CgroupHost {
  /** v1, hybrid or v2. */
  mode: CgroupMode;
  /** v1 hierarchies (empty on v2), one per mount point. */
  v1: CgroupMount[];
  /** The cgroup2 mount, if any (the whole tree on v2, `/sys/fs/cgroup/unified` on hybrid). */
  unified?: CgroupMount;
  /** Controllers listed in the unified mount's root `cgroup.controllers`. */
  unifiedControllers: string[];
  /** The runtime's own cgroup per controller (`""` for the unified tree), from `/proc/self/cgroup`. */
  own: Record<string, string>;
}

/** Reads a text file; the seam tests replace. */
export type TextReader = (path: string) => string;

const defaultReader: TextReader = (path) => Deno.readTextFileSync(path);

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parses the text of `/proc/<pid>/mountinfo`.
 *
 * @example Parsing one line
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMountInfo } from "./paths.ts";
 * const [m] = parseMountInfo("35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n");
 * assert.equal(m.fsType, "cgroup");
 * assert.equal(m.mountPoint, "/sys/fs/cgroup/memory");
 * ```
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    if (sep < 0 || fields.length < sep + 4) {
      throw new CgroupError("mountinfo", `malformed line: ${JSON.stringify(line)}`);
    }
    entries.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2]!,
      root: unescapeMountField(fields[3]!),
      mountPoint: unescapeMountField(fields[4]!),
      mountOptions: fields[5]!,
      fsType: fields[sep + 1]!,
      source: unescapeMountField(fields[sep + 2]!),
      superOptions: fields[sep + 3]!,
    });
  }
  return entries;
}

/** Super options of a v1 mount that are not controller names. */
const NON_CONTROLLER_OPTIONS = new Set([
  "rw",
  "ro",
  "noprefix",
  "clone_children",
  "xattr",
  "cpuset_v2_mode",
  "favordynmods",
  "nofavor",
]);

/**
 * Picks the cgroup mounts out of parsed mountinfo. When a hierarchy is mounted
 * more than once, the first mount wins (as runc does).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cgroupMounts, parseMountInfo } from "./paths.ts";
 * const mounts = cgroupMounts(parseMountInfo(
 *   "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
 * ));
 * assert.equal(mounts[0].controllers.join(), "cpu,cpuacct");
 * ```
 */
export function cgroupMounts(entries: MountInfoEntry[]): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.fsType === "cgroup2") {
      if (seen.has("")) continue;
      seen.add("");
      mounts.push({ version: 2, mountPoint: e.mountPoint, root: e.root, controllers: [] });
    } else if (e.fsType === "cgroup") {
      const controllers = e.superOptions.split(",").filter((o) =>
        o !== "" && !NON_CONTROLLER_OPTIONS.has(o) && !o.startsWith("release_agent=")
      );
      const key = controllers.slice().sort().join(",");
      if (controllers.length === 0 || seen.has(key)) continue;
      seen.add(key);
      mounts.push({ version: 1, mountPoint: e.mountPoint, root: e.root, controllers });
    }
  }
  return mounts;
}

/**
 * Parses `/proc/<pid>/cgroup` into controller → cgroup path. Co-mounted
 * controllers (`2:cpu,cpuacct:/x`) get one key each; the v2 line (`0::/x`) is key `""`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProcCgroup } from "./paths.ts";
 * const own = parseProcCgroup("4:memory:/a/b\n2:cpu,cpuacct:/\n0::/\n");
 * assert.equal(own.memory, "/a/b");
 * assert.equal(own.cpuacct, "/");
 * assert.equal(own[""], "/");
 * ```
 */
export function parseProcCgroup(text: string): Record<string, string> {
  const own: Record<string, string> = {};
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) {
      throw new CgroupError("/proc/self/cgroup", `malformed line: ${JSON.stringify(line)}`);
    }
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === "") own[""] = path;
    else for (const c of controllers.split(",")) own[c] = path;
  }
  return own;
}

/** Options for {@link readCgroupHost} and {@link detectCgroupMode}. */
export interface ReadHostOptions {
  /** Reads files; defaults to `Deno.readTextFileSync`. */
  readFile?: TextReader;
  /** Whose cgroups count as "the runtime's own"; default `self`. */
  pid?: number | "self";
}

/**
 * Works out the mode from the mounts: any v1 hierarchy with a real controller
 * makes it v1, or hybrid when a cgroup2 tree is mounted too; only cgroup2 is v2.
 * A v1 mount holding only `name=systemd` does not count as a controller.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modeOf } from "./paths.ts";
 * assert.equal(modeOf([{ version: 2, mountPoint: "/sys/fs/cgroup", root: "/", controllers: [] }]), "v2");
 * ```
 */
export function modeOf(mounts: CgroupMount[]): CgroupMode {
  const hasV1 = mounts.some((m) =>
    m.version === 1 && m.controllers.some((c) => !c.startsWith("name="))
  );
  const hasV2 = mounts.some((m) => m.version === 2);
  if (hasV1) return hasV2 ? "hybrid" : "v1";
  if (hasV2) return "v2";
  throw new CgroupError("mountinfo", "no cgroup filesystem is mounted");
}

/**
 * Describes the host's cgroup layout from `/proc/<pid>/mountinfo`, `/proc/<pid>/cgroup`
 * and the unified root's `cgroup.controllers`. For this process (no `readFile`, `pid`
 * self) the mounts and the unified controllers are read on the first call only; its own
 * cgroup on every call.
 *
 * @example Reading a fixed host
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCgroupHost } from "./paths.ts";
 * const files: Record<string, string> = {
 *   "/proc/self/mountinfo": "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
 *   "/proc/self/cgroup": "0::/user.slice/session.scope\n",
 *   "/sys/fs/cgroup/cgroup.controllers": "cpu memory pids\n",
 * };
 * const host = readCgroupHost({ readFile: (p) => files[p]! });
 * assert.equal(host.mode, "v2");
 * assert.ok(host.unifiedControllers.includes("memory"));
 * ```
 */
export function readCgroupHost(opts: ReadHostOptions = {}): CgroupHost {
  const read = opts.readFile ?? defaultReader;
  const proc = `/proc/${opts.pid ?? "self"}`;
  // This process's own mounts are read once (the host's cgroup hierarchies are mounted at
  // boot and stay), its own cgroup every time: it may be moved (0.1 ms of the event loop
  // per container for mountinfo, measured; /proc/self/cgroup is a few lines).
  const own = () => parseProcCgroup(read(`${proc}/cgroup`));
  const self = opts.readFile === undefined && (opts.pid ?? "self") === "self";
  if (self && ownLayout) return withOwn(ownLayout, own());
  const mounts = cgroupMounts(parseMountInfo(read(`${proc}/mountinfo`)));
  const mode = modeOf(mounts);
  const unified = mounts.find((m) => m.version === 2);
  let unifiedControllers: string[] = [];
  if (unified) {
    try {
      unifiedControllers = read(posix.join(unified.mountPoint, "cgroup.controllers"))
        .split(/\s+/).filter((c) => c !== "");
    } catch {
      unifiedControllers = [];
    }
  }
  const layout: Omit<CgroupHost, "own"> = {
    mode,
    v1: mode === "v2" ? [] : mounts.filter((m) => m.version === 1),
    unifiedControllers,
  };
  if (unified) layout.unified = unified;
  if (self) ownLayout = layout;
  return withOwn(layout, own());
}

/** This process's cgroup mounts, once read (see {@link readCgroupHost}). */
let ownLayout: Omit<CgroupHost, "own"> | undefined;

/** A host of `layout` (copied: callers may change theirs) with `own`. */
function withOwn(layout: Omit<CgroupHost, "own">, own: Record<string, string>): CgroupHost {
  const copy = (m: CgroupMount): CgroupMount => ({ ...m, controllers: [...m.controllers] });
  const host: CgroupHost = {
    mode: layout.mode,
    v1: layout.v1.map(copy),
    unifiedControllers: [...layout.unifiedControllers],
    own,
  };
  if (layout.unified) host.unified = copy(layout.unified);
  return host;
}

/**
 * `host` as seen in a forced mode (`CreateCgroupManagerOptions.mode`): `v1` on a hybrid
 * host ignores the unified tree, `v2` ignores the v1 hierarchies; an `Error` when the host
 * has not mounted what the mode needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { forceCgroupMode, type CgroupHost } from "./paths.ts";
 * const host: CgroupHost = {
 *   mode: "hybrid",
 *   v1: [{ version: 1, mountPoint: "/sys/fs/cgroup/pids", root: "/", controllers: ["pids"] }],
 *   unified: { version: 2, mountPoint: "/sys/fs/cgroup/unified", root: "/", controllers: [] },
 *   unifiedControllers: [],
 *   own: {},
 * };
 * assert.equal(forceCgroupMode(host, "v1").unified, undefined);
 * assert.deepEqual(forceCgroupMode(host, "v2").v1, []);
 * ```
 */
export function forceCgroupMode(host: CgroupHost, mode: CgroupMode): CgroupHost {
  if (mode === host.mode) return host;
  if (mode === "v1") {
    if (host.v1.length === 0) {
      throw new Error("cgroup mode v1 requested, but no v1 hierarchy is mounted");
    }
    const { unified: _, ...rest } = host;
    return { ...rest, mode: "v1", unifiedControllers: [] };
  }
  if (!host.unified) {
    throw new Error(`cgroup mode ${mode} requested, but no cgroup2 tree is mounted`);
  }
  if (mode === "v2") return { ...host, mode: "v2", v1: [] };
  if (host.v1.length === 0) {
    throw new Error("cgroup mode hybrid requested, but no v1 hierarchy is mounted");
  }
  return { ...host, mode: "hybrid" };
}

/**
 * Detects whether the host runs cgroup v1, hybrid or v2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectCgroupMode } from "./paths.ts";
 * const mode = detectCgroupMode({
 *   readFile: () => "31 23 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
 * });
 * assert.equal(mode, "v1");
 * ```
 */
export function detectCgroupMode(opts: ReadHostOptions = {}): CgroupMode {
  const read = opts.readFile ?? defaultReader;
  return modeOf(cgroupMounts(parseMountInfo(read(`/proc/${opts.pid ?? "self"}/mountinfo`))));
}

/**
 * Cleans a cgroup path as runc's `utils.CleanPath`: lexically cleaned, and a
 * relative path cannot climb above its base with `..`. Empty stays empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cleanCgroupPath } from "./paths.ts";
 * assert.equal(cleanCgroupPath("../../a/./b/"), "a/b");
 * assert.equal(cleanCgroupPath("/x/../../y"), "/y");
 * ```
 */
export function cleanCgroupPath(path: string): string {
  if (path === "") return "";
  const cleaned = posix.normalize(path);
  if (posix.isAbsolute(cleaned)) return cleaned.length > 1 ? cleaned.replace(/\/+$/, "") : "/";
  // Relative: resolve against "/" so ".." cannot escape, then make relative again.
  return posix.relative("/", posix.join("/", cleaned));
}

/** `posix.join` without a trailing slash (joining "/" keeps the base as is). */
function joinDir(base: string, inner: string): string {
  const joined = posix.join(base, inner);
  return joined.length > 1 && joined.endsWith("/") ? joined.slice(0, -1) : joined;
}

/** Joins `own` (a cgroup path) under `mount`, relative to the mount's root. */
function ownDir(mount: CgroupMount, own: string | undefined): string {
  let rel = posix.relative(mount.root, own ?? "/");
  // The runtime's cgroup is outside what this mount shows (e.g. a foreign cgroup
  // namespace): the best we can do is the mount's root.
  if (rel.startsWith("..")) rel = "";
  return posix.join(mount.mountPoint, rel);
}

/** What to resolve: a container id and its `linux.cgroupsPath`. */
export interface CgroupPathSpec {
  /** Container id, used when `cgroupsPath` is empty or absent. */
  id: string;
  /** `linux.cgroupsPath`, if any. */
  cgroupsPath?: string;
}

/**
 * The inner path runc would use: the cleaned `cgroupsPath`, or the id (relative).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { innerCgroupPath } from "./paths.ts";
 * assert.equal(innerCgroupPath({ id: "c1" }), "c1");
 * assert.equal(innerCgroupPath({ id: "c1", cgroupsPath: "/pods/../c1/" }), "/c1");
 * ```
 */
export function innerCgroupPath(spec: CgroupPathSpec): string {
  const inner = cleanCgroupPath(spec.cgroupsPath ?? "");
  if (inner !== "") return inner;
  const id = cleanCgroupPath(spec.id);
  if (id === "" || id === "." || posix.isAbsolute(id)) {
    throw new RangeError(`container id ${JSON.stringify(spec.id)} cannot name a cgroup`);
  }
  return id;
}

/**
 * Resolves a container's cgroup directory in every hierarchy, keyed as
 * {@link CgroupManager.paths} documents: v1 controller names (co-mounted controllers
 * share a directory), `name=systemd`, and `""` for the unified tree (hybrid and v2).
 *
 * @example A relative path nests under the runtime's own cgroup
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveCgroupPaths, type CgroupHost } from "./paths.ts";
 * const host: CgroupHost = {
 *   mode: "v1",
 *   v1: [{ version: 1, mountPoint: "/sys/fs/cgroup/memory", root: "/", controllers: ["memory"] }],
 *   unifiedControllers: [],
 *   own: { memory: "/runtime" },
 * };
 * const paths = resolveCgroupPaths(host, { id: "c1", cgroupsPath: "pod/c1" });
 * assert.equal(paths.memory, "/sys/fs/cgroup/memory/runtime/pod/c1");
 * ```
 */
export function resolveCgroupPaths(
  host: CgroupHost,
  spec: CgroupPathSpec,
): Record<string, string> {
  const inner = innerCgroupPath(spec);
  const absolute = posix.isAbsolute(inner);
  const paths: Record<string, string> = {};
  for (const { mount, own } of hierarchiesOf(host)) {
    let base: string;
    if (absolute) base = mount.mountPoint;
    else {
      base = own;
      // runc's fs2 nests under the parent of its own cgroup (see the module doc).
      if (host.mode === "v2" && base !== mount.mountPoint) base = posix.dirname(base);
    }
    const dir = joinDir(base, inner);
    refuseHostCgroup(spec, dir, mount, own);
    if (mount.version === 2) paths[""] = dir;
    else for (const c of mount.controllers) paths[c] = dir;
  }
  return paths;
}

/** Each hierarchy a container gets a directory in, with the runtime's own cgroup there. */
function hierarchiesOf(host: CgroupHost): { mount: CgroupMount; own: string }[] {
  const out: { mount: CgroupMount; own: string }[] = [];
  if (host.mode !== "v2") {
    for (const m of host.v1) out.push({ mount: m, own: ownDir(m, host.own[m.controllers[0]!]) });
  }
  if (host.unified && (host.mode === "v2" || host.mode === "hybrid")) {
    out.push({ mount: host.unified, own: ownDir(host.unified, host.own[""]) });
  }
  return out;
}

/** Whether `dir` is `other` or one of its ancestors. */
function atOrAbove(dir: string, other: string): boolean {
  return dir === other || other.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/**
 * A container's limits and device rules go only into a cgroup made for it: never a
 * hierarchy's root, the runtime's own cgroup, or an ancestor of it (runc 1.1 writes a
 * `cgroupsPath` of `/` into the host's root cgroups, and its device rules then become
 * the whole host's).
 */
function refuseHostCgroup(
  spec: CgroupPathSpec,
  dir: string,
  mount: CgroupMount,
  own: string,
): void {
  if (dir !== mount.mountPoint && !atOrAbove(dir, own)) return;
  const what = dir === mount.mountPoint
    ? "the root of the hierarchy"
    : dir === own
    ? "the runtime's own cgroup"
    : "an ancestor of the runtime's own cgroup";
  throw new ConfigError(
    "config.json",
    "linux.cgroupsPath",
    `${JSON.stringify(spec.cgroupsPath ?? spec.id)} resolves to ${dir}, ${what}: ` +
      "a container's limits and device rules are only written into a cgroup made for it",
  );
}

/**
 * Refuses a container cgroup that already exists outside the runtime's own cgroup: such a
 * cgroup belongs to someone else (another service, a user's session), and the container's
 * limits, device rules and `delete --force`'s kill would all reach its processes. An
 * existing cgroup below the runtime's own one counts as handed over by the caller (two
 * containers sharing a relative `cgroupsPath`, as runc allows). On v2, where relative paths
 * nest beside the runtime's own cgroup (runc's fs2), this refuses a shared cgroup. `paths`:
 * the spec's resolved paths, when the caller has them already.
 *
 * @example An existing cgroup outside the runtime's own is refused
 * ```ts
 * import { checkCgroupOwnership, type CgroupHost } from "./paths.ts";
 * const host: CgroupHost = {
 *   mode: "v1",
 *   v1: [{ version: 1, mountPoint: "/cg/memory", root: "/", controllers: ["memory"] }],
 *   unifiedControllers: [],
 *   own: { memory: "/runtime" },
 * };
 * const spec = { id: "c1", cgroupsPath: "/system.slice" };
 * let refused = false;
 * try {
 *   checkCgroupOwnership(host, spec, (dir) => dir === "/cg/memory/system.slice");
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("an existing foreign cgroup was accepted");
 * checkCgroupOwnership(host, { id: "c1", cgroupsPath: "pod/c1" }, () => true); // below its own
 * ```
 */
export function checkCgroupOwnership(
  host: CgroupHost,
  spec: CgroupPathSpec,
  exists: (dir: string) => boolean = isDirectory,
  paths: Record<string, string> = resolveCgroupPaths(host, spec),
): void {
  for (const { mount, own } of hierarchiesOf(host)) {
    const dir = mount.version === 2 ? paths[""] : paths[mount.controllers[0]!];
    if (dir === undefined || dir.startsWith(`${own}/`) || !exists(dir)) continue;
    throw new ConfigError(
      "config.json",
      "linux.cgroupsPath",
      `${JSON.stringify(spec.cgroupsPath ?? spec.id)} resolves to ${dir}, a cgroup that ` +
        `already exists outside the runtime's own cgroup (${own}): it belongs to someone else`,
    );
  }
}

/**
 * Describes a host from a directory laid out like `/sys/fs/cgroup`, without
 * reading `/proc`: for tests on temp trees and for callers that mount cgroups
 * elsewhere. The directory is v2 when it has `cgroup.controllers`; otherwise each
 * subdirectory is a v1 hierarchy named by its controllers (`cpu,cpuacct`; `systemd`
 * is `name=systemd`), and a `unified` subdirectory is the hybrid cgroup2 tree. The
 * runtime's own cgroup is taken to be the root of each.
 *
 * @example A fake v2 root
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeCgroupRoot } from "./paths.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${root}/cgroup.controllers`, "cpu memory pids\n");
 * const host = describeCgroupRoot(root);
 * assert.equal(host.mode, "v2");
 * assert.equal(host.unified?.mountPoint, root);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function describeCgroupRoot(root: string): CgroupHost {
  const controllersOf = (dir: string) => {
    try {
      return Deno.readTextFileSync(posix.join(dir, "cgroup.controllers")).split(/\s+/)
        .filter((c) => c !== "");
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  };
  const top = controllersOf(root);
  if (top !== undefined) {
    return {
      mode: "v2",
      v1: [],
      unified: { version: 2, mountPoint: root, root: "/", controllers: [] },
      unifiedControllers: top,
      own: { "": "/" },
    };
  }
  const v1: CgroupMount[] = [];
  const own: Record<string, string> = {};
  let unified: CgroupMount | undefined;
  let unifiedControllers: string[] = [];
  const names = [...Deno.readDirSync(root)].filter((e) => e.isDirectory).map((e) => e.name).sort();
  for (const name of names) {
    const dir = posix.join(root, name);
    if (name === "unified") {
      unified = { version: 2, mountPoint: dir, root: "/", controllers: [] };
      unifiedControllers = controllersOf(dir) ?? [];
      own[""] = "/";
      continue;
    }
    const controllers = name === "systemd" ? ["name=systemd"] : name.split(",");
    v1.push({ version: 1, mountPoint: dir, root: "/", controllers });
    for (const c of controllers) own[c] = "/";
  }
  const mode = modeOf(unified ? [...v1, unified] : v1);
  const host: CgroupHost = { mode, v1, unifiedControllers, own };
  if (unified) host.unified = unified;
  return host;
}
