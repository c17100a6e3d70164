// End-to-end: real containers, checking every isolation setting from inside.
import assert from "node:assert/strict";
import { Factory } from "../mod.ts";
import { facts, runToExit } from "./helpers/container.ts";
import { makeBundle } from "./helpers/bundle.ts";
import { makeTempDir, RUN_MARKER_FILE } from "./helpers/paths.ts";
import { isRoot, skipUnless } from "./helpers/skip.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

function hostNs(name: string): string {
  return Deno.readLinkSync(`/proc/self/ns/${name}`);
}

Deno.test({
  name: "isolation: namespaces, mounts, devices, identity, limits, security settings",
  ignore,
  async fn() {
    await using data = await makeTempDir("data");
    await Deno.chmod(data.path, 0o777);
    const boundFile = `${data.path}/bound.txt`;
    await Deno.writeTextFile(boundFile, "from the host\n");
    const script = [
      "echo pid=$$",
      "echo hostname=$(hostname)",
      "echo domainname=$(cat /proc/sys/kernel/domainname)",
      "echo id=$(id)",
      "echo umask=$(umask)",
      "echo pwd=$(pwd)",
      "echo foo=$FOO",
      "echo nofile=$(ulimit -n)/$(ulimit -Hn)",
      "echo oom=$(cat /proc/self/oom_score_adj)",
      "for k in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp; do echo $k=$(grep ^$k: /proc/self/status | cut -f2); done",
      "echo ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)",
      "echo netdevs=$(ls /sys/class/net | tr '\\n' ' ')",
      "for n in pid net ipc uts mnt cgroup time; do echo ns_$n=$(readlink /proc/self/ns/$n); done",
      "echo cgroup=$(grep '^0::' /proc/self/cgroup)",
      "echo uptime=$(cut -d' ' -f1 /proc/uptime)",
      "echo custom=$(stat -c '%F %t:%T %a' /dev/custom0)",
      "echo null=$(stat -c '%F %t:%T %a' /dev/null)",
      "echo keys=$(cat /proc/keys 2>&1 | wc -c)",
      "echo firmware=$(ls /sys/firmware | wc -l)",
      "(echo 1 > /proc/sys/vm/overcommit_memory) 2>/dev/null && echo procsys=writable || echo procsys=readonly",
      "mkdir /scratch/d 2>/dev/null && echo mkdir=allowed || echo mkdir=denied",
      "echo scratch=$(grep ' /scratch ' /proc/mounts)",
      "echo bound=$(cat /etc/bound.txt)",
      "(echo x >> /etc/bound.txt) 2>/dev/null && echo boundwrite=yes || echo boundwrite=no",
      "echo written > /data/out && echo datawrite=yes",
      "touch /probe 2>/dev/null && echo rootwrite=yes || echo rootwrite=no",
      "echo mqueue=$(grep -c ' /dev/mqueue mqueue ' /proc/mounts)",
      "echo devpts=$(grep -c ' /dev/pts devpts ' /proc/mounts)",
      "echo fds=$(ls /proc/self/fd | tr '\\n' ' ')",
    ].join("; ");
    await using b = await makeBundle({ args: ["sh", "-c", script], env: ["FOO=bar"] });
    const c = b.config;
    const linux = c.linux!;
    linux.namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup", "time"].map((type) => ({
      type: type as "pid",
    }));
    linux.timeOffsets = {
      monotonic: { secs: 86400, nanosecs: 0 },
      boottime: { secs: 86400, nanosecs: 0 },
    };
    c.hostname = "iso-host";
    c.domainname = "iso-domain";
    c.mounts!.push(
      { destination: "/data", type: "bind", source: data.path, options: ["rbind", "rw"] },
      { destination: "/etc/bound.txt", type: "bind", source: boundFile, options: ["bind", "ro"] },
      {
        destination: "/scratch",
        type: "tmpfs",
        source: "tmpfs",
        options: ["size=1m", "mode=1777", "nosuid"],
      },
    );
    linux.devices = [{
      path: "/dev/custom0",
      type: "c",
      major: 1,
      minor: 3,
      fileMode: 0o640,
      uid: 0,
      gid: 0,
    }];
    const p = c.process!;
    p.capabilities = {
      bounding: ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN"],
      effective: ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
      permitted: ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
      inheritable: ["CAP_KILL"],
      ambient: ["CAP_KILL"],
    };
    p.rlimits = [{ type: "RLIMIT_NOFILE", soft: 512, hard: 1024 }];
    p.oomScoreAdj = 500;
    linux.sysctl = { "net.ipv4.ip_forward": "1" };
    p.noNewPrivileges = true;
    p.user = { uid: 1000, gid: 1000, additionalGids: [1001], umask: 0o027 };
    p.cwd = "/home";
    linux.seccomp = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
    };

    const out = await runToExit(b);
    assert.equal(out.stderr, "");
    const f = facts(out.stdout);
    assert.equal(f.pid, "1");
    assert.equal(f.hostname, "iso-host");
    assert.equal(f.domainname, "iso-domain");
    assert.equal(f.id, "uid=1000(user) gid=1000(user) groups=1001(extra)");
    assert.equal(f.umask, "0027");
    assert.equal(f.pwd, "/home");
    assert.equal(f.foo, "bar");
    assert.equal(f.nofile, "512/1024");
    assert.equal(f.oom, "500");
    // Non-root after exec: only the ambient CAP_KILL (bit 5) survives.
    assert.equal(f.CapEff, "0000000000000020");
    assert.equal(f.CapPrm, "0000000000000020");
    assert.equal(f.CapInh, "0000000000000020");
    assert.equal(f.CapAmb, "0000000000000020");
    assert.equal(f.CapBnd, "00000000000004e1"); // CHOWN(0) SETGID(6) SETUID(7) KILL(5) NET_BIND_SERVICE(10)
    assert.equal(f.NoNewPrivs, "1");
    assert.equal(f.Seccomp, "2");
    assert.equal(f.ip_forward, "1");
    assert.equal(f.netdevs.trim(), "lo");
    for (
      const [n, host] of [["pid", "pid"], ["net", "net"], ["ipc", "ipc"], ["uts", "uts"], [
        "mnt",
        "mnt",
      ], [
        "cgroup",
        "cgroup",
      ], ["time", "time"]]
    ) {
      assert.notEqual(f[`ns_${n}`], hostNs(host), `${n} namespace must differ from the host's`);
    }
    assert.equal(f.cgroup, "0::/");
    assert.ok(Number(f.uptime) > 86400, `time namespace offset: uptime ${f.uptime}`);
    assert.equal(f.custom, "character special file 1:3 640");
    assert.equal(f.null, "character special file 1:3 666");
    assert.equal(f.keys, "0");
    assert.equal(f.firmware, "0");
    assert.equal(f.procsys, "readonly");
    assert.equal(f.mkdir, "denied");
    assert.match(f.scratch, /tmpfs \/scratch tmpfs rw,nosuid,.*size=1024k/);
    assert.equal(f.bound, "from the host");
    assert.equal(f.boundwrite, "no");
    assert.equal(f.datawrite, "yes");
    assert.equal(await Deno.readTextFile(`${data.path}/out`), "written\n");
    assert.equal(f.rootwrite, "no");
    assert.equal(f.mqueue, "1");
    assert.equal(f.devpts, "1");
    // 0 1 2 and the directory fd of ls itself: nothing else from the host.
    assert.equal(f.fds.trim(), "0 1 2 3");
    assert.equal(out.code, 0);
  },
});

Deno.test({
  name: "isolation: user namespace with uid/gid mappings",
  ignore,
  async fn() {
    await using b = await makeBundle({
      args: [
        "sh",
        "-c",
        "echo uidmap=$(cat /proc/self/uid_map | tr -s ' '); echo id=$(id -u):$(id -g); echo owner=$(stat -c %u /bin/busybox); echo null=$(stat -c %t:%T /dev/null); echo oom=$(cat /proc/self/oom_score_adj)",
      ],
    });
    // Written by the init itself, which (a root runtime writing its maps) is never dumpable:
    // /proc/self is root's until its exec.
    b.config.process!.oomScoreAdj = 500;
    const linux = b.config.linux!;
    linux.namespaces!.push({ type: "user" });
    linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const out = await runToExit(b);
    assert.equal(out.stderr, "");
    const f = facts(out.stdout);
    assert.equal(f.uidmap.trim(), "0 100000 65536");
    assert.equal(f.id, "0:0");
    assert.equal(f.owner, "65534"); // host root is not mapped
    assert.equal(f.null, "1:3"); // bound from the host
    assert.equal(f.oom, "500");
    assert.equal(out.code, 0);
  },
});

Deno.test({
  name: "isolation: joining another container's namespaces by path",
  ignore,
  async fn() {
    await using a = await makeBundle({ args: ["sleep", "30"] });
    a.config.hostname = "shared-uts";
    const factory = new Factory({ root: a.stateRoot });
    const ca = await factory.run(a.id, { bundle: a.dir, spec: a.config, stdio: { stdin: "null" } });
    try {
      const pid = ca.init!.pid;
      await using b = await makeBundle({
        args: ["sh", "-c", "echo net=$(readlink /proc/self/ns/net); echo host=$(hostname)"],
      });
      b.config.linux!.namespaces = b.config.linux!.namespaces!.map((ns) =>
        ns.type === "network" || ns.type === "uts"
          ? { type: ns.type, path: `/proc/${pid}/ns/${ns.type === "network" ? "net" : "uts"}` }
          : ns
      );
      delete b.config.hostname;
      const out = await runToExit(b);
      const f = facts(out.stdout);
      assert.equal(f.net, Deno.readLinkSync(`/proc/${pid}/ns/net`));
      assert.equal(f.host, "shared-uts");
    } finally {
      await ca.destroy({ force: true });
    }
  },
});

Deno.test({
  name: "isolation: --no-pivot moves the rootfs with MS_MOVE and chroot",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sh", "-c", "ls /bin/busybox && echo ok"] });
    const out = await runToExit(b, { noPivot: true });
    assert.equal(out.stdout, "/bin/busybox\nok\n");
  },
});

Deno.test({
  name: "isolation: a symlinked mount destination resolves inside the rootfs",
  ignore,
  async fn() {
    await using outside = await makeTempDir("outside");
    await using b = await makeBundle({
      args: ["sh", "-c", `grep -c ' ${outside.path} tmpfs ' /proc/mounts`],
    });
    // An absolute symlink to a host directory: it must be followed inside the rootfs.
    await Deno.mkdir(`${b.rootfs}${outside.path}`, { recursive: true });
    await Deno.symlink(outside.path, `${b.rootfs}/evil`);
    b.config.mounts!.push({
      destination: "/evil",
      type: "tmpfs",
      source: "tmpfs",
      options: ["size=64k"],
    });
    const out = await runToExit(b);
    assert.equal(out.code, 0, out.stderr);
    // The tmpfs landed at the symlink's target inside the rootfs...
    assert.equal(out.stdout, "1\n");
    // ...and nothing was mounted on the host's directory.
    const hostMounts = await Deno.readTextFile("/proc/self/mounts");
    assert.ok(!hostMounts.includes(` ${outside.path} `), "mount escaped onto the host");
    assert.deepEqual(
      [...Deno.readDirSync(outside.path)].map((e) => e.name).filter((n) => n !== RUN_MARKER_FILE),
      [],
    );
  },
});
