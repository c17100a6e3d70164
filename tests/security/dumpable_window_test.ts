// The init of a container with a new user namespace, attacked by another container from the
// moment it exists (issue 15). Its id maps are written from outside after clone(2); a map
// writer without privilege (a rootless runtime, or newuidmap/newgidmap for it) may write them
// only if /proc/<child> is its own, so the helper clones that init dumpable and the init makes
// itself non-dumpable again as its first steps. A root runtime writes the maps with its
// capabilities and needs no such window.
//
// Why the window matters to a root runtime: a dumpable process is reachable under the
// ordinary ptrace rules (kernel/ptrace.c __ptrace_may_access, security/commoncap.c
// cap_ptrace_access_check). The init's ids are still root's (host uid 0) until it switches to
// its mapped ones, and its user namespace is owned by uid 0 with the host's as parent, where
// a process of euid 0 holds every capability in it (kernel/capability.c cap_capable: the
// owner's rule), CAP_SYS_PTRACE included. So a root container without a user namespace and
// without CAP_SYS_PTRACE that sees the init (sharing its pid namespace) passes every check
// but the dumpable one. Rootless, the init's ids and its namespace's owner are the user's:
// another rootless container of the same user is root of its own user namespace only, which
// holds no capability in the init's (a sibling, not its parent), so the kernel refuses it in
// the window too (the third test proves it with the window open).
//
// The hold knob NSINIT_HOLD_AT_START_MS makes each victim wait after its GO, before its first
// step, so that the probe (testdata/helper_probe.c) finds every one there; NSINIT_HOLD_AT_LOCK_MS
// the same in a rootless init's second dumpable window, while it locks its mounts.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import type { Spec } from "../../spec/config.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { makeTempDir } from "../helpers/paths.ts";
import { uniqueId } from "../helpers/ids.ts";
import { run } from "../helpers/run.ts";
import { hasCommand, isRoot, skipIf, skipUnless } from "../helpers/skip.ts";
import {
  asUser,
  cannotRunAsTestUser,
  mapTestUserSubIds,
  runNsinitAs,
  testUser,
} from "../helpers/user.ts";

const ignoreRoot = skipUnless(isRoot(), "real containers need root") ||
  skipUnless(hasCommand("cc"), "needs a C compiler for the probe");
const rootlessReason = cannotRunAsTestUser();
const ignoreRootless = ignoreRoot ||
  skipIf(rootlessReason !== undefined, rootlessReason ?? "");

/** Victims the probe must have attacked while each was still the helper. */
const WANTED = 5;
/** Victims made at most before the test gives up counting. */
const MAX_VICTIMS = 25;
/** How long each victim holds at its start (the knob's value). */
const HOLD_MS = "200";

/** Compiles the probe statically into `dir`/helper_probe. */
async function compileProbe(dir: string): Promise<void> {
  const r = await run("cc", [
    "-O2",
    "-static",
    "-o",
    `${dir}/helper_probe`,
    new URL("./testdata/helper_probe.c", import.meta.url).pathname,
  ]);
  assert.equal(r.code, 0, r.stderr);
}

/** What the probe printed, parsed. */
interface ProbeReport {
  helpers: number;
  attempts: number;
  leaks: string[];
  /**
   * Each helper caught: the owner uid of its /proc/<pid> as the attacker sees it, and in how
   * many pid namespaces it has a pid, from the attacker's down.
   */
  caught: { owner: number; levels: number }[];
  out: string;
}

function parseProbe(out: string): ProbeReport {
  const count = (k: string) => Number(out.match(new RegExp(`^${k} (\\d+)$`, "m"))?.[1]);
  return {
    helpers: count("helpers"),
    attempts: count("attempts"),
    leaks: out.split("\n").filter((l) => l.startsWith("leak ")),
    caught: [...out.matchAll(/^helper \d+ \S+ owner=(-?\d+) levels=(-?\d+)$/gm)].map((m) => ({
      owner: Number(m[1]),
      levels: Number(m[2]),
    })),
    out,
  };
}

/**
 * The victims' inits the probe caught while they were dumpable: /proc/<pid> owned by the
 * probe's root (the user), with a pid in the victim's own pid namespace too (the runtime's
 * stage-1 helper, dumpable for the clone, has none).
 */
function dumpableInits(r: ProbeReport): number {
  return r.caught.filter((c) => c.owner === 0 && c.levels === 2).length;
}

/** A host file no container was given, for the probe to read through a victim's root. */
async function hostSecret(dir: string): Promise<{ path: string; text: string }> {
  const path = `${dir}/host-secret`;
  const text = `host-secret-${crypto.randomUUID()}`;
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  return { path, text };
}

/** A root container's spec with a new user namespace mapping root to an unprivileged range. */
function remapped(spec: Spec): void {
  spec.linux!.namespaces!.push({ type: "user" });
  spec.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
  spec.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
}

/**
 * Runs the probe as root container A (no user namespace, uid 0, runc's default capabilities:
 * no CAP_SYS_PTRACE), makes victims with `victim` until the probe has caught WANTED of their
 * inits (those caught with a pid in `levels` pid namespaces, from A's down) while they were
 * still the helper, then stops the probe and returns its report.
 */
async function rootAttack(
  probeArgs: (secret: string) => { args: string[]; env: string[]; change?: (s: Spec) => void },
  victim: (a: { pid: number }) => (spec: Spec) => void,
  levels: number,
): Promise<ProbeReport & { victims: number; secret: string }> {
  await using dir = await makeTempDir("dumpwin");
  const secret = await hostSecret(dir.path);
  const p = probeArgs(secret.path);
  await using a = await makeBundle({ id: uniqueId("dumpwin-a"), args: p.args, env: p.env });
  await compileProbe(a.rootfs);
  const caps = a.config.process!.capabilities!;
  assert.ok(!Object.values(caps).some((set) => (set ?? []).includes("CAP_SYS_PTRACE")));
  assert.equal(a.config.process!.user.uid, 0);
  assert.ok(!a.config.linux!.namespaces!.some((n) => n.type === "user"));
  p.change?.(a.config);
  await using b = await makeBundle({ id: uniqueId("dumpwin-b"), rootfs: "shared" });
  const factory = new Factory({ root: `${dir.path}/state` });
  const attacker = await factory.run(a.id, {
    bundle: a.dir,
    spec: a.config,
    stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
  });
  let stdout = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of attacker.init!.stdout!) {
      stdout += decoder.decode(chunk, { stream: true });
    }
  })();
  const stderr = new Response(attacker.init!.stderr).text();
  const caught = () => parseProbe(stdout).caught.filter((c) => c.levels === levels).length;
  let victims = 0, code;
  try {
    Deno.env.set("NSINIT_HOLD_AT_START_MS", HOLD_MS);
    try {
      for (; victims < MAX_VICTIMS && caught() < WANTED; victims++) {
        const id = uniqueId("dumpwin-v");
        const spec: Spec = structuredClone(b.config);
        spec.linux!.cgroupsPath = `nsinit-test-${id}`;
        remapped(spec);
        victim({ pid: attacker.init!.pid })(spec);
        const v = await factory.run(id, {
          bundle: b.dir,
          spec,
          stdio: { stdin: "null", stdout: "null", stderr: "piped" },
        });
        try {
          const err = new Response(v.init!.stderr).text();
          assert.equal(await v.init!.exitCode(), 0, await err);
        } finally {
          await v.destroy({ force: true });
        }
      }
    } finally {
      Deno.env.delete("NSINIT_HOLD_AT_START_MS");
    }
    await Deno.writeTextFile(`${a.rootfs}/done`, "");
    await reading;
    code = await attacker.init!.exitCode();
  } finally {
    await attacker.destroy({ force: true });
  }
  assert.equal(code, 0, await stderr);
  return { ...parseProbe(stdout), victims, secret: secret.text };
}

/** The probe's findings in short: each kind of leak once, then its totals. */
function summary(r: ProbeReport): string {
  const kinds = new Map<string, string>();
  for (const l of r.leaks) kinds.set(l.split(" ")[1], l);
  return [
    ...kinds.values(),
    ...r.out.split("\n").filter((l) => /^(helpers|attempts|leaks) /.test(l)),
  ]
    .join("\n");
}

/** No attack succeeded (and the host file was never read), on enough victims. */
function check(
  r: ProbeReport & { victims: number; secret: string },
  what: string,
  caught: number,
): void {
  assert.ok(!r.out.includes(r.secret), `the attacker read a host file:\n${summary(r)}`);
  assert.deepEqual(r.leaks.length, 0, `the attacker reached a victim's init:\n${summary(r)}`);
  assert.ok(caught >= WANTED && r.attempts > 0, `too few victims caught:\n${r.out}`);
  console.log(`${what}: ${caught} caught, ${r.attempts} attempts, ${r.victims} victims`);
}

Deno.test({
  name:
    "escape: a root container cannot ptrace the init of a user-namespaced container that joins its pid namespace, nor reach the host through it",
  ignore: ignoreRoot,
  async fn() {
    // B joins A's pid namespace, so A sees B's init from clone(2). B cannot mount a procfs
    // of a pid namespace its user namespace does not own: it goes without /proc.
    const r = await rootAttack(
      (secret) => ({
        args: ["/helper_probe", "next", "/done"],
        env: [`PROBE_HOST_FILE=${secret}`],
      }),
      (a) => (spec) => {
        spec.linux!.namespaces = spec.linux!.namespaces!.map((n) =>
          n.type === "pid" ? { type: "pid", path: `/proc/${a.pid}/ns/pid` } : n
        );
        spec.mounts = spec.mounts!.filter((m) => m.destination !== "/proc");
      },
      1,
    );
    check(r, "dumpable window (joined pid namespace)", r.caught.length);
  },
});

Deno.test({
  name:
    "escape: a root container in the host's pid namespace cannot ptrace the init of a user-namespaced container, nor reach the host through it",
  ignore: ignoreRoot,
  async fn() {
    // A shares the host's pid namespace and watches the runtime's children (CLONE_PARENT
    // makes every victim's init this test process's child); B has its own pid namespace.
    const r = await rootAttack(
      (secret) => ({
        args: ["/helper_probe", "scan", "/done", String(Deno.pid)],
        env: [`PROBE_HOST_FILE=${secret}`],
        change: (s) => {
          s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "pid");
        },
      }),
      () => () => {},
      2, // the victims' inits, not their runtime's helpers: a pid in their own namespace too
    );
    check(r, "dumpable window (host pid namespace)", r.caught.filter((c) => c.levels === 2).length);
  },
});

Deno.test({
  name:
    "escape (rootless): another rootless container of the same user cannot ptrace a rootless init in its dumpable window",
  ignore: ignoreRootless,
  async fn() {
    // Rootless the window stays: the user's runtime (or newuidmap) writes the maps only to a
    // /proc/<child> of its own. A, rootless and without a pid namespace of its own (the host's
    // /proc bound), attacks every helper of the host; the victims are rootless containers of
    // the same user, one with its single map written by the runtime, the next with ranges
    // written by newuidmap/newgidmap, each holding at its start. A /proc/<pid> owned by A's
    // root (the user) shows the victim was dumpable while attacked; the kernel refuses every
    // attack all the same: A's user namespace holds no capability in the victim's. Then the
    // same for the second window, while each victim locks its mounts (NSINIT_HOLD_AT_LOCK_MS):
    // its init is in its nested user namespace then, dumpable for its map writer.
    const user = testUser()!;
    await using dir = await makeTempDir("dumpwin-rl");
    const secret = await hostSecret(dir.path);
    await Deno.chown(secret.path, user.uid, user.gid);
    await Deno.chown(dir.path, user.uid, user.gid);
    await using a = await makeBundle({
      id: uniqueId("dumpwin-ra"),
      rootless: true,
      owner: { uid: user.uid, gid: user.gid },
      cgroupsPath: null,
      readonlyRoot: false,
      args: ["sh", "-c", "exec /helper_probe scan /done 0 >/out 2>&1"],
      env: [`PROBE_HOST_FILE=${secret.path}`],
    });
    await compileProbe(a.rootfs);
    a.config.linux!.namespaces = a.config.linux!.namespaces!.filter((n) => n.type !== "pid");
    // A user namespace cannot mount a procfs of a pid namespace it does not own: the host's
    // is bound, as runc's rootless containers without a pid namespace do.
    a.config.mounts = a.config.mounts!.map((m) =>
      m.destination === "/proc"
        ? {
          destination: "/proc",
          type: "bind",
          source: "/proc",
          options: ["rbind", "nosuid", "noexec", "nodev"],
        }
        : m
    );
    await a.write();
    await using b = await makeBundle({
      id: uniqueId("dumpwin-rb"),
      rootless: true,
      owner: { uid: user.uid, gid: user.gid },
      cgroupsPath: null,
    });
    const single = structuredClone(b.config);
    const ranges = structuredClone(b.config);
    mapTestUserSubIds(ranges, user);
    // Only a container that may hold CAP_SYS_ADMIN locks its mounts (nestsUserNamespace).
    const [lockSingle, lockRanges] = [single, ranges].map((c) => {
      const l = structuredClone(c);
      const caps = l.process!.capabilities!;
      for (const set of [caps.bounding!, caps.effective!, caps.permitted!]) {
        set.push("CAP_SYS_ADMIN");
      }
      return l;
    });
    const state = `${dir.path}/state`;
    const nsinit = (args: string[], env: Record<string, string> = {}) =>
      runNsinitAs(user, ["--root", state, ...args], { env });
    const started = await nsinit(["run", "-d", "--bundle", a.dir, a.id]);
    assert.equal(started.code, 0, started.stderr);
    let victims = 0, out = "", lockWindow = 0;
    const caught = () => {
      out = (() => {
        try {
          return Deno.readTextFileSync(`${a.rootfs}/out`);
        } catch {
          return "";
        }
      })();
      return dumpableInits(parseProbe(out));
    };
    try {
      for (; victims < MAX_VICTIMS && caught() < WANTED; victims++) {
        b.config = victims % 2 === 0 ? single : ranges;
        await b.write();
        const id = uniqueId("dumpwin-rv");
        const r = await nsinit(["run", "--bundle", b.dir, id], {
          // Longer: the probe scans every process of the host.
          NSINIT_HOLD_AT_START_MS: "500",
        });
        await nsinit(["delete", "--force", id]);
        assert.equal(r.code, 0, r.stderr);
      }
      // The second window: a rootless init is dumpable again while it locks its mounts (its
      // map writer opens /proc/<init>/uid_map; C_LOCKMOUNTS). Victims now hold only there.
      const before = caught();
      for (let i = 0; i < MAX_VICTIMS && caught() - before < WANTED; i++, victims++) {
        b.config = i % 2 === 0 ? lockSingle : lockRanges;
        await b.write();
        const id = uniqueId("dumpwin-rl");
        const r = await nsinit(["run", "--bundle", b.dir, id], { NSINIT_HOLD_AT_LOCK_MS: "500" });
        await nsinit(["delete", "--force", id]);
        assert.equal(r.code, 0, r.stderr);
      }
      lockWindow = caught() - before;
      await Deno.writeTextFile(`${a.rootfs}/done`, "");
      // The probe prints its totals once it sees /done.
      for (let i = 0; i < 100 && (caught(), !/^leaks \d+$/m.test(out)); i++) {
        await new Promise((res) => setTimeout(res, 100));
      }
    } finally {
      await nsinit(["delete", "--force", a.id]);
    }
    const r = { ...parseProbe(out), victims, secret: secret.text };
    check(r, "dumpable window (rootless sibling)", dumpableInits(r));
    assert.ok(lockWindow >= WANTED, `too few inits caught while locking their mounts:\n${out}`);
    console.log(`dumpable window (rootless sibling, locking the mounts): ${lockWindow} caught`);

    // The window is open all the same: the same probe run by the user outside any container
    // (who may ptrace the runtime itself too) attaches to the victims. This is what the
    // container's user namespace alone keeps A from.
    const done = `${dir.path}/done-host`;
    const [cmd, args] = asUser(user, `${a.rootfs}/helper_probe`, ["scan", done, "0"]);
    const host = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "null" })
      .spawn();
    const hostOut = new Response(host.stdout).text();
    try {
      for (let i = 0; i < 2; i++) {
        b.config = i === 0 ? single : ranges;
        await b.write();
        const id = uniqueId("dumpwin-rh");
        const v = await nsinit(["run", "--bundle", b.dir, id], { NSINIT_HOLD_AT_START_MS: "500" });
        await nsinit(["delete", "--force", id]);
        assert.equal(v.code, 0, v.stderr);
      }
    } finally {
      await Deno.writeTextFile(done, "");
    }
    assert.ok((await host.status).success);
    const own = parseProbe(await hostOut);
    assert.ok(
      own.leaks.some((l) => l.startsWith("leak ptrace ")),
      `the user's own probe did not attach in the window:\n${own.out}`,
    );
  },
});
