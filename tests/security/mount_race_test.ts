// End-to-end, the class of CVE-2021-30465 (mount_race.ts): a mount whose destination lies in a
// volume shared with another container, which swaps that destination between a directory and a
// symlink to /sys in a loop (renameat2 RENAME_EXCHANGE). A runtime that resolves the destination
// twice (mount, then remount read-only, set propagation or recursive attributes) applies the
// second step elsewhere: the mount keeps fewer restrictions than asked, and the container's /sys
// gets what was meant for the mount.
//
// Two destinations are raced: a read-only bind mount (nsinit makes it read-only while still
// detached, open_tree + mount_setattr, and attaches it on the fd it resolved once), and a
// tmpfs whose options need steps after the mount (recursive read-only `rro`, propagation
// `rshared`): nsinit makes it with fsopen/fsconfig/fsmount, attaches it on the resolved fd,
// and every later step acts on the mount's fd, never on the path again.
//
// Each runs as root, and rootless: both containers from runc's rootless spec, the runtime (the
// library, in a Deno process of its own) run by the unprivileged test user.
//
// NSINIT_RACE_RUNS sets the number of starts as root (default 150; run 1000 by hand),
// NSINIT_RACE_RUNS_ROOTLESS rootless (default 60).
// The result lines `race (MODE): N of M starts ...` are printed for the report.
import assert from "node:assert/strict";
import type { Mount } from "../../spec/config.ts";
import { makeTempDir, REPO_ROOT } from "../helpers/paths.ts";
import { uniqueId } from "../helpers/ids.ts";
import { hasCommand, skipUnless } from "../helpers/skip.ts";
import { runAs, testUser, warmDenoCache } from "../helpers/user.ts";
import { prepareRace, type RaceRun, runRace } from "./mount_race.ts";
import { type Mode, MODES } from "./modes.ts";

const RUNS = {
  root: Number(Deno.env.get("NSINIT_RACE_RUNS") ?? "150"),
  rootless: Number(Deno.env.get("NSINIT_RACE_RUNS_ROOTLESS") ?? "60"),
};
const noCc = skipUnless(hasCommand("cc"), "needs a C compiler for the attacker's program");

/** What one race found: counts by kind, and the start failures by message. */
interface RaceResult {
  counts: Record<string, number>;
  failed: number;
  failures: Record<string, number>;
}

/**
 * Starts the victim (`mount` at /mnt/dir, running `script`) while the attacker swaps the
 * destination, as the mode's runtime; `judge` turns each start's output into the names of the
 * escapes it saw (or "missing" when the mount is not visible: not an escape).
 */
async function race(
  m: Mode,
  prefix: string,
  mount: (vol: string) => Promise<Mount>,
  script: string,
  judge: (stdout: string) => string[],
  hook?: (rootfs: string) => string,
): Promise<RaceResult> {
  const runs = RUNS[m.name];
  const user = m.name === "rootless" ? testUser()! : undefined;
  await using setup = await prepareRace({
    prefix,
    mount,
    script,
    owner: user,
    ...(hook ? { hook } : {}),
  });
  let r: RaceRun;
  if (!user) {
    r = await runRace(setup, runs);
  } else {
    await warmDenoCache(user);
    const out = await runAs(
      user,
      Deno.execPath(),
      ["run", "-A", `${REPO_ROOT}/tests/security/mount_race.ts`, JSON.stringify(setup), `${runs}`],
      { cwd: REPO_ROOT, timeoutMs: 600_000 },
    );
    assert.equal(out.code, 0, out.stderr);
    r = JSON.parse(out.stdout.trim().split("\n").at(-1)!);
  }
  assert.ok(r.attackerSwapped, "the attacker never swapped: the race tested nothing");
  assert.ok(r.failed < runs, "no start succeeded: the race tested nothing");
  const counts: Record<string, number> = {};
  for (const o of r.outputs) for (const kind of judge(o)) counts[kind] = (counts[kind] ?? 0) + 1;
  return { counts, failed: r.failed, failures: r.failures };
}

/** mountinfo lines printed as `<tag>=<line>`: [mount options, optional fields] of each. */
function mountinfo(stdout: string, tag: string): { opts: string[]; optional: string[] }[] {
  return stdout.split("\n").filter((l) => l.startsWith(`${tag}=`)).map((l) => {
    const [left] = l.slice(tag.length + 1).split(" - ");
    const fields = left.split(" ");
    return { opts: fields[5].split(","), optional: fields.slice(6) };
  });
}

/** The container's sysfs: still nosuid/nodev/noexec, and not made shared by someone's step. */
function sysWeakened(stdout: string): string[] {
  const out: string[] = [];
  for (const sys of mountinfo(stdout, "sys")) {
    if (!["nosuid", "nodev", "noexec"].every((o) => sys.opts.includes(o))) out.push("sysWeakened");
    if (sys.optional.some((f) => f.startsWith("shared:"))) out.push("sysShared");
  }
  return out;
}

for (const m of MODES) {
  const runs = RUNS[m.name];

  Deno.test({
    name: `escape (${m.name}): symlink-exchange race on a read-only bind mount (${runs} starts)`,
    ignore: m.ignore || noCc,
    async fn() {
      await using src = await makeTempDir("race-src");
      const marker = uniqueId("race-src");
      await Deno.mkdir(`${src.path}/${marker}`);
      // The victim: the volume at /mnt, and a read-only bind mount at /mnt/dir.
      const script = [
        `b=$(grep -- '/${marker} ' /proc/self/mountinfo | cut -d' ' -f6)`,
        `echo "bind=$b"`,
        `grep ' - sysfs ' /proc/self/mountinfo | sed 's/^/sys=/'`,
      ].join("; ");
      const r = await race(
        m,
        "race",
        () =>
          Promise.resolve({
            destination: "/mnt/dir",
            type: "bind",
            source: `${src.path}/${marker}`,
            options: ["bind", "ro"],
          }),
        script,
        (stdout) => {
          const bind = stdout.split("\n").find((l) => l.startsWith("bind="))?.slice(5) ?? "";
          const found: string[] = sysWeakened(stdout).filter((k) => k === "sysWeakened");
          if (bind === "") found.push("missing");
          else if (!bind.split(",").includes("ro")) found.push("writable");
          return found;
        },
      );
      const n = (k: string) => r.counts[k] ?? 0;
      console.log(
        `race (${m.name}): ${n("writable")} of ${runs} starts had the read-only bind mount ` +
          `writable, ${n("sysWeakened")} had /sys without nosuid/nodev/noexec ` +
          `(${r.failed} refused to start, ${n("missing")} without the bind mount visible)`,
      );
      for (const [msg, k] of Object.entries(r.failures)) console.log(`race: ${k} x ${msg}`);
      assert.equal(n("writable"), 0, "a read-only bind mount was writable");
      assert.equal(n("sysWeakened"), 0, "/sys lost nosuid/nodev/noexec");
    },
  });

  Deno.test({
    name:
      `escape (${m.name}): symlink-exchange race on a tmpfs with rro, nosuid and rshared (${runs} starts)`,
    ignore: m.ignore || noCc,
    async fn() {
      // A size no other tmpfs has finds this one in mountinfo, wherever it landed.
      const size = `${4 * (1024 + Math.floor(Math.random() * 1024))}k`; // whole pages: shown as given
      const script = [
        `grep -- ' - tmpfs .*size=${size}' /proc/self/mountinfo | sed 's/^/tmpfs=/'`,
        `grep ' - sysfs ' /proc/self/mountinfo | sed 's/^/sys=/'`,
      ].join("; ");
      // Rootless, the init then locks its mounts in a nested mount namespace, whose copy turns
      // shared mounts into slaves of the first one, which dies with its last process: inside,
      // every mount is private. Where the propagation went is read before that, by a
      // createContainer hook in the container's first mount namespace (before pivot_root: the
      // container's /sys is <rootfs>/sys there).
      const rootless = m.name === "rootless";
      const hook = rootless
        ? (rootfs: string) =>
          [
            `grep -- ' - tmpfs .*size=${size}' /proc/self/mountinfo | sed 's/^/pretmpfs=/'`,
            `grep ' ${rootfs}/sys .* - sysfs ' /proc/self/mountinfo | sed 's/^/presys=/'`,
          ].join("; ")
        : undefined;
      const r = await race(
        m,
        "mnt-race",
        () =>
          Promise.resolve({
            destination: "/mnt/dir",
            type: "tmpfs",
            source: "tmpfs",
            options: ["nosuid", "nodev", "noexec", "rro", "rshared", `size=${size}`],
          }),
        script,
        (stdout) => {
          const found = sysWeakened(stdout);
          const tmpfs = mountinfo(stdout, "tmpfs");
          if (tmpfs.length === 0) found.push("missing");
          for (const t of tmpfs) {
            if (!t.opts.includes("ro")) found.push("writable");
            if (!["nosuid", "nodev", "noexec"].every((o) => t.opts.includes(o))) {
              found.push("tmpfsWeakened");
            }
            if (!rootless && !t.optional.some((f) => f.startsWith("shared:"))) {
              found.push("notShared");
            }
          }
          if (rootless) {
            const pre = mountinfo(stdout, "pretmpfs");
            if (pre.length === 0) found.push("missing");
            for (const t of pre) {
              if (!t.optional.some((f) => f.startsWith("shared:"))) found.push("notShared");
            }
            if (mountinfo(stdout, "presys").length === 0) found.push("missing");
            for (const s of mountinfo(stdout, "presys")) {
              if (s.optional.some((f) => f.startsWith("shared:"))) found.push("sysShared");
            }
          }
          return found;
        },
        hook,
      );
      const n = (k: string) => r.counts[k] ?? 0;
      console.log(
        `race (${m.name}): ${n("writable")} of ${runs} starts had the rro tmpfs writable, ` +
          `${n("notShared")} had it not shared, ${
            n("tmpfsWeakened")
          } without nosuid/nodev/noexec; ` +
          `${n("sysShared")} had /sys made shared, ${
            n("sysWeakened")
          } without nosuid/nodev/noexec ` +
          `(${r.failed} refused to start, ${n("missing")} without the tmpfs visible)`,
      );
      for (const [msg, k] of Object.entries(r.failures)) console.log(`race: ${k} x ${msg}`);
      for (const k of ["writable", "notShared", "tmpfsWeakened", "sysShared", "sysWeakened"]) {
        assert.equal(n(k), 0, `${k}: a step meant for the tmpfs was applied elsewhere`);
      }
    },
  });
}
