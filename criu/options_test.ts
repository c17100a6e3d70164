import assert from "node:assert/strict";
import { emptyNsMask, externalMounts } from "./options.ts";
import type { Spec } from "../spec/config.ts";

const spec: Spec = {
  ociVersion: "1.0.2",
  mounts: [
    { destination: "/proc", type: "proc", source: "proc" },
    { destination: "/data", type: "bind", source: "/srv/data", options: ["rbind"] },
    { destination: "/rel", source: "sub", options: ["bind"] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup" },
  ],
  linux: {
    maskedPaths: ["/proc/kcore"],
    devices: [{ path: "/dev/fuse", type: "c", major: 10, minor: 229 }],
  },
};

Deno.test("externalMounts: binds, v1 cgroup binds, masked files and devices, for dump", () => {
  const m = externalMounts(spec, {
    mode: "dump",
    bundle: "/b",
    cgroupView: { layout: "v1", mounts: { memory: "/sys/fs/cgroup/memory/c1", unified: "/u/c1" } },
    maskedFiles: ["/proc/kcore"],
  });
  const keys = m.map((x) => x.key);
  assert.deepEqual(keys.slice(0, 4), [
    "/data",
    "/rel",
    "/sys/fs/cgroup/memory",
    "/sys/fs/cgroup/unified",
  ]);
  assert.ok(m.every((x) => x.key === x.val || x.val === "/dev/null"), "dump values are keys");
  assert.deepEqual(m.find((x) => x.key === "/proc/kcore"), {
    key: "/proc/kcore",
    val: "/dev/null",
  });
  assert.ok(keys.includes("/dev/null") && keys.includes("/dev/fuse"));
});

Deno.test("externalMounts: restore maps keys to host sources; v2 binds the container's cgroup", () => {
  const m = externalMounts(spec, {
    mode: "restore",
    bundle: "/b",
    cgroupView: { layout: "v2", mounts: { "": "/sys/fs/cgroup/c2" } },
  });
  const by = Object.fromEntries(m.map((x) => [x.key, x.val]));
  assert.equal(by["/data"], "/srv/data");
  assert.equal(by["/rel"], "/b/sub");
  assert.equal(by["/sys/fs/cgroup"], "/sys/fs/cgroup/c2");
  assert.equal(by["/dev/null"], "/dev/null");
});

Deno.test("externalMounts: a cgroup namespace means a real cgroup mount, not an external one", () => {
  const withNs: Spec = { ...spec, linux: { ...spec.linux, namespaces: [{ type: "cgroup" }] } };
  const m = externalMounts(withNs, {
    mode: "dump",
    bundle: "/b",
    cgroupView: { layout: "v2", mounts: { "": "/sys/fs/cgroup/c2" } },
    devices: false,
  });
  assert.deepEqual(m.map((x) => x.key), ["/data", "/rel"]);
});

Deno.test("emptyNsMask: network only, as runc", () => {
  assert.equal(emptyNsMask([]), 0);
  assert.equal(emptyNsMask(["network"]), 0x40000000);
  assert.throws(() => emptyNsMask(["ipc"]), /namespace "ipc" is not supported/);
});
