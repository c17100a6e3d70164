/**
 * The driver contract suite (tests/helpers/driver_contract.ts) against the systemd driver and a
 * real systemd: scripts/suites/systemd.sh runs it inside systemd booted in namespaces (cgroup v1,
 * hybrid); elsewhere it skips, saying why.
 */

import assert from "node:assert/strict";
import { driverContract } from "../helpers/driver_contract.ts";
import { uniqueId } from "../helpers/ids.ts";
import { isRoot } from "../helpers/skip.ts";
import { run } from "../helpers/run.ts";
import { readCgroupHost } from "../../cgroups/paths.ts";
import { createCgroupManager, loadCgroupManager } from "../../drivers/factory.ts";
import type { DriverState } from "../../drivers/driver.ts";
import { exists } from "../../util/fs.ts";
import { systemdIsInit } from "./helpers.ts";

const mode = (() => {
  try {
    return readCgroupHost().mode;
  } catch {
    return undefined;
  }
})();

/** The unit (while systemd still knows it) and the directories left of a destroyed container. */
async function gone(saved: DriverState): Promise<string[]> {
  const left = [...new Set([...Object.values(saved.paths), ...(saved.created ?? [])])]
    .filter((d) => exists(d));
  const unit = String(saved.extra?.unit);
  const r = await run("systemctl", ["show", unit, "--property=LoadState"]);
  if (!r.stdout.includes("LoadState=not-found")) left.push(`unit ${unit}: ${r.stdout.trim()}`);
  return left;
}

driverContract({
  name: `systemd (${mode ?? "no cgroups"} host)`,
  ...(!isRoot()
    ? { skip: "the systemd driver needs root" }
    : !systemdIsInit()
    ? { skip: "PID 1 is not systemd (scripts/suites/systemd.sh runs this inside a real systemd)" }
    : {}),
  make: () => {
    const id = uniqueId("contract");
    return createCgroupManager({
      id,
      driver: "systemd",
      cgroupsPath: `system.slice:nsinit-test:${id}`,
    });
  },
  reload: (saved) => loadCgroupManager({ id: "reloaded" }, saved),
  capabilities: {
    limitsBeforePid: false,
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
    {
      resources: { unified: { "bogus.max": "1" } },
      field: 'linux.resources.unified["bogus.max"]',
    },
  ],
  gone,
});
