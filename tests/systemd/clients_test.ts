// podman (--cgroup-manager systemd) and containerd (ctr --runc-systemd-cgroup, what
// `SystemdCgroup = true` makes the runc shim pass) driving dist/nsinit with the systemd driver,
// against a real systemd: scripts/suites/systemd.sh runs this inside systemd booted in
// namespaces. The same checks as tests/clients/ (run, exit code, exec, pause/resume, kill, rm),
// plus: the container is in the scope its client named, and every unit is gone afterwards.
// Everything both clients make lives in a temp dir; their processes are ended by pid.
import assert from "node:assert/strict";
import { makeTempDir } from "../helpers/paths.ts";
import { rootfsPath } from "../helpers/rootfs.ts";
import { run, type RunResult } from "../helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "../helpers/skip.ts";
import { uniqueId } from "../helpers/ids.ts";
import { exists, waitFor } from "../conformance/harness.ts";
import { killByCmdline, nsinitBinary, startContainerd, unmountUnder } from "../clients/helpers.ts";
import { systemdIsInit } from "./helpers.ts";

const BIN = nsinitBinary();

const base = skipUnless(isRoot(), "clients run real containers: needs root") ||
  skipUnless(
    systemdIsInit(),
    "PID 1 is not systemd (scripts/suites/systemd.sh runs these tests inside a real systemd)",
  ) ||
  skipUnless(BIN !== undefined, "dist/nsinit not built (deno task build)");

const check = (r: RunResult, what: string, code = 0) =>
  assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);

/** Units whose name contains `part`, as systemd lists them (any state). */
async function units(part: string): Promise<string[]> {
  const r = await run("systemctl", ["list-units", "--all", "--plain", "--no-legend", "--no-pager"]);
  return r.stdout.split("\n").map((l) => l.trim().split(/\s+/)[0]!).filter((u) => u.includes(part));
}

function cgroupOf(pid: number): string {
  const line = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n").find((l) =>
    l.includes(":name=systemd:") || l.startsWith("0::")
  )!;
  return line.slice(line.lastIndexOf(":") + 1);
}

Deno.test({
  name: "podman --cgroup-manager systemd runs containers with dist/nsinit --systemd-cgroup",
  ignore: base ||
    skipUnless(hasCommand("podman") && hasCommand("conmon"), "podman/conmon not installed"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await makeTempDir("podman-sd");
    const T = tmp.path;
    for (const d of ["home", "tmp", "net", "vol", "libpod-tmp"]) await Deno.mkdir(`${T}/${d}`);
    const env = { HOME: `${T}/home`, TMPDIR: `${T}/tmp`, XDG_CONFIG_HOME: `${T}/home/.config` };
    const podman = (args: string[]) =>
      run("podman", [
        ...["--root", `${T}/root`, "--runroot", `${T}/runroot`, "--tmpdir", `${T}/libpod-tmp`],
        ...["--storage-driver", "vfs", "--cgroup-manager", "systemd", "--events-backend", "none"],
        ...["--network-config-dir", `${T}/net`, "--volumepath", `${T}/vol`, "--runtime", BIN!],
        ...args,
      ], { env, cwd: T, timeoutMs: 90_000 });
    const runFlags = [
      ...["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"],
    ];
    const image = "localhost/nsinit-test-busybox:test";
    try {
      const tar = `${T}/rootfs.tar`;
      check(
        await run("tar", ["--numeric-owner", "-C", await rootfsPath(), "-cf", tar, "."]),
        "tar",
      );
      check(await podman(["import", tar, image]), "podman import");

      const once = await podman(["run", "--rm", ...runFlags, image, "sh", "-c", "exit 3"]);
      check(once, "podman run (exit 3)", 3);

      const name = uniqueId("pd");
      const started = await podman([
        "run",
        "-d",
        "--name",
        name,
        ...runFlags,
        image,
        "sleep",
        "1000",
      ]);
      check(started, "podman run -d");
      const id = started.stdout.trim();
      try {
        // The runtime made podman's scope: machine.slice/libpod-<id>.scope, by nsinit.
        const pid = Number((await podman(["inspect", "--format", "{{.State.Pid}}", name])).stdout);
        assert.equal(cgroupOf(pid), `/machine.slice/libpod-${id}.scope`);
        const desc = await run("systemctl", [
          "show",
          `libpod-${id}.scope`,
          "--property=Description",
        ]);
        assert.match(desc.stdout, /nsinit container/);
        const ex = await podman(["exec", name, "sh", "-c", "echo exec-ok; exit 7"]);
        check(ex, "podman exec", 7);
        assert.equal(ex.stdout, "exec-ok\n");
        check(await podman(["pause", name]), "podman pause");
        assert.equal(
          (await podman(["inspect", "--format", "{{.State.Status}}", name])).stdout.trim(),
          "paused",
        );
        check(await podman(["unpause", name]), "podman unpause");
        check(await podman(["stop", "-t", "1", name]), "podman stop");
        assert.equal(
          (await podman(["inspect", "--format", "{{.State.Status}}", name])).stdout.trim(),
          "exited",
        );
      } finally {
        await podman(["rm", "-f", name]);
      }
      assert.deepEqual(await units(id), [], "every unit of the container is gone");
    } finally {
      await podman(["rm", "-a", "-f"]);
      await podman(["rmi", "-a", "-f"]);
      const left = killByCmdline(T);
      if (left.length > 0) console.error(`killed leftover processes of ${T}: ${left.join(" ")}`);
      await unmountUnder(T);
    }
  },
});

Deno.test({
  name: "containerd (ctr --runc-systemd-cgroup, runc shim v2) runs containers with dist/nsinit",
  ignore: base ||
    skipUnless(hasCommand("containerd") && hasCommand("ctr"), "containerd/ctr not installed"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using tmp = await makeTempDir("containerd-sd");
    const T = tmp.path;
    const { sock, daemon } = await startContainerd(T);
    const ns = uniqueId("nsinit-test");
    const ctr = (args: string[]) =>
      run("ctr", ["-a", sock, "-n", ns, ...args], { timeoutMs: 60_000, cwd: T });
    const rootfs = `${T}/rootfs`;
    const runArgs = (id: string, extra: string[]) => [
      "run",
      ...["--runc-binary", BIN!, "--runc-systemd-cgroup", "--runc-root", `${T}/runc-root`],
      ...["--fifo-dir", `${T}/fifo`, "--cgroup", `system.slice:nsinit-test-ctr:${id}`],
      ...["--env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", ...extra, "--rootfs", rootfs, id],
    ];
    try {
      assert.ok(await waitFor(() => exists(sock), 20_000), "containerd did not start");
      check(await run("cp", ["-a", "--", await rootfsPath(), rootfs]), "copy rootfs");

      const once = uniqueId("run");
      const r = await ctr([...runArgs(once, ["--rm"]), "sh", "-c", "echo hello; exit 3"]);
      check(r, "ctr run", 3);
      assert.match(r.stdout, /hello/);

      const id = uniqueId("task");
      check(
        await ctr([...runArgs(id, ["-d"]), "sh", "-c", "sleep 1000 & exec sleep 1000"]),
        "ctr run -d",
      );
      const unit = `nsinit-test-ctr-${id}.scope`;
      try {
        const state = JSON.parse(Deno.readTextFileSync(`${T}/runc-root/${ns}/${id}/state.json`));
        assert.equal(state.cgroup.driver, "systemd", "the shim ran nsinit with --systemd-cgroup");
        assert.equal(cgroupOf(state.initPid), `/system.slice/${unit}`);
        const ex = await ctr([
          "task",
          "exec",
          "--exec-id",
          "e1",
          id,
          "sh",
          "-c",
          "echo exec-ok; exit 5",
        ]);
        check(ex, "task exec", 5);
        assert.match(ex.stdout, /exec-ok/);
        const ps = await ctr(["task", "ps", id]);
        check(ps, "task ps");
        assert.equal(ps.stdout.trim().split("\n").length, 3, ps.stdout);
        check(await ctr(["task", "pause", id]), "task pause");
        assert.match((await ctr(["task", "ls"])).stdout, new RegExp(`${id}\\s+\\d+\\s+PAUSED`));
        check(await ctr(["task", "resume", id]), "task resume");
        check(await ctr(["task", "metrics", id]), "task metrics");
        check(await ctr(["task", "kill", "--all", "--signal", "SIGKILL", id]), "task kill --all");
        assert.ok(
          await waitFor(async () => /STOPPED/.test((await ctr(["task", "ls"])).stdout), 10_000),
          "the task did not stop",
        );
      } finally {
        await ctr(["task", "rm", "-f", id]);
        await ctr(["container", "rm", id]);
      }
      assert.deepEqual(await units("nsinit-test-ctr-"), [], "every unit is gone");
    } finally {
      for (const c of (await ctr(["container", "ls", "-q"])).stdout.split("\n").filter((x) => x)) {
        await ctr(["task", "rm", "-f", c]);
        await ctr(["container", "rm", c]);
      }
      try {
        daemon.kill("SIGTERM");
      } catch { /* exited */ }
      await daemon.status;
      const left = killByCmdline(T);
      if (left.length > 0) console.error(`killed leftover processes of ${T}: ${left.join(" ")}`);
      await unmountUnder(T);
    }
  },
});
