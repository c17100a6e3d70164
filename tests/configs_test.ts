// End-to-end: the configs other tools write (tests/fixtures/configs, captured from runc spec,
// crun spec, podman and containerd by scripts/make_config_fixtures.sh) and runtime-spec 1.3
// configs, each run with runc and with dist/nsinit (and the library), compared.
import assert from "node:assert/strict";
import { Factory } from "../mod.ts";
import type { Spec } from "../spec/config.ts";
import { type Bundle, makeBundle } from "./helpers/bundle.ts";
import { runToExit } from "./helpers/container.ts";
import { uniqueId } from "./helpers/ids.ts";
import { makeTempDir, REPO_ROOT, testRun } from "./helpers/paths.ts";
import { run, type RunResult } from "./helpers/run.ts";
import { hasCommand, isRoot, skipIf, skipUnless } from "./helpers/skip.ts";
import { exists } from "../util/fs.ts";
import { cannotRunAsTestUser, runAs, runNsinitAs, testUser } from "./helpers/user.ts";

const NSINIT = `${REPO_ROOT}/dist/nsinit`;
const FIXTURES = `${REPO_ROOT}/tests/fixtures/configs`;
const ignore = skipUnless(isRoot(), "real containers need root") ||
  skipUnless(hasCommand("runc"), "runc is not installed (scripts/install_test_deps.sh)") ||
  skipUnless(
    (() => {
      try {
        return Deno.statSync(NSINIT).isFile;
      } catch {
        return false;
      }
    })(),
    "dist/nsinit is not built (deno task build)",
  );

function appArmorEnabled(): boolean {
  try {
    return Deno.readTextFileSync("/sys/module/apparmor/parameters/enabled").trim() === "Y";
  } catch {
    return false;
  }
}

/** What a container printed, and how it ended, under one runtime. */
interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bundle's config.json with `runtime run` (runc or dist/nsinit), then deletes it. */
async function runWith(runtime: "runc" | "nsinit", b: Bundle, id = `${b.id}-${runtime}`) {
  const bin = runtime === "runc" ? "runc" : NSINIT;
  const root = `${b.dir}/${runtime}-state`;
  // Each runtime gets a cgroup of its own (the config is shared).
  const cfg = structuredClone(b.config);
  cfg.linux ??= {};
  if (cfg.linux.cgroupsPath !== undefined) cfg.linux.cgroupsPath = `nsinit-test-${id}`;
  await Deno.writeTextFile(b.configPath, JSON.stringify(cfg, null, 2));
  try {
    const r: RunResult = await run(bin, ["--root", root, "run", "--bundle", b.dir, id], {
      timeoutMs: 60_000,
    });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr } as Outcome;
  } finally {
    await run(bin, ["--root", root, "delete", "--force", id]);
    await b.write();
  }
}

/** A refused config left no container state behind. */
function assertNoState(b: Bundle): void {
  const dir = `${b.dir}/nsinit-state`;
  assert.deepEqual(exists(dir) ? [...Deno.readDirSync(dir)] : [], []);
}

/**
 * Where nsinit differs from runc 1.1.5 on purpose, in the probe's mount list: the tmpfs at
 * /sys/fs/cgroup is read-only when the config's cgroup mount says "ro" (runc leaves the tmpfs
 * itself writable), and the hybrid host's cgroup2 tree is bound at /sys/fs/cgroup/unified
 * (runc 1.1 leaves it out). Everything else must be the same.
 */
function comparable(stdout: string): string {
  return stdout.replace(/ \/sys\/fs\/cgroup(\/unified)? r[ow]\b/g, "");
}

/** Runs with runc and nsinit; both must succeed and print the same. */
async function sameAsRunc(b: Bundle, what: string): Promise<Outcome> {
  const runc = await runWith("runc", b);
  assert.equal(runc.code, 0, `${what}: runc failed (${runc.code}): ${runc.stderr}`);
  const ours = await runWith("nsinit", b);
  assert.equal(ours.code, 0, `${what}: nsinit failed (${ours.code}): ${ours.stderr}`);
  assert.equal(
    comparable(ours.stdout),
    comparable(runc.stdout),
    `${what}: nsinit and runc printed different things`,
  );
  return ours;
}

/** The status lines a probe prints: who it is, its capabilities, no_new_privs, seccomp. */
const PROBE = [
  "sh",
  "-c",
  [
    "echo ok; id; umask; ulimit -n; hostname",
    'grep -E "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status',
    "cat /proc/self/uid_map /proc/self/gid_map",
    "echo dev: $(ls /dev)",
    // Mount points, each read-only or read-write (not ids, sources or sizes).
    "echo mounts: $(cut -d' ' -f5,6 /proc/self/mountinfo | cut -d, -f1 | sort)",
    "echo sysctl: $(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)",
  ].join("; "),
];

/**
 * A bundle holding a fixture config: temp paths (@TMP@) become test-owned files in the bundle,
 * root.path the bundle's own rootfs, args the probe, cgroupsPath a relative test path, and
 * process.terminal false (runc needs a console socket otherwise).
 */
async function fixtureBundle(name: string): Promise<Bundle> {
  const b = await makeBundle({ id: uniqueId(name.replace(/[^a-z]/g, "")) });
  const text = Deno.readTextFileSync(`${FIXTURES}/${name}.json`)
    .replaceAll("@TMP@", `${b.dir}/tmp`)
    .replaceAll("@PID@", b.id);
  const cfg = JSON.parse(text) as Spec;
  cfg.root = { ...cfg.root, path: "rootfs" };
  cfg.process!.terminal = false;
  cfg.process!.args = PROBE;
  cfg.process!.env = [...(cfg.process!.env ?? []), `NSINIT_TEST_RUN=${testRun()}`];
  cfg.linux ??= {};
  cfg.linux.cgroupsPath = `nsinit-test-${b.id}`;
  for (const m of cfg.mounts ?? []) {
    if (!m.source?.startsWith(`${b.dir}/tmp`)) continue;
    const dir = m.destination === "/dev/shm";
    await Deno.mkdir(dir ? m.source : m.source.replace(/\/[^/]*$/, ""), { recursive: true });
    if (!dir) await Deno.writeTextFile(m.source, "");
  }
  b.config = cfg;
  await b.write();
  return b;
}

for (
  const name of [
    "runc",
    "runc-rootless",
    "crun",
    "podman",
    "ctr",
    "ctr-seccomp",
  ]
) {
  Deno.test({
    name: `configs: ${name}.json (as the tool wrote it) runs with nsinit as with runc`,
    ignore,
    async fn() {
      await using b = await fixtureBundle(name);
      const out = await sameAsRunc(b, name);
      assert.match(out.stdout, /^ok\n/);
    },
  });
}

Deno.test({
  name: "configs: crun-rootless.json (a user namespace without mappings) is refused, as by runc",
  ignore,
  async fn() {
    // crun fills in the mappings itself; runc refuses ("no uid mappings found"), and so do we.
    await using b = await fixtureBundle("crun-rootless");
    const runc = await runWith("runc", b);
    assert.notEqual(runc.code, 0);
    const ours = await runWith("nsinit", b);
    assert.notEqual(ours.code, 0);
    assert.match(
      ours.stderr,
      /linux\.uidMappings: a new user namespace needs uid and gid mappings/,
    );
    assertNoState(b);
  },
});

Deno.test({
  name: "configs: podman's allow-list profile without close_range, no_new_privs unset",
  ignore,
  async fn() {
    await using b = await fixtureBundle("podman");
    const sc = b.config.linux!.seccomp!;
    assert.equal(sc.defaultAction, "SCMP_ACT_ERRNO");
    assert.notEqual(b.config.process!.noNewPrivileges, true);
    for (const s of sc.syscalls ?? []) s.names = s.names.filter((n) => n !== "close_range");
    sc.syscalls = (sc.syscalls ?? []).filter((s) => s.names.length > 0);
    assert.ok(!JSON.stringify(sc).includes("close_range"));
    await b.write();
    const out = await sameAsRunc(b, "allow-list without close_range");
    assert.match(out.stdout, /Seccomp:\s+2/);
    // The program has the capabilities the config gives, not the runtime's loader's.
    const capEff = /CapEff:\s+(\w+)/.exec(out.stdout)![1];
    const want = (b.config.process!.capabilities?.effective ?? []).length;
    assert.equal(BigInt(`0x${capEff}`).toString(2).replaceAll("0", "").length, want);
  },
});

Deno.test({
  name: "configs: runtime-spec 1.3.0 runs with the CLI and the library; 2.0.0 is refused",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sh", "-c", "echo v13"] });
    b.config.ociVersion = "1.3.0";
    await b.write();
    const cli = await runWith("nsinit", b);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout, "v13\n");
    const lib = await runToExit(b);
    assert.equal(lib.code, 0, lib.stderr);
    assert.equal(lib.stdout, "v13\n");

    b.config.ociVersion = "2.0.0";
    await b.write();
    const two = await runWith("nsinit", b);
    assert.notEqual(two.code, 0);
    assert.match(two.stderr, /config\.json: ociVersion: unsupported version "2\.0\.0"/);
    assertNoState(b);
    await assert.rejects(
      () => new Factory({ root: b.stateRoot }).run(b.id, { bundle: b.dir, spec: b.config }),
      /ociVersion: unsupported version "2\.0\.0"/,
    );
    const features = await run(NSINIT, ["features"]);
    assert.equal(JSON.parse(features.stdout).ociVersionMax, "1.3.0");
  },
});

Deno.test({
  name: "configs: hostname in a uts namespace joined by path is set there, as runc does",
  ignore,
  async fn() {
    const holder = new Deno.Command("unshare", {
      args: ["--uts", "sleep", "120"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      // Wait until the holder is in its own uts namespace.
      const host = Deno.readLinkSync("/proc/self/ns/uts");
      for (let i = 0; i < 100; i++) {
        try {
          if (Deno.readLinkSync(`/proc/${holder.pid}/ns/uts`) !== host) break;
        } catch { /* not yet */ }
        await new Promise((r) => setTimeout(r, 20));
      }
      await using b = await makeBundle({ args: ["hostname"] });
      const uts = b.config.linux!.namespaces!.find((n) => n.type === "uts")!;
      uts.path = `/proc/${holder.pid}/ns/uts`;
      for (const runtime of ["runc", "nsinit"] as const) {
        b.config.hostname = `joined-${runtime}`;
        await b.write();
        const out = await runWith(runtime, b);
        assert.equal(out.code, 0, `${runtime}: ${out.stderr}`);
        assert.equal(out.stdout, `joined-${runtime}\n`);
        const seen = await run("nsenter", ["-t", String(holder.pid), "-u", "hostname"]);
        assert.equal(
          seen.stdout,
          `joined-${runtime}\n`,
          `${runtime} set it in the joined namespace`,
        );
      }
    } finally {
      if (holder.pid > 0) holder.kill("SIGKILL");
      await holder.status;
    }
  },
});

Deno.test({
  name: "configs: without a mount namespace root.path is the root (chroot); nothing is mounted",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["cat", "/only-in-rootfs"], readonlyRoot: false });
    await Deno.writeTextFile(`${b.rootfs}/only-in-rootfs`, "inside\n");
    const c = b.config;
    c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== "mount");
    c.mounts = [];
    delete c.linux!.maskedPaths;
    delete c.linux!.readonlyPaths;
    await b.write();
    const before = Deno.readTextFileSync("/proc/self/mountinfo");
    const out = await runWith("nsinit", b);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, "inside\n");
    // create + start too: the init reopens the exec fifo without a /proc in the rootfs.
    const root = `${b.dir}/nsinit-state`;
    const id = `${b.id}-cs`;
    try {
      const created = await run(NSINIT, ["--root", root, "create", "--bundle", b.dir, id]);
      assert.equal(created.code, 0, created.stderr);
      const started = await run(NSINIT, ["--root", root, "start", id]);
      assert.equal(started.code, 0, started.stderr);
      // exec joins the container and is chrooted into its root too.
      const runner = `${id}-x`;
      c.process!.args = ["sleep", "60"];
      await b.write();
      const detached = await run(NSINIT, ["--root", root, "run", "-d", "--bundle", b.dir, runner]);
      assert.equal(detached.code, 0, detached.stderr);
      try {
        const ex = await run(NSINIT, ["--root", root, "exec", runner, "cat", "/only-in-rootfs"]);
        assert.equal(ex.code, 0, ex.stderr);
        assert.equal(ex.stdout, "inside\n");
      } finally {
        await run(NSINIT, ["--root", root, "delete", "--force", runner]);
        c.process!.args = ["cat", "/only-in-rootfs"];
      }
    } finally {
      await run(NSINIT, ["--root", root, "delete", "--force", id]);
    }
    assert.equal(Deno.readTextFileSync("/proc/self/mountinfo"), before);
    // runc mounts a config's mounts onto the host without a mount namespace: refused here.
    c.mounts = [{ destination: "/proc", type: "proc", source: "proc" }];
    await b.write();
    const refused = await runWith("nsinit", b);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /mounts: needs a mount namespace/);
  },
});

Deno.test({
  name: "configs: prestart hooks get the state runc gives them",
  ignore,
  async fn() {
    await using dir = await makeTempDir("prestart");
    await using b = await makeBundle();
    const seen: Record<string, string> = {};
    for (const runtime of ["runc", "nsinit"] as const) {
      const log = `${dir.path}/${runtime}`;
      b.config.hooks = { prestart: [{ path: "/bin/sh", args: ["sh", "-c", `cat > ${log}`] }] };
      await b.write();
      const out = await runWith(runtime, b);
      assert.equal(out.code, 0, `${runtime}: ${out.stderr}`);
      seen[runtime] = JSON.parse(Deno.readTextFileSync(log)).status;
    }
    // runc 1.1.5 (this machine's) passes "creating" to prestart hooks.
    assert.equal(seen.nsinit, seen.runc);
  },
});

Deno.test({
  name: "configs: SELinux labels without SELinux are ignored with a warning; AppArmor is refused",
  ignore: ignore ||
    skipIf(exists("/sys/fs/selinux/enforce"), "SELinux is enabled: the labels would apply") ||
    skipIf(appArmorEnabled(), "AppArmor is enabled"),
  async fn() {
    await using b = await makeBundle({ args: ["echo", "labelled"] });
    b.config.process!.selinuxLabel = "system_u:system_r:container_t:s0:c1,c2";
    b.config.linux!.mountLabel = "system_u:object_r:container_file_t:s0:c1,c2";
    await b.write();
    // runc 1.1.5 refuses selinuxLabel here and passes mountLabel to mount(2), which fails;
    // crun ignores both. Tools write labels into every config: warn and run, as crun does.
    const out = await runWith("nsinit", b);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, "labelled\n");
    assert.match(out.stderr, /process\.selinuxLabel is ignored: SELinux is not enabled/);
    assert.match(out.stderr, /linux\.mountLabel is ignored: SELinux is not enabled/);

    delete b.config.process!.selinuxLabel;
    delete b.config.linux!.mountLabel;
    b.config.process!.apparmorProfile = "nsinit-test-profile";
    await b.write();
    const runc = await runWith("runc", b);
    const ours = await runWith("nsinit", b);
    assert.notEqual(runc.code, 0, "runc refuses an AppArmor profile without AppArmor");
    assert.notEqual(ours.code, 0);
    assert.match(ours.stderr, /process\.apparmorProfile: AppArmor is not enabled/);
  },
});

Deno.test({
  name:
    "configs: a mount destination that is a dangling absolute symlink: target made in the rootfs",
  ignore,
  async fn() {
    await using b = await makeBundle();
    const missing = `/nsinit-test-${b.id}`;
    b.config.process!.args = ["sh", "-c", `grep -c " ${missing}/target/dir " /proc/self/mountinfo`];
    await Deno.symlink(`${missing}/target/dir`, `${b.rootfs}/link`);
    b.config.mounts!.push({
      destination: "/link",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid"],
    });
    await b.write();
    for (const runtime of ["runc", "nsinit"] as const) {
      await Deno.remove(`${b.rootfs}${missing}`, { recursive: true }).catch(() => {});
      const out = await runWith(runtime, b);
      assert.equal(out.code, 0, `${runtime}: ${out.stderr}`);
      assert.equal(out.stdout, "1\n", `${runtime}: the tmpfs is on the link's target`);
      const inRootfs = Deno.statSync(`${b.rootfs}${missing}/target/dir`).isDirectory;
      assert.ok(inRootfs, `${runtime} created the target inside the rootfs`);
    }
    let outside = true;
    try {
      Deno.statSync(missing);
    } catch {
      outside = false;
    }
    assert.equal(outside, false, "nothing was created outside the rootfs");
  },
});

Deno.test({
  name: "configs: the allow-list profile without close_range, rootless as the test user",
  ignore: ignore || skipIf(cannotRunAsTestUser() !== undefined, cannotRunAsTestUser() ?? ""),
  async fn() {
    const user = testUser()!;
    const profile = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/podman.json`)).linux.seccomp;
    for (const s of profile.syscalls) s.names = s.names.filter((n: string) => n !== "close_range");
    await using b = await makeBundle({
      rootless: true,
      owner: { uid: user.uid, gid: user.gid },
      cgroupsPath: null,
      args: ["sh", "-c", 'echo ok; grep -E "^Seccomp:" /proc/self/status'],
    });
    b.config.linux!.seccomp = profile;
    delete b.config.process!.noNewPrivileges;
    await b.write();
    const outs: Record<string, string> = {};
    for (const runtime of ["runc", "nsinit"] as const) {
      const args = ["--root", `${b.dir}/${runtime}-state`, "run", "--bundle", b.dir, b.id];
      const r = runtime === "runc"
        ? await runAs(user, "runc", args, { env: { XDG_RUNTIME_DIR: `${b.dir}/xdg` } })
        : await runNsinitAs(user, args);
      assert.equal(r.code, 0, `${runtime} as ${user.name}: ${r.stderr}`);
      outs[runtime] = r.stdout;
    }
    assert.equal(outs.nsinit, outs.runc);
    assert.match(outs.nsinit, /^ok\nSeccomp:\s+2\n/);
  },
});

Deno.test({
  name:
    "configs: new filesystems (tmpfs, mqueue) get the flags, data and propagation runc gives them",
  ignore,
  async fn() {
    // nsinit makes them with fsopen/fsconfig/fsmount and sets propagation on the mount's fd;
    // runc with mount(2) and a second mount(2) by path. The result must be the same.
    await using b = await makeBundle({ id: uniqueId("mnt-fs") });
    const mounts = [
      {
        destination: "/t1",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "noexec", "ro", "mode=750", "size=8192k", "uid=12", "gid=34"],
      },
      { destination: "/t2", type: "tmpfs", source: "tmpfs", options: ["strictatime", "rshared"] },
      { destination: "/t3", type: "tmpfs", source: "tmpfs", options: ["noatime", "nr_inodes=100"] },
      {
        destination: "/t4",
        type: "tmpfs",
        source: "tmpfs",
        options: ["sync", "dirsync", "private"],
      },
      { destination: "/mq2", type: "mqueue", source: "mqueue", options: ["nosuid", "nodev"] },
    ];
    b.config.mounts!.push(...mounts);
    // Mount point, per-mount options, propagation (without the peer group numbers), fstype,
    // superblock options but its ro/rw: runc mounts a tmpfs read-write and then makes the
    // mount read-only, where mount(2) with MS_RDONLY (and fsconfig "ro") makes the superblock
    // read-only too, as nsinit always did.
    const script = mounts.map((m) =>
      `grep ' ${m.destination} ' /proc/self/mountinfo | sed 's/:[0-9]*//g' | ` +
      `awk '{ s = ""; for (i = 7; $i != "-"; i++) s = s $i " "; ` +
      `o = $(i + 3); sub(/^r[ow],?/, "", o); print $5, $6, "[" s "]", $(i + 1), o }'`
    ).join("; ");
    b.config.process!.args = ["sh", "-c", script];
    await b.write();
    const runc = await runWith("runc", b);
    const nsinit = await runWith("nsinit", b);
    assert.equal(runc.code, 0, runc.stderr);
    assert.equal(nsinit.code, 0, nsinit.stderr);
    assert.equal(nsinit.stdout.trim().split("\n").length, mounts.length, nsinit.stdout);
    assert.equal(nsinit.stdout, runc.stdout);
  },
});

Deno.test({
  name:
    "configs: a filesystem option fsconfig cannot take (over 255 bytes) is mounted with mount(2); a later step on it is refused",
  ignore: ignore || skipUnless(
    Deno.readTextFileSync("/proc/filesystems").includes("\toverlay\n"),
    "no overlay file system in this kernel",
  ),
  async fn() {
    await using dir = await makeTempDir("mnt-ovl");
    const lower = `${dir.path}/${"l".repeat(250)}`;
    await Deno.mkdir(lower);
    await Deno.mkdir(`${dir.path}/upper`);
    await Deno.mkdir(`${dir.path}/work`);
    await Deno.writeTextFile(`${lower}/file`, "from the lower layer\n");
    await using b = await makeBundle({ id: uniqueId("mnt-ovl"), args: ["cat", "/ovl/file"] });
    const overlay = {
      destination: "/ovl",
      type: "overlay",
      source: "overlay",
      options: [`lowerdir=${lower}`, `upperdir=${dir.path}/upper`, `workdir=${dir.path}/work`],
    };
    b.config.mounts!.push(overlay);
    await b.write();
    const ok = await runWith("nsinit", b);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "from the lower layer\n");

    // Propagation would be set by a second step: with no fd for the mount it must not resolve
    // /ovl again, so it refuses, naming why.
    overlay.options.push("rslave");
    await b.write();
    const refused = await runWith("nsinit", b);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(
      refused.stderr,
      /\/ovl was mounted with mount\(2\).*would resolve it a second time/,
    );
    assertNoState(b);
  },
});

Deno.test({
  name: "configs: a filesystem option the kernel refuses is named in the error",
  ignore,
  async fn() {
    await using b = await makeBundle({ id: uniqueId("mnt-bad") });
    b.config.mounts!.push({
      destination: "/t",
      type: "tmpfs",
      source: "tmpfs",
      options: ["mode=nonsense"],
    });
    await b.write();
    const r = await runWith("nsinit", b);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /mount tmpfs on \/t \(tmpfs\): .*mode/, r.stderr);
    assertNoState(b);
  },
});
