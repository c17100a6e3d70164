/**
 * The driver contract suite (tests/helpers/driver_contract.ts) against the drivers of
 * this host: cgroupfs in the host's mode (v1/hybrid here; v2 in the VM of scripts/v2vm,
 * which runs this file too) and the no-cgroup driver.
 */

import assert from "node:assert/strict";
import { driverContract } from "../tests/helpers/driver_contract.ts";
import { uniqueId } from "../tests/helpers/ids.ts";
import { isRoot } from "../tests/helpers/skip.ts";
import { readCgroupHost } from "../cgroups/paths.ts";
import { createCgroupManager, loadCgroupManager } from "./factory.ts";

const mode = (() => {
  try {
    return readCgroupHost().mode;
  } catch {
    return undefined;
  }
})();

driverContract({
  name: `cgroupfs (${mode ?? "no cgroups"} host)`,
  ...(mode === undefined
    ? { skip: "no cgroup hierarchy is mounted" }
    : !isRoot()
    ? { skip: "needs root to create cgroups" }
    : {}),
  // Below this process's own cgroup: a relative path, as runc resolves it.
  make: () => {
    const id = uniqueId("contract");
    return createCgroupManager({ id, cgroupsPath: `nsinit-test-${id}/c` });
  },
  reload: (saved) => loadCgroupManager({ id: "reloaded" }, saved),
  capabilities: {
    limitsBeforePid: true,
    processes: true,
    freezer: true,
    deviceRules: true,
    events: true,
  },
  layout: mode === "v2" ? "v2" : "v1",
  limit: {
    resources: { pids: { limit: 64 } },
    check: (stats) => assert.equal(stats.pids.limit, 64),
  },
  refused: [
    // net_cls is not mounted on this host, and cgroup v2 has none.
    { resources: { network: { classID: 1 } }, field: "linux.resources.network.classID" },
    {
      resources: { unified: { "bogus.max": "1" } },
      field: 'linux.resources.unified["bogus.max"]',
    },
  ],
});

driverContract({
  name: "none (no cgroups)",
  make: () => createCgroupManager({ id: uniqueId("contract"), driver: "none" }),
  reload: (saved) => loadCgroupManager({ id: "reloaded" }, saved),
  capabilities: {
    limitsBeforePid: true,
    processes: false,
    freezer: false,
    deviceRules: false,
    events: false,
  },
  layout: mode === undefined ? "none" : mode === "v2" ? "v2" : "v1",
  refused: [
    { resources: { pids: { limit: 64 } }, field: "linux.resources.pids.limit" },
    { resources: { memory: { limit: 1 << 26 } }, field: "linux.resources.memory.limit" },
  ],
});
