/**
 * The driver contract suite (tests/helpers/driver_contract.ts) against what an unprivileged
 * runtime gets: the auto choice of `createCgroupManager({ rootless: true })`, which is the
 * cgroupfs driver when the container's cgroup falls in a subtree delegated to the caller. It
 * runs as the unprivileged test user inside such a subtree: tests/v2/rootless_v2_test.ts
 * starts it that way in the cgroup v2 VM (scripts/v2vm). Anywhere else it is skipped with the
 * reason (the no-cgroup driver a rootless runtime gets without delegation has its own run in
 * drivers/contract_test.ts).
 */

import assert from "node:assert/strict";
import { driverContract } from "../tests/helpers/driver_contract.ts";
import { uniqueId } from "../tests/helpers/ids.ts";
import { createCgroupManager, loadCgroupManager } from "./factory.ts";

async function why(): Promise<string | undefined> {
  if (Deno.uid() === 0) {
    return "runs as an unprivileged user (tests/v2/rootless_v2_test.ts starts it)";
  }
  if (Deno.env.get("NSINIT_DELEGATED_CGROUP") !== "1") {
    return "needs a cgroup v2 subtree delegated to this user (tests/v2/rootless_v2_test.ts)";
  }
  const probe = await createCgroupManager({ id: uniqueId("probe"), rootless: true });
  if (probe.driver !== "cgroupfs") return `no delegated cgroup found (driver ${probe.driver})`;
  return undefined;
}
const skip = await why();

driverContract({
  name: "rootless: cgroupfs in a delegated cgroup v2 subtree",
  ...(skip ? { skip } : {}),
  make: () => createCgroupManager({ id: uniqueId("contract"), rootless: true }),
  reload: (saved) => loadCgroupManager({ id: "reloaded", rootless: true }, saved),
  capabilities: {
    limitsBeforePid: true,
    processes: true,
    freezer: true,
    deviceRules: true,
    events: true,
  },
  layout: "v2",
  limit: {
    resources: { pids: { limit: 64 } },
    check: (stats) => assert.equal(stats.pids.limit, 64),
  },
  refused: [
    { resources: { network: { classID: 1 } }, field: "linux.resources.network.classID" },
  ],
});
