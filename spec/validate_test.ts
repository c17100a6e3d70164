import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import type { Spec } from "./config.ts";
import { defaultSpec } from "./default.ts";
import { parseSpec, validateProcess, validateSpec } from "./validate.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

/** A config that sets every field this runtime models, all valid. */
function full(): Json {
  return {
    ociVersion: "1.2.0",
    process: {
      terminal: true,
      consoleSize: { height: 25, width: 80 },
      user: { uid: 1, gid: 1, umask: 0o22, additionalGids: [5, 6] },
      args: ["sh", "-c", "true"],
      env: ["PATH=/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: {
        bounding: ["CAP_KILL", "CAP_CHECKPOINT_RESTORE"],
        effective: ["CAP_KILL"],
        inheritable: [],
        permitted: ["CAP_KILL"],
        ambient: ["CAP_KILL"],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 2048 }, {
        type: "RLIMIT_CORE",
        hard: 0,
        soft: 0,
      }],
      noNewPrivileges: true,
      apparmorProfile: "docker-default",
      oomScoreAdj: -500,
      selinuxLabel: "system_u:system_r:container_t:s0",
      scheduler: { policy: "SCHED_FIFO", priority: 10, flags: ["SCHED_FLAG_RESET_ON_FORK"] },
      ioPriority: { class: "IOPRIO_CLASS_BE", priority: 4 },
      execCPUAffinity: { initial: "0", final: "0-1,3" },
    },
    root: { path: "/var/lib/rootfs", readonly: true },
    hostname: "box",
    domainname: "example.org",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/data",
        type: "bind",
        source: "/srv/data",
        options: ["rbind", "rro", "idmap"],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      },
      { destination: "relative", type: "tmpfs", source: "tmpfs" },
    ],
    hooks: {
      prestart: [{ path: "/bin/true" }],
      createRuntime: [{
        path: "/usr/bin/hook",
        args: ["hook", "create"],
        env: ["A=1"],
        timeout: 5,
      }],
      createContainer: [],
      startContainer: [{ path: "/bin/true" }],
      poststart: [{ path: "/bin/true" }],
      poststop: [{ path: "/bin/true" }],
    },
    annotations: { "org.example.key": "value" },
    linux: {
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      timeOffsets: { monotonic: { secs: 3600, nanosecs: 5 }, boottime: { secs: -10 } },
      sysctl: { "net.ipv4.ip_forward": "1" },
      resources: {
        devices: [
          { allow: false, access: "rwm" },
          { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
          { allow: true, type: "b", major: 8, access: "m" },
        ],
        memory: {
          limit: 536870912,
          reservation: -1,
          swap: -1,
          kernel: -1,
          kernelTCP: -1,
          swappiness: 60,
          disableOOMKiller: false,
          useHierarchy: true,
          checkBeforeUpdate: true,
        },
        cpu: {
          shares: 1024,
          quota: 50000,
          burst: 1000,
          period: 100000,
          realtimeRuntime: 950000,
          realtimePeriod: 1000000,
          cpus: "0-1",
          mems: "0",
          idle: 0,
        },
        pids: { limit: 100 },
        blockIO: {
          weight: 500,
          leafWeight: 300,
          weightDevice: [{ major: 8, minor: 0, weight: 600 }],
          throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
          throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
          throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
          throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
        },
        hugepageLimits: [{ pageSize: "2MB", limit: 209715200 }],
        network: { classID: 1048577, priorities: [{ name: "eth0", priority: 500 }] },
        rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 } },
        unified: { "memory.high": "1G" },
      },
      cgroupsPath: "/myRuntime/myContainer",
      namespaces: [
        { type: "pid" },
        { type: "network", path: "/var/run/netns/neta" },
        { type: "mount" },
        { type: "ipc" },
        { type: "uts" },
        { type: "user" },
        { type: "cgroup" },
        { type: "time" },
      ],
      devices: [
        { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
        { path: "/dev/sda", type: "b", major: 8, minor: 0 },
        { path: "/dev/fifo", type: "p" },
      ],
      seccomp: {
        defaultAction: "SCMP_ACT_ERRNO",
        defaultErrnoRet: 1,
        architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        flags: ["SECCOMP_FILTER_FLAG_LOG"],
        listenerPath: "/run/seccomp.sock",
        listenerMetadata: "meta",
        syscalls: [
          { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
          { names: ["mkdir"], action: "SCMP_ACT_NOTIFY" },
          {
            names: ["personality"],
            action: "SCMP_ACT_ERRNO",
            errnoRet: 38,
            args: [{ index: 0, value: 255, valueTwo: 8, op: "SCMP_CMP_MASKED_EQ" }],
          },
        ],
      },
      rootfsPropagation: "rslave",
      maskedPaths: ["/proc/kcore"],
      readonlyPaths: ["/proc/sys"],
      mountLabel: "system_u:object_r:container_file_t:s0",
      intelRdt: {
        closID: "guaranteed",
        l3CacheSchema: "L3:0=7f0",
        memBwSchema: "MB:0=20",
        enableCMT: true,
        enableMBM: false,
        enableMonitoring: true,
      },
      personality: { domain: "LINUX32", flags: [] },
      netDevices: { eth1: { name: "eth0" } },
      memoryPolicy: { mode: "MPOL_INTERLEAVE", nodes: "0-3,7", flags: ["MPOL_F_STATIC_NODES"] },
    },
  };
}

/** The smallest config this runtime accepts. */
function minimal(): Json {
  return {
    ociVersion: "1.0.0",
    root: { path: "rootfs" },
    process: { cwd: "/", args: ["sh"], user: { uid: 0, gid: 0 } },
  };
}

function rejects(raw: unknown, message: string, file?: string): void {
  assert.throws(
    () => validateSpec(raw, file),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
      assert.equal(e.message, message);
      return true;
    },
  );
}

function mutated(edit: (c: Json) => void, base = full): Json {
  const c = base();
  edit(c);
  return c;
}

Deno.test("a config setting every field is valid, and comes back as the same object", () => {
  const raw = full();
  const copy = structuredClone(raw);
  const spec: Spec = validateSpec(raw);
  assert.equal(spec, raw);
  assert.deepEqual(spec, copy);
});

Deno.test("the minimal config is valid; every 1.x version, with suffixes, is accepted", () => {
  for (
    const v of [
      "1.3.0",
      "1.3.0-rc.1",
      "1.4.0",
      "1.0.0",
      "1.0.2-dev",
      "1.1.0-rc.1",
      "1.1.0",
      "1.2.0",
      "1.2.1",
      "1.2.0+dev",
      "1.0.0-rc5",
    ]
  ) {
    validateSpec(mutated((c) => (c.ociVersion = v), minimal));
  }
});

Deno.test("runc's default specs (ours) validate", () => {
  validateSpec(defaultSpec());
  validateSpec(defaultSpec({ rootless: true, uid: 1000, gid: 1000 }));
});

const noRunc = runcMissing();
if (noRunc) console.log(`skipped validating runc's own default specs: ${noRunc}`);
Deno.test({
  name: "runc's default specs (written by runc spec) validate",
  ignore: noRunc !== undefined,
  async fn() {
    for (const args of [["spec"], ["spec", "--rootless"]]) {
      const dir = await Deno.makeTempDir();
      try {
        const out = await new Deno.Command("runc", { args, cwd: dir }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        parseSpec(await Deno.readTextFile(`${dir}/config.json`), `${dir}/config.json`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  },
});

/** Why runc cannot be run here, or undefined when it can. */
function runcMissing(): string | undefined {
  try {
    new Deno.Command("runc", { args: ["--version"] }).outputSync();
    return undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) return "no permission to run runc (run with -A)";
    return "runc is not installed (apt-get install runc)";
  }
}

Deno.test("unknown fields are ignored, null optional fields are removed", () => {
  const raw = mutated((c) => {
    c.vendorThing = { anything: [1, 2] };
    c.linux.someFutureField = 7;
    c.process.futureFlag = "x";
    c.hooks = null;
    c.linux.seccomp = null;
    c.linux.resources.devices[1].minor = null;
    c.process.env = null;
  });
  const spec = validateSpec(raw);
  assert.equal("hooks" in spec, false);
  assert.equal("seccomp" in spec.linux!, false);
  assert.equal("env" in spec.process!, false);
  assert.equal("minor" in spec.linux!.resources!.devices![1], false);
  assert.equal((spec as unknown as Json).vendorThing.anything[1], 2);
});

const cases: [string, (c: Json) => void, string][] = [
  // top level
  ["missing ociVersion", (c) => delete c.ociVersion, "ociVersion: missing required field"],
  ["null ociVersion", (c) => (c.ociVersion = null), "ociVersion: missing required field"],
  ["numeric ociVersion", (c) => (c.ociVersion = 1.2), "ociVersion: must be a string"],
  [
    "ociVersion 2.0.0",
    (c) => (c.ociVersion = "2.0.0"),
    'ociVersion: unsupported version "2.0.0" (nsinit supports runtime-spec 1.x, up to 1.3.0)',
  ],
  [
    "ociVersion 0.6.0",
    (c) => (c.ociVersion = "0.6.0"),
    'ociVersion: unsupported version "0.6.0" (nsinit supports runtime-spec 1.x, up to 1.3.0)',
  ],
  [
    "ociVersion 1.0",
    (c) => (c.ociVersion = "1.0"),
    'ociVersion: "1.0" is not a version like "1.3.0"',
  ],
  ["missing root", (c) => delete c.root, "root: missing required field"],
  ["root not an object", (c) => (c.root = "rootfs"), "root: must be an object"],
  ["missing root.path", (c) => delete c.root.path, "root.path: missing required field"],
  ["empty root.path", (c) => (c.root.path = ""), "root.path: must not be empty"],
  ["root.readonly string", (c) => (c.root.readonly = "yes"), "root.readonly: must be a boolean"],
  ["hostname number", (c) => (c.hostname = 5), "hostname: must be a string"],
  ["annotations value", (c) => (c.annotations.n = 1), "annotations.n: must be a string"],
  [
    "annotations empty key",
    (c) => (c.annotations[""] = "x"),
    'annotations[""]: key must not be empty',
  ],
  // process
  ["missing process", (c) => delete c.process, "process: missing required field"],
  ["process array", (c) => (c.process = []), "process: must be an object"],
  [
    "missing args",
    (c) => delete c.process.args,
    "process.args: must be a non-empty array of strings",
  ],
  [
    "empty args",
    (c) => (c.process.args = []),
    "process.args: must be a non-empty array of strings",
  ],
  [
    "args string",
    (c) => (c.process.args = "sh"),
    "process.args: must be a non-empty array of strings",
  ],
  ["args element", (c) => (c.process.args = ["sh", 1]), "process.args[1]: must be a string"],
  ["missing cwd", (c) => delete c.process.cwd, "process.cwd: missing required field"],
  [
    "relative cwd",
    (c) => (c.process.cwd = "tmp"),
    'process.cwd: must be an absolute path, not "tmp"',
  ],
  ["missing user", (c) => delete c.process.user, "process.user: missing required field"],
  ["missing uid", (c) => delete c.process.user.uid, "process.user.uid: missing required field"],
  [
    "negative gid",
    (c) => (c.process.user.gid = -1),
    "process.user.gid: must be an integer from 0 to 2147483647",
  ],
  [
    "fractional uid",
    (c) => (c.process.user.uid = 1.5),
    "process.user.uid: must be an integer from 0 to 2147483647",
  ],
  [
    "additionalGids element",
    (c) => (c.process.user.additionalGids = [1, "2"]),
    "process.user.additionalGids[1]: must be an integer from 0 to 2147483647",
  ],
  ["terminal string", (c) => (c.process.terminal = "true"), "process.terminal: must be a boolean"],
  [
    "consoleSize width",
    (c) => delete c.process.consoleSize.width,
    "process.consoleSize.width: missing required field",
  ],
  ["env element", (c) => (c.process.env = ["A=1", null]), "process.env[1]: must be a string"],
  ["env object", (c) => (c.process.env = { A: "1" }), "process.env: must be an array of strings"],
  [
    "unknown capability",
    (c) => c.process.capabilities.effective.push("CAP_BOGUS"),
    'process.capabilities.effective[1]: unknown capability "CAP_BOGUS"',
  ],
  [
    "lowercase capability",
    (c) => (c.process.capabilities.ambient = ["cap_kill"]),
    'process.capabilities.ambient[0]: unknown capability "cap_kill"',
  ],
  [
    "capability set not array",
    (c) => (c.process.capabilities.bounding = "CAP_KILL"),
    "process.capabilities.bounding: must be an array",
  ],
  [
    "unknown rlimit",
    (c) => (c.process.rlimits[1].type = "RLIMIT_BOGUS"),
    'process.rlimits[1].type: unknown rlimit "RLIMIT_BOGUS"',
  ],
  [
    "duplicate rlimit",
    (c) => (c.process.rlimits[1].type = "RLIMIT_NOFILE"),
    'process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE"',
  ],
  [
    "rlimit without hard",
    (c) => delete c.process.rlimits[0].hard,
    "process.rlimits[0].hard: missing required field",
  ],
  [
    "negative rlimit",
    (c) => (c.process.rlimits[0].soft = -1),
    "process.rlimits[0].soft: must be an integer >= 0",
  ],
  [
    "noNewPrivileges",
    (c) => (c.process.noNewPrivileges = 1),
    "process.noNewPrivileges: must be a boolean",
  ],
  [
    "oomScoreAdj range",
    (c) => (c.process.oomScoreAdj = 1001),
    "process.oomScoreAdj: must be an integer from -1000 to 1000",
  ],
  [
    "apparmorProfile",
    (c) => (c.process.apparmorProfile = false),
    "process.apparmorProfile: must be a string",
  ],
  [
    "scheduler policy",
    (c) => (c.process.scheduler.policy = "SCHED_FAST"),
    'process.scheduler.policy: unknown scheduler policy "SCHED_FAST" (expected one of SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_ISO, SCHED_IDLE, SCHED_DEADLINE)',
  ],
  [
    "scheduler missing policy",
    (c) => delete c.process.scheduler.policy,
    "process.scheduler.policy: missing required field",
  ],
  [
    "scheduler flag",
    (c) => (c.process.scheduler.flags = ["X"]),
    'process.scheduler.flags[0]: unknown scheduler flag "X" (expected one of SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_RECLAIM, SCHED_FLAG_DL_OVERRUN, SCHED_FLAG_KEEP_POLICY, SCHED_FLAG_KEEP_PARAMS, SCHED_FLAG_UTIL_CLAMP_MIN, SCHED_FLAG_UTIL_CLAMP_MAX)',
  ],
  [
    "scheduler nice",
    (c) => (c.process.scheduler.nice = 20),
    "process.scheduler.nice: must be an integer from -20 to 19",
  ],
  [
    "ioPriority class",
    (c) => (c.process.ioPriority.class = "RT"),
    'process.ioPriority.class: unknown I/O priority class "RT" (expected one of IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE)',
  ],
  [
    "ioPriority priority",
    (c) => (c.process.ioPriority.priority = 8),
    "process.ioPriority.priority: must be an integer from 0 to 7",
  ],
  [
    "execCPUAffinity",
    (c) => (c.process.execCPUAffinity.final = "0-"),
    'process.execCPUAffinity.final: invalid CPU list "0-" (expected e.g. "0-3,7")',
  ],
  // mounts
  ["mounts object", (c) => (c.mounts = {}), "mounts: must be an array"],
  ["mount not object", (c) => (c.mounts[1] = "/data"), "mounts[1]: must be an object"],
  [
    "mount without destination",
    (c) => delete c.mounts[2].destination,
    "mounts[2].destination: missing required field",
  ],
  [
    "mount empty destination",
    (c) => (c.mounts[2].destination = ""),
    "mounts[2].destination: must not be empty",
  ],
  [
    "mount NUL",
    (c) => (c.mounts[0].source = "pr\0oc"),
    "mounts[0].source: must not contain a NUL byte",
  ],
  ["mount type", (c) => (c.mounts[0].type = 1), "mounts[0].type: must be a string"],
  [
    "mount option",
    (c) => (c.mounts[1].options = ["ro", 5]),
    "mounts[1].options[1]: must be a string",
  ],
  [
    "mount idmap size",
    (c) => (c.mounts[1].uidMappings[0].size = 0),
    "mounts[1].uidMappings[0].size: must be an integer from 1 to 4294967295",
  ],
  [
    "mount mappings without idmap",
    (c) => (c.mounts[1].options = ["rbind"]),
    "mounts[1].options: mappings need the idmap or ridmap option",
  ],
  [
    "idmap on a tmpfs",
    (c) => (c.mounts[2].options = ["idmap"]),
    "mounts[2].options: idmap and ridmap need a bind mount",
  ],
  [
    "idmap with uid mappings only",
    (c) => delete c.mounts[1].gidMappings,
    "mounts[1].gidMappings: an idmapped mount needs gid mappings too",
  ],
  [
    "idmap without mappings or a new user namespace",
    (c) => {
      delete c.mounts[1].uidMappings;
      delete c.mounts[1].gidMappings;
      c.linux.namespaces[5].path = "/proc/1/ns/user";
      delete c.linux.uidMappings;
      delete c.linux.gidMappings;
    },
    "mounts[1].uidMappings: an idmapped mount needs mappings (its own, or a new user namespace's)",
  ],
  // hooks
  ["hooks array", (c) => (c.hooks = []), "hooks: must be an object"],
  [
    "hook relative path",
    (c) => (c.hooks.poststop[0].path = "true"),
    'hooks.poststop[0].path: must be an absolute path, not "true"',
  ],
  [
    "hook missing path",
    (c) => delete c.hooks.prestart[0].path,
    "hooks.prestart[0].path: missing required field",
  ],
  [
    "hook timeout 0",
    (c) => (c.hooks.createRuntime[0].timeout = 0),
    "hooks.createRuntime[0].timeout: must be an integer >= 1",
  ],
  [
    "hook args",
    (c) => (c.hooks.createRuntime[0].args = "hook"),
    "hooks.createRuntime[0].args: must be an array of strings",
  ],
  // linux: namespaces and ids
  ["linux array", (c) => (c.linux = []), "linux: must be an object"],
  [
    "unknown namespace",
    (c) => (c.linux.namespaces[3].type = "bogus"),
    'linux.namespaces[3].type: unknown namespace "bogus"',
  ],
  [
    "duplicate namespace",
    (c) => c.linux.namespaces.push({ type: "pid" }),
    'linux.namespaces[8].type: duplicate namespace "pid"',
  ],
  [
    "namespace path",
    (c) => (c.linux.namespaces[1].path = 4),
    "linux.namespaces[1].path: must be a string",
  ],
  [
    "namespace missing type",
    (c) => delete c.linux.namespaces[0].type,
    "linux.namespaces[0].type: missing required field",
  ],
  [
    "uidMappings hostID",
    (c) => (c.linux.uidMappings[0].hostID = -1),
    "linux.uidMappings[0].hostID: must be an integer from 0 to 4294967295",
  ],
  [
    "gidMappings size",
    (c) => (c.linux.gidMappings[0].size = 0),
    "linux.gidMappings[0].size: must be an integer from 1 to 4294967295",
  ],
  [
    "mappings without userns",
    (c) => c.linux.namespaces.splice(5, 1),
    "linux.uidMappings: id mappings need a user namespace in linux.namespaces",
  ],
  [
    "new userns without mappings",
    (c) => delete c.linux.gidMappings,
    "linux.gidMappings: a new user namespace needs uid and gid mappings",
  ],
  [
    "hostname without uts",
    (c) => c.linux.namespaces.splice(4, 1),
    'hostname: needs a UTS namespace (a linux.namespaces entry of type "uts")',
  ],
  [
    "domainname without uts",
    (c) => {
      delete c.hostname;
      c.linux.namespaces.splice(4, 1);
    },
    'domainname: needs a UTS namespace (a linux.namespaces entry of type "uts")',
  ],
  [
    "timeOffsets without timens",
    (c) => c.linux.namespaces.pop(),
    'linux.timeOffsets: needs a new time namespace (a linux.namespaces entry of type "time" without a path)',
  ],
  [
    "timeOffsets clock",
    (c) => (c.linux.timeOffsets.realtime = { secs: 1 }),
    'linux.timeOffsets.realtime: unknown clock "realtime" (expected one of monotonic, boottime)',
  ],
  [
    "timeOffsets nanosecs",
    (c) => (c.linux.timeOffsets.boottime.nanosecs = 1e9),
    "linux.timeOffsets.boottime.nanosecs: must be an integer from 0 to 999999999",
  ],
  [
    "sysctl value",
    (c) => (c.linux.sysctl["net.ipv4.ip_forward"] = 1),
    'linux.sysctl["net.ipv4.ip_forward"]: must be a string',
  ],
  [
    "uid 4294967295 (-1: unchanged, so root)",
    (c) => (c.process.user.uid = 4294967295),
    "process.user.uid: must be an integer from 0 to 2147483647",
  ],
  [
    "gid 2147483648",
    (c) => (c.process.user.gid = 2147483648),
    "process.user.gid: must be an integer from 0 to 2147483647",
  ],
  [
    "sysctl without its namespace",
    (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "uts");
      delete c.hostname;
      delete c.domainname;
      c.linux.sysctl = { "kernel.domainname": "x" };
    },
    'linux.sysctl["kernel.domainname"]: sysctl "kernel.domainname" is not in a separate kernel namespace',
  ],
  [
    "machine-wide sysctl",
    (c) => (c.linux.sysctl = { "vm.swappiness": "1" }),
    'linux.sysctl["vm.swappiness"]: sysctl "vm.swappiness" is not in a separate kernel namespace',
  ],
  [
    "ipc sysctl without an ipc namespace",
    (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "ipc");
      c.linux.sysctl = { "kernel.shmmax": "1" };
    },
    'linux.sysctl["kernel.shmmax"]: sysctl "kernel.shmmax" is not allowed in the host\'s ipc namespace',
  ],
  [
    "net sysctl in the runtime's own network namespace, joined by path",
    (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== "network");
      c.linux.namespaces.push({ type: "network", path: "/proc/self/ns/net" });
    },
    'linux.sysctl["net.ipv4.ip_forward"]: sysctl "net.ipv4.ip_forward" is not allowed in the host\'s network namespace',
  ],
  ["cgroupsPath", (c) => (c.linux.cgroupsPath = ["a"]), "linux.cgroupsPath: must be a string"],
  // linux: devices
  [
    "device type",
    (c) => (c.linux.devices[0].type = "x"),
    'linux.devices[0].type: unknown device type "x" (expected one of c, b, u, p)',
  ],
  [
    "device path",
    (c) => (c.linux.devices[0].path = "dev/fuse"),
    'linux.devices[0].path: must be an absolute path, not "dev/fuse"',
  ],
  [
    "device major",
    (c) => delete c.linux.devices[1].major,
    "linux.devices[1].major: missing required field",
  ],
  [
    "device fileMode",
    (c) => (c.linux.devices[0].fileMode = "0666"),
    "linux.devices[0].fileMode: must be an integer from 0 to 4294967295",
  ],
  // linux: resources
  [
    "cgroup device access",
    (c) => (c.linux.resources.devices[1].access = "rwx"),
    'linux.resources.devices[1].access: must be a non-empty combination of r, w and m, not "rwx"',
  ],
  [
    "cgroup device no access",
    (c) => delete c.linux.resources.devices[0].access,
    "linux.resources.devices[0].access: missing required field",
  ],
  [
    "cgroup device type",
    (c) => (c.linux.resources.devices[1].type = "u"),
    'linux.resources.devices[1].type: unknown device type "u" (expected one of a, b, c)',
  ],
  [
    "cgroup device allow",
    (c) => delete c.linux.resources.devices[1].allow,
    "linux.resources.devices[1].allow: missing required field",
  ],
  [
    "memory limit",
    (c) => (c.linux.resources.memory.limit = "1G"),
    "linux.resources.memory.limit: must be an integer >= -1",
  ],
  [
    "memory swappiness",
    (c) => (c.linux.resources.memory.swappiness = 101),
    "linux.resources.memory.swappiness: must be an integer from 0 to 100",
  ],
  [
    "memory disableOOMKiller",
    (c) => (c.linux.resources.memory.disableOOMKiller = 0),
    "linux.resources.memory.disableOOMKiller: must be a boolean",
  ],
  [
    "cpu shares",
    (c) => (c.linux.resources.cpu.shares = -2),
    "linux.resources.cpu.shares: must be an integer >= 0",
  ],
  [
    "cpu quota",
    (c) => (c.linux.resources.cpu.quota = -2),
    "linux.resources.cpu.quota: must be an integer >= -1",
  ],
  [
    "cpu cpus",
    (c) => (c.linux.resources.cpu.cpus = "a-b"),
    'linux.resources.cpu.cpus: invalid list "a-b" (expected e.g. "0-3,7")',
  ],
  [
    "memoryPolicy mode",
    (c) => (c.linux.memoryPolicy.mode = "MPOL_RANDOM"),
    'linux.memoryPolicy.mode: unknown memory policy mode "MPOL_RANDOM" (expected one of MPOL_DEFAULT, MPOL_BIND, MPOL_INTERLEAVE, MPOL_WEIGHTED_INTERLEAVE, MPOL_PREFERRED, MPOL_PREFERRED_MANY, MPOL_LOCAL)',
  ],
  [
    "memoryPolicy nodes",
    (c) => (c.linux.memoryPolicy.nodes = "0-"),
    'linux.memoryPolicy.nodes: invalid node list "0-" (expected e.g. "0-3,7")',
  ],
  [
    "memoryPolicy bind without nodes",
    (c) => (c.linux.memoryPolicy = { mode: "MPOL_BIND" }),
    "linux.memoryPolicy.nodes: MPOL_BIND needs a node list",
  ],
  [
    "memoryPolicy local with nodes",
    (c) => (c.linux.memoryPolicy = { mode: "MPOL_LOCAL", nodes: "0" }),
    "linux.memoryPolicy.nodes: must be empty for MPOL_LOCAL",
  ],
  [
    "memoryPolicy flags",
    (c) => c.linux.memoryPolicy.flags.push("MPOL_F_RELATIVE_NODES"),
    "linux.memoryPolicy.flags: MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other",
  ],
  [
    "netDevices bad host name",
    (c) => (c.linux.netDevices = { "a/b": {} }),
    'linux.netDevices["a/b"]: invalid network device name "a/b"',
  ],
  [
    "netDevices long name",
    (c) => (c.linux.netDevices.eth1.name = "a-name-longer-than-15"),
    'linux.netDevices.eth1.name: invalid network device name "a-name-longer-than-15"',
  ],
  [
    "netDevices same name twice",
    (c) => (c.linux.netDevices.eth2 = {}, c.linux.netDevices.eth3 = { name: "eth2" }),
    'linux.netDevices.eth3.name: "eth2" is also the name of linux.netDevices.eth2',
  ],
  [
    "netDevices without a network namespace",
    (c) => c.linux.namespaces.splice(1, 1),
    'linux.netDevices: needs a network namespace (a linux.namespaces entry of type "network")',
  ],
  [
    "mounts without a mount namespace",
    (c) => c.linux.namespaces.splice(2, 1),
    'mounts: needs a mount namespace (a linux.namespaces entry of type "mount")',
  ],
  [
    "maskedPaths without a mount namespace",
    (
      c,
    ) => (c.linux.namespaces.splice(2, 1),
      c.mounts = [],
      c.root.readonly = false,
      delete c.linux.devices),
    'linux.maskedPaths: needs a mount namespace (a linux.namespaces entry of type "mount")',
  ],
  [
    "pids limit below -1",
    (c) => (c.linux.resources.pids = { limit: -2 }),
    "linux.resources.pids.limit: must be an integer >= -1",
  ],
  [
    "blkio weight",
    (c) => (c.linux.resources.blockIO.weight = 70000),
    "linux.resources.blockIO.weight: must be an integer from 0 to 65535",
  ],
  [
    "blkio throttle rate",
    (c) => delete c.linux.resources.blockIO.throttleWriteIOPSDevice[0].rate,
    "linux.resources.blockIO.throttleWriteIOPSDevice[0].rate: missing required field",
  ],
  [
    "blkio weightDevice minor",
    (c) => (c.linux.resources.blockIO.weightDevice[0].minor = "0"),
    "linux.resources.blockIO.weightDevice[0].minor: must be an integer >= 0",
  ],
  [
    "hugepage size",
    (c) => (c.linux.resources.hugepageLimits[0].pageSize = "2M"),
    'linux.resources.hugepageLimits[0].pageSize: invalid page size "2M" (expected e.g. "2MB")',
  ],
  [
    "hugepage limit",
    (c) => delete c.linux.resources.hugepageLimits[0].limit,
    "linux.resources.hugepageLimits[0].limit: missing required field",
  ],
  [
    "network classID",
    (c) => (c.linux.resources.network.classID = -1),
    "linux.resources.network.classID: must be an integer from 0 to 4294967295",
  ],
  [
    "network priority name",
    (c) => delete c.linux.resources.network.priorities[0].name,
    "linux.resources.network.priorities[0].name: missing required field",
  ],
  [
    "rdma",
    (c) => (c.linux.resources.rdma.mlx5_1.hcaHandles = "3"),
    "linux.resources.rdma.mlx5_1.hcaHandles: must be an integer from 0 to 4294967295",
  ],
  [
    "unified",
    (c) => (c.linux.resources.unified["memory.max"] = 5),
    'linux.resources.unified["memory.max"]: must be a string',
  ],
  // linux: seccomp
  [
    "seccomp defaultAction",
    (c) => (c.linux.seccomp.defaultAction = "SCMP_ACT_FOO"),
    'linux.seccomp.defaultAction: unknown seccomp action "SCMP_ACT_FOO" (expected one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY)',
  ],
  [
    "seccomp missing defaultAction",
    (c) => delete c.linux.seccomp.defaultAction,
    "linux.seccomp.defaultAction: missing required field",
  ],
  [
    "seccomp NOTIFY default",
    (c) => (c.linux.seccomp.defaultAction = "SCMP_ACT_NOTIFY"),
    "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
  ],
  [
    "seccomp NOTIFY without listener",
    (c) => delete c.linux.seccomp.listenerPath,
    "linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath",
  ],
  [
    "seccomp arch",
    (c) => c.linux.seccomp.architectures.push("SCMP_ARCH_VAX"),
    'linux.seccomp.architectures[3]: unknown architecture "SCMP_ARCH_VAX" (expected one of ' +
    "SCMP_ARCH_NATIVE, SCMP_ARCH_X86, SCMP_ARCH_X86_64, SCMP_ARCH_X32, SCMP_ARCH_ARM, SCMP_ARCH_AARCH64, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS64N32, SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL64N32, SCMP_ARCH_PPC, SCMP_ARCH_PPC64, SCMP_ARCH_PPC64LE, SCMP_ARCH_S390, SCMP_ARCH_S390X, SCMP_ARCH_PARISC, SCMP_ARCH_PARISC64, SCMP_ARCH_RISCV64, SCMP_ARCH_LOONGARCH64, SCMP_ARCH_M68K, SCMP_ARCH_SH, SCMP_ARCH_SHEB)",
  ],
  [
    "seccomp flag",
    (c) => (c.linux.seccomp.flags = ["LOG"]),
    'linux.seccomp.flags[0]: unknown seccomp flag "LOG" (expected one of SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)',
  ],
  [
    "seccomp names empty",
    (c) => (c.linux.seccomp.syscalls[0].names = []),
    "linux.seccomp.syscalls[0].names: must be a non-empty array of strings",
  ],
  [
    "seccomp names element",
    (c) => (c.linux.seccomp.syscalls[0].names = ["read", 0]),
    "linux.seccomp.syscalls[0].names[1]: must be a string",
  ],
  [
    "seccomp action",
    (c) => (c.linux.seccomp.syscalls[2].action = "allow"),
    'linux.seccomp.syscalls[2].action: unknown seccomp action "allow" (expected one of SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY)',
  ],
  [
    "seccomp op",
    (c) => (c.linux.seccomp.syscalls[2].args[0].op = "SCMP_CMP_XOR"),
    'linux.seccomp.syscalls[2].args[0].op: unknown seccomp operator "SCMP_CMP_XOR" (expected one of SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)',
  ],
  [
    "seccomp arg index",
    (c) => (c.linux.seccomp.syscalls[2].args[0].index = 6),
    "linux.seccomp.syscalls[2].args[0].index: must be an integer from 0 to 5",
  ],
  [
    "seccomp arg value",
    (c) => delete c.linux.seccomp.syscalls[2].args[0].value,
    "linux.seccomp.syscalls[2].args[0].value: missing required field",
  ],
  [
    "seccomp errnoRet",
    (c) => (c.linux.seccomp.syscalls[2].errnoRet = -1),
    "linux.seccomp.syscalls[2].errnoRet: must be an integer from 0 to 4294967295",
  ],
  // linux: the rest
  [
    "rootfsPropagation",
    (c) => (c.linux.rootfsPropagation = "recursive"),
    'linux.rootfsPropagation: unknown propagation "recursive" (expected one of private, shared, slave, unbindable, rprivate, rshared, rslave, runbindable)',
  ],
  [
    "maskedPaths relative",
    (c) => (c.linux.maskedPaths = ["proc/kcore"]),
    'linux.maskedPaths[0]: must be an absolute path, not "proc/kcore"',
  ],
  [
    "readonlyPaths element",
    (c) => (c.linux.readonlyPaths = [1]),
    "linux.readonlyPaths[0]: must be a string",
  ],
  [
    "intelRdt",
    (c) => (c.linux.intelRdt.enableCMT = "yes"),
    "linux.intelRdt.enableCMT: must be a boolean",
  ],
  [
    "personality domain",
    (c) => (c.linux.personality.domain = "BSD"),
    'linux.personality.domain: unknown personality domain "BSD" (expected one of LINUX, LINUX32)',
  ],
  [
    "netDevices",
    (c) => (c.linux.netDevices.eth1 = "eth0"),
    "linux.netDevices.eth1: must be an object",
  ],
];

for (const [name, edit, message] of cases) {
  Deno.test(`rejects ${name}`, () => rejects(mutated(edit), `config.json: ${message}`));
}

Deno.test("the error names the file and carries the field", () => {
  const raw = mutated((c) => (c.linux.namespaces[3].type = "bogus"));
  try {
    validateSpec(raw, "/run/bundle/config.json");
    assert.fail("not rejected");
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.file, "/run/bundle/config.json");
    assert.equal(e.field, "linux.namespaces[3].type");
    assert.equal(
      e.message,
      '/run/bundle/config.json: linux.namespaces[3].type: unknown namespace "bogus"',
    );
  }
});

Deno.test("a document that is not an object is rejected", () => {
  for (const raw of [null, [], "x", 3]) rejects(raw, "config.json: must be a JSON object");
});

Deno.test("parseSpec reports broken JSON with the file and JSON.parse's message", () => {
  const check = (text: string, pattern: RegExp) =>
    assert.throws(() => parseSpec(text, "b/config.json"), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.field, "");
      assert.match(e.message, pattern);
      return true;
    });
  check("", /^b\/config\.json: invalid JSON: Unexpected end of JSON input$/);
  check(
    '{"ociVersion": "1.2.0",\n "root": }',
    /^b\/config\.json: invalid JSON: Unexpected token '}'/,
  );
  check(
    '{"ociVersion": "1.2.0"}\n x',
    /^b\/config\.json: invalid JSON: .*position 25.*line 2 column 2/,
  );
});

Deno.test("parseSpec validates what it parsed", () => {
  assert.throws(() => parseSpec('{"ociVersion": "1.2.0"}'), {
    name: "ConfigError",
    message: "config.json: root: missing required field",
  });
  const spec = parseSpec(JSON.stringify(full()));
  assert.equal(spec.linux?.namespaces?.length, 8);
});

Deno.test("validateProcess checks an exec process with document-relative paths", () => {
  const p = full().process;
  assert.equal(validateProcess(p), p);
  assert.throws(() => validateProcess({ ...p, args: [] }), {
    name: "ConfigError",
    message: "process.json: args: must be a non-empty array of strings",
  });
  assert.throws(() => validateProcess({ ...p, cwd: "." }, "/tmp/p.json"), {
    message: '/tmp/p.json: cwd: must be an absolute path, not "."',
  });
  assert.throws(() => validateProcess({ ...p, capabilities: { bounding: ["CAP_NOPE"] } }), {
    message: 'process.json: capabilities.bounding[0]: unknown capability "CAP_NOPE"',
  });
  assert.throws(() => validateProcess("sh"), { message: "process.json: must be a JSON object" });
});
