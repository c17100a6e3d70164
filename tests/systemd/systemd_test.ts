// End-to-end tests of the systemd cgroup driver against a real systemd: the CLI with
// --systemd-cgroup, checked through systemctl and the cgroup files. They need root on a host
// whose PID 1 is systemd: on this machine scripts/suites/systemd.sh runs them inside a systemd
// booted in namespaces (scripts/systemd_ns.sh); on cgroup v2 inside the systemd VM
// (scripts/sdvm). Elsewhere they skip, saying why.
import assert from "node:assert/strict";
import { type Bundle, makeBundle } from "../helpers/bundle.ts";
import { uniqueId } from "../helpers/ids.ts";
import { nsinitCommand, run, runNsinit, type RunResult } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { cgroupDirsNamed, waitFor } from "../helpers/host.ts";
import { limitedScopeBundle, show, systemdIsInit, V2 } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "the systemd driver needs root") ||
  skipUnless(
    systemdIsInit(),
    "PID 1 is not systemd (scripts/suites/systemd.sh runs these tests inside a real systemd)",
  );

type Cli = (
  args: string[],
  opts?: { env?: Record<string, string>; timeoutMs?: number },
) => Promise<RunResult>;

/** The CLI with --systemd-cgroup on the bundle's state root. */
function cliFor(b: Bundle): Cli {
  return (args, opts = {}) =>
    runNsinit(["--root", b.stateRoot, "--systemd-cgroup", ...args], {
      pipeGraceMs: args[0] === "create" || args[0] === "exec" ? 100 : 1000,
      ...(opts.env ? { env: opts.env } : {}),
      timeoutMs: opts.timeoutMs ?? 60000,
    });
}

function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r;
}

function procCgroups(pid: number): string[] {
  return Deno.readTextFileSync(`/proc/${pid}/cgroup`).trim().split("\n");
}

function initPid(b: Bundle, id: string): number {
  return JSON.parse(Deno.readTextFileSync(`${b.stateRoot}/${id}/state.json`)).initPid;
}

/** The container's memory cgroup directory (v1) or its only directory (v2). */
function memoryDir(unit: string): string {
  const dirs = cgroupDirsNamed(unit);
  const d = V2 ? dirs[0] : dirs.find((x) => x.startsWith("/sys/fs/cgroup/memory/"));
  assert.ok(d, `no memory cgroup for ${unit} in ${dirs}`);
  return d;
}

/** Freezes systemd itself (its init.scope on v2, PID 1 in a freezer cgroup on v1) until thawed. */
async function freezeSystemd(): Promise<() => Promise<void>> {
  if (V2) {
    const own = procCgroups(1).find((l) => l.startsWith("0::"))!.slice(3);
    const file = `/sys/fs/cgroup${own}/cgroup.freeze`;
    await Deno.writeTextFile(file, "1");
    return async () => await Deno.writeTextFile(file, "0");
  }
  const dir = `/sys/fs/cgroup/freezer/${uniqueId("nsinit-test-freeze")}`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/cgroup.procs`, "1");
  await Deno.writeTextFile(`${dir}/freezer.state`, "FROZEN");
  return async () => {
    await Deno.writeTextFile(`${dir}/freezer.state`, "THAWED");
    await Deno.writeTextFile("/sys/fs/cgroup/freezer/cgroup.procs", "1");
    await Deno.remove(dir);
  };
}

Deno.test({
  name:
    "systemd driver: scope, limits in systemctl show, pause/resume, update, stats, ps, exec, kill --all, delete",
  ignore,
  async fn() {
    const id = uniqueId("sd");
    await using b = await limitedScopeBundle(id);
    const cli = cliFor(b);
    const unit = `nsinit-test-${id}.scope`;
    ok(await cli(["create", "-b", b.dir, id]), "create");
    try {
      ok(await cli(["start", id]), "start");
      const pid = initPid(b, id);
      // The init is in <slice>/<prefix>-<id>.scope in every hierarchy.
      const lines = procCgroups(pid);
      for (const l of lines) assert.match(l, new RegExp(`:/system\\.slice/${unit}$`), l);
      if (!V2) assert.ok(lines.length >= 9, `every v1 hierarchy: ${lines}`);
      const p = await show(
        unit,
        "Slice",
        "Delegate",
        "MemoryLimit",
        "MemoryMax",
        "TasksMax",
        "CPUShares",
        "CPUWeight",
        "CPUQuotaPerSecUSec",
        "CollectMode",
        "ActiveState",
      );
      assert.equal(p.Slice, "system.slice");
      assert.equal(p.Delegate, "yes");
      assert.equal(p.ActiveState, "active");
      assert.equal(V2 ? p.MemoryMax : p.MemoryLimit, String(64 << 20));
      assert.equal(p.TasksMax, "32");
      assert.equal(V2 ? p.CPUWeight : p.CPUShares, V2 ? "20" : "512");
      assert.equal(p.CPUQuotaPerSecUSec, "500ms");
      assert.equal(p.CollectMode, "inactive-or-failed");
      const mem = memoryDir(unit);
      assert.equal(
        Deno.readTextFileSync(`${mem}/${V2 ? "memory.max" : "memory.limit_in_bytes"}`).trim(),
        String(64 << 20),
      );

      // ps, stats
      const ps = ok(await cli(["ps", "--format", "json", id]), "ps");
      const pids = JSON.parse(ps.stdout) as number[];
      assert.ok(pids.includes(pid) && pids.length === 3, `ps: ${ps.stdout}`);
      const st = ok(await cli(["events", "--stats", id]), "events --stats");
      const stats = JSON.parse(st.stdout.trim().split("\n")[0]!);
      assert.equal(stats.type, "stats");
      assert.equal(stats.data.pids.current, 3);
      assert.ok(stats.data.memory.usage.usage > 0, st.stdout);

      // exec joins the scope
      const ex = ok(await cli(["exec", id, "cat", "/proc/self/cgroup"]), "exec");
      assert.deepEqual(ex.stdout.trim().split("\n"), lines, "the exec'd process is in the scope");

      // pause / resume
      ok(await cli(["pause", id]), "pause");
      const listed = JSON.parse(ok(await cli(["list", "--format", "json"]), "list").stdout);
      assert.equal(listed[0].status, "paused");
      ok(await cli(["resume", id]), "resume");
      assert.equal(JSON.parse(ok(await cli(["state", id]), "state").stdout).status, "running");

      // update: systemd's properties and the files
      ok(
        await cli([
          "update",
          "--memory",
          String(96 << 20),
          "--pids-limit",
          "40",
          "--cpu-share",
          "256",
          id,
        ]),
        "update",
      );
      const u = await show(unit, "MemoryLimit", "MemoryMax", "TasksMax", "CPUShares", "CPUWeight");
      assert.equal(V2 ? u.MemoryMax : u.MemoryLimit, String(96 << 20));
      assert.equal(u.TasksMax, "40");
      assert.equal(V2 ? u.CPUWeight : u.CPUShares, V2 ? "10" : "256");
      assert.equal(
        Deno.readTextFileSync(`${mem}/${V2 ? "memory.max" : "memory.limit_in_bytes"}`).trim(),
        String(96 << 20),
      );
      const pidsDir = V2 ? mem : cgroupDirsNamed(unit).find((d) => d.includes("/pids/"))!;
      assert.equal(Deno.readTextFileSync(`${pidsDir}/pids.max`).trim(), "40");

      // kill --all reaches every process; the container stops
      ok(await cli(["kill", "--all", id, "KILL"]), "kill --all");
      await waitFor(
        async () => JSON.parse((await cli(["state", id])).stdout).status === "stopped",
        "stopped",
        10000,
      );
    } finally {
      const d = await cli(["delete", "--force", id]);
      assert.equal(d.code, 0, d.stderr);
    }
    // delete removes the unit and every cgroup directory
    await waitFor(
      async () => (await show(unit, "LoadState")).LoadState === "not-found",
      "unit gone",
      10000,
    );
    assert.deepEqual(cgroupDirsNamed(unit), []);
    assert.deepEqual([...Deno.readDirSync(b.stateRoot)], []);
  },
});

Deno.test({
  name: "systemd driver: a 32 MB memory hog is OOM-killed and the oom event arrives",
  ignore,
  async fn() {
    const id = uniqueId("sdoom");
    await using b = await makeBundle({ id, cgroupsPath: `system.slice:nsinit-test:${id}` });
    // The hog waits for a line on a fifo, so the event listener is up before it starts.
    const fifo = `${b.dir}/go`;
    ok(await run("mkfifo", [fifo]), "mkfifo");
    b.config.mounts = [
      ...(b.config.mounts ?? []),
      { destination: "/go", type: "bind", source: fifo, options: ["bind"] },
    ];
    b.config.process!.args = [
      "sh",
      "-c",
      "read go < /go; x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    ];
    b.config.linux!.resources = {
      ...b.config.linux!.resources,
      memory: { limit: 32 << 20, ...(V2 ? {} : { swap: 32 << 20 }) },
    };
    await b.write();
    const cli = cliFor(b);
    const unit = `nsinit-test-${id}.scope`;
    ok(await cli(["create", "-b", b.dir, id]), "create");
    try {
      const limit = V2 ? "MemoryMax" : "MemoryLimit";
      assert.equal((await show(unit, limit))[limit], String(32 << 20));
      ok(await cli(["start", id]), "start");
      const [cmd, ...args] = nsinitCommand([
        "--root",
        b.stateRoot,
        "--systemd-cgroup",
        "events",
        id,
      ]);
      const events = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null", stdin: "null" })
        .spawn();
      let text = "";
      try {
        await new Promise((r) => setTimeout(r, 1500)); // the listener registers
        await Deno.writeTextFile(fifo, "go\n");
        const reader = events.stdout.pipeThrough(new TextDecoderStream()).getReader();
        const timer = setTimeout(() => reader.cancel().catch(() => {}), 30000);
        try {
          while (!/"type":"oom"/.test(text)) {
            const r = await reader.read();
            if (r.done) break;
            text += r.value;
          }
        } finally {
          clearTimeout(timer);
          await reader.cancel().catch(() => {});
        }
      } finally {
        try {
          events.kill("SIGKILL");
        } catch { /* exited */ }
        await events.status;
      }
      assert.match(text, /"type":"oom"/, `events printed: ${text}`);
      await waitFor(
        async () => JSON.parse((await cli(["state", id])).stdout).status === "stopped",
        "the hog was killed",
        10000,
      );
    } finally {
      ok(await cli(["delete", "--force", id]), "delete");
    }
    assert.deepEqual(cgroupDirsNamed(unit), []);
  },
});

Deno.test({
  name: "systemd driver: refusals leave nothing behind (same id, same unit, bad cgroupsPath)",
  ignore,
  async fn() {
    const id = uniqueId("sddup");
    await using b = await makeBundle({
      id,
      args: ["sleep", "1000"],
      cgroupsPath: `system.slice:nsinit-test:${id}`,
    });
    const cli = cliFor(b);
    const unit = `nsinit-test-${id}.scope`;
    ok(await cli(["create", "-b", b.dir, id]), "create");
    try {
      const dirs = cgroupDirsNamed(unit).sort();
      // the same id
      const again = await cli(["create", "-b", b.dir, id]);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /already exists/);
      // another id on the same unit
      const other = uniqueId("sddup2");
      const same = await cli(["create", "-b", b.dir, other]);
      assert.notEqual(same.code, 0, "a second container on one unit is refused");
      assert.match(same.stderr, new RegExp(`${unit.replace(/\./g, "\\.")} already exists`));
      assert.deepEqual([...Deno.readDirSync(b.stateRoot)].map((e) => e.name), [id]);
      assert.deepEqual(
        cgroupDirsNamed(unit).sort(),
        dirs,
        "the first container's cgroups are untouched",
      );
      assert.equal((await show(unit, "ActiveState")).ActiveState, "active");
    } finally {
      ok(await cli(["delete", "--force", id]), "delete");
    }
    for (const bad of ["/not/systemd", "system.slice:x", "bad--slice.slice:p:n"]) {
      b.config.linux!.cgroupsPath = bad;
      await b.write();
      const r = await cli(["create", "-b", b.dir, id]);
      assert.notEqual(r.code, 0, bad);
      assert.match(r.stderr, /linux\.cgroupsPath/, `${bad}: ${r.stderr}`);
      assert.deepEqual([...Deno.readDirSync(b.stateRoot)], [], `${bad}: no state left`);
    }
    b.config.linux!.cgroupsPath = `system.slice:nsinit-test:${id}`;
    b.config.annotations = { "org.systemd.property.notAName": "1" };
    await b.write();
    const r = await cli(["create", "-b", b.dir, id]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /org\.systemd\.property\.notAName/);
    assert.deepEqual([...Deno.readDirSync(b.stateRoot)], []);
    assert.deepEqual(cgroupDirsNamed(unit), []);
  },
});

Deno.test({
  name:
    "systemd driver: systemd not answering gives a D-Bus error, not a hang; delete --force still cleans up",
  ignore,
  async fn() {
    const id = uniqueId("sdgone");
    await using b = await makeBundle({
      id,
      args: ["sleep", "1000"],
      cgroupsPath: `system.slice:nsinit-test:${id}`,
    });
    const cli = cliFor(b);
    const unit = `nsinit-test-${id}.scope`;
    const env = { NSINIT_SYSTEMD_TIMEOUT_MS: "2000" };

    // 1. Its bus is gone (the socket unreachable in the runtime's mount namespace).
    const [cmd, ...rest] = [
      "unshare",
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount --bind /dev/null /run/systemd/private && exec "$@"',
      "sh",
    ];
    const bin = Deno.env.get("NSINIT_TEST_BIN") ??
      `${new URL("../../dist/nsinit", import.meta.url).pathname}`;
    const gone = await run(cmd, [
      ...rest,
      bin,
      "--root",
      b.stateRoot,
      "--systemd-cgroup",
      "create",
      "-b",
      b.dir,
      id,
    ], {
      pipeGraceMs: 100,
      timeoutMs: 30000,
    });
    assert.notEqual(gone.code, 0);
    assert.ok(!gone.timedOut);
    assert.match(gone.stderr, /D-Bus/, gone.stderr);
    assert.deepEqual([...Deno.readDirSync(b.stateRoot)], [], "no state left");
    assert.deepEqual(cgroupDirsNamed(unit), [], "no cgroup left");

    // 2. systemd hangs (frozen) while a container is created: a D-Bus timeout, then cleanup.
    let thaw = await freezeSystemd();
    let thawed = false;
    try {
      const started = Date.now();
      const r = await cli(["create", "-b", b.dir, id], { env, timeoutMs: 40000 });
      assert.ok(!r.timedOut, "never a hang");
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /D-Bus .*Timeout/, r.stderr);
      assert.ok(Date.now() - started < 30000);
    } finally {
      await thaw();
      thawed = true;
    }
    assert.ok(thawed);
    assert.deepEqual([...Deno.readDirSync(b.stateRoot)], []);
    // The request systemd took while frozen names a pid that is gone: no unit stays.
    await waitFor(
      async () => (await show(unit, "ActiveState")).ActiveState !== "active",
      "no active unit",
      10000,
    );
    await run("systemctl", ["reset-failed", unit]);
    await waitFor(() => cgroupDirsNamed(unit).length === 0, "no cgroup left", 10000);

    // 3. A running container, then systemd hangs: delete --force still removes everything.
    ok(await cli(["create", "-b", b.dir, id]), "create");
    thaw = await freezeSystemd();
    try {
      const d = await cli(["delete", "--force", id], { env, timeoutMs: 40000 });
      assert.ok(!d.timedOut, "never a hang");
      assert.equal(d.code, 0, d.stderr);
      assert.match(d.stderr, new RegExp(`D-Bus .*systemctl stop ${unit.replace(/\./g, "\\.")}`));
      assert.deepEqual([...Deno.readDirSync(b.stateRoot)], []);
      assert.deepEqual(cgroupDirsNamed(unit), [], "every cgroup directory removed");
    } finally {
      await thaw();
    }
    // systemd never heard of the delete: the unit it still lists goes as the warning says.
    ok(await run("systemctl", ["stop", unit]), "systemctl stop");
    await waitFor(
      async () => (await show(unit, "LoadState")).LoadState === "not-found",
      "unit gone",
      15000,
    );
  },
});
