import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { CgroupError } from "../errors.ts";
import { permissiveHost, translateResources } from "../cgroups/resources.ts";
import {
  annotationProperties,
  deviceProperties,
  expandSlice,
  parseGVariant,
  rangeToBits,
  resourceProperties,
  systemdUnit,
  UINT64_MAX,
  type UnitProperty,
} from "./systemd_unit.ts";

const plain = (props: UnitProperty[]) => props.map(([n, v]) => [n, v.value]);
const cgErr = (field: string, re: RegExp) => (e: unknown) =>
  e instanceof CgroupError && e.field === field && re.test(e.message);

Deno.test("cgroupsPath: runc's slice:prefix:name, defaults, nested slices", () => {
  assertEquals(systemdUnit("abc", "system.slice:nsinit:abc"), {
    slice: "system.slice",
    unit: "nsinit-abc.scope",
    cgroup: "/system.slice/nsinit-abc.scope",
  });
  assertEquals(systemdUnit("c1", ""), systemdUnit("c1"));
  assertEquals(systemdUnit("c1", "::"), {
    slice: "system.slice",
    unit: "c1.scope",
    cgroup: "/system.slice/c1.scope",
  });
  assertEquals(
    systemdUnit("c1", "a-b-c.slice:p:x").cgroup,
    "/a.slice/a-b.slice/a-b-c.slice/p-x.scope",
  );
  assertEquals(systemdUnit("c1", "-.slice:p:x").cgroup, "/p-x.scope");
});

Deno.test("cgroupsPath: malformed values name linux.cgroupsPath", () => {
  for (
    const bad of [
      "/a/b",
      "system.slice:x",
      "a:b:c:d",
      "nope:p:n",
      "a--b.slice:p:n",
      "-a.slice:p:n",
      "a/b.slice:p:n",
    ]
  ) {
    throws(() => systemdUnit("c1", bad), cgErr("linux.cgroupsPath", /slice|expected/), bad);
  }
  throws(() => systemdUnit("c1", "system.slice:p:x y"), cgErr("linux.cgroupsPath", /unit name/));
  throws(
    () => systemdUnit("c1", "system.slice:p:x.slice"),
    cgErr("linux.cgroupsPath", /slice units/),
  );
  throws(() => expandSlice(".slice"), CgroupError);
});

Deno.test("resource properties on cgroup v1, as runc's legacy manager", () => {
  const writes = translateResources({
    memory: { limit: 33554432 },
    cpu: { shares: 512, quota: 25000, period: 100000, cpus: "0" },
    pids: { limit: 20 },
  }, permissiveHost(1));
  assertEquals(plain(resourceProperties(writes, 252)), [
    ["MemoryLimit", 33554432n],
    ["CPUShares", 512n],
    ["AllowedCPUs", Uint8Array.from([1])],
    ["TasksMax", 20n],
    ["CPUQuotaPeriodUSec", 100000n],
    ["CPUQuotaPerSecUSec", 250000n],
  ]);
});

Deno.test("resource properties on cgroup v2, as runc's unified manager", () => {
  const writes = translateResources({
    memory: { limit: 100 << 20, reservation: 50 << 20, swap: 200 << 20 },
    cpu: { shares: 1024, quota: 33333, period: 100000 },
    pids: { limit: -1 },
    unified: { "memory.high": "max" },
  }, permissiveHost(2));
  assertEquals(plain(resourceProperties(writes, 252)), [
    ["MemorySwapMax", 100n << 20n],
    ["MemoryMax", 100n << 20n],
    ["MemoryLow", 50n << 20n],
    ["CPUWeight", 39n],
    ["TasksMax", UINT64_MAX],
    ["MemoryHigh", UINT64_MAX],
    ["CPUQuotaPeriodUSec", 100000n],
    // 333330 µs per second rounds up to whole percent
    ["CPUQuotaPerSecUSec", 340000n],
  ]);
});

Deno.test("resource properties follow the systemd version", () => {
  const writes = translateResources(
    { cpu: { quota: 50000, period: 200000, cpus: "0-1" } },
    permissiveHost(2),
  );
  // before 242: no CPUQuotaPeriodUSec; before 244: no AllowedCPUs (the files still get them)
  assertEquals(plain(resourceProperties(writes, 241)), [["CPUQuotaPerSecUSec", 250000n]]);
  // quota "max" with a period: unlimited
  const max = translateResources({ cpu: { quota: -1, period: 100000 } }, permissiveHost(2));
  assertEquals(plain(resourceProperties(max, 252)).at(-1), ["CPUQuotaPerSecUSec", UINT64_MAX]);
});

Deno.test("rangeToBits", () => {
  assertEquals([...rangeToBits("0")], [1]);
  assertEquals([...rangeToBits("8-9,0")], [1, 3]);
  throws(() => rangeToBits("3-1"), CgroupError);
  throws(() => rangeToBits("x"), CgroupError);
});

Deno.test("device properties: strict allow-list, wildcards, allow-all, deny-list", () => {
  const rules = [
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 136, access: "rwm" },
    { allow: true, type: "b", access: "m" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  ];
  assertEquals(plain(deviceProperties(rules, 252)), [
    ["DevicePolicy", "strict"],
    ["DeviceAllow", [["block-*", "m"], ["/dev/char/1:3", "rwm"], ["char-136", "rwm"]]],
  ]);
  // before 240, a wildcard minor takes the group name from /proc/devices
  const old = deviceProperties(rules, 239, () => new Map([["c136", "pts"]]));
  assertEquals(plain(old)[1], ["DeviceAllow", [["block-*", "m"], ["/dev/char/1:3", "rwm"], [
    "char-pts",
    "rwm",
  ]]]);
  assertEquals(plain(deviceProperties([{ allow: true, access: "rwm" }], 252)), [
    ["DevicePolicy", "auto"],
    ["DeviceAllow", []],
  ]);
  assertEquals(
    plain(
      deviceProperties([{ allow: true, access: "rwm" }, {
        allow: false,
        type: "c",
        major: 1,
        minor: 3,
        access: "rwm",
      }], 252),
    ),
    [
      ["DevicePolicy", "strict"],
      ["DeviceAllow", []],
    ],
  );
  assertEquals(deviceProperties([], 252), []);
});

Deno.test("annotations: names, GVariant values, Sec to USec", () => {
  const props = annotationProperties({
    "org.systemd.property.MemoryHigh": "uint64 1048576",
    "org.systemd.property.CPUWeight": "@t 50",
    "org.systemd.property.Delegate": "true",
    "org.systemd.property.RuntimeMaxSec": "1.5",
    "org.systemd.property.After": "['a.service', 'b.service']",
  });
  assertEquals(props.map(([n, v]) => [n, v.signature, v.value]), [
    ["MemoryHigh", "t", 1048576n],
    ["CPUWeight", "t", 50n],
    ["Delegate", "b", true],
    ["RuntimeMaxUSec", "t", 1500000n],
    ["After", "as", ["a.service", "b.service"]],
  ]);
  const field = 'annotations["org.systemd.property.lower"]';
  throws(
    () => annotationProperties({ "org.systemd.property.lower": "1" }),
    cgErr(field, /property name/),
  );
  const f2 = 'annotations["org.systemd.property.X"]';
  throws(
    () => annotationProperties({ "org.systemd.property.X": "'open" }),
    cgErr(f2, /unterminated/),
  );
  throws(
    () => annotationProperties({ "org.systemd.property.X": "uint8 3" }),
    cgErr(f2, /unknown word/),
  );
  throws(() => annotationProperties({ "org.systemd.property.TimeoutSec": "'x'" }), CgroupError);
});

Deno.test("parseGVariant: typed literals and errors", () => {
  assertEquals(parseGVariant("int32 -5").value, -5);
  assertEquals(parseGVariant("5000000000").signature, "x");
  assertEquals(parseGVariant("@ay [1, 2]").value, Uint8Array.from([1, 2]));
  assertEquals(parseGVariant("<'x'>").signature, "v");
  throws(() => parseGVariant("[]"), /empty array/);
  throws(() => parseGVariant("uint32 -1"), /out of range/);
  throws(() => parseGVariant("[1, 'a']"), /where i is wanted/);
  throws(() => parseGVariant("1 2"), /trailing/);
});
