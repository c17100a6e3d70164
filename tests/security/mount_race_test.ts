// End-to-end, the class of CVE-2021-30465: a read-only bind mount whose destination lies in
// a volume shared with another container, which swaps that destination between a directory
// and a symlink to /sys in a loop (renameat2 RENAME_EXCHANGE). A runtime that resolves the
// destination twice (mount, then remount read-only) leaves the bind mount writable and
// remounts the container's /sys without nosuid/nodev/noexec. nsinit makes the bind mount
// read-only while it is still detached and attaches it on the fd it resolved once.
//
// NSINIT_RACE_RUNS sets the number of starts (default 150; run 1000 by hand).
// The result line `race: N of M starts ...` is printed for the report.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { makeTempDir } from "../helpers/paths.ts";
import { run } from "../helpers/run.ts";
import { hasCommand, isRoot, skipUnless } from "../helpers/skip.ts";
import { uniqueId } from "../helpers/ids.ts";

const RUNS = Number(Deno.env.get("NSINIT_RACE_RUNS") ?? "150");
const ignore = skipUnless(isRoot(), "real containers need root") ||
  skipUnless(hasCommand("cc"), "needs a C compiler for the attacker's program");

Deno.test({
  name: `escape: symlink-exchange race on a read-only bind mount (${RUNS} starts)`,
  ignore,
  async fn() {
    await using vol = await makeTempDir("race-vol");
    await using src = await makeTempDir("race-src");
    const marker = uniqueId("race-src");
    await Deno.mkdir(`${src.path}/${marker}`);
    await Deno.mkdir(`${vol.path}/dir`);
    await Deno.symlink("/sys", `${vol.path}/link`);

    // The attacker: a second container sharing the volume, swapping dir and link.
    await using attacker = await makeBundle({
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

    // The victim: the volume at /mnt, and a read-only bind mount at /mnt/dir.
    const script = [
      `b=$(grep -- '/${marker} ' /proc/self/mountinfo | cut -d' ' -f6)`,
      `echo "bind=$b"`,
      `grep ' - sysfs ' /proc/self/mountinfo | cut -d' ' -f6 | sed 's/^/sys=/'`,
    ].join("; ");
    await using victim = await makeBundle({ args: ["sh", "-c", script] });
    victim.config.mounts!.push(
      { destination: "/mnt", type: "bind", source: vol.path, options: ["rbind", "rw"] },
      {
        destination: "/mnt/dir",
        type: "bind",
        source: `${src.path}/${marker}`,
        options: ["bind", "ro"],
      },
    );
    const vf = new Factory({ root: victim.stateRoot });
    let writable = 0, sysWeakened = 0, failed = 0, notMounted = 0;
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
          // The destination was a symlink to /sys at that moment, and /sys cannot take a
          // directory bind in every case: an error is a safe outcome, not an escape.
          failed++;
          const msg = (e as Error).message.replace(/mounts\[\d+\]/, "mounts[n]");
          failures.set(msg, (failures.get(msg) ?? 0) + 1);
          continue;
        }
        const lines = out.stdout.split("\n");
        const bind = lines.find((l) => l.startsWith("bind="))?.slice(5) ?? "";
        if (bind === "") notMounted++;
        else if (!bind.split(",").includes("ro")) writable++;
        for (const l of lines.filter((l) => l.startsWith("sys="))) {
          const opts = l.slice(4).split(",");
          if (!["nosuid", "nodev", "noexec"].every((o) => opts.includes(o))) sysWeakened++;
        }
      }
    } finally {
      await bad.destroy({ force: true });
    }
    console.log(
      `race: ${writable} of ${RUNS} starts had the read-only bind mount writable, ` +
        `${sysWeakened} had /sys without nosuid/nodev/noexec ` +
        `(${failed} refused to start, ${notMounted} without the bind mount visible)`,
    );
    for (const [msg, n] of failures) console.log(`race: ${n} x ${msg}`);
    assert.equal(writable, 0, "a read-only bind mount was writable");
    assert.equal(sysWeakened, 0, "/sys lost nosuid/nodev/noexec");
    assert.ok(failed < RUNS, "no start succeeded: the race test tested nothing");
  },
});
