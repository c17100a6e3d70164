/**
 * The cgroup driver contract: one suite of cases every `CgroupManager`
 * implementation must pass, run on the real thing (real cgroups, real processes).
 *
 * Use it from a driver's own test file, with a factory for fresh managers and the
 * capabilities the driver declares:
 *
 * ```ts ignore
 * import { driverContract } from "../tests/helpers/driver_contract.ts";
 * import { createCgroupManager, loadCgroupManager } from "./factory.ts";
 * import { uniqueId } from "../tests/helpers/ids.ts";
 *
 * driverContract({
 *   name: "systemd (v1 host)",
 *   skip: canRunSystemd() ? undefined : "needs a systemd (see ENVIRONMENT.md)",
 *   make: () => {
 *     const id = uniqueId("contract");
 *     return createCgroupManager({ id, driver: "systemd", cgroupsPath: `system.slice:nsinit:${id}` });
 *   },
 *   reload: (saved) => loadCgroupManager({ id: "reloaded" }, saved),
 *   capabilities: { limitsBeforePid: false, processes: true, freezer: true, deviceRules: true, events: true },
 *   layout: "v1",
 *   limit: { resources: { pids: { limit: 64 } }, check: (s) => assert.equal(s.pids.limit, 64) },
 *   refused: [{ resources: { unified: { "bogus.file": "1" } }, field: 'linux.resources.unified["bogus.file"]' }],
 *   gone: async (saved) => [...], // what is left of a destroyed container (a unit, directories)
 * });
 * ```
 *
 * It registers one `Deno.test` named `driver contract: <name>` whose steps are the
 * cases; with `skip` set the test is reported as ignored and the reason printed. Each
 * case makes its own manager, starts its own `sleep` processes (killed by their pid
 * in `finally`), and destroys what it created. Make every manager below the test
 * process's own cgroup (a relative `cgroupsPath`, as runc resolves it) with a unique
 * name (`tests/helpers/ids.ts`). Run it inside the systemd namespace for a systemd
 * test (pids must be pids of systemd's namespace).
 *
 * The cases, each following the declared capabilities:
 * - the manager declares exactly the capabilities given;
 * - nothing exists before `create()`/`apply()`, and destroying then is harmless;
 * - the lifecycle in the order core uses (`create`, `set`, `apply` when
 *   `limitsBeforePid`, else `apply`, `set`): the pid is listed, the limit reads back
 *   through `stats()`, the `view()` binds the manager's own directories;
 * - `apply()` refuses a pid <= 0 with a `RangeError`;
 * - `freeze`/`thaw` reach `frozen()`, or refuse with a `CgroupError`;
 * - `killAll(SIGTERM)` ends every process (two applied), SIGKILL too; a frozen
 *   cgroup stays frozen across `killAll` (of a signal the process ignores); without
 *   process tracking it refuses;
 * - `events()` ends when aborted (or at once / with a `CgroupError` without events);
 * - limits the driver cannot apply are refused with a `CgroupError` naming the field;
 * - a manager re-made from the JSON of `saved()` sees the same paths and its
 *   `destroy()` leaves nothing of what the first one created; `destroy()` twice is fine.
 *
 * @module
 */

import assert from "node:assert/strict";
import type {
  CgroupManager,
  CgroupView,
  DriverCapabilities,
  DriverState,
} from "../../drivers/driver.ts";
import type { CgroupStats } from "../../cgroups/stats.ts";
import type { LinuxResources } from "../../spec/config.ts";
import { CgroupError } from "../../errors.ts";
import { exists } from "../../util/fs.ts";
import { skipUnless } from "./skip.ts";
import { testRun } from "./paths.ts";

// Processes these cases start carry the run marker scripts/leftovers.sh looks for.
testRun();

/** What the suite needs to know about one driver. */
export interface ContractSubject {
  /** Shown in the test name, e.g. `cgroupfs v1 (hybrid host)`. */
  name: string;
  /** Why the suite cannot run here; the test is then reported as skipped with this reason. */
  skip?: string;
  /** A manager for a fresh container (nothing created yet), below the test's own cgroup. */
  make(): CgroupManager | Promise<CgroupManager>;
  /** A manager re-made from saved state, as `Factory.load` does (`loadCgroupManager`). */
  reload(saved: DriverState): CgroupManager | Promise<CgroupManager>;
  /** The capabilities the driver declares; the cases check them and follow them. */
  capabilities: DriverCapabilities;
  /** The layout `view()` reports. */
  layout: CgroupView["layout"];
  /** A limit the driver applies, checked through `stats()` after `set()`. */
  limit?: { resources: LinuxResources; check(stats: CgroupStats): void };
  /** Limits the driver must refuse, with the field the `CgroupError` names. */
  refused: { resources: LinuxResources; field: string }[];
  /**
   * What is left of a destroyed container (an empty list when nothing). Default: the
   * directories of `saved.paths` and `saved.created` that still exist.
   */
  gone?(saved: DriverState): Promise<string[]>;
}

const SIGKILL = 9;
const SIGTERM = 15;
const SIGWINCH = 28;

/** Directories of a saved state that still exist. */
function leftDirs(saved: DriverState): Promise<string[]> {
  const dirs = new Set([...Object.values(saved.paths), ...(saved.created ?? [])]);
  return Promise.resolve([...dirs].filter(exists));
}

/** A process for the cases to place: `sleep`, killed by its pid when the case ends. */
class Sleeper {
  readonly child = new Deno.Command("sleep", {
    args: ["1000"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  get pid(): number {
    return this.child.pid;
  }
  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.child.status;
  }
  /** Whether it exited within `ms`. */
  async exited(ms = 5000): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
    try {
      return await Promise.race([this.child.status.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs `fn` with a fresh manager and processes; kills and destroys everything after. */
async function withManager(
  s: ContractSubject,
  fn: (m: CgroupManager, start: () => Sleeper) => Promise<void>,
): Promise<void> {
  const m = await s.make();
  const sleepers: Sleeper[] = [];
  try {
    await fn(m, () => {
      const p = new Sleeper();
      sleepers.push(p);
      return p;
    });
  } finally {
    if (s.capabilities.freezer) await m.freeze(false).catch(() => {});
    for (const p of sleepers) await p.kill();
    await m.destroy();
  }
}

/** Places `pid` in the order core uses for this driver, with `resources` (if any). */
async function place(
  s: ContractSubject,
  m: CgroupManager,
  pid: number,
  resources?: LinuxResources,
): Promise<void> {
  if (s.capabilities.limitsBeforePid) {
    await m.create();
    if (resources) await m.set(resources);
    await m.apply(pid);
  } else {
    await m.apply(pid);
    if (resources) await m.set(resources);
  }
}

/**
 * Registers the contract suite for one driver (see the module documentation).
 */
export function driverContract(s: ContractSubject): void {
  const caps = s.capabilities;
  Deno.test({
    name: `driver contract: ${s.name}`,
    ignore: skipUnless(s.skip === undefined, `driver contract: ${s.name}: ${s.skip}`),
    async fn(t) {
      await t.step("declares the capabilities it has", async () => {
        const m = await s.make();
        assert.deepEqual({ ...m.capabilities }, caps);
        assert.equal(m.view().layout, s.layout);
      });

      await t.step("nothing exists before create/apply; destroying then is harmless", async () => {
        const m = await s.make();
        assert.equal(await m.exists(), false);
        if (caps.processes) {
          assert.deepEqual(await m.pids(), []);
          await m.killAll(SIGKILL); // no cgroup: nothing to signal, no error
        }
        await m.destroy();
        assert.deepEqual(await (s.gone ?? leftDirs)(m.saved()), []);
      });

      await t.step(
        "places a process in core's order, limits it, shows its own cgroup",
        () =>
          withManager(s, async (m, start) => {
            const p = start();
            await place(s, m, p.pid, s.limit?.resources);
            assert.equal(await m.exists(), caps.processes);
            if (caps.processes) assert.ok((await m.pids()).includes(p.pid), "the pid is listed");
            else assert.deepEqual(await m.pids(), []);
            const stats = await m.stats();
            s.limit?.check(stats);
            const view = m.view();
            assert.equal(view.layout, s.layout);
            const own = new Set(Object.values(m.paths()));
            for (const [name, dir] of Object.entries(view.mounts)) {
              assert.ok(
                own.has(dir),
                `view mount ${name} = ${dir} is not one of the manager's paths`,
              );
            }
            // create() and apply() again change nothing.
            if (caps.limitsBeforePid) await m.create();
            await m.apply(p.pid);
          }),
      );

      await t.step("apply refuses a pid <= 0", async () => {
        const m = await s.make();
        try {
          await assert.rejects(() => m.apply(0), RangeError);
          await assert.rejects(() => m.apply(-1), RangeError);
        } finally {
          await m.destroy();
        }
      });

      await t.step(
        caps.freezer ? "freezes and thaws" : "refuses to freeze",
        () =>
          withManager(s, async (m, start) => {
            const p = start();
            await place(s, m, p.pid);
            if (!caps.freezer) {
              await assert.rejects(() => m.freeze(true), CgroupError);
              assert.equal(await m.frozen(), false);
              return;
            }
            assert.equal(await m.frozen(), false);
            await m.freeze(true);
            assert.equal(await m.frozen(), true);
            await m.freeze(true); // idempotent
            await m.freeze(false);
            assert.equal(await m.frozen(), false);
          }),
      );

      await t.step(
        caps.processes ? "killAll reaches every process" : "killAll refuses without tracking",
        () =>
          withManager(s, async (m, start) => {
            const a = start();
            const b = start();
            await place(s, m, a.pid);
            await m.apply(b.pid);
            if (!caps.processes) {
              await assert.rejects(() => m.killAll(SIGTERM), CgroupError);
              return;
            }
            assert.deepEqual((await m.pids()).sort(), [a.pid, b.pid].sort());
            await m.killAll(SIGTERM);
            assert.ok(await a.exited(), "first process ended by SIGTERM");
            assert.ok(await b.exited(), "second process ended by SIGTERM");
            const c = start();
            await m.apply(c.pid);
            await m.killAll(SIGKILL);
            assert.ok(await c.exited(), "process ended by SIGKILL");
          }),
      );

      if (caps.processes && caps.freezer) {
        await t.step(
          "a frozen cgroup stays frozen across killAll",
          () =>
            withManager(s, async (m, start) => {
              const p = start();
              await place(s, m, p.pid);
              await m.freeze(true);
              // A signal the process ignores: a fatal one ends a frozen task at once on
              // cgroup v2 (and the cgroup reports "not frozen" while it dies).
              await m.killAll(SIGWINCH);
              assert.equal(await m.frozen(), true, "killAll thawed a frozen cgroup");
              await m.freeze(false);
              assert.deepEqual(await m.pids(), [p.pid]);
              await m.killAll(SIGKILL);
              assert.ok(await p.exited(), "SIGKILL after the thaw");
            }),
        );
      }

      await t.step(
        caps.events ? "events end when aborted" : "no events",
        () =>
          withManager(s, async (m, start) => {
            const p = start();
            await place(s, m, p.pid);
            const stop = new AbortController();
            const timer = setTimeout(() => stop.abort(), 300);
            const seen = [];
            try {
              for await (const e of m.events({ signal: stop.signal })) seen.push(e);
            } catch (e) {
              if (caps.events || !(e instanceof CgroupError)) throw e;
            } finally {
              clearTimeout(timer);
            }
            assert.deepEqual(seen, [], "no OOM happened");
          }),
      );

      await t.step(
        "refuses limits it cannot apply, naming the field",
        () =>
          withManager(s, async (m, start) => {
            const p = start();
            await place(s, m, p.pid);
            for (const r of s.refused) {
              await assert.rejects(() => m.set(r.resources), (e: unknown) => {
                assert.ok(e instanceof CgroupError, `${e} is not a CgroupError`);
                assert.equal(e.field, r.field);
                return true;
              });
            }
          }),
      );

      await t.step(
        "a manager re-made from saved state destroys what the first created",
        () =>
          withManager(s, async (m, start) => {
            const p = start();
            await place(s, m, p.pid, s.limit?.resources);
            const saved = JSON.parse(JSON.stringify(m.saved())) as DriverState;
            assert.equal(saved.driver, m.driver);
            const again = await s.reload(saved);
            assert.equal(again.driver, m.driver);
            assert.deepEqual(again.paths(), m.paths());
            assert.equal(await again.exists(), caps.processes);
            if (caps.processes) {
              assert.deepEqual(await again.pids(), [p.pid]);
              await again.killAll(SIGKILL);
              assert.ok(await p.exited(), "killed through the re-made manager");
            } else await p.kill();
            await again.destroy();
            await again.destroy(); // idempotent
            assert.equal(await again.exists(), false);
            assert.equal(await m.exists(), false);
            assert.deepEqual(await (s.gone ?? leftDirs)(saved), [], "left behind");
          }),
      );
    },
  });
}
