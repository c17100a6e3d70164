import assert from "node:assert/strict";
import {
  buildExecPlan,
  buildInitPlan,
  nestsUserNamespace,
  onInitialRamfs,
  type PlanHostFacts,
} from "./init_plan.ts";
import { defaultSpec } from "../spec/default.ts";
import { CloneFlag, decodePlan, Op, type OpName, PlanBuilder } from "../native/plan.ts";
import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_SLAVE,
  MS_STRICTATIME,
} from "../spec/mount_options.ts";

const MI_RAMFS = "1 0 0:2 / / rw - rootfs rootfs rw\n22 1 0:20 / /proc rw - proc proc rw\n";
const MI_EXT4 =
  "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n30 22 0:30 / /tmp/x rw - ramfs none rw\n";

Deno.test("plan strings: ASCII and not are encoded as UTF-8, with a NUL after each", () => {
  const plan = new PlanBuilder();
  for (const s of ["/run/x", "/tmp/\u00e9t\u00e9/\u{1f600}", "", "a\u0100b"]) {
    plan.add(Op.C_HOSTNAME, "set hostname", s);
  }
  const args = decodePlan(plan.encode()).map((r) => r.args[0]);
  assert.deepEqual(args, ["/run/x", "/tmp/\u00e9t\u00e9/\u{1f600}", "", "a\u0100b"]);
  const bytes = plan.encode();
  // The length word of the second record's argument counts its UTF-8 bytes and the NUL.
  const utf8 = new TextEncoder().encode("/tmp/\u00e9t\u00e9/\u{1f600}");
  const dv = new DataView(bytes.buffer);
  const first = dv.getUint32(8 + 4, true);
  assert.equal(dv.getUint32(8 + first + 8, true), utf8.length + 1);
});

Deno.test("onInitialRamfs: only the initial root filesystem counts", () => {
  assert.equal(onInitialRamfs("/bundle/rootfs", MI_RAMFS), true);
  assert.equal(onInitialRamfs("/bundle/rootfs", MI_EXT4), false);
  assert.equal(onInitialRamfs("/tmp/x/rootfs", MI_EXT4), false); // a ramfs mounted later can pivot
});

Deno.test("init plan: the host is asked once per plan whether the rootfs is on the initial ramfs; the answer decides pivot_root", () => {
  for (const onRamfs of [false, true]) {
    const asked: string[] = [];
    const host: PlanHostFacts = {
      onInitialRamfs: (dir) => {
        asked.push(dir);
        return onRamfs;
      },
      isDirectory: () => true,
    };
    const plan = buildInitPlan(defaultSpec(), { bundle: "/b", host });
    assert.deepEqual(asked, ["/b/rootfs"]);
    assert.equal(plan.steps.some((x) => x.startsWith("pivot_root")), !onRamfs);
  }
});

Deno.test("init plan: ordered steps, user switch after capabilities are kept", () => {
  const spec = defaultSpec();
  const plan = buildInitPlan(spec, { bundle: "/b", fifoPath: "/run/x/exec.fifo" });
  const i = (s: string) => plan.steps.findIndex((x) => x.startsWith(s));
  assert.ok(i("bind the rootfs") < i("mount proc at /proc"));
  assert.ok(i("mount proc at /proc") < i("pivot_root"));
  assert.ok(i("pivot_root") < i("mask /proc/kcore"));
  assert.ok(i("keep capabilities") < i("switch to uid 0"));
  assert.ok(i("switch to uid 0") < i("set capabilities"));
  assert.ok(i("report ready") < i("wait for start on the exec fifo"));
  assert.equal(plan.steps.at(-1), "exec sh");
});

Deno.test("init plan: hostname only with a uts namespace; sysctl paths", () => {
  const spec = defaultSpec();
  spec.hostname = "h";
  spec.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
  assert.ok(buildInitPlan(spec, { bundle: "/b" }).steps.includes("set hostname h"));
  assert.ok(
    buildInitPlan(spec, { bundle: "/b" }).steps.includes(
      "set sysctl net.ipv4.ip_forward (linux.sysctl)",
    ),
  );
  spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "uts");
  assert.ok(!buildInitPlan(spec, { bundle: "/b" }).steps.includes("set hostname h"));
});

Deno.test("exec plan: joins the user namespace first and the mount namespace last", () => {
  const plan = buildExecPlan({ args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } }, {
    initPid: 7,
    namespaces: ["mount", "pid", "user", "network"],
  });
  assert.deepEqual(plan.steps.slice(0, 4), [
    "join the user namespace /proc/7/ns/user",
    "join the network namespace /proc/7/ns/net",
    "join the pid namespace /proc/7/ns/pid",
    "join the mount namespace /proc/7/ns/mnt",
  ]);
  assert.ok(plan.length > 4);
});

Deno.test("exec plan with oomScoreAdj: the helper writes its own, before the clone (it is non-dumpable after its start)", () => {
  const plan = buildExecPlan({
    args: ["true"],
    cwd: "/",
    user: { uid: 0, gid: 0 },
    oomScoreAdj: 400,
  }, {
    initPid: 7,
    namespaces: ["user", "mount"],
  });
  const rs = rows(plan);
  const i = rs.findIndex((r) => r[0] === "H_OOMSCOREADJ");
  assert.deepEqual(rs[i], ["H_OOMSCOREADJ", "400"]);
  assert.ok(i < rs.findIndex((r) => r[0] === "H_CLONE"));
  assert.ok(!rs.some((r) => r[0] === "C_WRITE" && r[1] === "/proc/self/oom_score_adj"));
});

// --- The plans, record by record: what nsinit-init runs for each kind of spec. ---

type Arg = number | bigint | string | string[] | number[] | Uint8Array;
type Row = [OpName, ...Arg[]];

const HOST: PlanHostFacts = { onInitialRamfs: () => false, isDirectory: () => true };

/** The plan decoded: op name and arguments, integers as numbers, argv/envp/gids as lists. */
function rows(plan: PlanBuilder): Row[] {
  const recs = decodePlan(plan.encode());
  assert.equal(plan.steps.length, recs.length, "one step description per record");
  return recs.map(({ op, args }) => [
    op,
    ...args.map((a, i): Arg => {
      if (typeof a === "bigint") return a <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(a) : a;
      if (typeof a === "string") return a;
      if (op === "C_EXEC" || (op === "C_HOOK" && (i === 1 || i === 2))) {
        return new TextDecoder().decode(a).split("\0").slice(0, -1);
      }
      if (op === "C_USER") return [...new Uint32Array(a.slice().buffer)];
      return a;
    }),
  ]);
}

const only = (rs: Row[], ...ops: OpName[]) => rs.filter((r) => ops.includes(r[0]));
const at = (rs: Row[], op: OpName, from = 0) => rs.findIndex((r, i) => i >= from && r[0] === op);

const RO_NOSUID_NODEV_NOEXEC = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
const S_IFCHR_666 = 0o020666;
// CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29): runc spec's set.
const RUNC_CAPS = (1 << 5) + (1 << 10) + 2 ** 29;
const DEV_SYMLINKS: Row[] = [
  ["C_SYMLINK", "/proc/self/fd", "/dev/fd"],
  ["C_SYMLINK", "/proc/self/fd/0", "/dev/stdin"],
  ["C_SYMLINK", "/proc/self/fd/1", "/dev/stdout"],
  ["C_SYMLINK", "/proc/self/fd/2", "/dev/stderr"],
  ["C_SYMLINK", "pts/ptmx", "/dev/ptmx"],
];
// runc spec's lists, as spec/default.ts writes them.
const RUNC_READONLY = defaultSpec().linux!.readonlyPaths!;
const RUNC_MASKED = defaultSpec().linux!.maskedPaths!;
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** From the rlimits to exec: the process steps of runc spec's `sh` as root. */
const RUNC_PROCESS: Row[] = [
  ["C_RLIMIT", 7, 1024, 1024],
  ["C_TERMINAL", 0, 0, 0, 0],
  ["C_CHDIR", "/"],
  ["C_BOUNDING", RUNC_CAPS],
  ["C_KEEPCAPS", 1],
  ["C_USER", 0, 0, 1, []],
  ["C_CAPS", RUNC_CAPS, RUNC_CAPS, 0, 0], // no inheritable, so no ambient
  ["C_KEEPCAPS", 0],
  ["C_UMASK", 0o022],
  ["C_NNP"],
  ["C_FINDEXEC", "sh", PATH],
  ["C_CLOSEFDS", 3],
  ["C_READY"],
  ["C_FIFOWAIT"],
  ["C_EXEC", ["sh"], [`PATH=${PATH}`, "TERM=xterm"]],
];

Deno.test("init plan of runc spec's default config: every record and argument, in order", () => {
  const plan = buildInitPlan(defaultSpec(), {
    bundle: "/b",
    fifoPath: "/run/x/exec.fifo",
    id: "c1",
    host: HOST,
  });
  const newNs = CloneFlag.NEWPID | CloneFlag.NEWNET | CloneFlag.NEWIPC | CloneFlag.NEWUTS |
    CloneFlag.NEWNS;
  assert.deepEqual(rows(plan), [
    ["H_CLONE", newNs],
    ["H_FIFO", "/run/x/exec.fifo"],
    ["C_SETSID"],
    ["C_KEYRING", "_ses.c1"],
    ["C_PROPAGATE", "/", MS_SLAVE | MS_REC, 0],
    ["C_ROOTFS", "/b/rootfs"],
    ["C_MOUNT", "proc", "/proc", "proc", 0, "", 1, 1],
    ["C_MOUNT", "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", 1, 1],
    [
      "C_MOUNT",
      "devpts",
      "/dev/pts",
      "devpts",
      MS_NOSUID | MS_NOEXEC,
      "newinstance,ptmxmode=0666,mode=0620,gid=5",
      1,
      1,
    ],
    [
      "C_MOUNT",
      "shm",
      "/dev/shm",
      "tmpfs",
      MS_NOSUID | MS_NODEV | MS_NOEXEC,
      "mode=1777,size=65536k",
      1,
      1,
    ],
    ["C_MOUNT", "mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, "", 1, 1],
    ["C_MOUNT", "sysfs", "/sys", "sysfs", RO_NOSUID_NODEV_NOEXEC, "", 1, 1],
    // cgroup v1 without cgroup paths: the tmpfs only, then read-only.
    [
      "C_MOUNT",
      "tmpfs",
      "/sys/fs/cgroup",
      "tmpfs",
      MS_NOSUID | MS_NODEV | MS_NOEXEC,
      "mode=755",
      1,
      1,
    ],
    ["C_REMOUNT", "/sys/fs/cgroup", RO_NOSUID_NODEV_NOEXEC, 1],
    ["C_MKNOD", "/dev/null", S_IFCHR_666, 0x103, 0, 0],
    ["C_MKNOD", "/dev/zero", S_IFCHR_666, 0x105, 0, 0],
    ["C_MKNOD", "/dev/full", S_IFCHR_666, 0x107, 0, 0],
    ["C_MKNOD", "/dev/random", S_IFCHR_666, 0x108, 0, 0],
    ["C_MKNOD", "/dev/urandom", S_IFCHR_666, 0x109, 0, 0],
    ["C_MKNOD", "/dev/tty", S_IFCHR_666, 0x500, 0, 0],
    ...DEV_SYMLINKS,
    ["C_PIVOT", 0],
    ["C_HOSTNAME", "runc"],
    ...RUNC_READONLY.map((p): Row => ["C_READONLY", p]),
    ...RUNC_MASKED.map((p): Row => ["C_MASK", p]),
    ["C_REMOUNT", "/", MS_RDONLY, 0],
    ...RUNC_PROCESS,
  ]);
  assert.equal(plan.steps[at(rows(plan), "C_PIVOT")], "pivot_root into the rootfs");
});

Deno.test("init plan with a new user namespace: maps, root first, devices bound, sysfs only with a netns", () => {
  const spec = defaultSpec({ rootless: true, uid: 1000, gid: 1000 });
  const rs = rows(buildInitPlan(spec, { bundle: "/b", fifoPath: "/f", id: "c1", host: HOST }));
  const newNs = CloneFlag.NEWPID | CloneFlag.NEWIPC | CloneFlag.NEWUTS | CloneFlag.NEWNS |
    CloneFlag.NEWUSER;
  // The helper writes the maps right after clone, before the child goes on.
  assert.deepEqual(rs.slice(0, 4), [
    ["H_CLONE", newNs],
    ["H_UIDMAP", "0 1000 1\n"],
    ["H_GIDMAP", "0 1000 1\n"],
    ["H_FIFO", "/f"],
  ]);
  // The child becomes root of its namespace before it creates any file. A root runtime
  // writes the maps with its capabilities: the child is never dumpable (no H_DUMPABLE, no
  // C_DUMPABLE), so no process that shares its pid namespace can trace it.
  assert.deepEqual(rs.slice(4, 6), [["C_SETSID"], ["C_USER", 0, 0, 0, []]]);
  const names = rs.map((r) => r[0]);
  assert.ok(!names.includes("H_DUMPABLE") && !names.includes("C_DUMPABLE"));
  // oom_score_adj is written while the child's ids are still the runtime's (after C_USER,
  // /proc/self, root's, would refuse the container's mapped root: EACCES).
  spec.process!.oomScoreAdj = 500;
  assert.deepEqual(rows(buildInitPlan(spec, { bundle: "/b", host: HOST })).slice(3, 6), [
    ["C_SETSID"],
    ["C_WRITE", "/proc/self/oom_score_adj", "500"],
    ["C_USER", 0, 0, 0, []],
  ]);
  // No mknod in a user namespace: the host's nodes are bound onto files.
  assert.deepEqual(only(rs, "C_MKNOD"), []);
  assert.deepEqual(
    only(rs, "C_MOUNT").filter((r) => String(r[2]).startsWith("/dev/") && r[1] === r[2]),
    ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"].map((
      d,
    ): Row => ["C_MOUNT", d, d, "", MS_BIND, "", 2, 1]),
  );
  // The process steps are the same as root's: the mapped uid 0.
  assert.deepEqual(rs.slice(-RUNC_PROCESS.length), RUNC_PROCESS);

  // sysfs needs a network namespace owned by the user namespace; without one the
  // host's is bound read-only instead of mounted.
  const userns = defaultSpec();
  userns.linux!.namespaces!.push({ type: "user" });
  userns.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  userns.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const sysfs = (spec: typeof userns) =>
    only(rows(buildInitPlan(spec, { bundle: "/b", host: HOST })), "C_MOUNT").find((r) =>
      r[2] === "/sys"
    );
  assert.deepEqual(sysfs(userns), [
    "C_MOUNT",
    "sysfs",
    "/sys",
    "sysfs",
    RO_NOSUID_NODEV_NOEXEC,
    "",
    1,
    1,
  ]);
  userns.linux!.namespaces = userns.linux!.namespaces!.filter((n) => n.type !== "network");
  assert.deepEqual(sysfs(userns), [
    "C_MOUNT",
    "/sys",
    "/sys",
    "",
    MS_BIND | MS_REC | RO_NOSUID_NODEV_NOEXEC,
    "",
    1,
    1,
  ]);
});

Deno.test("init plan with --no-pivot, or a rootfs on the initial ramfs: MS_MOVE + chroot", () => {
  const pivot = buildInitPlan(defaultSpec(), { bundle: "/b", host: HOST });
  const noPivot = buildInitPlan(defaultSpec(), { bundle: "/b", noPivot: true, host: HOST });
  const ramfs = buildInitPlan(defaultSpec(), {
    bundle: "/b",
    host: { ...HOST, onInitialRamfs: (dir) => dir === "/b/rootfs" },
  });
  const i = at(rows(pivot), "C_PIVOT");
  for (const plan of [noPivot, ramfs]) {
    const rs = rows(plan);
    assert.deepEqual(rs[i], ["C_PIVOT", 1]);
    assert.equal(plan.steps[i], "move into the rootfs (no pivot)");
    // Nothing else changes.
    assert.deepEqual(rs.toSpliced(i, 1), rows(pivot).toSpliced(i, 1));
  }
});

Deno.test("init plan with joined namespaces: setns in the helper, user first and mount last", () => {
  const spec = defaultSpec();
  spec.linux!.namespaces = [
    { type: "mount", path: "/proc/7/ns/mnt" },
    { type: "pid" },
    { type: "network", path: "/run/netns/n1" },
    { type: "ipc", path: "/proc/7/ns/ipc" },
    { type: "uts" },
    { type: "user", path: "/proc/7/ns/user" },
  ];
  const rs = rows(buildInitPlan(spec, { bundle: "/b", host: HOST }));
  assert.deepEqual(rs.slice(0, 5), [
    ["H_JOIN", "/proc/7/ns/user", CloneFlag.NEWUSER],
    ["H_JOIN", "/proc/7/ns/ipc", CloneFlag.NEWIPC],
    ["H_JOIN", "/run/netns/n1", CloneFlag.NEWNET],
    ["H_JOIN", "/proc/7/ns/mnt", CloneFlag.NEWNS],
    // Only the namespaces not joined are new.
    ["H_CLONE", CloneFlag.NEWPID | CloneFlag.NEWUTS],
  ]);
  // A joined user namespace is already mapped: no maps, no switch to root before setup.
  assert.deepEqual(only(rs, "H_UIDMAP", "H_GIDMAP"), []);
  assert.deepEqual(rs[5], ["C_SETSID"]);
  assert.deepEqual(rs[6], ["C_KEYRING", "_ses.nsinit"]);
  // A joined mount namespace still gets the rootfs set up in it.
  assert.ok(at(rs, "C_ROOTFS") > 0 && at(rs, "C_PIVOT") > at(rs, "C_ROOTFS"));
});

Deno.test("init plan joining a nested user namespace by path (a pod of a rootless container that locks its mounts): its parent first, the namespaces it owns, then the given one", () => {
  const spec = defaultSpec();
  spec.linux!.namespaces = [
    { type: "mount" },
    { type: "pid" },
    { type: "user", path: "/proc/7/ns/user" },
    { type: "network", path: "/proc/7/ns/net" },
    { type: "ipc", path: "/proc/7/ns/ipc" },
    { type: "uts", path: "/proc/7/ns/uts" },
    { type: "cgroup", path: "/proc/9/ns/cgroup" },
  ];
  // The container's user namespace is "P"; /proc/7/ns/user is "U", nested in it. The cgroup
  // namespace joined belongs to U itself.
  const owners: Record<string, string> = {
    "/proc/7/ns/net": "P",
    "/proc/7/ns/ipc": "P",
    "/proc/7/ns/uts": "P",
    "/proc/9/ns/cgroup": "U",
  };
  const asked: string[] = [];
  const nested: PlanHostFacts = {
    ...HOST,
    namespaceOwner: (path, which) => {
      asked.push(`${which} ${path}`);
      return which === "parent" ? (path === "/proc/7/ns/user" ? "P" : undefined) : owners[path];
    },
    setgroupsDenied: (path) => path === "/proc/7/ns/user",
  };
  const rs = rows(buildInitPlan(spec, { bundle: "/b", host: nested }));
  assert.deepEqual(rs.slice(0, 7), [
    ["H_JOINOWNER", "/proc/7/ns/ipc"],
    ["H_JOIN", "/proc/7/ns/ipc", CloneFlag.NEWIPC],
    ["H_JOIN", "/proc/7/ns/uts", CloneFlag.NEWUTS],
    ["H_JOIN", "/proc/7/ns/net", CloneFlag.NEWNET],
    ["H_JOIN", "/proc/7/ns/user", CloneFlag.NEWUSER],
    ["H_JOIN", "/proc/9/ns/cgroup", CloneFlag.NEWCGROUP],
    ["H_CLONE", CloneFlag.NEWNS | CloneFlag.NEWPID],
  ]);
  assert.ok(asked.includes("parent /proc/7/ns/user"), asked.join());
  // The joined namespace denies setgroups: the process keeps its groups (no setgroups call).
  const user = rs.find((r) => r[0] === "C_USER")!;
  assert.equal(user[3], 0);

  // Not nested (the joined namespaces belong to the given user namespace): the usual order,
  // as root-run and without the facts.
  const flat: PlanHostFacts = {
    ...HOST,
    namespaceOwner: (path, which) =>
      which === "parent" ? "init" : path.startsWith("/proc/7/") ? "P" : "U",
  };
  const order = [
    ["H_JOIN", "/proc/7/ns/user", CloneFlag.NEWUSER],
    ["H_JOIN", "/proc/7/ns/ipc", CloneFlag.NEWIPC],
    ["H_JOIN", "/proc/7/ns/uts", CloneFlag.NEWUTS],
    ["H_JOIN", "/proc/7/ns/net", CloneFlag.NEWNET],
    ["H_JOIN", "/proc/9/ns/cgroup", CloneFlag.NEWCGROUP],
  ];
  for (const host of [flat, HOST]) {
    const plain = rows(buildInitPlan(spec, { bundle: "/b", host }));
    assert.deepEqual(plain.slice(0, 5), order);
    assert.equal(plain.find((r) => r[0] === "C_USER")![3], 1);
  }
});

Deno.test("init plan of masked and read-only paths: after pivot, in order, before the root goes read-only", () => {
  const spec = defaultSpec();
  spec.linux!.maskedPaths = ["/proc/kcore", "/sys/firmware", "/proc/scsi"];
  spec.linux!.readonlyPaths = ["/proc/sys", "/proc/bus"];
  const rs = rows(buildInitPlan(spec, { bundle: "/b", host: HOST }));
  const pivot = at(rs, "C_PIVOT");
  const first = at(rs, "C_READONLY");
  assert.ok(first > pivot, "paths are masked inside the container's root");
  assert.deepEqual(rs.slice(first, first + 6), [
    ["C_READONLY", "/proc/sys"],
    ["C_READONLY", "/proc/bus"],
    ["C_MASK", "/proc/kcore"],
    ["C_MASK", "/sys/firmware"],
    ["C_MASK", "/proc/scsi"],
    ["C_REMOUNT", "/", MS_RDONLY, 0],
  ]);
  // Without a mount namespace of its own there is nothing of the container's to mask.
  spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== "mount");
  assert.deepEqual(
    only(rows(buildInitPlan(spec, { bundle: "/b", host: HOST })), "C_MASK", "C_READONLY"),
    [],
  );
});

Deno.test("init plan of bind mounts: source resolved in the bundle, file or directory target", () => {
  const spec = defaultSpec();
  spec.mounts = [
    { destination: "/data", type: "bind", source: "data", options: ["rbind", "ro"] },
    { destination: "/etc/hosts", source: "/etc/hosts", options: ["bind"] },
  ];
  const host = { ...HOST, isDirectory: (p: string) => p !== "/etc/hosts" };
  const mounts = only(rows(buildInitPlan(spec, { bundle: "/b", host })), "C_MOUNT");
  assert.deepEqual(mounts.slice(0, 2), [
    ["C_MOUNT", "/b/data", "/data", "", MS_BIND | MS_REC | MS_RDONLY, "", 1, 1],
    ["C_MOUNT", "/etc/hosts", "/etc/hosts", "", MS_BIND, "", 2, 1],
  ]);
});

Deno.test("init plan with a cgroup to clone into: the helper opens it before any setns", () => {
  const spec = defaultSpec();
  spec.linux!.namespaces!.push({ type: "network", path: "/run/netns/n1" });
  const rs = rows(
    buildInitPlan(spec, { bundle: "/b", host: HOST, cloneInto: "/sys/fs/cgroup/c1" }),
  );
  assert.deepEqual(rs.slice(0, 3).map((r) => r[0]), ["H_JOIN", "H_CGROUP", "H_CLONE"]);
  assert.deepEqual(rs[1], ["H_CGROUP", "/sys/fs/cgroup/c1"]);
  // nsinit-init opens every path in plan order before it joins anything (init.c).
  assert.equal(
    only(rows(buildInitPlan(defaultSpec(), { bundle: "/b", host: HOST })), "H_CGROUP").length,
    0,
  );
});

Deno.test("rootless init plan: own id written after setgroups deny, ranges through newuidmap", () => {
  const spec = defaultSpec({ rootless: true, uid: 1000, gid: 1000 });
  const direct = { uid: { kind: "write" as const }, gid: { kind: "write" as const } };
  spec.process!.oomScoreAdj = 500;
  let rs = rows(buildInitPlan(spec, { bundle: "/b", host: HOST, rootless: direct }));
  // An unprivileged writer opens /proc/<child>/uid_map only if /proc/<child> is its own: the
  // child is cloned dumpable (H_DUMPABLE), and makes itself non-dumpable again as soon as it
  // has written its own /proc/self/oom_score_adj (its /proc/self is the user's until then).
  assert.deepEqual(rs.slice(1, 5), [
    ["H_DUMPABLE"],
    ["H_UIDMAP", "0 1000 1\n"],
    ["H_SETGROUPS", "deny"],
    ["H_GIDMAP", "0 1000 1\n"],
  ]);
  assert.deepEqual(rs.slice(5, 8), [
    ["C_SETSID"],
    ["C_WRITE", "/proc/self/oom_score_adj", "500"],
    ["C_DUMPABLE", 0],
  ]);
  assert.equal(only(rs, "C_DUMPABLE").length, 1);
  // setgroups(2) is denied: no process step calls it.
  assert.ok(only(rs, "C_USER").every((r) => r[3] === 0));

  spec.linux!.uidMappings!.push({ containerID: 1, hostID: 100000, size: 65536 });
  const tool = { uid: { kind: "tool" as const, tool: "/usr/bin/newuidmap" }, gid: direct.gid };
  rs = rows(buildInitPlan(spec, { bundle: "/b", host: HOST, rootless: tool }));
  assert.deepEqual(rs.slice(1, 3), [
    ["H_DUMPABLE"],
    ["H_MAPCMD", "/usr/bin/newuidmap", "0 1000 1 1 100000 65536"],
  ]);

  // Extra groups cannot be set once setgroups is denied: refused, naming the field.
  spec.process!.user.additionalGids = [0];
  assert.throws(
    () => buildInitPlan(spec, { bundle: "/b", host: HOST, rootless: direct }),
    /process\.user\.additionalGids: cannot be set: setgroups is denied/,
  );
  // Ids outside the maps are refused before anything runs (setresuid would say EINVAL).
  spec.process!.user = { uid: 70000, gid: 0 };
  assert.throws(
    () => buildInitPlan(spec, { bundle: "/b", host: HOST, rootless: direct }),
    /process\.user\.uid: 70000 is not mapped in the container's user namespace \(linux\.uidMappings covers 0-0, 1-65536\)/,
  );
});

Deno.test("rootless init plan: the mounts are locked after every mount, mask and read-only path, before the process steps", () => {
  const spec = defaultSpec({ rootless: true, uid: 1000, gid: 1000 });
  spec.root!.readonly = true;
  const direct = { uid: { kind: "write" as const }, gid: { kind: "write" as const } };
  const names = (opts: Parameters<typeof buildInitPlan>[1]) =>
    rows(buildInitPlan(spec, opts)).map((r) => r[0]);
  // runc's rootless capabilities (no CAP_SYS_ADMIN): nothing in the container can unmount, so
  // no lock, and one user namespace for the tools that join it by pid.
  assert.ok(!names({ bundle: "/b", host: HOST, rootless: direct }).includes("C_LOCKMOUNTS"));
  const bounding = structuredClone(spec);
  bounding.process!.capabilities!.bounding!.push("CAP_SYS_ADMIN");
  assert.equal(nestsUserNamespace(bounding, { bundle: "/b", host: HOST, rootless: direct }), true);
  spec.process!.capabilities!.ambient = ["CAP_SYS_ADMIN"];
  const ops = names({ bundle: "/b", host: HOST, rootless: direct });
  const lock = ops.indexOf("C_LOCKMOUNTS");
  assert.ok(lock > 0, "no lock step");
  assert.equal(ops.lastIndexOf("C_LOCKMOUNTS"), lock, "locked twice");
  for (const before of ["C_MOUNT", "C_PIVOT", "C_MASK", "C_READONLY", "C_REMOUNT", "C_DUMPABLE"]) {
    assert.ok(ops.lastIndexOf(before as OpName) < lock, `${before} after the lock`);
  }
  for (const after of ["C_BOUNDING", "C_USER", "C_CAPS", "C_SECCOMP", "C_EXEC"]) {
    if (!ops.includes(after as OpName)) continue;
    assert.ok(ops.lastIndexOf(after as OpName) > lock, `${after} before the lock`);
  }
  // The last C_USER (the process's) comes after it; the first (root in the namespace) before.
  assert.ok(ops.indexOf("C_USER") < lock);

  // Not for: a root-run container, --no-pivot or an initial ramfs (chroot), no /proc.
  assert.ok(!names({ bundle: "/b", host: HOST }).includes("C_LOCKMOUNTS"));
  assert.ok(
    !names({ bundle: "/b", host: HOST, rootless: direct, noPivot: true }).includes("C_LOCKMOUNTS"),
  );
  const ramfs = { ...HOST, onInitialRamfs: () => true };
  assert.ok(!names({ bundle: "/b", host: ramfs, rootless: direct }).includes("C_LOCKMOUNTS"));
  const noProc = structuredClone(spec);
  noProc.mounts = noProc.mounts!.filter((m) => m.destination !== "/proc");
  assert.equal(nestsUserNamespace(noProc, { bundle: "/b", host: HOST, rootless: direct }), false);
  // /proc bound from the host (no pid namespace) still counts.
  const bound = structuredClone(spec);
  bound.mounts = bound.mounts!.map((m) =>
    m.destination === "/proc"
      ? { destination: "/proc", type: "bind", source: "/proc", options: ["rbind"] }
      : m
  );
  assert.equal(nestsUserNamespace(bound, { bundle: "/b", host: HOST, rootless: direct }), true);
  // A user namespace joined by path is not the container's own: nothing to nest.
  const joined = structuredClone(spec);
  joined.linux!.namespaces = joined.linux!.namespaces!.map((n) =>
    n.type === "user" ? { type: "user", path: "/proc/7/ns/user" } : n
  );
  assert.equal(nestsUserNamespace(joined, { bundle: "/b", host: HOST, rootless: direct }), false);
});

Deno.test("exec plan of a container with a nested user namespace: its owner first, then the others, the nested one and the mount namespace", () => {
  const plan = buildExecPlan({ args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } }, {
    initPid: 7,
    namespaces: ["mount", "pid", "user", "network", "ipc"],
    nestedUserns: true,
  });
  assert.deepEqual(rows(plan).slice(0, 6), [
    ["H_JOINOWNER", "/proc/7/ns/ipc"],
    ["H_JOIN", "/proc/7/ns/ipc", CloneFlag.NEWIPC],
    ["H_JOIN", "/proc/7/ns/net", CloneFlag.NEWNET],
    ["H_JOIN", "/proc/7/ns/pid", CloneFlag.NEWPID],
    ["H_JOIN", "/proc/7/ns/user", CloneFlag.NEWUSER],
    ["H_JOIN", "/proc/7/ns/mnt", CloneFlag.NEWNS],
  ]);
  // Only user and mount namespaces: nothing belongs to the parent.
  const only2 = buildExecPlan({ args: ["true"], cwd: "/", user: { uid: 0, gid: 0 } }, {
    initPid: 7,
    namespaces: ["mount", "user"],
    nestedUserns: true,
  });
  assert.deepEqual(rows(only2).slice(0, 2), [
    ["H_JOIN", "/proc/7/ns/user", CloneFlag.NEWUSER],
    ["H_JOIN", "/proc/7/ns/mnt", CloneFlag.NEWNS],
  ]);
});

Deno.test("sandbox plan pieces: Landlock before seccomp and exec, a pid 1 in front, lo up", () => {
  const spec = defaultSpec();
  spec.process!.noNewPrivileges = true;
  const landlock = { abi: 3, handled: 0x7fffn, rules: [{ path: "/usr", access: 0xdn }] };
  const plan = buildInitPlan(spec, {
    bundle: "/b",
    host: HOST,
    landlock,
    reaperInit: true,
    loopback: true,
    seccomp: { bpf: new Uint8Array(8), flags: 0 },
  });
  const names = rows(plan).map((r) => r[0]);
  const tail = names.slice(names.indexOf("C_LANDLOCK"));
  assert.deepEqual(tail, ["C_LANDLOCK", "C_SECCOMP", "C_INIT", "C_EXEC"]);
  assert.ok(names.indexOf("C_LOOPBACK") > names.indexOf("H_CLONE"));
  // Landlock needs no_new_privs (the process has no CAP_SYS_ADMIN left).
  spec.process!.noNewPrivileges = false;
  assert.throws(
    () => buildInitPlan(spec, { bundle: "/b", host: HOST, landlock }),
    /process\.noNewPrivileges: must be true for a Landlock ruleset/,
  );
});

Deno.test("a notify filter is loaded before the init waits on the exec fifo, else last", () => {
  const spec = defaultSpec();
  const bpf = new Uint8Array(8);
  const tail = (flags: number, fifoPath?: string) => {
    const names = rows(buildInitPlan(spec, {
      bundle: "/b",
      host: HOST,
      seccomp: { bpf, flags },
      ...(fifoPath ? { fifoPath } : {}),
    })).map((r) => r[0]);
    return names.slice(names.indexOf("C_CLOSEFDS") + 1);
  };
  // Its listener goes out over the sync socket, which the init no longer has at start.
  assert.deepEqual(tail(4 | 8, "/s/exec.fifo"), ["C_SECCOMP", "C_READY", "C_FIFOWAIT", "C_EXEC"]);
  // Without a listener the filter stays the last step before execve.
  assert.deepEqual(tail(4, "/s/exec.fifo"), ["C_READY", "C_FIFOWAIT", "C_SECCOMP", "C_EXEC"]);
  // Without a fifo (a library run) the init still reports to the runtime until exec.
  assert.deepEqual(tail(4 | 8), ["C_SECCOMP", "C_EXEC"]);
});
