/**
 * AppArmor for real: `process.apparmorProfile` confines a container's init and an exec'd
 * process (its own profile, else the container's), a profile that is not loaded fails create
 * clearly, leaving nothing, and a CRIU restore with `lsmProfile: "apparmor:NAME"` runs the
 * restored container under NAME. The development and CI hosts run no LSM, so this runs in the
 * cgroup v2 VM, whose Debian kernel enables AppArmor (`bash scripts/suites/apparmor_vm.sh`);
 * elsewhere it skips with the reason.
 *
 * Each test loads a small profile with apparmor_parser (everything allowed except reading
 * /etc/hostname, which the busybox rootfs has) and removes it again (`apparmor_parser -R`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { Factory } from "../mod.ts";
import type { Process } from "../spec/config.ts";
import { type Bundle, makeBundle, uniqueId } from "./helpers/mod.ts";
import { cgroupDirsNamed } from "./helpers/host.ts";
import { isRoot, skipUnless } from "./helpers/skip.ts";
import {
  assertNothingLeft,
  ckptBundle,
  COUNTER_ARGS,
  CRIU_NET,
  ignoreCriu,
  readCounter,
  waitFor,
} from "./checkpoint/helpers.ts";

const PARSER = "/sbin/apparmor_parser";
const PROFILES = "/sys/kernel/security/apparmor/profiles";

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return undefined;
  }
}

/** Why AppArmor cannot be tested here, or undefined when it can. */
function unavailable(): string | undefined {
  if (!isRoot()) return "needs root";
  if (read("/sys/module/apparmor/parameters/enabled") !== "Y") {
    return "AppArmor is not enabled on this host (/sys/module/apparmor/parameters/enabled is " +
      "not Y); bash scripts/suites/apparmor_vm.sh runs these tests in the VM, whose kernel has it";
  }
  if (read(PROFILES) === undefined) {
    return `${PROFILES} cannot be read (securityfs is not mounted)`;
  }
  try {
    Deno.statSync(PARSER);
  } catch {
    return `${PARSER} is missing (Debian's apparmor package; scripts/install_test_deps.sh)`;
  }
  return undefined;
}

const why = unavailable();
const ignore = skipUnless(why === undefined, why ?? "");

/** The denied file: readable in the rootfs, unreadable under the profile. */
const DENIED = "/etc/hostname";

async function parser(args: string[], input: string): Promise<void> {
  const child = new Deno.Command(PARSER, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(input));
  await w.close();
  const out = await child.output();
  assert.ok(
    out.success,
    `apparmor_parser ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
  );
}

/** Loads the test profile `name`; disposing it removes the profile again. */
async function loadProfile(name: string): Promise<AsyncDisposable> {
  const text = `profile ${name} flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  deny ${DENIED} r,
}
`;
  // -K: no cache (the VM has no /var/cache/apparmor); -r: load, or replace a stale one.
  await parser(["-r", "-K"], text);
  assert.ok(loaded(name), `${name} is not listed in ${PROFILES} after loading`);
  return {
    async [Symbol.asyncDispose]() {
      await parser(["-R", "-K"], text);
      assert.ok(!loaded(name), `${name} is still listed in ${PROFILES}`);
    },
  };
}

function loaded(name: string): boolean {
  return (read(PROFILES) ?? "").split("\n").some((l) => l.startsWith(`${name} (`));
}

/** The shell line every confined (or not) process runs: its label, then the denied read. */
const PROBE = `cat /proc/self/attr/current; cat ${DENIED}; echo rc=$?`;

async function runInit(b: Bundle): Promise<{ code: number; stdout: string; stderr: string }> {
  const c = await new Factory({ root: b.stateRoot }).run(b.id, {
    bundle: b.dir,
    spec: b.config,
    stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
  });
  try {
    return await c.init!.output();
  } finally {
    await c.destroy({ force: true });
  }
}

/** Asserts PROBE's output under profile `name` (or unconfined when undefined). */
function assertProbe(
  out: { stdout: string; stderr: string },
  name: string | undefined,
  hostname: string,
) {
  const lines = out.stdout.trim().split("\n");
  if (name) {
    assert.equal(lines[0], `${name} (enforce)`, `the label: ${out.stdout}${out.stderr}`);
    assert.match(out.stderr, new RegExp(`${DENIED}.*Permission denied`), "EACCES on the read");
    assert.equal(lines.at(-1), "rc=1", out.stdout);
  } else {
    assert.equal(lines[0], "unconfined", `the label: ${out.stdout}${out.stderr}`);
    assert.equal(out.stderr, "");
    assert.deepEqual(lines.slice(1), [hostname, "rc=0"]);
  }
}

Deno.test({
  name: "apparmor: the init runs under process.apparmorProfile; the denied read fails with EACCES",
  ignore,
  async fn() {
    const profile = uniqueId("aa-profile");
    await using _p = await loadProfile(profile);
    await using b = await makeBundle({ id: uniqueId("aa-init"), args: ["sh", "-c", PROBE] });
    const hostname = Deno.readTextFileSync(`${b.rootfs}${DENIED}`).trim();

    const plain = await runInit(b);
    assert.equal(plain.code, 0, plain.stderr);
    assertProbe(plain, undefined, hostname);

    b.config.process!.apparmorProfile = profile;
    const confined = await runInit(b);
    assert.equal(confined.code, 0, confined.stderr);
    assertProbe(confined, profile, hostname);
  },
});

Deno.test({
  name: "apparmor: exec runs under its process.apparmorProfile, and without one unconfined",
  ignore,
  async fn() {
    const profile = uniqueId("aa-profile");
    await using _p = await loadProfile(profile);
    await using b = await makeBundle({ id: uniqueId("aa-exec"), args: ["sleep", "300"] });
    const hostname = Deno.readTextFileSync(`${b.rootfs}${DENIED}`).trim();
    const c = await new Factory({ root: b.stateRoot }).run(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null", stdout: "null", stderr: "null" },
    });
    try {
      const exec = async (apparmorProfile?: string) => {
        const proc: Process = {
          args: ["sh", "-c", PROBE],
          cwd: "/",
          user: { uid: 0, gid: 0 },
          env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
          ...(apparmorProfile ? { apparmorProfile } : {}),
        };
        const p = await c.exec(proc, {
          stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
        });
        const out = await p.output();
        assert.equal(out.code, 0, out.stderr);
        return out;
      };
      assertProbe(await exec(profile), profile, hostname);
      assertProbe(await exec(), undefined, hostname);
    } finally {
      await c.destroy({ force: true });
    }
  },
});

Deno.test({
  name: "apparmor: exec without a profile runs under the container's process.apparmorProfile",
  ignore,
  async fn() {
    const profile = uniqueId("aa-profile");
    await using _p = await loadProfile(profile);
    await using b = await makeBundle({ id: uniqueId("aa-inherit"), args: ["sleep", "300"] });
    b.config.process!.apparmorProfile = profile;
    const hostname = Deno.readTextFileSync(`${b.rootfs}${DENIED}`).trim();
    const c = await new Factory({ root: b.stateRoot }).run(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null", stdout: "null", stderr: "null" },
    });
    try {
      const p = await c.exec(
        { args: ["sh", "-c", PROBE], cwd: "/", user: { uid: 0, gid: 0 } },
        { stdio: { stdin: "null", stdout: "piped", stderr: "piped" } },
      );
      const out = await p.output();
      assert.equal(out.code, 0, out.stderr);
      assertProbe(out, profile, hostname);
    } finally {
      await c.destroy({ force: true });
    }
  },
});

Deno.test({
  name: "apparmor: a profile that is not loaded fails create, naming process.apparmorProfile, " +
    "and leaves nothing",
  ignore,
  async fn() {
    const missing = uniqueId("aa-not-loaded");
    assert.ok(!loaded(missing));
    await using b = await makeBundle({ id: uniqueId("aa-missing"), args: ["true"] });
    b.config.process!.apparmorProfile = missing;
    const err = await runInit(b).then(() => undefined, (e: Error) => e);
    assert.ok(err, "create with a profile that is not loaded succeeded");
    assert.match(err.message, /process\.apparmorProfile/);
    assert.match(err.message, new RegExp(missing));
    let left: string[] = [];
    try {
      left = [...Deno.readDirSync(b.stateRoot)].map((e) => e.name);
    } catch { /* no state root at all */ }
    assert.deepEqual(left, [], "no container state left");
    assert.deepEqual(cgroupDirsNamed(b.config.linux!.cgroupsPath!, 4), [], "no cgroup left");
  },
});

Deno.test({
  name: "apparmor: restore --lsm-profile apparmor:NAME runs the restored container under NAME",
  ignore: ignore || ignoreCriu,
  async fn() {
    // CRIU rewrites the profile a process had when it was dumped (one dumped unconfined stays
    // so): the container runs under one profile, and is restored under another.
    const dumped = uniqueId("aa-profile");
    const restored = uniqueId("aa-profile");
    await using _d = await loadProfile(dumped);
    await using _r = await loadProfile(restored);
    await using b = await ckptBundle({
      id: uniqueId("aa-criu"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    b.config.process!.apparmorProfile = dumped;
    await b.write();
    const quiet = { stdin: "null", stdout: "null", stderr: "null" } as const;
    const f = new Factory({ root: b.stateRoot });
    const c = await f.run(b.id, { bundle: b.dir, stdio: quiet });
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      assert.equal(label(c.init!.pid), `${dumped} (enforce)`);
      await c.checkpoint({ ...CRIU_NET, imagePath: `${b.dir}/img` });
    } finally {
      await c.destroy({ force: true });
    }
    const at = readCounter(b);
    const r = await f.restore(b.id, {
      ...CRIU_NET,
      imagePath: `${b.dir}/img`,
      stdio: quiet,
      lsmProfile: `apparmor:${restored}`,
    });
    try {
      assert.equal(label(r.init!.pid), `${restored} (enforce)`);
      await waitFor(() => readCounter(b) >= at + 3, "the restored counter to go on");
    } finally {
      await r.destroy({ force: true });
    }
    assertNothingLeft(b, b.id);
  },
});

/** A process's AppArmor label, read from the host. */
function label(pid: number): string | undefined {
  assert.ok(pid > 0, `pid ${pid}`);
  return read(`/proc/${pid}/attr/current`)?.replace(/\0$/, "");
}
