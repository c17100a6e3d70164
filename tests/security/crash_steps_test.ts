// End-to-end: the runtime is SIGKILLed at every step of create, start, exec, pause, update,
// delete, checkpoint and restore (NSINIT_CRASH_AT, see util/trace.ts and native/src/init.c).
// After each crash `nsinit list` agrees with `nsinit state`, and `nsinit delete --force` removes
// every process, cgroup, mount (criu-root included) and state file.
//
// The steps are not listed here: a first run of each verb with NSINIT_TRACE=1 prints the
// marks it passes, and each becomes a crash point; the helper's steps are numbered until a
// run passes them all. A verb that gains steps is covered by adding it to VERBS. Checkpoint
// and restore crash at every CRIU step (criu/session.ts makes each a mark) with the real
// CRIU; without criu on PATH those two are skipped.
// NSINIT_CRASH_VERBS=checkpoint,restore runs only the listed verbs (for debugging).
import assert from "node:assert/strict";
import { CHECK_CACHE } from "../../criu/session.ts";
import { ckptBundle, criuProblem } from "../checkpoint/helpers.ts";
import { mountsUnder } from "../helpers/paths.ts";
import { runNsinit, type RunResult } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { cgroupDirsNamed, processesIn, stateEntries } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

/** A verb: how to bring a container to where the verb applies, and its command line. */
interface Verb {
  name: string;
  /** Commands run (successfully) before the verb, on a fresh container id. */
  setup: (id: string, bundle: string) => string[][];
  /** The verb's arguments. */
  args: (id: string, bundle: string) => string[];
  /** Whether the verb runs the native helper (its plan steps are crash points too). */
  helper: boolean;
}

const VERBS: Verb[] = [
  { name: "create", setup: () => [], args: (id, b) => ["create", "--bundle", b, id], helper: true },
  {
    name: "start",
    setup: (id, b) => [["create", "--bundle", b, id]],
    args: (id) => ["start", id],
    helper: false,
  },
  {
    name: "exec",
    setup: (id, b) => [["run", "-d", "--bundle", b, id]],
    args: (id) => ["exec", id, "true"],
    helper: true,
  },
  {
    name: "pause",
    setup: (id, b) => [["run", "-d", "--bundle", b, id]],
    args: (id) => ["pause", id],
    helper: false,
  },
  {
    name: "update",
    setup: (id, b) => [["run", "-d", "--bundle", b, id]],
    args: (id) => ["update", "--memory", "200000000", "--pids-limit", "100", id],
    helper: false,
  },
  {
    name: "delete",
    setup: (id, b) => [["run", "-d", "--bundle", b, id], ["exec", "-d", id, "sleep", "60"]],
    args: (id) => ["delete", "--force", id],
    helper: false,
  },
  {
    name: "checkpoint",
    setup: (id, b) => [["run", "-d", "--bundle", b, id]],
    args: (id, b) => ["checkpoint", "--image-path", `${b}/img-${id}`, id],
    helper: false,
  },
  {
    name: "restore",
    setup: (id, b) => [
      ["run", "-d", "--bundle", b, id],
      ["checkpoint", "--image-path", `${b}/img-${id}`, id],
    ],
    args: (id, b) => ["restore", "-d", "--image-path", `${b}/img-${id}`, "--bundle", b, id],
    helper: false,
  },
];

/** Pids of the processes whose environment holds `entry` (`NAME=value`). */
function processesWithEnv(entry: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${e.name}/environ`).split("\0").includes(entry)) {
        pids.push(Number(e.name));
      }
    } catch { /* gone, or a kernel thread */ }
  }
  return pids;
}

async function eventually(cond: () => boolean, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

Deno.test({
  name: "crash: SIGKILL of the runtime at every step is recovered; list tells the truth",
  ignore,
  async fn(t) {
    // CRIU dumps only files the container opened itself: its stdio is its own /dev/null.
    await using b = await ckptBundle({
      args: ["sh", "-c", "exec </dev/null >/dev/null 2>&1; exec sleep 60"],
      readonlyRoot: false,
    });
    const root = b.stateRoot;
    const cli = (args: string[], env: Record<string, string> = {}): Promise<RunResult> =>
      runNsinit(["--root", root, ...args], { env });
    const cgroupName = b.config.linux!.cgroupsPath!;
    let n = 0;
    let points = 0;

    /** Crashes `verb` at `at`; returns false when the run did not crash (no such step). */
    const crashAt = async (verb: Verb, at: string): Promise<boolean> => {
      const id = `${b.id}-${n++}`;
      try {
        for (const args of verb.setup(id, b.dir)) {
          const r = await cli(args);
          assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        }
        // The marker finds every process of this run after the crash (the helper a create
        // started before its plan, which must end when its runtime dies, among them).
        const r = await cli(verb.args(id, b.dir), { NSINIT_CRASH_AT: at, NSINIT_TEST_CRASH: id });
        if (r.code !== 137) {
          assert.equal(r.code, 0, `${verb.name} at ${at}: ${r.stderr}`);
          return false;
        }
        points++;
        // list agrees with state.
        const state = await cli(["state", id]);
        const list = await cli(["list", "--format", "json"]);
        assert.equal(list.code, 0, list.stderr);
        const listed = (JSON.parse(list.stdout) ?? []) as { id: string; status: string }[];
        const entry = listed.find((s) => s.id === id);
        if (state.code === 0) {
          assert.ok(entry, `${verb.name} at ${at}: state reports ${id}, list omits it`);
          assert.equal(entry.status, JSON.parse(state.stdout).status, `${verb.name} at ${at}`);
        } else {
          assert.equal(entry, undefined, `${verb.name} at ${at}: list shows what state denies`);
        }
      } finally {
        const d = await cli(["delete", "--force", id]);
        assert.ok(
          d.code === 0 || /does not exist/.test(d.stderr),
          `${verb.name} at ${at}: delete --force: ${d.stderr}`,
        );
      }
      // The root keeps CRIU's passed check (not a container's state).
      assert.deepEqual(
        stateEntries(root).filter((e) => e !== CHECK_CACHE),
        [],
        `${verb.name} at ${at}: state left`,
      );
      assert.ok(
        await eventually(() => processesIn(b.rootfs).length === 0),
        `${verb.name} at ${at}: processes left: ${processesIn(b.rootfs)}`,
      );
      assert.ok(
        await eventually(() => processesWithEnv(`NSINIT_TEST_CRASH=${id}`).length === 0),
        `${verb.name} at ${at}: processes of the crashed run left: ` +
          processesWithEnv(`NSINIT_TEST_CRASH=${id}`),
      );
      assert.deepEqual(cgroupDirsNamed(cgroupName), [], `${verb.name} at ${at}: cgroup left`);
      assert.deepEqual(mountsUnder(b.dir), [], `${verb.name} at ${at}: mounts left`);
      return true;
    };

    const only = Deno.env.get("NSINIT_CRASH_VERBS")?.split(",");
    for (const verb of VERBS) {
      if (only && !only.includes(verb.name)) continue;
      const needsCriu = verb.name === "checkpoint" || verb.name === "restore";
      await t.step({
        name: verb.name,
        ignore: needsCriu && (await criuProblem()) !== undefined,
        fn: async () => {
          // The marks this verb passes, from a traced run.
          const id = `${b.id}-trace-${verb.name}`;
          for (const args of verb.setup(id, b.dir)) assert.equal((await cli(args)).code, 0);
          const traced = await cli(verb.args(id, b.dir), { NSINIT_TRACE: "1" });
          assert.equal(traced.code, 0, traced.stderr);
          await cli(["delete", "--force", id]);
          const marks = traced.stderr.split("\n")
            .filter((l) => l.startsWith("nsinit-trace "))
            .map((l) => l.split(" ").slice(2).join(" ").replace(/ \[[^\]]*\]$/, ""))
            .filter((m) => !m.startsWith("cli:"));
          assert.ok(marks.length > 0, `${verb.name} passes no marks`);
          console.log(`crash: ${verb.name}: ${marks.join(", ")}`);
          for (const m of marks) {
            assert.ok(await crashAt(verb, m), `${verb.name}: ${m} not reached`);
          }
          if (verb.helper) {
            let step = 0;
            while (await crashAt(verb, `helper:${step}`)) step++;
            assert.ok(step > 5, `${verb.name}: only ${step} helper steps`);
          }
        },
      });
    }
    console.log(`crash: ${points} crash points recovered`);
  },
});
