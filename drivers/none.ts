/**
 * The driver for containers without cgroups (rootless without cgroup delegation):
 * nothing is created, and any resource limit is refused rather than ignored.
 *
 * @module
 */

import type { LinuxResources } from "../spec/config.ts";
import type { CgroupManager, CgroupView, DriverCapabilities, DriverState } from "./driver.ts";
import type { CgroupEvent } from "../cgroups/events.ts";
import { CgroupError } from "../errors.ts";
import type { CgroupStats } from "../cgroups/stats.ts";

const NO_CGROUP = "the container runs without cgroups (rootless, no cgroup delegation)";

/**
 * A manager that manages nothing.
 *
 * @example Limits are refused, naming the field
 * ```ts
 * import assert from "node:assert/strict";
 * import { NoCgroupManager } from "./none.ts";
 * import { CgroupError } from "../errors.ts";
 * const m = new NoCgroupManager();
 * await m.set({}); // nothing asked, nothing to do
 * await assert.rejects(
 *   m.set({ pids: { limit: 10 } }),
 *   (e) => e instanceof CgroupError && e.field === "linux.resources.pids.limit",
 * );
 * ```
 */
export class NoCgroupManager implements CgroupManager {
  /** The driver's name in the state. */
  readonly driver = "none" as const;
  /** Nothing tracked, nothing frozen, no device rules, no events. */
  readonly capabilities: DriverCapabilities = Object.freeze({
    limitsBeforePid: true,
    processes: false,
    freezer: false,
    deviceRules: false,
    events: false,
  });
  readonly #layout: CgroupView["layout"];

  /**
   * A manager without cgroups. `layout` is what the container sees at
   * `/sys/fs/cgroup`: the host's layout with nothing bound in it (an empty tmpfs
   * for `v1`, a fresh cgroup2 only with a cgroup namespace for `v2`), or `none`
   * (the default: nothing mounted).
   */
  constructor(opts: { layout?: CgroupView["layout"] } = {}) {
    this.#layout = opts.layout ?? "none";
  }

  /** The layout given to the constructor, with nothing to bind. */
  view(): CgroupView {
    return { layout: this.#layout, mounts: {} };
  }

  /** Only the driver's name. */
  saved(): DriverState {
    return { driver: this.driver, paths: {} };
  }

  /** No paths. */
  paths(): Record<string, string> {
    return {};
  }

  /** Does nothing (the pid stays where it is). */
  apply(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) {
      return Promise.reject(new RangeError(`invalid pid ${pid}`));
    }
    return Promise.resolve();
  }

  /** Accepts empty resources; throws `CgroupError` naming the first field that asks for something. */
  async set(resources: LinuxResources): Promise<void> {
    const { firstResourceField } = await import("../cgroups/resources.ts");
    const field = firstResourceField(resources);
    if (field !== undefined) throw new CgroupError(field, `cannot be applied: ${NO_CGROUP}`);
  }

  /** Cannot freeze without a cgroup. */
  freeze(frozen: boolean): Promise<void> {
    return Promise.reject(
      new CgroupError("freezer", `cannot ${frozen ? "freeze" : "thaw"}: ${NO_CGROUP}`),
    );
  }

  /** Never frozen. */
  frozen(): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** No cgroup, no pids known. */
  pids(): Promise<number[]> {
    return Promise.resolve([]);
  }

  /** Cannot find every process without a cgroup: the caller must signal the init process itself. */
  killAll(_signal: number): Promise<void> {
    return Promise.reject(new CgroupError("cgroup", `cannot signal all processes: ${NO_CGROUP}`));
  }

  /** All zeros. */
  async stats(): Promise<CgroupStats> {
    const { emptyStats } = await import("../cgroups/stats.ts");
    return emptyStats();
  }

  /** No events ever. */
  async *events(): AsyncIterable<CgroupEvent> {}

  /** Never exists. */
  exists(): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** Nothing to create. */
  create(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to remove. */
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}
