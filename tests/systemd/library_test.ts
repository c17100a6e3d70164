// The systemd driver end to end from the library (one Deno process: what the cgroup v2 VM of
// scripts/sdvm runs, where each CLI command costs ~20 s under software emulation; the systemd
// suite runs it too). The same checks as systemd_test.ts: the scope, systemctl show, the files,
// pause/resume, update, stats, pids, kill --all, the OOM event, delete, a refused duplicate.
import assert from "node:assert/strict";
import { Factory } from "../../core/factory.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { uniqueId } from "../helpers/ids.ts";
import { makeTempDir } from "../helpers/paths.ts";
import { run } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { CgroupError } from "../../errors.ts";
import { exists } from "../../util/fs.ts";
import { limitedScopeBundle, show, systemdIsInit, V2 } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "the systemd driver needs root") ||
  skipUnless(
    systemdIsInit(),
    "PID 1 is not systemd (scripts/suites/systemd.sh and scripts/sdvm run these tests in one)",
  );

Deno.test({
  name:
    "systemd driver (library): scope, limits, pause, update, stats, pids, kill all, OOM, delete",
  ignore,
  async fn() {
    await using state = await makeTempDir("sdlib-state");
    const factory = new Factory({ root: state.path });
    const id = uniqueId("sdlib");
    const unit = `nsinit-test-${id}.scope`;
    await using b = await limitedScopeBundle(id);
    const c = await factory.run(id, {
      bundle: b.dir,
      systemdCgroup: true,
      stdio: { stdin: "null", stdout: "null", stderr: "null" },
    });
    let dirs: string[] = [];
    try {
      const pid = c.persisted.initPid;
      const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).trim().split("\n");
      for (const l of lines) assert.match(l, new RegExp(`:/system\\.slice/${unit}$`), l);
      dirs = Object.values(c.cgroup.paths());
      assert.ok(dirs.every((d) => d.endsWith(`/system.slice/${unit}`)), `${dirs}`);
      assert.equal(c.cgroup.view().layout, V2 ? "v2" : "v1");
      const p = await show(
        unit,
        "Delegate",
        "MemoryMax",
        "MemoryLimit",
        "TasksMax",
        "CPUWeight",
        "CPUShares",
        "CPUQuotaPerSecUSec",
        "CollectMode",
      );
      assert.equal(p.Delegate, "yes");
      assert.equal(V2 ? p.MemoryMax : p.MemoryLimit, String(64 << 20));
      assert.equal(p.TasksMax, "32");
      assert.equal(V2 ? p.CPUWeight : p.CPUShares, V2 ? "20" : "512");
      assert.equal(p.CPUQuotaPerSecUSec, "500ms");
      assert.equal(p.CollectMode, "inactive-or-failed");
      const mem = c.cgroup.paths()[V2 ? "" : "memory"]!;
      const memFile = V2 ? "memory.max" : "memory.limit_in_bytes";
      assert.equal(Deno.readTextFileSync(`${mem}/${memFile}`).trim(), String(64 << 20));

      const pids = await c.processes();
      assert.equal(pids.length, 3, `${pids}`);
      const stats = await c.stats();
      assert.equal(stats.pids.current, 3);
      assert.ok(stats.memory.usage.usage > 0);

      await c.pause();
      assert.equal(await c.status(), "paused");
      await c.resume();
      assert.equal(await c.status(), "running");

      await c.set({ memory: { limit: 96 << 20 }, pids: { limit: 40 } });
      const u = await show(unit, "MemoryMax", "MemoryLimit", "TasksMax");
      assert.equal(V2 ? u.MemoryMax : u.MemoryLimit, String(96 << 20));
      assert.equal(u.TasksMax, "40");
      assert.equal(Deno.readTextFileSync(`${mem}/${memFile}`).trim(), String(96 << 20));

      // A second container on the same unit is refused and leaves this one alone.
      const other = uniqueId("sdlib2");
      await assert.rejects(
        () =>
          factory.run(other, {
            bundle: b.dir,
            systemdCgroup: true,
            stdio: { stdin: "null", stdout: "null", stderr: "null" },
          }),
        (e: unknown) => e instanceof CgroupError && /already exists/.test(e.message),
      );
      assert.equal((await show(unit, "ActiveState")).ActiveState, "active");
      assert.deepEqual(await c.processes(), pids);

      await c.signal(9, { all: true });
      await c.wait();
      assert.equal(await c.status(), "stopped");
    } finally {
      await c.destroy({ force: true });
    }
    for (let i = 0; i < 100 && (await show(unit, "LoadState")).LoadState !== "not-found"; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await show(unit, "LoadState")).LoadState, "not-found");
    assert.deepEqual(dirs.filter(exists), []);

    // A 32 MB memory hog is OOM-killed and the event arrives.
    const hog = uniqueId("sdoom");
    b.config.process!.args = [
      "sh",
      "-c",
      "read go; x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    ];
    b.config.linux!.cgroupsPath = `system.slice:nsinit-test:${hog}`;
    b.config.linux!.resources = { memory: { limit: 32 << 20, ...(V2 ? {} : { swap: 32 << 20 }) } };
    await b.write();
    const h = await factory.run(hog, {
      bundle: b.dir,
      systemdCgroup: true,
      stdio: { stdin: "piped", stdout: "null", stderr: "null" },
    });
    try {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 60000);
      const events = h.cgroup.events({ signal: abort.signal })[Symbol.asyncIterator]();
      const first = events.next();
      // The watcher reads its baseline first (slowly under emulation): start the hog after it.
      await new Promise((r) => setTimeout(r, 3000));
      const w = h.init!.stdin!.getWriter();
      await w.write(new TextEncoder().encode("go\n"));
      const ev = await first;
      clearTimeout(timer);
      abort.abort();
      assert.equal(ev.done, false, "no event before the timeout");
      assert.equal(ev.value?.type, "oom");
      await w.close().catch(() => {});
      await h.wait();
    } finally {
      await h.destroy({ force: true });
    }
  },
});

Deno.test({
  name: "systemd driver (library): one D-Bus connection, reopened after systemd re-executes",
  ignore,
  async fn() {
    await using state = await makeTempDir("sdlib-reexec");
    const factory = new Factory({ root: state.path });
    await using b = await makeBundle({ args: ["true"], cgroupsPath: null });
    const runOne = async () => {
      const id = uniqueId("sdre");
      b.config.linux!.cgroupsPath = `system.slice:nsinit-test:${id}`;
      await b.write();
      const c = await factory.run(id, {
        bundle: b.dir,
        systemdCgroup: true,
        stdio: { stdin: "null", stdout: "null", stderr: "null" },
      });
      await c.wait();
      await c.destroy();
      assert.equal(
        (await show(`nsinit-test-${id}.scope`, "LoadState")).LoadState,
        "not-found",
      );
    };
    await runOne();
    // daemon-reexec closes every D-Bus connection to systemd; the next call reconnects.
    const r = await run("systemctl", ["daemon-reexec"], { timeoutMs: 120000 });
    assert.equal(r.code, 0, r.stderr);
    await runOne();
  },
});
