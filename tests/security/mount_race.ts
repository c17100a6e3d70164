/**
 * The class of CVE-2021-30465, for both modes of mount_race_test.ts: a read-only bind mount whose
 * destination lies in a volume shared with another container, which swaps that destination
 * between a directory and a symlink to /sys in a loop (renameat2 RENAME_EXCHANGE). A runtime that
 * resolves the destination twice (mount, then remount read-only) leaves the bind mount writable
 * and remounts the container's /sys without nosuid/nodev/noexec.
 *
 * {@linkcode prepareRace} (root) makes the two bundles and the volume, owned by the runtime's
 * user; {@linkcode runRace} runs the race through the library. As a script it runs the race as
 * whoever runs it and prints the result as one JSON line (the rootless test runs it as the test
 * user, so the runtime is that user's):
 *
 *   deno run -A tests/security/mount_race.ts SETUP_JSON RUNS
 *
 * @module
 */

import { Factory } from "../../mod.ts";
import { type Bundle, makeBundle } from "../helpers/bundle.ts";
import { makeTempDir, type TempDir } from "../helpers/paths.ts";
import { run } from "../helpers/run.ts";
import { uniqueId } from "../helpers/ids.ts";

/** What the race found. */
export interface RaceResult {
  runs: number;
  /** Starts whose read-only bind mount was writable. */
  writable: number;
  /** Starts whose /sys lacked nosuid, nodev or noexec. */
  sysWeakened: number;
  /** Starts refused (an error is a safe outcome), and their messages. */
  failed: number;
  failures: Record<string, number>;
  /** Starts where the bind mount was not visible (the destination was the symlink). */
  notMounted: number;
  /**
   * Whether the attacker was seen swapping (the volume's `dir` was a directory at one look and
   * a symlink at another, before the starts): without it the race tested nothing.
   */
  attackerSwapped: boolean;
}

/** The bundles of a race: what {@linkcode runRace} needs (plain data, passed as JSON). */
export interface RaceSetup {
  /** The shared volume (holding `dir` and `link`). */
  vol: string;
  attacker: { id: string; dir: string };
  victim: { id: string; dir: string };
  /** Victims get cgroups (root) or none (rootless). */
  rootless: boolean;
}

/**
 * Makes the attacker's and the victim's bundles (runc's spec, or the rootless one owned by
 * `owner`) and the shared volume; `await using` removes them.
 */
export async function prepareRace(
  owner?: { uid: number; gid: number },
): Promise<RaceSetup & AsyncDisposable> {
  const made: (Bundle | TempDir)[] = [];
  const dispose = async () => {
    for (const d of made.reverse()) await d[Symbol.asyncDispose]();
  };
  try {
    const mode = owner ? { rootless: true, owner, cgroupsPath: null } : {};
    const vol = await makeTempDir("race-vol");
    made.push(vol);
    const src = await makeTempDir("race-src");
    made.push(src);
    const marker = uniqueId("race-src");
    await Deno.mkdir(`${src.path}/${marker}`);
    await Deno.mkdir(`${vol.path}/dir`);
    await Deno.symlink("/sys", `${vol.path}/link`);
    if (owner) {
      for (const p of [vol.path, `${vol.path}/dir`]) await Deno.chown(p, owner.uid, owner.gid);
    }

    // The attacker: a second container sharing the volume, swapping dir and link.
    const attacker = await makeBundle({ args: ["/exchange", "/vol/dir", "/vol/link"], ...mode });
    made.push(attacker);
    const cc = await run("cc", [
      "-O2",
      "-static",
      "-o",
      `${attacker.rootfs}/exchange`,
      new URL("./testdata/exchange.c", import.meta.url).pathname,
    ]);
    if (cc.code !== 0) throw new Error(`cc exchange.c: ${cc.stderr}`);
    attacker.config.mounts!.push({
      destination: "/vol",
      type: "bind",
      source: vol.path,
      options: ["rbind", "rw"],
    });
    await attacker.write();

    // The victim: the volume at /mnt, and a read-only bind mount at /mnt/dir.
    const script = [
      `b=$(grep -- '/${marker} ' /proc/self/mountinfo | cut -d' ' -f6)`,
      `echo "bind=$b"`,
      `grep ' - sysfs ' /proc/self/mountinfo | cut -d' ' -f6 | sed 's/^/sys=/'`,
    ].join("; ");
    const victim = await makeBundle({ args: ["sh", "-c", script], ...mode });
    made.push(victim);
    victim.config.mounts!.push(
      { destination: "/mnt", type: "bind", source: vol.path, options: ["rbind", "rw"] },
      {
        destination: "/mnt/dir",
        type: "bind",
        source: `${src.path}/${marker}`,
        options: ["bind", "ro"],
      },
    );
    await victim.write();
    return {
      vol: vol.path,
      attacker: { id: attacker.id, dir: attacker.dir },
      victim: { id: victim.id, dir: victim.dir },
      rootless: owner !== undefined,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** Runs `runs` starts of the victim while the attacker swaps its destination. */
export async function runRace(setup: RaceSetup, runs: number): Promise<RaceResult> {
  const configOf = (dir: string) => JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  const { attacker, victim } = setup;
  const factory = new Factory({ root: `${attacker.dir}/state` });
  const bad = await factory.run(attacker.id, {
    bundle: attacker.dir,
    spec: configOf(attacker.dir),
    stdio: { stdin: "null", stdout: "null", stderr: "null" },
  });
  let dirs = 0, links = 0;
  for (let i = 0; i < 100_000 && (dirs === 0 || links === 0); i++) {
    try {
      if (Deno.lstatSync(`${setup.vol}/dir`).isSymlink) links++;
      else dirs++;
    } catch { /* between two names */ }
  }
  const spec = configOf(victim.dir);
  const vf = new Factory({ root: `${victim.dir}/state` });
  const r: RaceResult = {
    runs,
    writable: 0,
    sysWeakened: 0,
    failed: 0,
    failures: {},
    notMounted: 0,
    attackerSwapped: dirs > 0 && links > 0,
  };
  try {
    for (let i = 0; i < runs; i++) {
      const id = `${victim.id}-${i}`;
      let out: { code: number; stdout: string; stderr: string };
      try {
        const linux = { ...spec.linux };
        if (!setup.rootless) linux.cgroupsPath = id;
        const c = await vf.run(id, {
          bundle: victim.dir,
          spec: { ...spec, linux },
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
        r.failed++;
        const msg = (e as Error).message.replace(/mounts\[\d+\]/, "mounts[n]");
        r.failures[msg] = (r.failures[msg] ?? 0) + 1;
        continue;
      }
      const lines = out.stdout.split("\n");
      const bind = lines.find((l) => l.startsWith("bind="))?.slice(5) ?? "";
      if (bind === "") r.notMounted++;
      else if (!bind.split(",").includes("ro")) r.writable++;
      for (const l of lines.filter((l) => l.startsWith("sys="))) {
        const opts = l.slice(4).split(",");
        if (!["nosuid", "nodev", "noexec"].every((o) => opts.includes(o))) r.sysWeakened++;
      }
    }
  } finally {
    await bad.destroy({ force: true });
  }
  return r;
}

if (import.meta.main) {
  const [setup, runsArg] = Deno.args;
  const runs = Number(runsArg);
  if (!setup || !(runs > 0)) throw new RangeError("usage: mount_race.ts SETUP_JSON RUNS");
  console.log(JSON.stringify(await runRace(JSON.parse(setup), runs)));
}
