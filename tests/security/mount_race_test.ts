// End-to-end, the class of CVE-2021-30465: a mount whose destination lies in a volume shared
// with another container, which swaps that destination between a directory and a symlink to
// /sys in a loop (renameat2 RENAME_EXCHANGE). A runtime that resolves the destination twice
// (mount, then remount read-only, set propagation or recursive attributes) applies the second
// step elsewhere: the mount keeps fewer restrictions than asked, and the container's /sys
// gets what was meant for the mount.
//
// Two destinations are raced: a read-only bind mount (nsinit makes it read-only while still
// detached, open_tree + mount_setattr, and attaches it on the fd it resolved once), and a
// tmpfs whose options need steps after the mount (recursive read-only `rro`, propagation
// `rshared`): nsinit makes it with fsopen/fsconfig/fsmount, attaches it on the resolved fd,
// and every later step acts on the mount's fd, never on the path again.
//
// NSINIT_RACE_RUNS sets the number of starts (default 150; run 1000 by hand).
// The result lines `race: N of M starts ...` are printed for the report.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import type { Mount } from "../../spec/config.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { makeTempDir } from "../helpers/paths.ts";
import { run } from "../helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "../helpers/skip.ts";
import { uniqueId } from "../helpers/ids.ts";

const RUNS = Number(Deno.env.get("NSINIT_RACE_RUNS") ?? "150");
const ignore = skipUnless(isRoot(), "real containers need root") ||
  skipUnless(hasCommand("cc"), "needs a C compiler for the attacker's program");

/** What one race found: counts by kind, and the start failures by message. */
interface RaceResult {
  counts: Record<string, number>;
  failed: number;
  failures: Map<string, number>;
}

/**
 * Starts the victim RUNS times while an attacker container sharing the volume swaps
 * `<vol>/dir` and `<vol>/link` (a symlink to /sys). The victim has the volume at /mnt and
 * `mount(vol)` at /mnt/dir; it runs `script`, whose output `judge` turns into the names of
 * the escapes it saw (or "missing" when the mount is not visible: not an escape).
 */
async function race(
  prefix: string,
  mount: (vol: string) => Promise<Mount>,
  script: string,
  judge: (stdout: string) => string[],
): Promise<RaceResult> {
  await using vol = await makeTempDir(`${prefix}-vol`);
  await Deno.mkdir(`${vol.path}/dir`);
  await Deno.symlink("/sys", `${vol.path}/link`);

  // The attacker: a second container sharing the volume, swapping dir and link.
  await using attacker = await makeBundle({
    id: uniqueId(`${prefix}-a`),
    args: ["/exchange", "/vol/dir", "/vol/link"],
  });
  const cc = await run("cc", [
    "-O2",
    "-static",
    "-o",
    `${attacker.rootfs}/exchange`,
    new URL("./testdata/exchange.c", import.meta.url).pathname,
  ]);
  assert.equal(cc.code, 0, cc.stderr);
  attacker.config.mounts!.push({
    destination: "/vol",
    type: "bind",
    source: vol.path,
    options: ["rbind", "rw"],
  });
  await attacker.write();
  const factory = new Factory({ root: attacker.stateRoot });
  const bad = await factory.run(attacker.id, {
    bundle: attacker.dir,
    spec: attacker.config,
    stdio: { stdin: "null", stdout: "null", stderr: "null" },
  });

  await using victim = await makeBundle({
    id: uniqueId(`${prefix}-v`),
    args: ["sh", "-c", script],
  });
  victim.config.mounts!.push(
    { destination: "/mnt", type: "bind", source: vol.path, options: ["rbind", "rw"] },
    await mount(vol.path),
  );
  const vf = new Factory({ root: victim.stateRoot });
  const counts: Record<string, number> = {};
  let failed = 0;
  const failures = new Map<string, number>();
  try {
    for (let i = 0; i < RUNS; i++) {
      const id = `${victim.id}-${i}`;
      let out: { code: number; stdout: string; stderr: string };
      try {
        const c = await vf.run(id, {
          bundle: victim.dir,
          spec: { ...victim.config, linux: { ...victim.config.linux, cgroupsPath: id } },
          stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
        });
        try {
          out = await c.init!.output();
        } finally {
          await c.destroy({ force: true });
        }
      } catch (e) {
        // The destination was a symlink to /sys at that moment, and /sys cannot take every
        // mount in every case: an error is a safe outcome, not an escape.
        failed++;
        const msg = (e as Error).message.replace(/mounts\[\d+\]/, "mounts[n]");
        failures.set(msg, (failures.get(msg) ?? 0) + 1);
        continue;
      }
      for (const kind of judge(out.stdout)) counts[kind] = (counts[kind] ?? 0) + 1;
    }
  } finally {
    await bad.destroy({ force: true });
  }
  return { counts, failed, failures };
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

Deno.test({
  name: `escape: symlink-exchange race on a read-only bind mount (${RUNS} starts)`,
  ignore,
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
      `race: ${n("writable")} of ${RUNS} starts had the read-only bind mount writable, ` +
        `${n("sysWeakened")} had /sys without nosuid/nodev/noexec ` +
        `(${r.failed} refused to start, ${n("missing")} without the bind mount visible)`,
    );
    for (const [msg, k] of r.failures) console.log(`race: ${k} x ${msg}`);
    assert.equal(n("writable"), 0, "a read-only bind mount was writable");
    assert.equal(n("sysWeakened"), 0, "/sys lost nosuid/nodev/noexec");
    assert.ok(r.failed < RUNS, "no start succeeded: the race test tested nothing");
  },
});

Deno.test({
  name: `escape: symlink-exchange race on a tmpfs with rro, nosuid and rshared (${RUNS} starts)`,
  ignore,
  async fn() {
    // A size no other tmpfs has finds this one in mountinfo, wherever it landed.
    const size = `${4 * (1024 + Math.floor(Math.random() * 1024))}k`; // whole pages: shown as given
    const script = [
      `grep -- ' - tmpfs .*size=${size}' /proc/self/mountinfo | sed 's/^/tmpfs=/'`,
      `grep ' - sysfs ' /proc/self/mountinfo | sed 's/^/sys=/'`,
    ].join("; ");
    const r = await race(
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
          if (!t.optional.some((f) => f.startsWith("shared:"))) found.push("notShared");
        }
        return found;
      },
    );
    const n = (k: string) => r.counts[k] ?? 0;
    console.log(
      `race: ${n("writable")} of ${RUNS} starts had the rro tmpfs writable, ` +
        `${n("notShared")} had it not shared, ${n("tmpfsWeakened")} without nosuid/nodev/noexec; ` +
        `${n("sysShared")} had /sys made shared, ${n("sysWeakened")} without nosuid/nodev/noexec ` +
        `(${r.failed} refused to start, ${n("missing")} without the tmpfs visible)`,
    );
    for (const [msg, k] of r.failures) console.log(`race: ${k} x ${msg}`);
    for (const k of ["writable", "notShared", "tmpfsWeakened", "sysShared", "sysWeakened"]) {
      assert.equal(n(k), 0, `${k}: a step meant for the tmpfs was applied elsewhere`);
    }
    assert.ok(r.failed < RUNS, "no start succeeded: the race test tested nothing");
  },
});
