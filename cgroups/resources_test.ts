import assert from "node:assert/strict";
import { CgroupError } from "../errors.ts";
import {
  blkioWeightToIoWeight,
  type CgroupHostFiles,
  type CgroupWrite,
  deviceRuleString,
  firstResourceField,
  isAllowAllDevices,
  permissiveHost,
  sharesToWeight,
  swapToV2,
  translateResources,
} from "./resources.ts";

/** A host whose controllers are at the given versions and whose files are all present except `missing`. */
function host(versions: Record<string, 1 | 2>, missing: string[] = []): CgroupHostFiles {
  return {
    versionOf: (c) => versions[c],
    has: (_c, f) => !missing.includes(f),
  };
}

const V1 = host({
  memory: 1,
  cpu: 1,
  cpuacct: 1,
  cpuset: 1,
  pids: 1,
  blkio: 1,
  hugetlb: 1,
  devices: 1,
  freezer: 1,
  net_cls: 1,
  net_prio: 1,
  rdma: 1,
}, ["blkio.bfq.weight", "blkio.bfq.weight_device"]);

const V2 = host({ memory: 2, cpu: 2, cpuset: 2, pids: 2, io: 2, hugetlb: 2, rdma: 2, cgroup: 2 }, [
  "io.bfq.weight",
]);

function pairs(writes: CgroupWrite[]): string[] {
  return writes.map((w) => `${w.file}=${w.value}`);
}

function throwsField(fn: () => unknown, field: string, text?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CgroupError, `expected CgroupError, got ${e}`);
    assert.equal(e.field, field);
    if (text) assert.match(e.message, text);
    return true;
  });
}

Deno.test("conversions match runc", () => {
  assert.equal(sharesToWeight(0), 0);
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(blkioWeightToIoWeight(10), 1);
  assert.equal(blkioWeightToIoWeight(500), 4950);
  assert.equal(blkioWeightToIoWeight(1000), 10000);
  assert.equal(swapToV2(0, 0), 0);
  assert.equal(swapToV2(0, -1), -1);
  assert.equal(swapToV2(-1, 100), -1);
  assert.equal(swapToV2(300, 100), 200);
  assert.equal(swapToV2(100, 100), 0);
  throwsField(() => swapToV2(300, 0), "linux.resources.memory.swap");
  throwsField(() => swapToV2(50, 100), "linux.resources.memory.swap");
});

Deno.test("v1 memory: limit, memsw, reservation, swappiness, oom", () => {
  const w = translateResources({
    memory: {
      limit: 100,
      swap: 300,
      reservation: 50,
      kernelTCP: 10,
      swappiness: 0,
      disableOOMKiller: true,
    },
  }, V1);
  assert.deepEqual(pairs(w), [
    "memory.limit_in_bytes=100",
    "memory.memsw.limit_in_bytes=300",
    "memory.soft_limit_in_bytes=50",
    "memory.kmem.tcp.limit_in_bytes=10",
    "memory.oom_control=1",
    "memory.swappiness=0",
  ]);
  assert.ok(w.every((x) => x.controller === "memory"));
  assert.equal(w[1]!.field, "linux.resources.memory.swap");
});

Deno.test("v1 memory: write order follows runc on updates", () => {
  // Raising both above the current limit: memsw first.
  const up = translateResources({ memory: { limit: 200, swap: 400 } }, V1, {
    currentMemoryLimit: 100,
  });
  assert.deepEqual(pairs(up), ["memory.memsw.limit_in_bytes=400", "memory.limit_in_bytes=200"]);
  // Unlimited swap: memsw first too.
  const unl = translateResources({ memory: { limit: 200, swap: -1 } }, V1);
  assert.deepEqual(pairs(unl), ["memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=200"]);
  // Unlimited memory without swap: swap becomes -1, only if memsw exists.
  assert.deepEqual(pairs(translateResources({ memory: { limit: -1 } }, V1)), [
    "memory.memsw.limit_in_bytes=-1",
    "memory.limit_in_bytes=-1",
  ]);
  const noSwap = host({ memory: 1 }, ["memory.memsw.limit_in_bytes"]);
  assert.deepEqual(pairs(translateResources({ memory: { limit: -1 } }, noSwap)), [
    "memory.limit_in_bytes=-1",
  ]);
  // An explicit swap limit without swap accounting is an error, not ignored.
  throwsField(
    () => translateResources({ memory: { limit: 100, swap: 200 } }, noSwap),
    "linux.resources.memory.swap",
    /memory\.memsw\.limit_in_bytes is not available/,
  );
  throwsField(
    () => translateResources({ memory: { limit: 300, swap: 200 } }, V1),
    "linux.resources.memory.swap",
  );
});

Deno.test("v1 memory: invalid values", () => {
  throwsField(
    () => translateResources({ memory: { swappiness: 101 } }, V1),
    "linux.resources.memory.swappiness",
  );
  throwsField(
    () => translateResources({ memory: { limit: -5 } }, V1),
    "linux.resources.memory.limit",
  );
  // -1 swappiness means "leave alone".
  assert.deepEqual(translateResources({ memory: { swappiness: -1 } }, V1), []);
});

Deno.test("v2 memory: swap is swap alone, v1-only fields refused", () => {
  assert.deepEqual(pairs(translateResources({ memory: { limit: 100, swap: 300 } }, V2)), [
    "memory.swap.max=200",
    "memory.max=100",
  ]);
  assert.deepEqual(pairs(translateResources({ memory: { limit: 100, swap: 100 } }, V2)), [
    "memory.swap.max=0",
    "memory.max=100",
  ]);
  assert.deepEqual(pairs(translateResources({ memory: { limit: -1, reservation: 10 } }, V2)), [
    "memory.swap.max=max",
    "memory.max=max",
    "memory.low=10",
  ]);
  // No swap accounting: "max" is already true, dropped.
  const noSwap = host({ memory: 2 }, ["memory.swap.max"]);
  assert.deepEqual(pairs(translateResources({ memory: { limit: -1 } }, noSwap)), [
    "memory.max=max",
  ]);
  throwsField(
    () => translateResources({ memory: { limit: 100, swap: 300 } }, noSwap),
    "linux.resources.memory.swap",
  );
  for (
    const [m, field] of [
      [{ swappiness: 10 }, "swappiness"],
      [{ kernel: 10 }, "kernel"],
      [{ kernelTCP: 10 }, "kernelTCP"],
      [{ disableOOMKiller: true }, "disableOOMKiller"],
    ] as const
  ) {
    throwsField(
      () => translateResources({ memory: m }, V2),
      `linux.resources.memory.${field}`,
      /v1/,
    );
  }
});

Deno.test("cpu on v1 and v2", () => {
  const cpu = { shares: 1024, quota: 50000, period: 100000, burst: 1000, idle: 0 };
  assert.deepEqual(pairs(translateResources({ cpu }, V1)), [
    "cpu.shares=1024",
    "cpu.cfs_period_us=100000",
    "cpu.cfs_quota_us=50000",
    "cpu.cfs_burst_us=1000",
    "cpu.idle=0",
  ]);
  assert.deepEqual(pairs(translateResources({ cpu }, V2)), [
    "cpu.idle=0",
    "cpu.weight=39",
    "cpu.max=50000 100000",
    "cpu.max.burst=1000",
  ]);
  assert.deepEqual(pairs(translateResources({ cpu: { quota: -1, period: 100000 } }, V2)), [
    "cpu.max=max 100000",
  ]);
  assert.deepEqual(pairs(translateResources({ cpu: { period: 20000 } }, V2)), [
    "cpu.max=max 20000",
  ]);
  assert.deepEqual(pairs(translateResources({ cpu: { quota: 30000 } }, V2)), ["cpu.max=30000"]);
  assert.deepEqual(
    pairs(translateResources({ cpu: { realtimeRuntime: 5, realtimePeriod: 10 } }, V1)),
    [
      "cpu.rt_period_us=10",
      "cpu.rt_runtime_us=5",
    ],
  );
  throwsField(
    () => translateResources({ cpu: { realtimeRuntime: 5 } }, V2),
    "linux.resources.cpu.realtimeRuntime",
  );
  throwsField(() => translateResources({ cpu: { shares: 1 } }, V1), "linux.resources.cpu.shares");
  throwsField(
    () => translateResources({ cpu: { shares: 300000 } }, V2),
    "linux.resources.cpu.shares",
  );
});

Deno.test("cpuset goes to the cpuset controller", () => {
  const w = translateResources({ cpu: { cpus: "0-1", mems: "0" } }, V1);
  assert.deepEqual(pairs(w), ["cpuset.cpus=0-1", "cpuset.mems=0"]);
  assert.ok(w.every((x) => x.controller === "cpuset"));
  throwsField(
    () => translateResources({ cpu: { cpus: "0" } }, host({ cpu: 1 })),
    "linux.resources.cpu.cpus",
    /cpuset cgroup controller is not available/,
  );
});

Deno.test("pids (runtime-spec 1.3): -1 is max, 0 is 0, unset leaves pids.max alone", () => {
  assert.deepEqual(translateResources({ pids: {} }, V1), []);
  assert.deepEqual(translateResources({ pids: {} }, V2), []);
  for (const [limit, value] of [[-1, "max"], [0, "0"], [42, "42"]] as const) {
    assert.deepEqual(pairs(translateResources({ pids: { limit } }, V1)), [`pids.max=${value}`]);
    assert.deepEqual(pairs(translateResources({ pids: { limit } }, V2)), [`pids.max=${value}`]);
  }
  throwsField(
    () => translateResources({ pids: { limit: 5 } }, host({ memory: 1 })),
    "linux.resources.pids",
  );
});

Deno.test("blkio on v1: weight files must exist (this VM has none)", () => {
  const throttle = { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] };
  assert.deepEqual(pairs(translateResources({ blockIO: throttle }, V1)), [
    "blkio.throttle.read_bps_device=8:0 1048576",
  ]);
  const noWeights = host({ blkio: 1, memory: 1 }, [
    "blkio.weight",
    "blkio.bfq.weight",
    "blkio.weight_device",
    "blkio.bfq.weight_device",
    "blkio.leaf_weight",
  ]);
  throwsField(
    () => translateResources({ memory: { limit: 100 }, blockIO: { weight: 500 } }, noWeights),
    "linux.resources.blockIO.weight",
    /blkio\.weight is not available/,
  );
  throwsField(
    () =>
      translateResources(
        { blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 100 }] } },
        noWeights,
      ),
    "linux.resources.blockIO.weightDevice[0].weight",
  );
  // BFQ present: raw weight goes to blkio.bfq.weight.
  const bfq = host({ blkio: 1 });
  assert.deepEqual(pairs(translateResources({ blockIO: { weight: 500 } }, bfq)), [
    "blkio.bfq.weight=500",
  ]);
  assert.deepEqual(
    pairs(translateResources({ blockIO: { weight: 500, leafWeight: 300 } }, V1)),
    ["blkio.weight=500", "blkio.leaf_weight=300"],
  );
  throwsField(
    () => translateResources({ blockIO: { weight: 5 } }, V1),
    "linux.resources.blockIO.weight",
  );
});

Deno.test("blkio on v2: io.weight conversion, io.max, bfq-only device weights", () => {
  const b = {
    weight: 500,
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 100 }],
    throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 0 }],
  };
  const w = translateResources({ blockIO: b }, V2);
  assert.deepEqual(pairs(w), ["io.weight=4950", "io.max=8:0 rbps=100", "io.max=8:16 wiops=max"]);
  assert.ok(w.every((x) => x.controller === "io"));
  assert.deepEqual(pairs(translateResources({ blockIO: { weight: 500 } }, host({ io: 2 }))), [
    "io.bfq.weight=500",
  ]);
  throwsField(
    () =>
      translateResources({ blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 100 }] } }, V2),
    "linux.resources.blockIO.weightDevice[0].weight",
    /BFQ/,
  );
  throwsField(
    () => translateResources({ blockIO: { leafWeight: 100 } }, V2),
    "linux.resources.blockIO.leafWeight",
  );
});

Deno.test("hugetlb: v1 and v2 file names, rsvd when present, unknown sizes refused", () => {
  const limits = [{ pageSize: "2MB", limit: 4194304 }];
  assert.deepEqual(pairs(translateResources({ hugepageLimits: limits }, V1)), [
    "hugetlb.2MB.limit_in_bytes=4194304",
    "hugetlb.2MB.rsvd.limit_in_bytes=4194304",
  ]);
  const noRsvd = host({ hugetlb: 2 }, ["hugetlb.2MB.rsvd.max"]);
  assert.deepEqual(pairs(translateResources({ hugepageLimits: limits }, noRsvd)), [
    "hugetlb.2MB.max=4194304",
  ]);
  const only2M = {
    versionOf: () => 1 as const,
    has: (_c: string, f: string) => f.startsWith("hugetlb.2MB."),
  };
  throwsField(
    () => translateResources({ hugepageLimits: [{ pageSize: "3MB", limit: 1 }] }, only2M),
    "linux.resources.hugepageLimits[0].pageSize",
    /"3MB" is not supported/,
  );
  throwsField(
    () => translateResources({ hugepageLimits: [{ pageSize: "2 MB", limit: 1 }] }, V1),
    "linux.resources.hugepageLimits[0].pageSize",
  );
});

Deno.test("hybrid: each section goes to the version that holds its controller", () => {
  const hybrid = host({ memory: 1, pids: 1, hugetlb: 2, cgroup: 2 });
  const w = translateResources({
    memory: { limit: 100 },
    hugepageLimits: [{ pageSize: "2MB", limit: 2097152 }],
  }, hybrid);
  assert.deepEqual(pairs(w), [
    "memory.limit_in_bytes=100",
    "hugetlb.2MB.max=2097152",
    "hugetlb.2MB.rsvd.max=2097152",
  ]);
  // unified keys only for controllers on v2.
  assert.deepEqual(pairs(translateResources({ unified: { "hugetlb.2MB.max": "0" } }, hybrid)), [
    "hugetlb.2MB.max=0",
  ]);
  throwsField(
    () => translateResources({ unified: { "memory.high": "1G" } }, hybrid),
    'linux.resources.unified["memory.high"]',
    /cgroup v1/,
  );
});

Deno.test("unified: v2 only, file names only, last", () => {
  const w = translateResources({
    pids: { limit: 5 },
    unified: { "memory.high": "1G", "pids.max": "7" },
  }, V2);
  assert.deepEqual(pairs(w), ["pids.max=5", "memory.high=1G", "pids.max=7"]);
  throwsField(
    () => translateResources({ unified: { "memory.high": "1G" } }, V1),
    'linux.resources.unified["memory.high"]',
  );
  throwsField(
    () => translateResources({ unified: { "../memory.high": "1G" } }, V2),
    'linux.resources.unified["../memory.high"]',
  );
  throwsField(
    () => translateResources({ unified: { "io.max": "x" } }, host({ memory: 2 })),
    'linux.resources.unified["io.max"]',
    /not available/,
  );
});

Deno.test("network: v1 net_cls/net_prio, refused when not mounted or on v2", () => {
  const net = { classID: 0x100001, priorities: [{ name: "eth0", priority: 5 }] };
  const w = translateResources({ network: net }, V1);
  assert.deepEqual(pairs(w), ["net_cls.classid=1048577", "net_prio.ifpriomap=eth0 5"]);
  throwsField(
    () => translateResources({ network: net }, host({ memory: 1 })),
    "linux.resources.network.classID",
    /net_cls cgroup controller is not available/,
  );
  throwsField(
    () => translateResources({ network: { priorities: net.priorities } }, V2),
    "linux.resources.network.priorities[0]",
  );
});

Deno.test("devices: v1 rules in order; v2 only allow-all", () => {
  const rules = [
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: true, type: "c", major: 136, access: "rw" },
  ];
  const w = translateResources({ devices: rules }, V1);
  assert.deepEqual(pairs(w), [
    "devices.deny=a *:* rwm",
    "devices.allow=c 1:3 rwm",
    "devices.allow=c 136:* rw",
  ]);
  throwsField(
    () => translateResources({ devices: rules }, V2),
    "linux.resources.devices",
    /eBPF device filter/,
  );
  assert.deepEqual(translateResources({ devices: [{ allow: true, access: "rwm" }] }, V2), []);
  throwsField(
    () => translateResources({ devices: [{ allow: true, type: "x" }] }, V1),
    "linux.resources.devices[0].type",
  );
  throwsField(
    () => translateResources({ devices: [{ allow: true, access: "rwx" }] }, V1),
    "linux.resources.devices[0].access",
  );
  assert.equal(deviceRuleString({ allow: true, type: "b", major: 8 }), "b 8:* rwm");
  assert.ok(isAllowAllDevices(undefined));
  assert.ok(isAllowAllDevices([{ allow: false, access: "rwm" }, { allow: true, access: "rwm" }]));
  assert.ok(
    !isAllowAllDevices([{ allow: true, access: "rwm" }, { allow: false, type: "c", major: 1 }]),
  );
  assert.ok(
    !isAllowAllDevices([{ allow: true, type: "c", major: 1, access: "rwm" }, {
      allow: false,
      access: "rwm",
    }]),
  );
});

Deno.test("rdma on both versions", () => {
  const r = { mlx4_0: { hcaHandles: 2, hcaObjects: 2000 } };
  assert.deepEqual(pairs(translateResources({ rdma: r }, V1)), [
    "rdma.max=mlx4_0 hca_handle=2 hca_object=2000",
  ]);
  throwsField(
    () => translateResources({ rdma: r }, host({ memory: 2 })),
    'linux.resources.rdma["mlx4_0"]',
  );
});

Deno.test("a refused field means no writes at all", () => {
  // The memory limit is fine, the blkio weight is not: translation throws, so nothing is written.
  const h = host({ memory: 1, blkio: 1 }, ["blkio.weight", "blkio.bfq.weight"]);
  assert.throws(
    () => translateResources({ memory: { limit: 1 }, blockIO: { weight: 100 } }, h),
    CgroupError,
  );
});

Deno.test("empty resources translate to nothing", () => {
  assert.deepEqual(translateResources({}, V1), []);
  assert.deepEqual(
    translateResources({ memory: {}, cpu: {}, blockIO: {}, hugepageLimits: [], network: {} }, V2),
    [],
  );
  assert.deepEqual(translateResources({ memory: { limit: 0, swap: 0 } }, permissiveHost(1)), []);
});

Deno.test("firstResourceField names the first field that asks for something", () => {
  assert.equal(firstResourceField({}), undefined);
  assert.equal(firstResourceField({ memory: { limit: 0 } }), undefined);
  assert.equal(firstResourceField({ memory: { limit: 10 } }), "linux.resources.memory.limit");
  assert.equal(firstResourceField({ cpu: { quota: 10 } }), "linux.resources.cpu.quota");
  assert.equal(
    firstResourceField({ devices: [{ allow: false, access: "rwm" }] }),
    "linux.resources.devices[0]",
  );
  assert.equal(firstResourceField({ devices: [{ allow: true, access: "rwm" }] }), undefined);
  assert.equal(
    firstResourceField({ unified: { "memory.high": "1" } }),
    'linux.resources.unified["memory.high"]',
  );
  assert.equal(
    firstResourceField({ hugepageLimits: [{ pageSize: "2MB", limit: 1 }] }),
    "linux.resources.hugepageLimits[0].limit",
  );
});
