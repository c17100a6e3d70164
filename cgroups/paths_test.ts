import assert from "node:assert/strict";
import { CgroupError } from "../errors.ts";
import {
  cgroupMounts,
  checkCgroupOwnership,
  cleanCgroupPath,
  describeCgroupRoot,
  detectCgroupMode,
  innerCgroupPath,
  modeOf,
  parseMountInfo,
  parseProcCgroup,
  readCgroupHost,
  resolveCgroupPaths,
} from "./paths.ts";
import { ConfigError } from "../errors.ts";

/** This project's VMs: hybrid, hugetlb on the unified tree. */
const HYBRID_MOUNTINFO = `22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

function reader(files: Record<string, string>): (p: string) => string {
  return (p) => {
    const text = files[p];
    if (text === undefined) throw new Deno.errors.NotFound(p);
    return text;
  };
}

Deno.test("parseMountInfo: fields, optional tags, octal escapes", () => {
  const [m] = parseMountInfo(
    "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n",
  );
  assert.equal(m!.id, 36);
  assert.equal(m!.parentId, 35);
  assert.equal(m!.root, "/mnt1");
  assert.equal(m!.mountPoint, "/mnt two");
  assert.equal(m!.fsType, "ext3");
  assert.equal(m!.superOptions, "rw,errors=continue");
  assert.throws(() => parseMountInfo("garbage line\n"), CgroupError);
});

Deno.test("cgroupMounts: controllers from super options, first mount wins", () => {
  const mounts = cgroupMounts(parseMountInfo(
    `1 0 0:1 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
2 0 0:2 / /cg/systemd rw - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
3 0 0:1 / /other/cpu rw - cgroup cgroup rw,cpuacct,cpu
4 0 0:3 / /cg/unified rw - cgroup2 cgroup2 rw,nsdelegate
`,
  ));
  assert.deepEqual(mounts.map((m) => [m.version, m.mountPoint, m.controllers.join()]), [
    [1, "/cg/cpu,cpuacct", "cpu,cpuacct"],
    [1, "/cg/systemd", "name=systemd"],
    [2, "/cg/unified", ""],
  ]);
});

Deno.test("parseProcCgroup: co-mounted controllers and the v2 line", () => {
  const own = parseProcCgroup("3:cpu,cpuacct:/a\n1:name=systemd:/b\n0::/c/d\n");
  assert.deepEqual(own, { cpu: "/a", cpuacct: "/a", "name=systemd": "/b", "": "/c/d" });
  assert.throws(() => parseProcCgroup("nonsense\n"), CgroupError);
});

Deno.test("modeOf: v1, hybrid, v2", () => {
  const v1 = { version: 1 as const, mountPoint: "/a", root: "/", controllers: ["memory"] };
  const named = { version: 1 as const, mountPoint: "/s", root: "/", controllers: ["name=systemd"] };
  const v2 = { version: 2 as const, mountPoint: "/u", root: "/", controllers: [] };
  assert.equal(modeOf([v1]), "v1");
  assert.equal(modeOf([v1, v2]), "hybrid");
  assert.equal(modeOf([v2]), "v2");
  assert.equal(modeOf([named, v2]), "v2"); // a systemd-only v1 hierarchy is not a controller
  assert.throws(() => modeOf([]), CgroupError);
});

Deno.test("readCgroupHost on this VM's layout (fixed text)", () => {
  const host = readCgroupHost({
    readFile: reader({
      "/proc/self/mountinfo": HYBRID_MOUNTINFO,
      "/proc/self/cgroup": HYBRID_CGROUP,
      "/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n",
    }),
  });
  assert.equal(host.mode, "hybrid");
  assert.equal(host.v1.length, 9);
  assert.deepEqual(host.unifiedControllers, ["hugetlb"]);
  assert.equal(host.own.memory, "/process_api/abc");
  const paths = resolveCgroupPaths(host, { id: "c1" });
  assert.equal(paths.memory, "/sys/fs/cgroup/memory/process_api/abc/c1");
  assert.equal(paths.cpu, "/sys/fs/cgroup/cpu/c1");
  assert.equal(paths["name=systemd"], "/sys/fs/cgroup/systemd/c1");
  assert.equal(paths[""], "/sys/fs/cgroup/unified/c1");
  assert.equal(paths.hugetlb, undefined);
});

Deno.test("readCgroupHost with another pid", () => {
  const host = readCgroupHost({
    pid: 42,
    readFile: reader({
      "/proc/42/mountinfo": "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
      "/proc/42/cgroup": "0::/a/b\n",
    }),
  });
  assert.equal(host.mode, "v2");
  assert.deepEqual(host.unifiedControllers, []); // unreadable cgroup.controllers: none
  assert.equal(host.own[""], "/a/b");
});

Deno.test("detectCgroupMode: fixed text and this host", () => {
  assert.equal(
    detectCgroupMode({ readFile: reader({ "/proc/self/mountinfo": HYBRID_MOUNTINFO }) }),
    "hybrid",
  );
  const real = detectCgroupMode();
  assert.ok(["v1", "hybrid", "v2"].includes(real));
});

Deno.test("cleanCgroupPath as runc's CleanPath", () => {
  assert.equal(cleanCgroupPath(""), "");
  assert.equal(cleanCgroupPath("."), "");
  assert.equal(cleanCgroupPath("a/b/"), "a/b");
  assert.equal(cleanCgroupPath("../../etc"), "etc");
  assert.equal(cleanCgroupPath("a/../../b"), "b");
  assert.equal(cleanCgroupPath("/a/../../b/"), "/b");
  assert.equal(cleanCgroupPath("//a//b"), "/a/b");
  assert.equal(cleanCgroupPath("/"), "/");
});

Deno.test("innerCgroupPath: default is the id, relative", () => {
  assert.equal(innerCgroupPath({ id: "c1" }), "c1");
  assert.equal(innerCgroupPath({ id: "c1", cgroupsPath: "" }), "c1");
  assert.equal(innerCgroupPath({ id: "c1", cgroupsPath: "/x/y" }), "/x/y");
  assert.throws(() => innerCgroupPath({ id: ".." }), RangeError);
});

const V1_HOST = {
  mode: "v1" as const,
  v1: [
    { version: 1 as const, mountPoint: "/cg/memory", root: "/", controllers: ["memory"] },
    {
      version: 1 as const,
      mountPoint: "/cg/cpu,cpuacct",
      root: "/",
      controllers: ["cpu", "cpuacct"],
    },
  ],
  unifiedControllers: [],
  own: { memory: "/user/me", cpu: "/", cpuacct: "/" },
};

Deno.test("resolveCgroupPaths: absolute is below each mount point", () => {
  const p = resolveCgroupPaths(V1_HOST, { id: "c1", cgroupsPath: "/pods/c1" });
  assert.deepEqual(p, {
    memory: "/cg/memory/pods/c1",
    cpu: "/cg/cpu,cpuacct/pods/c1",
    cpuacct: "/cg/cpu,cpuacct/pods/c1",
  });
});

Deno.test("resolveCgroupPaths: relative nests under the runtime's own cgroup", () => {
  const p = resolveCgroupPaths(V1_HOST, { id: "c1", cgroupsPath: "pods/../../c1" });
  assert.equal(p.memory, "/cg/memory/user/me/c1");
  assert.equal(p.cpu, "/cg/cpu,cpuacct/c1");
});

Deno.test("resolveCgroupPaths: the mount's root is taken off the own cgroup (cgroup namespaces)", () => {
  const host = {
    ...V1_HOST,
    v1: [{ version: 1 as const, mountPoint: "/cg/memory", root: "/ns", controllers: ["memory"] }],
    own: { memory: "/ns/inner" },
  };
  assert.equal(resolveCgroupPaths(host, { id: "c1" }).memory, "/cg/memory/inner/c1");
  // Own cgroup outside the mount's root: fall back to the mount's root.
  const outside = { ...host, own: { memory: "/elsewhere" } };
  assert.equal(resolveCgroupPaths(outside, { id: "c1" }).memory, "/cg/memory/c1");
});

Deno.test("resolveCgroupPaths: v2 nests under the parent of the own cgroup, as runc's fs2", () => {
  const host = {
    mode: "v2" as const,
    v1: [],
    unified: { version: 2 as const, mountPoint: "/sys/fs/cgroup", root: "/", controllers: [] },
    unifiedControllers: ["memory"],
    own: { "": "/user.slice/session-1.scope" },
  };
  assert.deepEqual(resolveCgroupPaths(host, { id: "c1" }), { "": "/sys/fs/cgroup/user.slice/c1" });
  assert.deepEqual(resolveCgroupPaths(host, { id: "c1", cgroupsPath: "/a/c1" }), {
    "": "/sys/fs/cgroup/a/c1",
  });
  const atRoot = { ...host, own: { "": "/" } };
  assert.deepEqual(resolveCgroupPaths(atRoot, { id: "c1" }), { "": "/sys/fs/cgroup/c1" });
});

Deno.test("describeCgroupRoot: hybrid temp tree", async () => {
  const root = await Deno.makeTempDir({ prefix: "nsinit-test-" });
  try {
    for (const d of ["cpu,cpuacct", "memory", "systemd", "unified"]) {
      await Deno.mkdir(`${root}/${d}`);
    }
    await Deno.writeTextFile(`${root}/unified/cgroup.controllers`, "hugetlb\n");
    const host = describeCgroupRoot(root);
    assert.equal(host.mode, "hybrid");
    assert.deepEqual(host.unifiedControllers, ["hugetlb"]);
    const p = resolveCgroupPaths(host, { id: "c1" });
    assert.equal(p.cpuacct, `${root}/cpu,cpuacct/c1`);
    assert.equal(p["name=systemd"], `${root}/systemd/c1`);
    assert.equal(p[""], `${root}/unified/c1`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("resolveCgroupPaths: refuses the host's root, the runtime's own cgroup and its ancestors", () => {
  const refused = (cgroupsPath: string, what: RegExp) =>
    assert.throws(
      () => resolveCgroupPaths(V1_HOST, { id: "c1", cgroupsPath }),
      (e) => e instanceof ConfigError && e.field === "linux.cgroupsPath" && what.test(e.message),
      cgroupsPath,
    );
  refused("/", /the root of the hierarchy/);
  refused("/../../..", /the root of the hierarchy/);
  refused("/user", /an ancestor of the runtime's own cgroup/);
  refused("/user/me", /the runtime's own cgroup/);
  refused("/user/./me/", /the runtime's own cgroup/);
  // Below the runtime's own, or beside it, is a cgroup of the container's own.
  assert.equal(
    resolveCgroupPaths(V1_HOST, { id: "c1", cgroupsPath: "/user/me/c1" }).memory,
    "/cg/memory/user/me/c1",
  );
  assert.equal(
    resolveCgroupPaths(V1_HOST, { id: "c1", cgroupsPath: "/user/other" }).memory,
    "/cg/memory/user/other",
  );
  // v2: a relative path that names the runtime's own cgroup (runc's fs2 nests beside it).
  const v2 = {
    mode: "v2" as const,
    v1: [],
    unified: { version: 2 as const, mountPoint: "/sys/fs/cgroup", root: "/", controllers: [] },
    unifiedControllers: ["memory"],
    own: { "": "/user.slice/session-1.scope" },
  };
  assert.throws(
    () => resolveCgroupPaths(v2, { id: "c1", cgroupsPath: "session-1.scope" }),
    /the runtime's own cgroup/,
  );
  assert.throws(
    () => resolveCgroupPaths(v2, { id: "c1", cgroupsPath: "/user.slice" }),
    ConfigError,
  );
});

Deno.test("checkCgroupOwnership: an existing cgroup is used only below the runtime's own", () => {
  const exists = (dirs: string[]) => (d: string) => dirs.includes(d);
  // Existing, outside the runtime's own memory cgroup: someone else's.
  assert.throws(
    () =>
      checkCgroupOwnership(
        V1_HOST,
        { id: "c1", cgroupsPath: "/system.slice" },
        exists(["/cg/memory/system.slice"]),
      ),
    (e) => e instanceof ConfigError && /already exists outside/.test(e.message),
  );
  // New, outside: created for the container.
  checkCgroupOwnership(V1_HOST, { id: "c1", cgroupsPath: "/system.slice/c1" }, exists([]));
  // Existing, below the runtime's own: handed over (a relative path shared by two containers).
  checkCgroupOwnership(
    V1_HOST,
    { id: "c1", cgroupsPath: "shared" },
    exists(["/cg/memory/user/me/shared", "/cg/cpu,cpuacct/shared"]),
  );
});
