/**
 * Policy for containers created by an unprivileged user (rootless): where their
 * state lives by default, and how their uid/gid maps get written.
 *
 * - State: `$XDG_RUNTIME_DIR/nsinit` when the runtime is not root and the variable
 *   is set (runc's rule for its default root), else `/run/nsinit`.
 * - Maps: a single mapping of the caller's own id is written by the runtime itself
 *   (`gid_map` after `setgroups` is set to `deny`, as the kernel requires of an
 *   unprivileged writer); anything else needs the setuid helpers `newuidmap` /
 *   `newgidmap` (Debian's `uidmap`) and ranges in `/etc/subuid` / `/etc/subgid`.
 *
 * @module
 */

import type { LinuxIDMapping, Spec } from "../spec/config.ts";
import { ConfigError } from "../errors.ts";

/** One subordinate id range of `/etc/subuid` or `/etc/subgid`. */
export interface SubIdRange {
  /** First host id. */
  start: number;
  /** Number of ids. */
  count: number;
}

/**
 * The ranges `text` (an `/etc/subuid`-style file) gives to `user` (name or numeric id).
 *
 * @example
 * ```ts
 * import { parseSubIds } from "./rootless.ts";
 * import assert from "node:assert/strict";
 * const text = "alice:100000:65536\n1001:300000:10\nbob:200000:65536\n";
 * assert.deepEqual(parseSubIds(text, "alice", 1000), [{ start: 100000, count: 65536 }]);
 * assert.deepEqual(parseSubIds(text, "carol", 1001), [{ start: 300000, count: 10 }]);
 * ```
 */
export function parseSubIds(text: string, user: string | undefined, id: number): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const [name, start, count] = t.split(":");
    if (name !== user && name !== String(id)) continue;
    const s = Number(start), c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) {
      out.push({ start: s, count: c });
    }
  }
  return out;
}

/** How one kind of id map (uid or gid) gets written for an unprivileged runtime. */
export type MapMethod =
  /** The runtime writes the single mapping of its own id. */
  | { kind: "write" }
  /** A setuid helper (`newuidmap`/`newgidmap`) at `tool` writes it. */
  | { kind: "tool"; tool: string };

/** What the rootless init plan needs to know about the id maps. */
export interface RootlessMaps {
  /** How the uid map is written. */
  uid: MapMethod;
  /** How the gid map is written. */
  gid: MapMethod;
}

/** Facts about the caller that decide {@link RootlessMaps}; tests pass their own. */
export interface RootlessHost {
  /** The caller's effective uid and gid. */
  uid: number;
  gid: number;
  /** The caller's user name (for /etc/subuid lines by name). */
  user?: string;
  /** Contents of /etc/subuid and /etc/subgid ("" when missing). */
  subuid: string;
  subgid: string;
  /** Paths of newuidmap/newgidmap, when installed. */
  newuidmap?: string;
  newgidmap?: string;
}

function findTool(name: string): string | undefined {
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]) {
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile) return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

function readOr(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

function userName(uid: number): string | undefined {
  for (const line of readOr("/etc/passwd").split("\n")) {
    const f = line.split(":");
    if (f.length > 2 && Number(f[2]) === uid) return f[0];
  }
  return undefined;
}

/** The facts of this host and caller. */
function probeRootlessHost(): RootlessHost {
  const uid = Deno.uid() ?? 0, gid = Deno.gid() ?? 0;
  const host: RootlessHost = {
    uid,
    gid,
    subuid: readOr("/etc/subuid"),
    subgid: readOr("/etc/subgid"),
  };
  const user = userName(uid);
  if (user !== undefined) host.user = user;
  const nu = findTool("newuidmap"), ng = findTool("newgidmap");
  if (nu) host.newuidmap = nu;
  if (ng) host.newgidmap = ng;
  return host;
}

function covered(m: LinuxIDMapping, own: number, ranges: SubIdRange[]): boolean {
  if (m.size === 1 && m.hostID === own) return true;
  return ranges.some((r) => m.hostID >= r.start && m.hostID + m.size <= r.start + r.count);
}

function method(
  kind: "uid" | "gid",
  maps: LinuxIDMapping[] | undefined,
  host: RootlessHost,
): MapMethod {
  const field = kind === "uid" ? "linux.uidMappings" : "linux.gidMappings";
  const own = kind === "uid" ? host.uid : host.gid;
  const list = maps ?? [];
  if (list.length === 0) {
    throw new ConfigError(
      "config.json",
      field,
      `a rootless container needs a mapping for its user namespace (e.g. ` +
        `{"containerID": 0, "hostID": ${own}, "size": 1}, as nsinit spec --rootless writes)`,
    );
  }
  if (list.length === 1 && list[0].size === 1 && list[0].hostID === own) return { kind: "write" };
  const file = kind === "uid" ? "/etc/subuid" : "/etc/subgid";
  const ranges = parseSubIds(kind === "uid" ? host.subuid : host.subgid, host.user, host.uid);
  const who = host.user ?? String(host.uid);
  for (const [i, m] of list.entries()) {
    if (covered(m, own, ranges)) continue;
    const end = m.hostID + m.size - 1;
    const have = ranges.length
      ? `${file} gives ${who} ${
        ranges.map((r) => `${r.start}-${r.start + r.count - 1}`).join(", ")
      }`
      : `${file} gives ${who} no range (add one: usermod --add-sub${kind}s START-END ${who})`;
    throw new ConfigError(
      "config.json",
      `${field}[${i}]`,
      `host ${kind}s ${m.hostID}-${end} are not yours to map: you are ${kind} ${own} and ${have}`,
    );
  }
  const tool = kind === "uid" ? host.newuidmap : host.newgidmap;
  if (!tool) {
    const name = kind === "uid" ? "newuidmap" : "newgidmap";
    throw new ConfigError(
      "config.json",
      field,
      `mapping more than your own ${kind} needs ${name} (install Debian's uidmap package), ` +
        `or map only ${kind} ${own}`,
    );
  }
  return { kind: "tool", tool };
}

/**
 * Decides how an unprivileged runtime writes a container's id maps, or refuses
 * naming the field and what to change.
 *
 * @example A single-id mapping is written directly; a range needs newuidmap
 * ```ts
 * import { rootlessMaps } from "./rootless.ts";
 * import assert from "node:assert/strict";
 * const host = { uid: 1000, gid: 1000, user: "alice", subuid: "alice:100000:65536",
 *   subgid: "alice:100000:65536", newuidmap: "/usr/bin/newuidmap", newgidmap: "/usr/bin/newgidmap" };
 * const one = [{ containerID: 0, hostID: 1000, size: 1 }];
 * const range = [...one, { containerID: 1, hostID: 100000, size: 65536 }];
 * const a = rootlessMaps({ linux: { uidMappings: one, gidMappings: one } }, host);
 * assert.deepEqual(a.uid.kind, "write");
 * const b = rootlessMaps({ linux: { uidMappings: range, gidMappings: one } }, host);
 * assert.deepEqual(b.uid, { kind: "tool", tool: "/usr/bin/newuidmap" });
 * ```
 */
export function rootlessMaps(
  spec: Pick<Spec, "linux">,
  host: RootlessHost = probeRootlessHost(),
): RootlessMaps {
  return {
    uid: method("uid", spec.linux?.uidMappings, host),
    gid: method("gid", spec.linux?.gidMappings, host),
  };
}

/** The arguments newuidmap/newgidmap take after the pid: "inside outside count" triples. */
export function mapToolArgs(maps: LinuxIDMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join(" ");
}

/**
 * Whether this kernel lets this process create user namespaces, and why not.
 * Reads `/proc/sys/user/max_user_namespaces` (0: disabled) and Debian's
 * `kernel.unprivileged_userns_clone` (0: disabled for unprivileged users).
 */
export function userNamespacesRefusal(
  read: (path: string) => string | undefined = (p) => {
    try {
      return Deno.readTextFileSync(p);
    } catch {
      return undefined;
    }
  },
  uid: number = Deno.uid() ?? 0,
): string | undefined {
  const max = read("/proc/sys/user/max_user_namespaces")?.trim();
  if (max === "0") {
    return "user namespaces are disabled on this host (user.max_user_namespaces is 0): " +
      "ask the administrator to set it above 0 (sysctl -w user.max_user_namespaces=15000)";
  }
  const clone = read("/proc/sys/kernel/unprivileged_userns_clone")?.trim();
  if (uid !== 0 && clone === "0") {
    return "unprivileged user namespaces are disabled on this host " +
      "(kernel.unprivileged_userns_clone is 0): ask the administrator to set it to 1";
  }
  return undefined;
}
