// containerd (Debian's 1.6.20) end to end with nsinit as its runtime: a private containerd
// (own root, state and socket under a temp dir; CRI disabled) runs tasks through the runc shim v2
// with `--runc-binary dist/nsinit`: ctr run (rootfs directory, and an imported OCI image on the
// native snapshotter), exec, pause/resume, ps, kill, a terminal. Everything it made is removed:
// tasks, containers, images, its processes (by pid), mounts, cgroups, /run/containerd entries.
// Install the client with scripts/install_client_deps.sh.
import assert from "node:assert/strict";
import { makeTempDir } from "../helpers/paths.ts";
import { rootfsPath } from "../helpers/rootfs.ts";
import { run, type RunResult } from "../helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "../helpers/skip.ts";
import { uniqueId } from "../helpers/ids.ts";
import { cgroupDirs, exists, removeCgroupTree, waitFor } from "../conformance/harness.ts";
import {
  ClientRecorder,
  HostPaths,
  killByCmdline,
  nsinitBinary,
  pidsWithCmdline,
  recordedStep,
  startContainerd,
  unmountUnder,
} from "./helpers.ts";
import { criuProblem } from "../checkpoint/helpers.ts";

const BIN = nsinitBinary();
const ignore = skipUnless(isRoot(), "containerd runs real containers: needs root") ||
  skipUnless(
    hasCommand("containerd") && hasCommand("ctr"),
    "containerd/ctr not installed (run scripts/install_client_deps.sh)",
  ) ||
  skipUnless(BIN !== undefined, "dist/nsinit not built (deno task build)");

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** sha256 hex of bytes. */
async function sha256(data: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data)));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Builds an OCI image archive (one uncompressed layer: `rootfs`) named `name`. */
async function ociArchive(rootfs: string, dir: string, name: string): Promise<string> {
  const layout = `${dir}/oci`;
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  const layerTar = `${dir}/layer.tar`;
  const t = await run("tar", ["--numeric-owner", "-C", rootfs, "-cf", layerTar, "."]);
  assert.equal(t.code, 0, t.stderr);
  const blob = async (bytes: Uint8Array) => {
    const digest = await sha256(bytes);
    await Deno.writeFile(`${layout}/blobs/sha256/${digest}`, bytes);
    return { digest: `sha256:${digest}`, size: bytes.length };
  };
  const layer = await blob(await Deno.readFile(layerTar));
  await Deno.remove(layerTar);
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const config = await blob(enc({
    architecture: "amd64",
    os: "linux",
    config: { Env: [PATH_ENV], Cmd: ["sh"] },
    rootfs: { type: "layers", diff_ids: [layer.digest] },
  }));
  const manifest = await blob(enc({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", ...layer }],
  }));
  await Deno.writeTextFile(`${layout}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${layout}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        platform: { architecture: "amd64", os: "linux" },
        annotations: {
          "io.containerd.image.name": name,
          "org.opencontainers.image.ref.name": "test",
        },
      }],
    }),
  );
  const archive = `${dir}/image.tar`;
  const a = await run("tar", ["-C", layout, "-cf", archive, "."]);
  assert.equal(a.code, 0, a.stderr);
  await Deno.remove(layout, { recursive: true });
  return archive;
}

Deno.test({
  name: "containerd 1.6 (ctr, runc shim v2) runs containers with dist/nsinit",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const rec = new ClientRecorder("containerd", "containerd");
    const version = await run("containerd", ["--version"]);
    rec.client = `containerd ${
      version.stdout.trim().split(/\s+/)[2] ?? "?"
    } (ctr --runc-binary dist/nsinit)`;
    const host = new HostPaths([
      "/run/containerd",
      "/run/containerd/s",
      "/opt/containerd",
      "/var/lib/containerd",
    ]);
    await using tmp = await makeTempDir("containerd");
    const T = tmp.path;
    const { sock, daemon } = await startContainerd(T);
    const rootfs = `${T}/rootfs`;
    const cgroups: string[] = [];
    const ns = uniqueId("nsinit-test");
    const ctr = (args: string[], opts: { timeoutMs?: number } = {}) =>
      run("ctr", ["-a", sock, "-n", ns, ...args], { timeoutMs: opts.timeoutMs ?? 60_000, cwd: T });
    /** `ctr run` with nsinit as the runtime, in a cgroup below this process's. */
    const runArgs = (id: string, extra: string[] = []) => {
      const cg = `nsinit-test-ctr-${id}`;
      cgroups.push(cg);
      return [
        "run",
        "--runc-binary",
        BIN!,
        "--runc-root",
        `${T}/runc-root`,
        "--fifo-dir",
        `${T}/fifo`,
        "--cgroup",
        cg,
        "--env",
        PATH_ENV,
        ...extra,
      ];
    };
    const check = (r: RunResult, what: string, code = 0) =>
      assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    try {
      assert.ok(await waitFor(() => exists(sock), 20_000), "containerd did not start");
      const cp = await run("cp", ["-a", "--", await rootfsPath(), rootfs]);
      check(cp, "copy rootfs");

      await recordedStep(
        t,
        rec,
        "ctr run --rm (rootfs directory): output and exit code",
        "create --bundle B --pid-file P ID; start ID; state ID; delete ID",
        async () => {
          const id = uniqueId("run");
          const r = await ctr([
            ...runArgs(id, ["--rm", "--rootfs"]),
            rootfs,
            id,
            "sh",
            "-c",
            "echo hello-from-nsinit; exit 3",
          ]);
          check(r, "ctr run", 3);
          assert.match(r.stdout, /hello-from-nsinit/);
        },
      );

      await recordedStep(
        t,
        rec,
        "ctr run -d, task exec, task ps, pause/resume, kill, task rm",
        "create; start; exec --process F --detach --pid-file P ID; ps --format json ID; pause ID; resume ID; kill ID SIG; kill --all ID KILL; delete ID",
        async () => {
          const id = uniqueId("task");
          check(
            await ctr([...runArgs(id, ["-d", "--rootfs"]), rootfs, id, "sleep", "1000"]),
            "ctr run -d",
          );
          try {
            const ls = await ctr(["task", "ls"]);
            assert.match(ls.stdout, new RegExp(`${id}\\s+\\d+\\s+RUNNING`), ls.stdout);
            // The shim ran nsinit, not runc: nsinit's state file (runc's has no initStartTime).
            const state = Deno.readTextFileSync(`${T}/runc-root/${ns}/${id}/state.json`);
            assert.match(state, /"initStartTime"/);
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
            assert.match(ps.stdout, /^\d+/m);
            check(await ctr(["task", "pause", id]), "task pause");
            assert.match((await ctr(["task", "ls"])).stdout, new RegExp(`${id}\\s+\\d+\\s+PAUSED`));
            check(await ctr(["task", "resume", id]), "task resume");
            assert.match(
              (await ctr(["task", "ls"])).stdout,
              new RegExp(`${id}\\s+\\d+\\s+RUNNING`),
            );
            const m = await ctr(["task", "metrics", id]);
            check(m, "task metrics");
            check(await ctr(["task", "kill", "--signal", "SIGKILL", id]), "task kill");
            assert.ok(
              await waitFor(async () => /STOPPED/.test((await ctr(["task", "ls"])).stdout), 10_000),
              "the task did not stop",
            );
          } finally {
            await ctr(["task", "rm", "-f", id]);
            await ctr(["container", "rm", id]);
          }
        },
      );

      await recordedStep(
        t,
        rec,
        "ctr task kill --all of a running task",
        "kill --all ID SIGTERM; delete ID",
        async () => {
          const id = uniqueId("killall");
          check(
            await ctr([
              ...runArgs(id, ["-d", "--rootfs"]),
              rootfs,
              id,
              "sh",
              "-c",
              "sleep 1000 & exec sleep 1000",
            ]),
            "ctr run -d",
          );
          try {
            check(
              await ctr(["task", "kill", "--all", "--signal", "SIGKILL", id]),
              "task kill --all",
            );
            assert.ok(
              await waitFor(async () => /STOPPED/.test((await ctr(["task", "ls"])).stdout), 10_000),
              "the task did not stop",
            );
          } finally {
            await ctr(["task", "rm", "-f", id]);
            await ctr(["container", "rm", id]);
          }
        },
      );

      await recordedStep(
        t,
        rec,
        "ctr run -t (a terminal: console socket)",
        "create --bundle B --pid-file P --console-socket S ID; start ID",
        async () => {
          if (!hasCommand("script")) return "script(1) is not installed (it gives ctr a terminal)";
          const id = uniqueId("tty");
          const cmd = [
            "ctr",
            "-a",
            sock,
            "-n",
            ns,
            ...runArgs(id, ["-t", "--rm", "--rootfs"]),
            rootfs,
            id,
            "sh",
            "-c",
            "tty; echo tty-ok",
          ];
          const r = await run("script", ["-qec", cmd.join(" "), "/dev/null"], {
            timeoutMs: 60_000,
            cwd: T,
          });
          check(r, "ctr run -t");
          assert.match(r.stdout, /\/dev\/pts\/\d+/);
          assert.match(r.stdout, /tty-ok/);
          return undefined;
        },
      );

      await recordedStep(
        t,
        rec,
        "ctr image import (OCI archive) + ctr run IMAGE on the native snapshotter",
        "create --bundle B (rootfs mounted by containerd) --pid-file P ID; start ID; delete ID",
        async () => {
          const image = "docker.io/library/nsinit-test-busybox:test";
          const archive = await ociArchive(rootfs, T, image);
          const imp = await ctr(["image", "import", "--snapshotter", "native", archive]);
          check(imp, "ctr image import");
          try {
            const id = uniqueId("image");
            const r = await ctr([
              ...runArgs(id, ["--rm", "--snapshotter", "native"]),
              image,
              id,
              "sh",
              "-c",
              "echo from-image; cat /etc/hostname 2>/dev/null; exit 0",
            ]);
            check(r, "ctr run IMAGE");
            assert.match(r.stdout, /from-image/);
          } finally {
            await ctr(["image", "rm", image]);
          }
        },
      );

      await recordedStep(
        t,
        rec,
        "ctr container checkpoint --task / ctr container restore --live (CRIU)",
        "checkpoint --image-path I --work-path W ID; restore --detach --pid-file P " +
          "--image-path I --work-path W --bundle B ID (shim)",
        async () => {
          const noCriu = await criuProblem();
          if (noCriu) return noCriu;
          const image = "docker.io/library/nsinit-test-busybox:ckpt";
          const archive = await ociArchive(rootfs, T, image);
          check(await ctr(["image", "import", "--snapshotter", "native", archive]), "import");
          const id = uniqueId("ckpt");
          const ref = `docker.io/library/nsinit-test-checkpoint:${id}`;
          // Written aside and renamed: a `cat` never finds the file emptied mid-write (a
          // CI run read "" as 0 once).
          const loop =
            "i=0; while :; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.1; done";
          const count = async () => {
            const r = await ctr(["task", "exec", "--exec-id", uniqueId("x"), id, "cat", "/tmp/n"]);
            check(r, "ctr task exec cat /tmp/n");
            return Number(r.stdout.trim());
          };
          try {
            check(
              await ctr([
                ...runArgs(id, ["-d", "--snapshotter", "native"]),
                image,
                id,
                "sh",
                "-c",
                loop,
              ]),
              "ctr run -d (counter)",
            );
            await new Promise((r) => setTimeout(r, 1000));
            check(await ctr(["container", "checkpoint", "--task", id, ref]), "ctr c checkpoint");
            const before = await count();
            await ctr(["task", "kill", "-s", "KILL", id]);
            await waitFor(async () => !(await ctr(["task", "delete", id])).code, 10_000);
            check(await ctr(["container", "rm", id]), "ctr c rm");
            check(await ctr(["container", "restore", "--live", id, ref]), "ctr c restore --live");
            const first = await count();
            assert.ok(first >= before - 1 && first < before + 50, `${before} -> ${first}`);
            await new Promise((r) => setTimeout(r, 600));
            const later = await count();
            assert.ok(later > first, `the restored counter does not count: ${first} -> ${later}`);
          } finally {
            await ctr(["task", "kill", "-s", "KILL", id]);
            await waitFor(async () => !(await ctr(["task", "delete", id])).code, 10_000);
            await ctr(["container", "rm", id]);
            await ctr(["image", "rm", ref, image]);
          }
          return undefined;
        },
      );
    } catch (e) {
      const log = exists(`${T}/containerd.log`) ? Deno.readTextFileSync(`${T}/containerd.log`) : "";
      console.error(`containerd log (last lines):\n${log.split("\n").slice(-30).join("\n")}`);
      throw e;
    } finally {
      // Shims exit once their tasks are deleted; let containerd (their subreaper) reap them
      // before it stops. Then stop the daemon (by pid), then anything still holding our temp dir.
      await waitFor(() => pidsWithCmdline(T).every((p) => p === daemon.pid), 5000);
      try {
        daemon.kill("SIGTERM");
      } catch {
        // gone
      }
      const stopped = await Promise.race([
        daemon.status.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
      ]);
      if (!stopped) daemon.kill("SIGKILL");
      await daemon.status;
      const shims = killByCmdline(T);
      if (shims.length > 0) console.error(`killed leftover processes of ${T}: ${shims.join(" ")}`);
      await unmountUnder(T);
      for (const cg of cgroups) {
        for (const d of cgroupDirs(cg)) if (exists(d)) await removeCgroupTree(d);
      }
      const removed = await host.restore();
      if (removed.length > 0) console.error(`removed what containerd made: ${removed.join(", ")}`);
      await rec.save();
    }
  },
});
