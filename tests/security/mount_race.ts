/**
 * The race of CVE-2021-30465, for both modes of mount_race_test.ts: a mount whose destination
 * lies in a volume shared with another container, which swaps that destination between a
 * directory and a symlink to /sys in a loop (renameat2 RENAME_EXCHANGE).
 *
 * {@linkcode prepareRace} (root) makes the attacker's and the victim's bundles and the volume,
 * owned by the runtime's user; {@linkcode runRace} starts the victim through the library and
 * returns what each start printed (the test judges it). As a script it runs the race as whoever
 * runs it and prints the result as one JSON line (the rootless test runs it as the test user, so
 * the runtime is that user's):
 *
 *   deno run -A tests/security/mount_race.ts SETUP_JSON RUNS
 *
 * @module
 */

import { Factory } from "../../mod.ts";
import type { Mount } from "../../spec/config.ts";
import { type Bundle, makeBundle } from "../helpers/bundle.ts";
import { makeTempDir, type TempDir } from "../helpers/paths.ts";
import { run } from "../helpers/run.ts";
import { uniqueId } from "../helpers/ids.ts";

/** The bundles of a race: what {@linkcode runRace} needs (plain data, passed as JSON). */
export interface RaceSetup {
  /** The shared volume (holding `dir` and `link`). */
  vol: string;
  attacker: { id: string; dir: string };
  victim: { id: string; dir: string };
  /** Victims get a cgroup each (root) or none (rootless). */
  rootless: boolean;
}

/** What the starts of a race printed. */
export interface RaceRun {
  /** The stdout of each start that ran. */
  outputs: string[];
  /** Starts refused (an error is a safe outcome), and their messages. */
  failed: number;
  failures: Record<string, number>;
  /**
   * Whether the attacker was seen swapping (the volume's `dir` was a directory at one look and a
   * symlink at another, before the starts): without it the race tested nothing.
   */
  attackerSwapped: boolean;
}

/** Options of {@linkcode prepareRace}. */
export interface RaceOptions {
  /** Names the bundles and directories. */
  prefix: string;
  /** The victim's mount at /mnt/dir, given the volume's path. */
  mount: (vol: string) => Promise<Mount>;
  /** What the victim runs (`sh -c`), printing what the test judges. */
  script: string;
  /** Rootless: both containers from runc's rootless spec, owned by this user. */
  owner?: { uid: number; gid: number };
  /**
   * A createContainer hook's `sh -c` script, given the victim's rootfs: it runs in the victim's
   * mount namespace after every mount and before pivot_root (and before a rootless init locks
   * its mounts in a nested namespace, whose copy turns shared mounts into slaves), and its
   * output joins the victim's.
   */
  hook?: (rootfs: string) => string;
}

/**
 * Makes the attacker (a second container sharing the volume, swapping `<vol>/dir` and
 * `<vol>/link`, a symlink to /sys) and the victim (the volume at /mnt and `mount` at /mnt/dir);
 * `await using` removes them.
 */
export async function prepareRace(opts: RaceOptions): Promise<RaceSetup & AsyncDisposable> {
  const made: (Bundle | TempDir)[] = [];
  const dispose = async () => {
    for (const d of made.reverse()) await d[Symbol.asyncDispose]();
  };
  try {
    const { owner } = opts;
    const mode = owner ? { rootless: true, owner, cgroupsPath: null } : {};
    const vol = await makeTempDir(`${opts.prefix}-vol`);
    made.push(vol);
    await Deno.mkdir(`${vol.path}/dir`);
    await Deno.symlink("/sys", `${vol.path}/link`);
    if (owner) {
      for (const p of [vol.path, `${vol.path}/dir`]) await Deno.chown(p, owner.uid, owner.gid);
    }

    const attacker = await makeBundle({
      id: uniqueId(`${opts.prefix}-a`),
      args: ["/exchange", "/vol/dir", "/vol/link"],
      ...mode,
    });
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

    const victim = await makeBundle({
      id: uniqueId(`${opts.prefix}-v`),
      args: ["sh", "-c", opts.script],
      ...mode,
    });
    made.push(victim);
    victim.config.mounts!.push(
      { destination: "/mnt", type: "bind", source: vol.path, options: ["rbind", "rw"] },
      await opts.mount(vol.path),
    );
    if (opts.hook) {
      victim.config.hooks = {
        createContainer: [{ path: "/bin/sh", args: ["sh", "-c", opts.hook(victim.rootfs)] }],
      };
    }
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

/** Runs the attacker, then `runs` starts of the victim while it swaps the destination. */
export async function runRace(setup: RaceSetup, runs: number): Promise<RaceRun> {
  const configOf = (dir: string) => JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  const { attacker, victim } = setup;
  const factory = new Factory({ root: `${attacker.dir}/state` });
  const bad = await factory.run(attacker.id, {
    bundle: attacker.dir,
    spec: configOf(attacker.dir),
    stdio: { stdin: "null", stdout: "null", stderr: "null" },
  });
  const r: RaceRun = { outputs: [], failed: 0, failures: {}, attackerSwapped: false };
  try {
    let dirs = 0, links = 0;
    for (let i = 0; i < 100_000 && (dirs === 0 || links === 0); i++) {
      try {
        if (Deno.lstatSync(`${setup.vol}/dir`).isSymlink) links++;
        else dirs++;
      } catch { /* between two names */ }
    }
    r.attackerSwapped = dirs > 0 && links > 0;
    const spec = configOf(victim.dir);
    const vf = new Factory({ root: `${victim.dir}/state` });
    for (let i = 0; i < runs; i++) {
      const id = `${victim.id}-${i}`;
      try {
        const linux = { ...spec.linux };
        if (!setup.rootless) linux.cgroupsPath = id;
        const c = await vf.run(id, {
          bundle: victim.dir,
          spec: { ...spec, linux },
          stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
        });
        try {
          r.outputs.push((await c.init!.output()).stdout);
        } finally {
          await c.destroy({ force: true });
        }
      } catch (e) {
        // The destination was a symlink to /sys at that moment, and /sys cannot take every
        // mount in every case: an error is a safe outcome, not an escape.
        r.failed++;
        const msg = (e as Error).message.replace(/mounts\[\d+\]/, "mounts[n]");
        r.failures[msg] = (r.failures[msg] ?? 0) + 1;
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
