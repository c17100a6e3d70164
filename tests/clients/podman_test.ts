// podman (Debian's 4.3.1, through conmon) end to end with `--runtime dist/nsinit`: import the
// busybox rootfs as an image, run, exec (with --user/--workdir/--env and a terminal),
// pause/unpause, stop, rm. All of podman's storage and state live in a temp dir (--root,
// --runroot, --tmpdir, HOME), the containers get no network (--network none: no CNI bridge or
// iptables rules on the host), their cgroups sit below this process's (--cgroup-parent, relative,
// with --cgroups no-conmon so conmon is not moved out of it). Everything is removed afterwards.
// Install the client with scripts/install_client_deps.sh.
import assert from "node:assert/strict";
import { makeTempDir } from "../helpers/paths.ts";
import { rootfsPath } from "../helpers/rootfs.ts";
import { run, type RunResult } from "../helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "../helpers/skip.ts";
import { uniqueId } from "../helpers/ids.ts";
import { cgroupDirs, exists, removeCgroupTree } from "../conformance/harness.ts";
import {
  ClientRecorder,
  HostPaths,
  killByCmdline,
  nsinitBinary,
  recordedStep,
  unmountUnder,
} from "./helpers.ts";
import { criuProblem } from "../checkpoint/helpers.ts";

const BIN = nsinitBinary();
const ignore = skipUnless(isRoot(), "podman runs real containers: needs root") ||
  skipUnless(
    hasCommand("podman") && hasCommand("conmon"),
    "podman/conmon not installed (run scripts/install_client_deps.sh)",
  ) ||
  skipUnless(BIN !== undefined, "dist/nsinit not built (deno task build)");

Deno.test({
  name: "podman 4 (conmon) runs containers with --runtime dist/nsinit",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const rec = new ClientRecorder("podman", "podman");
    const version = await run("podman", ["--version"]);
    rec.client = `${version.stdout.trim()} (--runtime dist/nsinit, via conmon)`;
    // Root's blob-info cache goes to /var/lib/containers whatever --root says.
    // podman runs the runtime with its default state root: /run/nsinit appears (as
    // /run/runc does for runc) if it was not there.
    const host = new HostPaths([
      "/var/lib/containers",
      "/var/lib/containers/cache",
      "/run/libpod",
      "/run/nsinit",
    ]);
    await using tmp = await makeTempDir("podman");
    const T = tmp.path;
    for (const d of ["home", "tmp", "net", "vol", "libpod-tmp"]) await Deno.mkdir(`${T}/${d}`);
    const cgroupParent = `nsinit-test-${uniqueId("podman")}`;
    const env = { HOME: `${T}/home`, TMPDIR: `${T}/tmp`, XDG_CONFIG_HOME: `${T}/home/.config` };
    const podman = (args: string[], opts: { timeoutMs?: number } = {}) =>
      run("podman", [
        "--root",
        `${T}/root`,
        "--runroot",
        `${T}/runroot`,
        "--tmpdir",
        `${T}/libpod-tmp`,
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
        "--network-config-dir",
        `${T}/net`,
        "--volumepath",
        `${T}/vol`,
        "--runtime",
        BIN!,
        ...args,
      ], { env, cwd: T, timeoutMs: opts.timeoutMs ?? 90_000 });
    // This host's bounding set lacks CAP_SYS_RESOURCE, so podman's default rlimits for root
    // (nofile and nproc 1048576, above the hard limits podman and conmon run with) cannot be set
    // by any runtime (runc fails the same way): ask for small ones.
    const runFlags = [
      "--network",
      "none",
      "--cgroups",
      "no-conmon",
      "--cgroup-parent",
      cgroupParent,
      "--ulimit",
      "nofile=1024:1024",
      "--ulimit",
      "nproc=1024:1024",
    ];
    const image = "localhost/nsinit-test-busybox:test";
    const check = (r: RunResult, what: string, code = 0) =>
      assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    try {
      const tar = `${T}/rootfs.tar`;
      check(
        await run("tar", ["--numeric-owner", "-C", await rootfsPath(), "-cf", tar, "."]),
        "tar rootfs",
      );
      check(await podman(["import", tar, image]), "podman import");

      await recordedStep(
        t,
        rec,
        "podman run --rm IMAGE echo hi; exit code",
        "create --bundle B --pid-file P ID (conmon); start ID; state ID; delete --force ID",
        async () => {
          const r = await podman(["run", "--rm", ...runFlags, image, "echo", "hi"]);
          check(r, "podman run");
          assert.equal(r.stdout, "hi\n");
          const code = await podman(["run", "--rm", ...runFlags, image, "sh", "-c", "exit 3"]);
          check(code, "podman run (exit 3)", 3);
        },
      );

      await recordedStep(
        t,
        rec,
        "podman run -d, exec (plain, --user/--workdir/--env, exit code), exec -t, pause/unpause, stop, rm",
        "exec --process F --detach --pid-file P (conmon); pause; resume; kill ID TERM/KILL; delete --force",
        async () => {
          const name = uniqueId("pd");
          check(
            await podman(["run", "-d", "--name", name, ...runFlags, image, "sleep", "1000"]),
            "podman run -d",
          );
          try {
            const ex = await podman(["exec", name, "sh", "-c", "echo exec-ok"]);
            check(ex, "podman exec");
            assert.equal(ex.stdout, "exec-ok\n");
            const ex2 = await podman([
              "exec",
              "--user",
              "1000:1000",
              "--workdir",
              "/tmp",
              "--env",
              "FOO=bar",
              name,
              "sh",
              "-c",
              'echo "$FOO $(pwd) $(id -u):$(id -g)"; exit 7',
            ]);
            check(ex2, "podman exec --user --workdir --env", 7);
            assert.equal(ex2.stdout, "bar /tmp 1000:1000\n");
            if (hasCommand("script")) {
              const cmd =
                `podman --root ${T}/root --runroot ${T}/runroot --tmpdir ${T}/libpod-tmp ` +
                `--storage-driver vfs --cgroup-manager cgroupfs --events-backend none ` +
                `--network-config-dir ${T}/net --volumepath ${T}/vol --runtime ${BIN} ` +
                `exec -t ${name} sh -c 'tty; echo tty-ok'`;
              const tty = await run("script", ["-qec", cmd, "/dev/null"], {
                env,
                cwd: T,
                timeoutMs: 60_000,
              });
              check(tty, "podman exec -t");
              assert.match(tty.stdout, /\/dev\/pts\/\d+/);
              assert.match(tty.stdout, /tty-ok/);
            }
            check(await podman(["pause", name]), "podman pause");
            const paused = await podman(["inspect", "--format", "{{.State.Status}}", name]);
            assert.equal(paused.stdout.trim(), "paused");
            check(await podman(["unpause", name]), "podman unpause");
            const running = await podman(["inspect", "--format", "{{.State.Status}}", name]);
            assert.equal(running.stdout.trim(), "running");
            check(await podman(["stop", "-t", "1", name]), "podman stop");
            const exited = await podman(["inspect", "--format", "{{.State.Status}}", name]);
            assert.equal(exited.stdout.trim(), "exited");
          } finally {
            await podman(["rm", "-f", name]);
          }
          const left = await podman(["ps", "-a", "-q"]);
          assert.equal(left.stdout.trim(), "", "containers left");
        },
      );

      await recordedStep(
        t,
        rec,
        "podman container checkpoint / restore of a counting container",
        "checkpoint --image-path I --work-path W ID; restore --image-path I --work-path W " +
          "--bundle B --pid-file P --detach ID (conmon)",
        async () => {
          const noCriu = await criuProblem();
          if (noCriu) return noCriu;
          const name = uniqueId("pc");
          const loop = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done";
          check(
            await podman(["run", "-d", "--name", name, ...runFlags, image, "sh", "-c", loop]),
            "podman run -d (counter)",
          );
          const count = async () => {
            const r = await podman(["exec", name, "cat", "/tmp/n"]);
            check(r, "podman exec cat /tmp/n");
            return Number(r.stdout.trim());
          };
          try {
            await new Promise((r) => setTimeout(r, 1000));
            check(await podman(["container", "checkpoint", name]), "podman container checkpoint");
            const state = await podman(["inspect", "--format", "{{.State.Status}}", name]);
            assert.equal(state.stdout.trim(), "exited");
            check(await podman(["container", "restore", name]), "podman container restore");
            const first = await count();
            assert.ok(first >= 5, `the counter restarted: ${first}`);
            await new Promise((r) => setTimeout(r, 600));
            const later = await count();
            assert.ok(later > first, `the restored counter does not count: ${first} -> ${later}`);
          } finally {
            await podman(["rm", "-f", name]);
          }
          return undefined;
        },
      );

      await recordedStep(
        t,
        rec,
        "podman run --user 1000:1000 (non-root process.user)",
        "create --bundle B ID; start ID",
        async () => {
          const r = await podman([
            "run",
            "--rm",
            "--user",
            "1000:1000",
            ...runFlags,
            image,
            "id",
            "-u",
          ]);
          if (r.code !== 0 || r.stdout.trim() !== "1000") {
            return `known failure: ${
              r.stderr.trim().split("\n").at(-1)
            } (nsinit's exec fifo is 0600: ` +
              "see runtime/start/runs-program in the clause table)";
          }
          return undefined;
        },
      );
    } finally {
      await podman(["rm", "-a", "-f"]);
      await podman(["rmi", "-a", "-f"]);
      const left = killByCmdline(T);
      if (left.length > 0) console.error(`killed leftover processes of ${T}: ${left.join(" ")}`);
      await unmountUnder(T);
      for (const d of cgroupDirs(cgroupParent).reverse()) if (exists(d)) await removeCgroupTree(d);
      const removed = await host.restore();
      if (removed.length > 0) console.error(`removed what podman made: ${removed.join(", ")}`);
      await rec.save();
    }
  },
});
