// End-to-end: configs that would reach the host are refused, naming the field, and the host
// is untouched: a cgroupsPath at or above the runtime's own cgroup (the root's devices.list
// once became a container's allow-list), sysctls outside the container's own namespaces (a
// container without a uts namespace once set the host's domainname), and uid/gid -1
// (4294967295, "unchanged" to setuid(2), so root).
import assert from "node:assert/strict";
import { makeBundle } from "../helpers/bundle.ts";
import { uniqueId } from "../helpers/ids.ts";
import { nsinitCommand, run, runNsinit } from "../helpers/run.ts";
import { hasCgroup, isRoot, skipUnless } from "../helpers/skip.ts";
import { cgroupDirsNamed, ownCgroup, read, stateEntries } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "real containers need root");
const DEVICES = "/sys/fs/cgroup/devices";

Deno.test({
  name:
    "host harm: a cgroupsPath at the hierarchy root, the runtime's own cgroup or above is refused",
  ignore: ignore || skipUnless(hasCgroup("devices") && hasCgroup("memory"), "needs v1 devices"),
  async fn() {
    await using b = await makeBundle({ args: ["true"] });
    // A deny-all device list: were it written into the root cgroup, the host would lose
    // every device.
    b.config.linux!.resources = {
      devices: [{ allow: false, access: "rwm" }],
      memory: { limit: 64 * 1024 * 1024 },
    };
    const rootDevices = read(`${DEVICES}/devices.list`);
    const ownMemory = ownCgroup("memory");
    const ownLimit = read(`/sys/fs/cgroup/memory${ownMemory}/memory.limit_in_bytes`);
    const parent = ownMemory.slice(0, ownMemory.lastIndexOf("/")) || "/";
    for (const path of ["/", "/../../..", "//", ownMemory, `${ownMemory}/../..`, parent]) {
      b.config.linux!.cgroupsPath = path;
      await b.write();
      const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
      assert.notEqual(r.code, 0, `cgroupsPath ${path} was accepted`);
      assert.match(r.stderr, /linux\.cgroupsPath/, `${path}: ${r.stderr}`);
      assert.match(r.stderr, /root of the hierarchy|own cgroup|ancestor/, r.stderr);
      assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, "no stack trace");
      assert.deepEqual(stateEntries(b.stateRoot), [], "no state left");
    }
    assert.equal(read(`${DEVICES}/devices.list`), rootDevices, "the root devices.list changed");
    assert.equal(
      read(`/sys/fs/cgroup/memory${ownMemory}/memory.limit_in_bytes`),
      ownLimit,
      "the runtime's own memory limit changed",
    );
  },
});

Deno.test({
  name: "host harm: an existing cgroup outside the runtime's own is refused; a new one is made",
  ignore: ignore || skipUnless(hasCgroup("memory"), "needs the v1 memory hierarchy"),
  async fn() {
    // The runtime runs in <own>/a; <own>/b exists and belongs to "someone else". Everything
    // stays below this test's own cgroup.
    const own = ownCgroup("memory");
    const base = `/sys/fs/cgroup/memory${own}`;
    const a = uniqueId("nsinit-test-a");
    const other = uniqueId("nsinit-test-b");
    await Deno.mkdir(`${base}/${a}`);
    await Deno.mkdir(`${base}/${other}`);
    const otherLimit = read(`${base}/${other}/memory.limit_in_bytes`);
    await using b = await makeBundle({ args: ["true"] });
    b.config.linux!.resources = { memory: { limit: 64 * 1024 * 1024 } };
    try {
      const inA = async (cgroupsPath: string) => {
        b.config.linux!.cgroupsPath = cgroupsPath;
        await b.write();
        // sh moves itself into <own>/a, then becomes the runtime.
        const [cmd, ...args] = nsinitCommand([
          "--root",
          b.stateRoot,
          "run",
          "--bundle",
          b.dir,
          b.id,
        ]);
        return await run("sh", [
          "-c",
          `echo $$ > ${base}/${a}/cgroup.procs && exec "$@"`,
          "sh",
          cmd,
          ...args,
        ]);
      };
      const refused = await inA(`${own}/${other}`);
      assert.notEqual(refused.code, 0, "an existing foreign cgroup was used");
      assert.match(refused.stderr, /linux\.cgroupsPath.*already exists outside/, refused.stderr);
      assert.equal(read(`${base}/${other}/memory.limit_in_bytes`), otherLimit);
      assert.deepEqual(stateEntries(b.stateRoot), [], "no state left");
      // The same place, not yet existing: made for the container, removed with it.
      const fresh = `${own}/${other}-new`;
      const ok = await inA(fresh);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(cgroupDirsNamed(`${other}-new`).length, 0, "the container's cgroup stayed");
    } finally {
      // The shells that joined <own>/a have exited; a is empty again.
      await Deno.remove(`${base}/${a}`);
      await Deno.remove(`${base}/${other}`);
    }
  },
});

Deno.test({
  name: "host harm: a sysctl outside the container's own namespaces is refused; the host's stays",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["cat", "/proc/sys/kernel/domainname"] });
    const hostDomain = read("/proc/sys/kernel/domainname");
    const hostSwappiness = read("/proc/sys/vm/swappiness");
    const cases: [Record<string, string>, string[], RegExp][] = [
      [
        { "kernel.domainname": "nsinit-escaped" },
        ["uts"],
        /sysctl "kernel\.domainname" is not in a separate kernel namespace/,
      ],
      [
        { "vm.swappiness": hostSwappiness === "1" ? "2" : "1" },
        [],
        /sysctl "vm\.swappiness" is not in a separate kernel namespace/,
      ],
      [{ "kernel.shmmax": "4096" }, ["ipc"], /not allowed in the host's ipc namespace/],
      [
        { "net.ipv4.ip_forward": "1" },
        ["network"],
        /not allowed in the host's network namespace/,
      ],
    ];
    for (const [sysctl, without, message] of cases) {
      b.config.linux!.namespaces = b.config.linux!.namespaces!.filter((n) =>
        !without.includes(n.type)
      );
      if (without.includes("uts")) delete b.config.hostname;
      b.config.linux!.sysctl = sysctl;
      await b.write();
      const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
      assert.notEqual(r.code, 0, `${JSON.stringify(sysctl)} was accepted`);
      assert.match(r.stderr, /linux\.sysctl/, r.stderr);
      assert.match(r.stderr, message, r.stderr);
      assert.deepEqual(stateEntries(b.stateRoot), [], "no state left");
    }
    assert.equal(read("/proc/sys/kernel/domainname"), hostDomain, "the host's domainname changed");
    assert.equal(read("/proc/sys/vm/swappiness"), hostSwappiness, "the host's swappiness changed");

    // With its own uts namespace the container may set it, for itself only.
    b.config.linux!.namespaces!.push({ type: "uts" });
    b.config.linux!.sysctl = { "kernel.domainname": "nsinit-own" };
    await b.write();
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "nsinit-own\n");
    assert.equal(read("/proc/sys/kernel/domainname"), hostDomain, "the host's domainname changed");
  },
});

Deno.test({
  name:
    "host harm: uid/gid outside 0..2147483647 are refused (config, exec --user, additional gids)",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sleep", "60"] });
    for (const user of [{ uid: 4294967295, gid: 0 }, { uid: 0, gid: 4294967295 }]) {
      const bad = structuredClone(b.config);
      bad.process!.user = user;
      await Deno.writeTextFile(b.configPath, JSON.stringify(bad));
      const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /process\.user\.(uid|gid): must be an integer from 0 to 2147483647/);
      assert.deepEqual(stateEntries(b.stateRoot), [], "no state left");
    }
    await b.write();
    const root = b.stateRoot;
    const c = await runNsinit(["--root", root, "run", "-d", "--bundle", b.dir, b.id]);
    assert.equal(c.code, 0, c.stderr);
    try {
      for (
        const flags of [
          ["--user", "4294967295:4294967295"],
          ["--user", "4294967295"],
          ["--user", "0:2147483648"],
          ["--additional-gids", "4294967295"],
        ]
      ) {
        const r = await runNsinit(["--root", root, "exec", ...flags, b.id, "id"]);
        assert.notEqual(r.code, 0, `exec ${flags.join(" ")} ran: ${r.stdout}`);
        assert.equal(r.stdout, "", "nothing ran");
        assert.match(r.stderr, /from 0 to 2147483647/, r.stderr);
      }
      const ok = await runNsinit([
        "--root",
        root,
        "exec",
        "--user",
        "2147483647:2147483647",
        b.id,
        "id",
        "-u",
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, "2147483647\n");
    } finally {
      await runNsinit(["--root", root, "delete", "--force", b.id]);
    }
    assert.deepEqual(stateEntries(root), []);
  },
});
