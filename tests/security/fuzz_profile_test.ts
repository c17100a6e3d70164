// Fuzzed sandbox profiles (sandbox/profile.ts, docs/sandbox.md), seeded and reproducible:
// valid profiles mutated (keys deleted, set to odd values, added; the text cut short), each
// parsed, resolved and turned into the sandbox's OCI spec, which the container code then
// validates. Each case ends in a clear error naming the profile key, or a spec that
// validates; never an internal error. A handful run for real through the library and through
// `nsinit sandbox --profile`: a working sandbox or a clear error, and nothing left behind
// (state, cgroup, mount, temp directory).
//
//   NSINIT_FUZZ_SEED           the seed (default: a fixed one; a failure names the seed and case)
//   NSINIT_FUZZ_CASES          pure cases (default 3000)
//   NSINIT_FUZZ_PROFILE_RUNS   cases run as real sandboxes (default 8, half of them by the CLI)
import assert from "node:assert/strict";
import { ConfigError } from "../../errors.ts";
import { resolveSandbox, runSandbox } from "../../sandbox/run.ts";
import { sandboxSpec } from "../../sandbox/spec.ts";
import { validateSpec } from "../../spec/validate.ts";
import { buildInitPlan } from "../../core/init_plan.ts";
import { makeTempDir, mountsUnder, removeDefaultRootAtExit } from "../helpers/paths.ts";

// Root's sandboxes here use the default state root; it goes when the run ends.
removeDefaultRootAtExit();
import { runNsinit } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { checkClear, INTERNAL, mutate, Rng } from "./fuzz.ts";
import { cgroupDirsNamed, stateEntries } from "./helpers.ts";

const SEED = Number(Deno.env.get("NSINIT_FUZZ_SEED") ?? "20261130");
const CASES = Number(Deno.env.get("NSINIT_FUZZ_CASES") ?? "3000");
const RUNS = Number(Deno.env.get("NSINIT_FUZZ_PROFILE_RUNS") ?? "8");

/** The keys a profile may have (docs/sandbox.md). */
const KEYS = [
  "version",
  "allowWrite",
  "allowRead",
  "denyRead",
  "net",
  "memory",
  "cpus",
  "pids",
  "timeout",
  "env",
  "landlock",
  "seccomp",
];

/** A valid profile using every key; its paths exist under `dir`. */
function baseProfile(): Record<string, unknown> {
  return {
    version: 1,
    allowWrite: ["./out"],
    allowRead: ["./data"],
    denyRead: ["./secrets"],
    net: false,
    memory: "64m",
    cpus: 1,
    pids: 64,
    timeout: 30,
    env: ["LANG=C.UTF-8", "CI"],
    seccomp: true,
  };
}

/** A mutated profile's text: mostly the mutated JSON, sometimes that text cut short. */
function mutatedText(rng: Rng): { text: string; changes: string[] } {
  const { doc, changes } = mutate(baseProfile(), rng);
  let text = JSON.stringify(doc) ?? "null";
  if (rng.int(10) === 0) {
    const at = rng.int(text.length);
    text = text.slice(0, at);
    changes.push(`cut at ${at}`);
  }
  return { text, changes };
}

async function profileDir(name: string) {
  const dir = await makeTempDir(name);
  for (const d of ["proj", "proj/out", "proj/data", "proj/secrets", "tmp", "state"]) {
    await Deno.mkdir(`${dir.path}/${d}`);
  }
  return dir;
}

/**
 * Fails unless `e` is clear and, when it is about the profile, names the key at fault: a key
 * of the profile file (or "" for the whole document), or the sandbox option it became.
 */
function checkNamesKey(e: unknown, what: string, file: string, text: string): void {
  checkClear(e, what);
  if (!(e instanceof ConfigError)) return;
  if (e.file === file && e.field !== "") {
    const doc = JSON.parse(text) as Record<string, unknown>;
    assert.ok(
      Object.hasOwn(doc, e.field) || e.field === "version",
      `${what}: names ${e.field}, not a key of the profile`,
    );
  } else if (e.file === "sandbox") {
    assert.ok([...KEYS, "cwd", ""].includes(e.field), `${what}: names ${e.field}, not a key`);
  }
}

Deno.test(`fuzz: ${CASES} mutated sandbox profiles end in a clear error or a valid spec (seed ${SEED})`, async () => {
  await using dir = await profileDir("fuzz-profile");
  const cwd = `${dir.path}/proj`;
  const file = `${cwd}/sandbox.json`;
  const host = {
    uid: 0,
    gid: 0,
    home: dir.path,
    env: { PATH: "/bin", LANG: "C" },
    exists: () => true,
  };
  const rng = new Rng(SEED + 10);
  let accepted = 0;
  for (let i = 0; i < CASES; i++) {
    const { text, changes } = mutatedText(rng);
    const what = `seed ${SEED} profile case ${i} (${changes.join("; ")})`;
    await Deno.writeTextFile(file, text);
    try {
      const r = await resolveSandbox(["true"], { profile: file, cwd });
      const { spec } = sandboxSpec(r, host);
      buildInitPlan(validateSpec(JSON.parse(JSON.stringify(spec))), { bundle: dir.path, id: "fz" });
      accepted++;
    } catch (e) {
      checkNamesKey(e, what, file, text);
    }
  }
  // Found by this fuzz: a timeout past setTimeout's range (2^31-1 ms) fired at once.
  await Deno.writeTextFile(file, JSON.stringify({ version: 1, timeout: 2 ** 31 }));
  await assert.rejects(
    () => resolveSandbox(["true"], { profile: file, cwd }),
    /sandbox: timeout: must be at most 2147483 seconds/,
  );
  // Some mutations keep a valid profile (an added unknown key never does).
  assert.ok(accepted > CASES / 20, `only ${accepted} of ${CASES} mutated profiles were valid`);
  console.log(`fuzz: ${accepted} of ${CASES} mutated profiles valid`);
});

Deno.test({
  name:
    `fuzz: ${RUNS} mutated profiles run as real sandboxes (library and CLI): a working sandbox or a clear error, nothing left (seed ${SEED})`,
  ignore: skipUnless(isRoot(), "the real sandboxes of this test run as root"),
  async fn() {
    await using dir = await profileDir("fuzz-profile-run");
    const cwd = `${dir.path}/proj`;
    const file = `${cwd}/sandbox.json`;
    const root = `${dir.path}/state`;
    const tmp = `${dir.path}/tmp`;
    const rng = new Rng(SEED + 11);
    let ran = 0;
    const oldTmp = Deno.env.get("TMPDIR");
    for (let i = 0; i < RUNS; i++) {
      // Most runs take the next mutation the checks accept (odd values that reach the kernel),
      // the others whatever comes.
      let { text, changes } = mutatedText(rng);
      await Deno.writeTextFile(file, text);
      for (let tries = 0; i % 4 !== 3 && tries < 100; tries++) {
        if (await resolveSandbox(["true"], { profile: file, cwd }).then(() => true, () => false)) {
          break;
        }
        ({ text, changes } = mutatedText(rng));
        await Deno.writeTextFile(file, text);
      }
      const what = `seed ${SEED} profile run ${i} (${changes.join("; ")})`;
      if (i % 2 === 0) {
        // The library, with this process's temp directory pointed into the test's own.
        Deno.env.set("TMPDIR", tmp);
        try {
          const out = await runSandbox(["sh", "-c", "echo ok > out/f && echo ok"], {
            profile: file,
            cwd,
            root,
          });
          if (out.code === 0) ran++;
          else console.log(`${what}: exit ${out.code}: ${out.stderr.trim()}`);
        } catch (e) {
          if (Deno.env.get("NSINIT_FUZZ_VERBOSE")) console.log(`${what}: ${e}`);
          checkNamesKey(e, what, file, text);
        } finally {
          if (oldTmp === undefined) Deno.env.delete("TMPDIR");
          else Deno.env.set("TMPDIR", oldTmp);
        }
      } else {
        const r = await runNsinit(
          ["--root", root, "sandbox", "--profile", file, "--", "sh", "-c", "echo ok"],
          { cwd, env: { TMPDIR: tmp }, timeoutMs: 60_000 },
        );
        assert.ok(!r.timedOut, `${what}: hung`);
        if (r.code === 0) {
          assert.equal(r.stdout, "ok\n", what);
          ran++;
        } else {
          assert.doesNotMatch(
            r.stderr,
            /^\s+at .*\.ts:\d+/m,
            `${what}: a stack trace\n${r.stderr}`,
          );
          assert.doesNotMatch(r.stderr, INTERNAL, `${what}: an internal error\n${r.stderr}`);
          assert.ok(r.stderr.trim().length > 0, `${what}: failed (${r.code}) with no message`);
        }
      }
      assert.deepEqual(stateEntries(root), [], `${what}: state left`);
      assert.deepEqual(stateEntries(tmp), [], `${what}: temp directory left`);
      assert.deepEqual(mountsUnder(dir.path), [], `${what}: mounts left`);
    }
    assert.deepEqual(
      cgroupDirsNamed((n) => n.startsWith(`sandbox-${Deno.pid}-`)),
      [],
      "a sandbox cgroup left",
    );
    console.log(`fuzz: ${ran} of ${RUNS} mutated profiles ran a sandbox`);
  },
});
