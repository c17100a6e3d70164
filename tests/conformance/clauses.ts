/**
 * The clauses of the OCI runtime specification (runtime.md, config.md, config-linux.md,
 * runtime-linux.md, features.md; v1.2.0) that a Linux runtime must (MUST) or should (SHOULD)
 * meet, each with a check that drives a runtime through its CLI. A check throws
 * {@linkcode CheckFailed} when the runtime does not meet the clause and {@linkcode Skip} when the
 * clause cannot be checked on this host.
 *
 * @module
 */

import type { Spec } from "../../spec/config.ts";
import { run } from "../helpers/run.ts";
import {
  cgroupDirs,
  CheckFailed,
  exists,
  expect,
  expectError,
  expectOk,
  procCgroups,
  removeCgroupTree,
  type Session,
  Skip,
  waitFor,
} from "./harness.ts";

/** One clause of the specification and its check. */
export interface Clause {
  /** A short stable id, e.g. `runtime/delete/not-stopped`. */
  id: string;
  /** The spec file, e.g. `runtime.md`. */
  file: string;
  /** The section heading. */
  section: string;
  /** MUST or SHOULD. */
  level: "MUST" | "SHOULD";
  /** The clause's words (quoted, possibly shortened with an ellipsis). */
  quote: string;
  /** Checks one runtime. */
  check(s: Session): Promise<void>;
  /** For the report: how runtimes are known to differ here, what the check does exactly. */
  notes?: string;
  /**
   * nsinit does not meet this clause yet, for the reason given: its failure is reported as a
   * known failure (and its passing as an error, so the entry gets removed).
   */
  knownFailure?: string;
}

const SH = "/bin/sh";

/** A process that stays up until killed and says it is up. */
const SLEEPER = ["sh", "-c", "echo up > /tmp/up; exec sleep 1000"];

/** A hook that appends `name` to /tmp/order (as the container sees it) and saves its stdin. */
function hook(s: Session, name: string, inContainer = false): { path: string; args: string[] } {
  const dir = inContainer ? "/tmp" : s.out;
  return {
    path: SH,
    args: ["sh", "-c", `cat > ${dir}/${name}.json; echo ${name} >> ${dir}/order`],
  };
}

/** A hook that fails. */
const FAILING_HOOK = { path: "/bin/false", args: ["false"] };

async function expectGone(s: Session, id: string, what: string): Promise<void> {
  const r = await s.cli(["state", id]);
  if (r.code === 0) {
    const st = JSON.parse(r.stdout).status;
    throw new CheckFailed(`${what}: container ${id} still exists (status ${st})`);
  }
}

function readFlag(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return undefined;
  }
}

/** The probe container's report, per runtime (one run serves many clauses). */
const probes = new Map<string, Promise<Probe>>();

/** What the probe container saw. */
interface Probe {
  raw: string;
  lines: string[];
  get(key: string): string[];
}

const PROBE_SCRIPT = [
  "for d in null zero full random urandom tty ptmx conformance-null; do",
  '  echo "dev $d $(stat -c "%F %t:%T" /dev/$d 2>&1)"',
  "done",
  'for l in fd stdin stdout stderr; do echo "link $l $(readlink /dev/$l)"; done',
  'while read -r line; do echo "mi $line"; done < /proc/self/mountinfo',
  'grep -E "^Max (open files|msgqueue size)" /proc/self/limits | sed "s/^/limit /"',
  'echo "oom $(cat /proc/self/oom_score_adj)"',
  'touch /conformance-write 2>/dev/null; echo "rootwrite $?"',
  'echo "kcore $(head -c 16 /proc/kcore 2>/dev/null | wc -c)"',
  '(echo x > /proc/sys/kernel/domainname) 2>/dev/null; echo "procsys $?"',
  'echo "hostname $(hostname)"',
].join("\n");

function probe(s: Session): Promise<Probe> {
  let p = probes.get(s.name);
  if (!p) {
    p = runProbe(s);
    probes.set(s.name, p);
    p.catch(() => probes.delete(s.name));
  }
  return p;
}

async function runProbe(s: Session): Promise<Probe> {
  const id = s.id();
  await s.configure(id, (c) => {
    c.process!.args = ["sh", "-c", PROBE_SCRIPT];
    c.process!.rlimits = [
      { type: "RLIMIT_NOFILE", soft: 1000, hard: 1010 },
      { type: "RLIMIT_MSGQUEUE", soft: 4096, hard: 8192 },
    ];
    c.process!.oomScoreAdj = 123;
    c.hostname = "conformance";
    c.linux!.devices = [
      {
        path: "/dev/conformance-null",
        type: "c",
        major: 1,
        minor: 3,
        fileMode: 0o666,
        uid: 0,
        gid: 0,
      },
    ];
  });
  const r = await s.runForeground(id);
  await s.finish();
  expectOk(r, "probe container");
  const lines = r.stdout.split("\n");
  return {
    raw: r.stdout,
    lines,
    get: (key) => lines.filter((l) => l.startsWith(key + " ")).map((l) => l.slice(key.length + 1)),
  };
}

/** The mount points and filesystem types the probe saw, in mountinfo order. */
function probeMounts(p: Probe): { point: string; type: string }[] {
  return p.get("mi").map((l) => {
    const fields = l.split(" ");
    const sep = fields.indexOf("-");
    return { point: fields[4], type: fields[sep + 1] };
  });
}

/** A process in new namespaces on the host (for joining by path); killed when the check ends. */
async function helperProcess(s: Session, unshareArgs: string[]): Promise<number> {
  const child = new Deno.Command("unshare", {
    args: [...unshareArgs, "sleep", "600"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  s.defer(async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
    await child.status;
  });
  // Wait until unshare has exec'd sleep in the new namespaces.
  const own = Deno.readLinkSync("/proc/self/ns/net");
  await waitFor(() => {
    try {
      return Deno.readTextFileSync(`/proc/${child.pid}/comm`).trim() === "sleep" &&
        (!unshareArgs.includes("--net") || Deno.readLinkSync(`/proc/${child.pid}/ns/net`) !== own);
    } catch {
      return false;
    }
  });
  return child.pid;
}

function nsLink(pid: number | "self", ns: string): string {
  return Deno.readLinkSync(`/proc/${pid}/ns/${ns}`);
}

/** Creates, and checks that creation failed and left no container behind. */
async function expectCreateRefused(s: Session, id: string, what: string): Promise<void> {
  const r = await s.cli(["create", "--bundle", s.dir, id]);
  expectError(r, what);
  await expectGone(s, id, what);
  for (const d of cgroupDirs(`nsinit-test-${id}`)) expect(!exists(d), `${what}: ${d} left behind`);
}

/** Runs `fn` on a config and expects create to fail with nothing left. */
async function refuses(s: Session, what: string, change: (c: Spec) => void): Promise<void> {
  const id = s.id();
  await s.configure(id, change);
  await expectCreateRefused(s, id, what);
}

/** Runs `fn` on a config and expects a foreground run to succeed. */
async function accepts(s: Session, what: string, change: (c: Spec) => void): Promise<void> {
  const id = s.id();
  await s.configure(id, (c) => {
    c.process!.args = ["true"];
    change(c);
  });
  expectOk(await s.runForeground(id), what);
}

/** Lifecycle hooks test set-up: every kind, each writing to /tmp/order. */
function allHooks(s: Session): (c: Spec) => void {
  return (c) => {
    c.hooks = {
      prestart: [hook(s, "prestart")],
      createRuntime: [hook(s, "createRuntime")],
      createContainer: [hook(s, "createContainer")],
      startContainer: [hook(s, "startContainer", true)],
      poststart: [hook(s, "poststart")],
      poststop: [hook(s, "poststop")],
    };
  };
}

function order(s: Session): string[] {
  return (s.readOut("order") ?? "").split("\n").filter((l) => l !== "");
}

/** A hook failing in `kind` must fail the operation, stop the container and run poststop. */
async function failingHook(
  s: Session,
  kind: "prestart" | "createRuntime" | "createContainer" | "startContainer",
): Promise<void> {
  const id = s.id();
  await s.configure(id, (c) => {
    c.process!.args = ["sh", "-c", "echo ran > /tmp/ran"];
    c.hooks = { [kind]: [FAILING_HOOK], poststop: [hook(s, "poststop")] };
  });
  const create = await s.cli(["create", "--bundle", s.dir, id]);
  if (kind === "startContainer") {
    expectOk(create, "create");
    expectError(await s.cli(["start", id]), `start with a failing ${kind} hook`);
  } else {
    expectError(create, `create with a failing ${kind} hook`);
  }
  const st = await s.status(id);
  expect(
    st === undefined || st === "stopped",
    `after the failing ${kind} hook the container is ${st}`,
  );
  if (st !== undefined) expectOk(await s.cli(["delete", id]), "delete of the stopped container");
  expect(s.readOut("ran") === undefined, "the user-specified program ran");
  expect(
    order(s).includes("poststop"),
    `poststop hooks did not run (lifecycle did not continue at "destroy")`,
  );
}

/** Every clause checked. */
export const CLAUSES: Clause[] = [
  // ---------------------------------------------------------------- runtime.md: State
  {
    id: "runtime/state/id-unique",
    file: "runtime.md",
    section: "State",
    level: "MUST",
    quote: "`id` ... This MUST be unique across all containers on this host.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      await s.create(id);
      expectError(
        await s.cli(["create", "--bundle", s.dir, id]),
        "a second create with the same id",
      );
      const st = await s.state(id);
      expect(st.id === id, `state.id is ${st.id}`);
    },
  },
  {
    id: "runtime/state/status-values",
    file: "runtime.md",
    section: "State",
    level: "MUST",
    quote:
      "Additional values MAY be defined by the runtime, however, they MUST be used to represent new runtime states not defined above.",
    notes:
      "Walks created, running, paused (an additional state: frozen) and stopped; every status reported must be one of the spec's or `paused` while paused.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      await s.create(id);
      expect((await s.status(id)) === "created", "after create: not created");
      await s.start(id);
      expect((await s.status(id)) === "running", "after start: not running");
      expectOk(await s.cli(["pause", id]), "pause");
      const paused = await s.status(id);
      expect(paused === "paused", `while frozen the status is ${paused}`);
      expectOk(await s.cli(["resume", id]), "resume");
      expect((await s.status(id)) === "running", "after resume: not running");
      expectOk(await s.cli(["kill", id, "KILL"]), "kill");
      await s.waitStatus(id, "stopped");
    },
  },
  {
    id: "runtime/state/pid",
    file: "runtime.md",
    section: "State",
    level: "MUST",
    quote:
      "`pid` (int, REQUIRED when `status` is `created` or `running` on Linux) is the ID of the container process, as seen by the host.",
    async check(s) {
      const id = s.id();
      const pidFile = `${s.dir}/init.pid`;
      s.defer(() => Deno.remove(pidFile).catch(() => {}));
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      expectOk(await s.cli(["create", "--bundle", s.dir, "--pid-file", pidFile, id]), "create");
      const created = await s.state(id);
      expect(typeof created.pid === "number" && created.pid > 0, `created: pid ${created.pid}`);
      expect(
        String(created.pid) === Deno.readTextFileSync(pidFile).trim(),
        "pid differs from --pid-file",
      );
      expect(
        nsLink(created.pid as number, "pid") !== nsLink("self", "pid"),
        "pid is not the container process (same pid namespace as the host)",
      );
      await s.start(id);
      const running = await s.state(id);
      expect(running.pid === created.pid, `running: pid ${running.pid}, was ${created.pid}`);
      const comm = Deno.readTextFileSync(`/proc/${running.pid}/comm`).trim();
      await waitFor(() => Deno.readTextFileSync(`/proc/${running.pid}/comm`).trim() === "sleep");
      expect(
        Deno.readTextFileSync(`/proc/${running.pid}/comm`).trim() === "sleep",
        `host pid ${running.pid} runs ${comm}, not the container process`,
      );
    },
  },
  {
    id: "runtime/state/bundle",
    file: "runtime.md",
    section: "State",
    level: "MUST",
    quote: "`bundle` (string, REQUIRED) is the absolute path to the container's bundle directory.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      // A relative --bundle: the state must still hold the absolute path.
      const parent = s.dir.replace(/\/[^/]+$/, "");
      const rel = s.dir.slice(parent.length + 1);
      expectOk(
        await s.cli(["create", "--bundle", rel, id], { cwd: parent }),
        "create with a relative bundle",
      );
      const st = await s.state(id);
      expect(
        st.bundle === s.dir,
        `state.bundle is ${JSON.stringify(st.bundle)}, expected ${s.dir}`,
      );
    },
  },
  {
    id: "runtime/state/json",
    file: "runtime.md",
    section: "State",
    level: "MUST",
    quote: "When serialized in JSON, the format MUST adhere to the following pattern",
    notes:
      "Checks the types of ociVersion, id, status, pid, bundle and that annotations from config.json appear as a map of strings.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.annotations = { "org.example.conformance": "yes" };
      });
      await s.create(id);
      const st = await s.state(id);
      expect(
        typeof st.ociVersion === "string" && st.ociVersion !== "",
        "ociVersion is not a string",
      );
      expect(st.id === id, "id");
      expect(typeof st.status === "string", "status");
      expect(Number.isInteger(st.pid), "pid is not an integer");
      expect(typeof st.bundle === "string", "bundle");
      const a = st.annotations as Record<string, string> | undefined;
      expect(a?.["org.example.conformance"] === "yes", `annotations: ${JSON.stringify(a)}`);
    },
  },
  // ---------------------------------------------------------------- runtime.md: Lifecycle
  {
    id: "runtime/lifecycle/env-created",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "The container's runtime environment MUST be created according to the configuration in `config.json`.",
    notes:
      "After create (before start): new namespaces, the hostname in the container's UTS namespace, the process in the configured cgroup.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.hostname = "conformance";
      });
      const pid = await s.create(id);
      for (const ns of ["mnt", "uts", "ipc", "net", "pid"]) {
        expect(nsLink(pid, ns) !== nsLink("self", ns), `no new ${ns} namespace after create`);
      }
      const r = await run("nsenter", ["-t", String(pid), "-u", "hostname"]);
      expect(r.stdout.trim() === "conformance", `hostname in the container: ${r.stdout.trim()}`);
      const cg = procCgroups(pid);
      expect(
        cg.every((c) => c.path.endsWith(`/nsinit-test-${id}`)),
        `cgroups: ${JSON.stringify(cg)}`,
      );
    },
  },
  {
    id: "runtime/lifecycle/env-error",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "If the runtime is unable to create the environment specified in the `config.json`, it MUST generate an error.",
    notes: "A bind mount whose source does not exist, and a missing root.path.",
    async check(s) {
      await refuses(s, "missing bind source", (c) => {
        c.mounts!.push({
          destination: "/tmp/missing",
          type: "bind",
          source: `${s.dir}/no-such-dir`,
          options: ["rbind"],
        });
      });
      await refuses(s, "missing root.path", (c) => c.root!.path = `${s.dir}/no-such-rootfs`);
    },
  },
  {
    id: "runtime/lifecycle/program-not-run-at-create",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote: "the user-specified program (from `process`) MUST NOT be run at this time.",
    async check(s) {
      const id = s.id();
      await s.configure(
        id,
        (c) => c.process!.args = ["sh", "-c", "echo ran > /tmp/ran; exec sleep 1000"],
      );
      await s.create(id);
      await new Promise((r) => setTimeout(r, 200));
      expect(s.readOut("ran") === undefined, "the program ran during create");
      await s.start(id);
      expect(
        await waitFor(() => s.readOut("ran") !== undefined),
        "the program did not run after start",
      );
    },
  },
  {
    id: "runtime/lifecycle/config-updates-no-effect",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote: "Any updates to `config.json` after this step MUST NOT affect the container.",
    async check(s) {
      const id = s.id();
      await s.configure(
        id,
        (c) => c.process!.args = ["sh", "-c", "echo first > /tmp/which; exec sleep 1000"],
      );
      await s.create(id);
      await s.configure(
        id,
        (c) => c.process!.args = ["sh", "-c", "echo second > /tmp/which; exec sleep 1000"],
      );
      await s.start(id);
      expect(await waitFor(() => s.readOut("which") !== undefined), "the program did not run");
      expect(
        s.readOut("which")!.trim() === "first",
        `ran the updated config: ${s.readOut("which")}`,
      );
    },
  },
  {
    id: "runtime/lifecycle/prestart-fail",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "If any `prestart` hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
    notes:
      "Create must fail, the program must not run, and poststop hooks (step 13) must have run once the container is gone (after create, or after delete of the stopped container).",
    check: (s) => failingHook(s, "prestart"),
  },
  {
    id: "runtime/lifecycle/createRuntime-fail",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "If any `createRuntime` hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
    check: (s) => failingHook(s, "createRuntime"),
  },
  {
    id: "runtime/lifecycle/createContainer-fail",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "If any `createContainer` hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
    check: (s) => failingHook(s, "createContainer"),
  },
  {
    id: "runtime/lifecycle/startContainer-fail",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "If any `startContainer` hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
    notes:
      "The failing hook must make `start` fail; runc 1.1 reports success and leaves a stopped container.",
    check: (s) => failingHook(s, "startContainer"),
  },
  {
    id: "runtime/lifecycle/poststart-fail-warns",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "If any `poststart` hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.",
    notes:
      "Start must succeed, the next poststart hook must run, the container must keep running, and a " +
      "warning must be logged (`--log`). runc 1.1 runs poststart hooks during `create` (not after " +
      "`start`) and fails the create when one fails.",
    async check(s) {
      const id = s.id();
      const log = `${s.dir}/poststart-${s.name}.log`;
      s.defer(() => Deno.remove(log).catch(() => {}));
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.hooks = { poststart: [FAILING_HOOK, hook(s, "poststart")] };
      });
      await s.create(id);
      const r = await s.cli(["start", id], { log });
      expectOk(r, "start with a failing poststart hook");
      expect(order(s).includes("poststart"), "the second poststart hook did not run");
      expect((await s.status(id)) === "running", `status ${await s.status(id)}`);
      const text = (exists(log) ? Deno.readTextFileSync(log) : "") + r.stderr;
      expect(/warn/i.test(text), `no warning logged: ${JSON.stringify(text)}`);
    },
  },
  {
    id: "runtime/lifecycle/poststop-fail-warns",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "If any `poststop` hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.",
    notes:
      "Delete must succeed, the next poststop hook must run, and a warning must be logged. runc 1.1 " +
      "stops at the first failing poststop hook.",
    async check(s) {
      const id = s.id();
      const log = `${s.dir}/poststop-${s.name}.log`;
      s.defer(() => Deno.remove(log).catch(() => {}));
      await s.configure(id, (c) => {
        c.process!.args = ["true"];
        c.hooks = { poststop: [FAILING_HOOK, hook(s, "poststop")] };
      });
      await s.create(id);
      await s.start(id);
      await s.waitStatus(id, "stopped");
      const r = await s.cli(["delete", id], { log });
      expectOk(r, "delete with a failing poststop hook");
      await expectGone(s, id, "after delete");
      expect(order(s).includes("poststop"), "the second poststop hook did not run");
      const text = (exists(log) ? Deno.readTextFileSync(log) : "") + r.stderr;
      expect(/warn/i.test(text), `no warning logged: ${JSON.stringify(text)}`);
    },
  },
  {
    id: "runtime/lifecycle/destroy",
    file: "runtime.md",
    section: "Lifecycle",
    level: "MUST",
    quote:
      "The container MUST be destroyed by undoing the steps performed during create phase (step 2).",
    notes: "After delete: no state, no cgroup directory, no process of the container.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = ["true"]);
      await s.create(id);
      await s.start(id);
      await s.waitStatus(id, "stopped");
      expectOk(await s.cli(["delete", id]), "delete");
      await expectGone(s, id, "after delete");
      for (const d of cgroupDirs(`nsinit-test-${id}`)) expect(!exists(d), `${d} left behind`);
    },
  },
  // ---------------------------------------------------------------- runtime.md: Errors, Warnings
  {
    id: "runtime/errors/no-state-change",
    file: "runtime.md",
    section: "Errors",
    level: "MUST",
    quote:
      "generating an error MUST leave the state of the environment as if the operation were never attempted",
    notes:
      "A create that fails late (a sysctl that cannot be set, after namespaces and cgroups exist) must leave no state, cgroup or process.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.linux!.sysctl = { "kernel.conformance_no_such_key": "1" });
      await expectCreateRefused(s, id, "create with an unknown sysctl");
      expect((await s.cli(["list", "--quiet"])).stdout.trim() === "", "list shows containers");
    },
  },
  {
    id: "runtime/warnings/flow-unchanged",
    file: "runtime.md",
    section: "Warnings",
    level: "MUST",
    quote:
      "logging a warning does not change the flow of the operation; it MUST continue as if the warning had not been logged.",
    notes: "A failing poststop hook (a warning) must not stop delete from removing the container.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = ["true"];
        c.hooks = { poststop: [FAILING_HOOK] };
      });
      await s.create(id);
      await s.start(id);
      await s.waitStatus(id, "stopped");
      expectOk(await s.cli(["delete", id]), "delete");
      await expectGone(s, id, "after delete");
    },
  },
  // ---------------------------------------------------------------- runtime.md: Operations
  {
    id: "runtime/state/no-id",
    file: "runtime.md",
    section: "Query State",
    level: "MUST",
    quote: "This operation MUST generate an error if it is not provided the ID of a container.",
    async check(s) {
      expectError(await s.cli(["state"]), "state without an id");
    },
  },
  {
    id: "runtime/state/not-found",
    file: "runtime.md",
    section: "Query State",
    level: "MUST",
    quote: "Attempting to query a container that does not exist MUST generate an error.",
    async check(s) {
      expectError(
        await s.cli(["state", "conformance-no-such-container"]),
        "state of an unknown id",
      );
    },
  },
  {
    id: "runtime/state/returns-state",
    file: "runtime.md",
    section: "Query State",
    level: "MUST",
    quote: "This operation MUST return the state of a container as specified in the State section.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      await s.create(id);
      const st = await s.state(id);
      for (const k of ["ociVersion", "id", "status", "pid", "bundle"]) {
        expect(k in st, `state has no ${k}: ${JSON.stringify(st)}`);
      }
    },
  },
  {
    id: "runtime/create/needs-bundle-and-id",
    file: "runtime.md",
    section: "Create",
    level: "MUST",
    quote:
      "This operation MUST generate an error if it is not provided a path to the bundle and the container ID to associate with the container.",
    notes:
      "runc's CLI defaults the bundle to the current directory: without `--bundle`, a directory with no config.json must be refused.",
    async check(s) {
      expectError(await s.cli(["create", "--bundle", s.dir]), "create without an id");
      const id = s.id();
      const empty = `${s.dir}/empty-${s.name}`;
      await Deno.mkdir(empty, { recursive: true });
      s.defer(() => Deno.remove(empty, { recursive: true }).catch(() => {}));
      expectError(await s.cli(["create", id], { cwd: empty }), "create without a bundle");
      await expectGone(s, id, "create without a bundle");
    },
  },
  {
    id: "runtime/create/unique-valid-id",
    file: "runtime.md",
    section: "Create",
    level: "MUST",
    quote:
      "If the ID provided is not unique across all containers within the scope of the runtime, or is not valid in any other way, the implementation MUST generate an error and a new container MUST NOT be created.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      const pid = await s.create(id);
      expectError(await s.cli(["create", "--bundle", s.dir, id]), "create with a duplicate id");
      const st = await s.state(id);
      expect(
        st.status === "created" && st.pid === pid,
        `the existing container changed: ${JSON.stringify(st)}`,
      );
      for (const bad of ["../conformance", "a/b", ""]) {
        expectError(
          await s.cli(["create", "--bundle", s.dir, bad]),
          `create with id ${JSON.stringify(bad)}`,
        );
      }
      const list = (await s.cli(["list", "--quiet"])).stdout.trim().split("\n").filter((l) => l);
      expect(list.length === 1 && list[0] === id, `containers: ${JSON.stringify(list)}`);
    },
  },
  {
    id: "runtime/create/creates",
    file: "runtime.md",
    section: "Create",
    level: "MUST",
    quote: "This operation MUST create a new container.",
    notes:
      'Also: "Upon successful completion of this operation the `status` property of this container MUST be `created`" (1.0).',
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      await s.create(id);
      expect((await s.status(id)) === "created", "status is not created");
    },
  },
  {
    id: "runtime/create/props-applied",
    file: "runtime.md",
    section: "Create",
    level: "MUST",
    quote:
      "All of the properties configured in `config.json` except for `process` MUST be applied.",
    notes:
      "Checked after create, before start: hostname, rlimit-free config, masked path /proc/kcore (through the init's root), the cgroup.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.hostname = "applied";
      });
      const pid = await s.create(id);
      const r = await run("nsenter", ["-t", String(pid), "-u", "hostname"]);
      expect(r.stdout.trim() === "applied", `hostname: ${r.stdout.trim()}`);
      const kcore = await run("nsenter", [
        "-t",
        String(pid),
        "-m",
        "-r",
        "sh",
        "-c",
        "head -c 16 /proc/kcore | wc -c",
      ]);
      expect(
        kcore.stdout.trim() === "0",
        `/proc/kcore is not masked after create: ${kcore.stdout.trim()} ${kcore.stderr.trim()}`,
      );
      expect(
        procCgroups(pid).every((c) => c.path.endsWith(`/nsinit-test-${id}`)),
        "not in its cgroup",
      );
    },
  },
  {
    id: "runtime/create/args-not-applied",
    file: "runtime.md",
    section: "Create",
    level: "MUST",
    quote: "`process.args` MUST NOT be applied until triggered by the `start` operation.",
    async check(s) {
      const id = s.id();
      await s.configure(
        id,
        (c) => c.process!.args = ["sh", "-c", "echo ran > /tmp/ran; exec sleep 1000"],
      );
      const pid = await s.create(id);
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      expect(!cmdline.includes("/tmp/ran"), `the init already runs process.args: ${cmdline}`);
      expect(s.readOut("ran") === undefined, "process.args ran at create");
    },
  },
  {
    id: "runtime/create/cannot-apply",
    file: "runtime.md",
    section: "Create",
    level: "MUST",
    quote:
      "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and a new container MUST NOT be created.",
    notes:
      "A sysctl that does not exist, Intel RDT without resctrl, an AppArmor profile without AppArmor.",
    async check(s) {
      await refuses(
        s,
        "unknown sysctl",
        (c) => c.linux!.sysctl = { "net.conformance.no_such_key": "1" },
      );
      if (!exists("/sys/fs/resctrl/schemata")) {
        await refuses(
          s,
          "intelRdt without resctrl",
          (c) => c.linux!.intelRdt = { closID: "conformance" },
        );
      }
      if (readFlag("/sys/module/apparmor/parameters/enabled") !== "Y") {
        await refuses(
          s,
          "apparmorProfile without AppArmor",
          (c) => c.process!.apparmorProfile = "conformance",
        );
      }
    },
  },
  {
    id: "runtime/create/cannot-apply-idmap",
    file: "runtime.md",
    section: "Create",
    level: "MUST",
    quote:
      "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and a new container MUST NOT be created.",
    notes:
      "An idmapped bind mount (`idmap` option with uidMappings/gidMappings, runtime-spec v1.2): applying it or refusing it both pass; mounting without the mapping does not. Applied as the kernel's idmapped mounts do (and runc 1.2 and crun): the mapping is a user namespace's, so a file owned by 0 on disk shows as hostID 1000 in a container without a user namespace of its own.",
    async check(s) {
      const id = s.id();
      const src = `${s.dir}/idmap-src-${s.name}`;
      await Deno.mkdir(src, { recursive: true });
      s.defer(() => Deno.remove(src, { recursive: true }).catch(() => {}));
      await s.configure(id, (c) => {
        c.process!.args = ["sh", "-c", "stat -c %u /tmp/idmapped/owned"];
        c.mounts!.push({
          destination: "/tmp/idmapped",
          type: "bind",
          source: src,
          options: ["rbind", "idmap"],
          uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
          gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }],
        } as never);
      });
      Deno.writeTextFileSync(`${src}/owned`, "");
      Deno.chownSync(`${src}/owned`, 0, 0);
      const r = await s.runForeground(id);
      expect(
        r.code !== 0 || r.stdout.trim() === "1000",
        `an idmap mount was neither applied nor refused: owner inside ${r.stdout.trim()}, expected 1000`,
      );
    },
  },
  {
    id: "runtime/start/no-id",
    file: "runtime.md",
    section: "Start",
    level: "MUST",
    quote: "This operation MUST generate an error if it is not provided the container ID.",
    async check(s) {
      expectError(await s.cli(["start"]), "start without an id");
    },
  },
  {
    id: "runtime/start/not-created",
    file: "runtime.md",
    section: "Start",
    level: "MUST",
    quote:
      "Attempting to `start` a container that is not `created` MUST have no effect on the container and MUST generate an error.",
    notes: "A running container (start twice) and a stopped one.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      const pid = await s.create(id);
      await s.start(id);
      expectError(await s.cli(["start", id]), "start of a running container");
      const st = await s.state(id);
      expect(st.status === "running" && st.pid === pid, `changed: ${JSON.stringify(st)}`);
      expectError(
        await s.cli(["start", "conformance-no-such-container"]),
        "start of an unknown id",
      );
      const id2 = s.id();
      await s.configure(id2, (c) => c.process!.args = ["true"]);
      await s.create(id2);
      await s.start(id2);
      await s.waitStatus(id2, "stopped");
      expectError(await s.cli(["start", id2]), "start of a stopped container");
      expect((await s.status(id2)) === "stopped", "the stopped container changed");
    },
  },
  {
    id: "runtime/start/runs-program",
    file: "runtime.md",
    section: "Start",
    level: "MUST",
    quote: "This operation MUST run the user-specified program as specified by `process`.",
    notes: "args, env, cwd and user are checked.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = ["sh", "-c", 'echo "$CONFORMANCE $(pwd) $(id -u):$(id -g)" > /tmp/ran'];
        c.process!.env = [...(c.process!.env ?? []), "CONFORMANCE=yes"];
        c.process!.cwd = "/tmp";
        c.process!.user = { uid: 1000, gid: 1000 };
      });
      await s.create(id);
      await s.start(id);
      expect(
        await waitFor(() => (s.readOut("ran") ?? "").includes("\n")),
        "the program did not run",
      );
      expect(s.readOut("ran") === "yes /tmp 1000:1000\n", `the program saw: ${s.readOut("ran")}`);
    },
  },
  {
    id: "runtime/start/process-unset",
    file: "runtime.md",
    section: "Start",
    level: "MUST",
    quote: "This operation MUST generate an error if `process` was not set.",
    notes:
      "Both runtimes refuse such a config already at create (the spec allows validating config.json before creating); either error counts.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => delete c.process);
      const create = await s.cli(["create", "--bundle", s.dir, id]);
      if (create.code === 0) expectError(await s.cli(["start", id]), "start without process");
    },
  },
  {
    id: "runtime/kill/no-id",
    file: "runtime.md",
    section: "Kill",
    level: "MUST",
    quote: "This operation MUST generate an error if it is not provided the container ID.",
    async check(s) {
      expectError(await s.cli(["kill"]), "kill without an id");
    },
  },
  {
    id: "runtime/kill/not-created-or-running",
    file: "runtime.md",
    section: "Kill",
    level: "MUST",
    quote:
      "Attempting to send a signal to a container that is neither `created` nor `running` MUST have no effect on the container and MUST generate an error.",
    notes:
      "A stopped container and an unknown id. (`kill --all` of a stopped container succeeds in both runtimes; it is runc's extension, used by containerd to kill leftovers.)",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = ["true"]);
      await s.create(id);
      await s.start(id);
      await s.waitStatus(id, "stopped");
      expectError(await s.cli(["kill", id, "KILL"]), "kill of a stopped container");
      expect((await s.status(id)) === "stopped", "the stopped container changed");
      expectError(
        await s.cli(["kill", "conformance-no-such-container", "KILL"]),
        "kill of an unknown id",
      );
    },
  },
  {
    id: "runtime/kill/sends-signal",
    file: "runtime.md",
    section: "Kill",
    level: "MUST",
    quote: "This operation MUST send the specified signal to the container process.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = [
          "sh",
          "-c",
          'trap "echo USR1 > /tmp/sig; exit 0" USR1; echo up > /tmp/up; while true; do sleep 0.05; done',
        ];
      });
      await s.create(id);
      await s.start(id);
      expect(await waitFor(() => s.readOut("up") !== undefined), "the program did not start");
      expectOk(await s.cli(["kill", id, "USR1"]), "kill USR1");
      expect(
        await waitFor(() => s.readOut("sig") !== undefined),
        "the process did not get SIGUSR1",
      );
      await s.waitStatus(id, "stopped");
      const id2 = s.id();
      await s.configure(id2, (c) => c.process!.args = SLEEPER);
      await s.create(id2);
      expectOk(await s.cli(["kill", id2, "KILL"]), "kill KILL of a created container");
      await s.waitStatus(id2, "stopped");
    },
  },
  {
    id: "runtime/delete/no-id",
    file: "runtime.md",
    section: "Delete",
    level: "MUST",
    quote: "This operation MUST generate an error if it is not provided the container ID.",
    async check(s) {
      expectError(await s.cli(["delete"]), "delete without an id");
    },
  },
  {
    id: "runtime/delete/not-found",
    file: "runtime.md",
    section: "Delete",
    level: "MUST",
    quote: "Attempting to `delete` a container that does not exist MUST generate an error.",
    notes:
      "(1.0 wording.) Without `--force`; `delete --force` of an unknown id succeeds in both runtimes, as runc does.",
    async check(s) {
      expectError(
        await s.cli(["delete", "conformance-no-such-container"]),
        "delete of an unknown id",
      );
    },
  },
  {
    id: "runtime/delete/not-stopped",
    file: "runtime.md",
    section: "Delete",
    level: "MUST",
    quote:
      "Attempting to `delete` a container that is not `stopped` MUST have no effect on the container and MUST generate an error.",
    notes:
      "Created, running and paused containers, without `--force`. runc 1.1 deletes a *created* container (killing it) without `--force`; nsinit follows the spec. OCI clients do not depend on runc's behaviour: containerd's shim kills before deleting (or passes `--force`), podman passes `--force`.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = SLEEPER);
      const pid = await s.create(id);
      const created = await s.cli(["delete", id]);
      const after = await s.status(id);
      expect(
        created.code !== 0 && after === "created",
        `delete of a created container: exit ${created.code}, status now ${after}`,
      );
      await s.start(id);
      expectError(await s.cli(["delete", id]), "delete of a running container");
      expect((await s.state(id)).pid === pid, "the running container changed");
      expectOk(await s.cli(["pause", id]), "pause");
      expectError(await s.cli(["delete", id]), "delete of a paused container");
      expect((await s.status(id)) === "paused", "the paused container changed");
      expectOk(await s.cli(["delete", "--force", id]), "delete --force of a paused container");
      await expectGone(s, id, "after delete --force");
    },
  },
  {
    id: "runtime/delete/resources",
    file: "runtime.md",
    section: "Delete",
    level: "MUST",
    quote:
      "Deleting a container MUST delete the resources that were created during the `create` step.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = ["true"]);
      await s.create(id);
      await s.start(id);
      await s.waitStatus(id, "stopped");
      const dirs = cgroupDirs(`nsinit-test-${id}`);
      expectOk(await s.cli(["delete", id]), "delete");
      await expectGone(s, id, "after delete");
      for (const d of dirs) expect(!exists(d), `${d} left behind`);
      expect(!exists(`${s.root}/${id}`), "state directory left behind");
    },
  },
  {
    id: "runtime/delete/only-own-resources",
    file: "runtime.md",
    section: "Delete",
    level: "MUST",
    quote:
      "Note that resources associated with the container, but not created by this container, MUST NOT be deleted.",
    notes:
      "A bind-mounted host directory (with a file) and a joined network namespace survive delete.",
    async check(s) {
      const helper = await helperProcess(s, ["--net"]);
      const netns = nsLink(helper, "net");
      Deno.writeTextFileSync(s.outPath("keep"), "keep");
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = ["true"];
        c.linux!.namespaces = c.linux!.namespaces!.map((n) =>
          n.type === "network" ? { type: "network", path: `/proc/${helper}/ns/net` } : n
        );
      });
      await s.create(id);
      await s.start(id);
      await s.waitStatus(id, "stopped");
      expectOk(await s.cli(["delete", id]), "delete");
      expect(s.readOut("keep") === "keep", "the bind-mounted host directory lost its file");
      expect(nsLink(helper, "net") === netns, "the joined network namespace is gone");
    },
  },
  // ---------------------------------------------------------------- config.md
  {
    id: "config/root/readonly",
    file: "config.md",
    section: "Root",
    level: "MUST",
    quote: "If true then the root filesystem MUST be read-only inside the container",
    async check(s) {
      const p = await probe(s);
      expect(p.get("rootwrite")[0] !== "0", "a file could be created in the read-only root");
    },
  },
  {
    id: "config/mounts/order",
    file: "config.md",
    section: "Mounts",
    level: "MUST",
    quote: "The runtime MUST mount entries in the listed order.",
    notes:
      "A tmpfs on /run, then a tmpfs on /run/a (created inside the first): both visible, in that order.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = ["sh", "-c", "grep -o ' /run[^ ]* ' /proc/self/mountinfo"];
        c.mounts!.push(
          { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["size=64k"] },
          { destination: "/run/a", type: "tmpfs", source: "tmpfs", options: ["size=64k"] },
        );
      });
      const r = await s.runForeground(id);
      expectOk(r, "run");
      const points = r.stdout.split("\n").map((l) => l.trim()).filter((l) => l);
      expect(points.join(",") === "/run,/run/a", `mounts seen: ${JSON.stringify(points)}`);
    },
  },
  {
    id: "config/process/console-size-ignored",
    file: "config.md",
    section: "Process",
    level: "MUST",
    quote: "Runtimes MUST ignore `consoleSize` if `terminal` is `false` or unset.",
    check: (s) =>
      accepts(
        s,
        "consoleSize without terminal",
        (c) => c.process!.consoleSize = { height: 10, width: 40 },
      ),
  },
  {
    id: "config/process/rlimits-applied",
    file: "config.md",
    section: "POSIX process",
    level: "MUST",
    quote:
      "`rlim.rlim_cur` MUST match the configured value. ... `rlim.rlim_max` MUST match the configured value.",
    async check(s) {
      const p = await probe(s);
      const limits = p.get("limit").join("\n");
      expect(/Max open files\s+1000\s+1010\s/.test(limits), `RLIMIT_NOFILE: ${limits}`);
      expect(/Max msgqueue size\s+4096\s+8192\s/.test(limits), `RLIMIT_MSGQUEUE: ${limits}`);
    },
  },
  {
    id: "config/process/rlimits-unknown",
    file: "config.md",
    section: "POSIX process",
    level: "MUST",
    quote:
      "The runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface.",
    check: (s) =>
      refuses(
        s,
        "RLIMIT_CONFORMANCE",
        (c) => c.process!.rlimits = [{ type: "RLIMIT_CONFORMANCE", soft: 1, hard: 1 }],
      ),
  },
  {
    id: "config/process/rlimits-duplicate",
    file: "config.md",
    section: "POSIX process",
    level: "MUST",
    quote:
      "If `rlimits` contains duplicated entries with same `type`, the runtime MUST generate an error.",
    check: (s) =>
      refuses(s, "two RLIMIT_NOFILE entries", (c) =>
        c.process!.rlimits = [
          { type: "RLIMIT_NOFILE", soft: 100, hard: 100 },
          { type: "RLIMIT_NOFILE", soft: 200, hard: 200 },
        ]),
  },
  {
    id: "config/process/capabilities-unknown",
    file: "config.md",
    section: "Linux Process",
    level: "MUST",
    quote: "Any value which cannot be mapped to a relevant kernel interface MUST cause an error.",
    notes:
      'v1.2.0\'s text. runc 1.1 only warns and drops an unknown capability. The spec\'s development branch since changed this to "MUST be logged as a warning" and "Runtimes SHOULD NOT fail"; nsinit follows v1.2.0, the version it reports.',
    check: (s) =>
      refuses(
        s,
        "CAP_CONFORMANCE",
        (c) => c.process!.capabilities!.bounding!.push("CAP_CONFORMANCE"),
      ),
  },
  {
    id: "config/process/oom-score-adj-set",
    file: "config.md",
    section: "Linux Process",
    level: "MUST",
    quote: "If `oomScoreAdj` is set, the runtime MUST set `oom_score_adj` to the given value.",
    async check(s) {
      const p = await probe(s);
      expect(p.get("oom")[0] === "123", `oom_score_adj ${p.get("oom")[0]}`);
    },
  },
  {
    id: "config/process/oom-score-adj-unset",
    file: "config.md",
    section: "Linux Process",
    level: "MUST",
    quote: "If `oomScoreAdj` is not set, the runtime MUST NOT change the value of `oom_score_adj`.",
    notes: "The container's value must be the runtime caller's (this test process's).",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        delete c.process!.oomScoreAdj;
        c.process!.args = ["cat", "/proc/self/oom_score_adj"];
      });
      const r = await s.runForeground(id);
      expectOk(r, "run");
      const mine = Deno.readTextFileSync("/proc/self/oom_score_adj").trim();
      expect(r.stdout.trim() === mine, `oom_score_adj ${r.stdout.trim()}, the caller's is ${mine}`);
    },
  },
  {
    id: "config/hooks/order",
    file: "config.md",
    section: "POSIX-platform Hooks",
    level: "MUST",
    quote: "Hooks MUST be called in the listed order.",
    notes: "Two hooks of each kind; and the kinds in lifecycle order: prestart, createRuntime, " +
      "createContainer (create), startContainer, poststart (start), poststop (delete). runc 1.1 " +
      "runs the poststart hooks at the end of `create`.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = ["true"];
        const two = (name: string, inContainer = false) => [
          hook(s, `${name}1`, inContainer),
          hook(s, `${name}2`, inContainer),
        ];
        c.hooks = {
          prestart: two("prestart"),
          createRuntime: two("createRuntime"),
          createContainer: two("createContainer"),
          startContainer: two("startContainer", true),
          poststart: two("poststart"),
          poststop: two("poststop"),
        };
      });
      await s.create(id);
      const afterCreate = order(s).join(",");
      expect(
        afterCreate ===
          "prestart1,prestart2,createRuntime1,createRuntime2,createContainer1,createContainer2",
        `after create: ${afterCreate}`,
      );
      await s.start(id);
      await s.waitStatus(id, "stopped");
      expectOk(await s.cli(["delete", id]), "delete");
      expect(
        order(s).slice(6).join(",") ===
          "startContainer1,startContainer2,poststart1,poststart2,poststop1,poststop2",
        `after start and delete: ${order(s).slice(6).join(",")}`,
      );
    },
  },
  {
    id: "config/hooks/state-on-stdin",
    file: "config.md",
    section: "POSIX-platform Hooks",
    level: "MUST",
    quote: "The state of the container MUST be passed to hooks over stdin",
    notes:
      "Every kind gets a state with the container's id and bundle; pid where the container process exists.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = ["true"];
        allHooks(s)(c);
      });
      await s.create(id);
      await s.start(id);
      await s.waitStatus(id, "stopped");
      expectOk(await s.cli(["delete", id]), "delete");
      for (
        const kind of [
          "prestart",
          "createRuntime",
          "createContainer",
          "startContainer",
          "poststart",
          "poststop",
        ]
      ) {
        const text = s.readOut(`${kind}.json`);
        expect(text !== undefined, `${kind}: hook did not run`);
        let st: Record<string, unknown>;
        try {
          st = JSON.parse(text);
        } catch {
          throw new CheckFailed(`${kind}: stdin is not JSON: ${JSON.stringify(text)}`);
        }
        expect(st.id === id && st.bundle === s.dir, `${kind}: state ${text}`);
        if (kind !== "poststop") {
          expect(Number.isInteger(st.pid) && (st.pid as number) > 0, `${kind}: no pid in ${text}`);
        }
      }
    },
  },
  {
    id: "config/hooks/timing",
    file: "config.md",
    section: "POSIX-platform Hooks",
    level: "MUST",
    quote:
      "The `createContainer` hooks MUST be called ... before the `pivot_root` ... The `poststart` hooks MUST be called after the user-specified process is executed but before the `start` operation returns.",
    notes:
      "createRuntime runs in the runtime's mount namespace, createContainer in the container's (before pivot_root: the host's paths are visible), startContainer in the container (after pivot_root), poststart after the program runs and before start returns, poststop before delete returns.",
    async check(s) {
      const id = s.id();
      const hostMnt = nsLink("self", "mnt");
      const nsHook = (name: string, inContainer = false) => ({
        path: SH,
        args: [
          "sh",
          "-c",
          `readlink /proc/self/ns/mnt > ${inContainer ? "/tmp" : s.out}/${name}.mnt; ` +
          `test -e ${s.dir}/config.json && echo host > ${
            inContainer ? "/tmp" : s.out
          }/${name}.root; ` +
          `test -e ${inContainer ? "/tmp" : s.out}/up && echo running > ${
            inContainer ? "/tmp" : s.out
          }/${name}.up; true`,
        ],
      });
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.hooks = {
          createRuntime: [nsHook("createRuntime")],
          createContainer: [nsHook("createContainer")],
          startContainer: [nsHook("startContainer", true)],
          poststart: [nsHook("poststart")],
        };
      });
      await s.create(id);
      expect(
        s.readOut("createRuntime.mnt")?.trim() === hostMnt,
        "createRuntime did not run in the runtime namespace",
      );
      expect(
        s.readOut("createContainer.mnt")?.trim() !== hostMnt,
        "createContainer ran in the runtime namespace",
      );
      expect(
        s.readOut("createContainer.root") !== undefined,
        "createContainer ran after pivot_root (host paths gone)",
      );
      await s.start(id);
      expect(
        s.readOut("startContainer.mnt") !== undefined &&
          s.readOut("startContainer.mnt")?.trim() !== hostMnt,
        "startContainer did not run in the container",
      );
      expect(
        s.readOut("startContainer.root") === undefined,
        "startContainer ran before pivot_root",
      );
      expect(s.readOut("poststart.mnt") !== undefined, "poststart had not run when start returned");
    },
  },
  {
    id: "config/annotations/unknown-keys",
    file: "config.md",
    section: "Annotations",
    level: "MUST",
    quote:
      "Implementations that are reading/processing this configuration file MUST NOT generate an error if they encounter an unknown annotation key.",
    check: (s) =>
      accepts(
        s,
        "unknown annotation",
        (c) => c.annotations = { "com.example.conformance.unknown": "x" },
      ),
  },
  {
    id: "config/extensibility/unknown-properties",
    file: "config.md",
    section: "Extensibility",
    level: "MUST",
    quote:
      "Runtimes that are reading or processing this configuration file MUST NOT generate an error if they encounter an unknown property.",
    check: (s) =>
      accepts(s, "unknown properties", (c) => {
        const any = c as unknown as Record<string, unknown>;
        any["com.example.conformance"] = { x: 1 };
        (c.process as unknown as Record<string, unknown>)["conformanceExtra"] = true;
        (c.linux as unknown as Record<string, unknown>)["conformanceExtra"] = [1];
      }),
  },
  {
    id: "config/valid-values",
    file: "config.md",
    section: "Valid values",
    level: "MUST",
    quote:
      "Runtimes that are reading or processing this configuration file MUST generate an error when invalid or unsupported values are encountered.",
    notes:
      "An unknown namespace type, a relative process.cwd, empty process.args, a mount propagation option on the rootfs that does not exist.",
    async check(s) {
      await refuses(
        s,
        "namespace type bogus",
        (c) => c.linux!.namespaces!.push({ type: "bogus" as never }),
      );
      await refuses(s, "relative cwd", (c) => c.process!.cwd = "tmp");
      await refuses(s, "empty args", (c) => c.process!.args = []);
      await refuses(
        s,
        "rootfsPropagation bogus",
        (c) => c.linux!.rootfsPropagation = "bogus" as never,
      );
    },
  },
  // ---------------------------------------------------------------- config-linux.md
  {
    id: "config-linux/default-filesystems",
    file: "config-linux.md",
    section: "Default Filesystems",
    level: "SHOULD",
    quote:
      "The following filesystems SHOULD be made available in each container's filesystem: /proc proc, /sys sysfs, /dev/pts devpts, /dev/shm tmpfs",
    async check(s) {
      const mounts = probeMounts(await probe(s));
      for (
        const [point, type] of [["/proc", "proc"], ["/sys", "sysfs"], ["/dev/pts", "devpts"], [
          "/dev/shm",
          "tmpfs",
        ]]
      ) {
        expect(
          mounts.some((m) => m.point === point && m.type === type),
          `${point} (${type}) missing`,
        );
      }
    },
  },
  {
    id: "config-linux/namespaces/join-path",
    file: "config-linux.md",
    section: "Namespaces",
    level: "MUST",
    quote:
      "The runtime MUST place the container process in the namespace associated with that `path`.",
    async check(s) {
      const helper = await helperProcess(s, ["--net", "--uts"]);
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.linux!.namespaces = c.linux!.namespaces!.map((n) =>
          n.type === "network" ? { type: "network", path: `/proc/${helper}/ns/net` } : n
        );
      });
      const pid = await s.create(id);
      expect(nsLink(pid, "net") === nsLink(helper, "net"), "not in the network namespace of path");
    },
  },
  {
    id: "config-linux/namespaces/path-type",
    file: "config-linux.md",
    section: "Namespaces",
    level: "MUST",
    quote:
      "The runtime MUST generate an error if `path` is not associated with a namespace of type `type`.",
    async check(s) {
      const helper = await helperProcess(s, ["--net", "--uts"]);
      await refuses(s, "a uts namespace given as network", (c) => {
        c.linux!.namespaces = c.linux!.namespaces!.map((n) =>
          n.type === "network" ? { type: "network", path: `/proc/${helper}/ns/uts` } : n
        );
      });
    },
  },
  {
    id: "config-linux/namespaces/new",
    file: "config-linux.md",
    section: "Namespaces",
    level: "MUST",
    quote:
      "If `path` is not specified, the runtime MUST create a new container namespace of type `type`.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.linux!.namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup"].map((t) => ({
          type: t as never,
        }));
      });
      const pid = await s.create(id);
      for (const ns of ["pid", "net", "ipc", "uts", "mnt", "cgroup"]) {
        expect(nsLink(pid, ns) !== nsLink("self", ns), `no new ${ns} namespace`);
      }
    },
  },
  {
    id: "config-linux/namespaces/inherit",
    file: "config-linux.md",
    section: "Namespaces",
    level: "MUST",
    quote:
      "If a namespace type is not specified in the `namespaces` array, the container MUST inherit the runtime namespace of that type.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.linux!.namespaces = c.linux!.namespaces!.filter((n) =>
          n.type !== "network" && n.type !== "ipc"
        );
        c.mounts = c.mounts!.filter((m) =>
          !m.destination.startsWith("/sys") && m.destination !== "/dev/mqueue"
        );
      });
      const pid = await s.create(id);
      for (const ns of ["net", "ipc"]) {
        expect(nsLink(pid, ns) === nsLink("self", ns), `${ns}: not inherited`);
      }
    },
  },
  {
    id: "config-linux/namespaces/duplicate",
    file: "config-linux.md",
    section: "Namespaces",
    level: "MUST",
    quote:
      "If a `namespaces` field contains duplicated namespaces with same `type`, the runtime MUST generate an error.",
    check: (s) =>
      refuses(s, "two pid namespaces", (c) => c.linux!.namespaces!.push({ type: "pid" })),
  },
  {
    id: "config-linux/user-namespace/ownership",
    file: "config-linux.md",
    section: "User namespace mappings",
    level: "SHOULD",
    quote:
      "The runtime SHOULD NOT modify the ownership of referenced filesystems to realize the mapping.",
    notes:
      "A user namespace mapping container root to host uid/gid 100000 on a private copy of the rootfs: the rootfs keeps its owner.",
    async check(s) {
      const rootfs = `${s.dir}/userns-rootfs`;
      if (!exists(rootfs)) {
        const cp = await run("cp", ["-a", "--", s.base.root!.path, rootfs]);
        expectOk(cp, "copy rootfs");
      }
      const before = Deno.statSync(`${rootfs}/bin`).uid;
      const id = s.id();
      await s.configure(id, (c) => {
        c.root = { path: rootfs, readonly: true };
        c.process!.args = ["true"];
        c.linux!.namespaces!.push({ type: "user" });
        c.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        c.linux!.namespaces = c.linux!.namespaces!.filter((n) => n.type !== "cgroup");
        c.mounts = c.mounts!.filter((m) => m.type !== "cgroup").map((m) =>
          m.destination === "/sys"
            ? {
              destination: "/sys",
              type: "none",
              source: "/sys",
              options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
            : m
        );
      });
      const r = await s.runForeground(id);
      expectOk(r, "run in a user namespace");
      expect(Deno.statSync(`${rootfs}/bin`).uid === before, "the rootfs owner changed");
    },
  },
  {
    id: "config-linux/devices/available",
    file: "config-linux.md",
    section: "Devices",
    level: "MUST",
    quote:
      "`devices` (array of objects, OPTIONAL) lists devices that MUST be available in the container.",
    async check(s) {
      const p = await probe(s);
      const d = p.get("dev").find((l) => l.startsWith("conformance-null "));
      expect(d === "conformance-null character special file 1:3", `/dev/conformance-null: ${d}`);
    },
  },
  {
    id: "config-linux/devices/existing-file",
    file: "config-linux.md",
    section: "Devices",
    level: "MUST",
    quote:
      "If a file already exists at `path` that does not match the requested device, the runtime MUST generate an error.",
    notes:
      "A regular file at the device's path (in the bind-mounted /tmp, a host directory). runc 1.1 ignores EEXIST from mknod and starts the container with the file in place.",
    async check(s) {
      Deno.writeTextFileSync(s.outPath("not-a-device"), "x");
      const id = s.id();
      await s.configure(id, (c) => {
        c.process!.args = ["true"];
        c.linux!.devices = [{ path: "/tmp/not-a-device", type: "c", major: 1, minor: 3 }];
      });
      const r = await s.cli(["create", "--bundle", s.dir, id]);
      const survived = s.readOut("not-a-device") === "x";
      expect(survived, "the existing (host) file at the device path was replaced or deleted");
      expectError(r, "a regular file where a device is asked for");
    },
  },
  {
    id: "config-linux/devices/default",
    file: "config-linux.md",
    section: "Default Devices",
    level: "MUST",
    quote:
      "In addition to any devices configured with this setting, the runtime MUST also supply default devices.",
    notes:
      "/dev/null, zero, full, random, urandom, tty, and /dev/ptmx (a device or a symlink to pts/ptmx).",
    async check(s) {
      const p = await probe(s);
      const want: Record<string, string> = {
        null: "1:3",
        zero: "1:5",
        full: "1:7",
        random: "1:8",
        urandom: "1:9",
        tty: "5:0",
      };
      const devs = new Map(p.get("dev").map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1)]));
      for (const [name, mm] of Object.entries(want)) {
        expect(
          devs.get(name) === `character special file ${mm}`,
          `/dev/${name}: ${devs.get(name)}`,
        );
      }
      const ptmx = devs.get("ptmx") ?? "";
      expect(
        ptmx.startsWith("character special file 5:2") || ptmx.startsWith("symbolic link"),
        `/dev/ptmx: ${ptmx}`,
      );
    },
  },
  {
    id: "config-linux/cgroups-path/absolute",
    file: "config-linux.md",
    section: "Cgroups path",
    level: "MUST",
    quote:
      "In the case of an absolute path (starting with `/`), the runtime MUST take the path to be relative to the cgroups mount point.",
    notes:
      "The absolute path is this process's own deepest cgroup plus a leaf, so it stays below this process's cgroup in every hierarchy.",
    async check(s) {
      const own = procCgroups("self").map((c) => c.path.replace(/\/$/, ""));
      const deepest = own.reduce((a, b) => (b.length > a.length ? b : a), "");
      if (!own.every((p) => p === "" || deepest === p || deepest.startsWith(p + "/"))) {
        throw new Skip(
          `this process's cgroups do not nest (${
            own.join(", ")
          }): an absolute path would leave one of them`,
        );
      }
      const id = s.id();
      const path = `${deepest}/nsinit-test-abs-${id}`;
      const dirs = cgroupDirs(path);
      // Parents that do not exist yet are removed again at the end.
      const created = dirs.flatMap((d) => {
        const out: string[] = [];
        for (
          let p = d;
          p.length > "/sys/fs/cgroup/x".length && !exists(p);
          p = p.replace(/\/[^/]+$/, "")
        ) out.push(p);
        return out;
      });
      s.defer(async () => {
        for (const d of created.sort((a, b) => b.length - a.length)) {
          if (exists(d)) await removeCgroupTree(d);
        }
      });
      await s.configure(id, (c) => {
        c.process!.args = SLEEPER;
        c.linux!.cgroupsPath = path;
      });
      const pid = await s.create(id);
      const cg = procCgroups(pid);
      expect(
        cg.every((c) => c.path === path),
        `the container's cgroups: ${JSON.stringify(cg)}, expected ${path}`,
      );
    },
  },
  {
    id: "config-linux/cgroups-path/consistent",
    file: "config-linux.md",
    section: "Cgroups path",
    level: "MUST",
    quote:
      "If the value is specified, the runtime MUST consistently attach to the same place in the cgroups hierarchy given the same value of `cgroupsPath`.",
    async check(s) {
      const seen: string[] = [];
      const path = `nsinit-test-same-${s.name}-${Deno.pid}`;
      for (let i = 0; i < 2; i++) {
        const id = s.id();
        await s.configure(id, (c) => {
          c.process!.args = SLEEPER;
          c.linux!.cgroupsPath = path;
        });
        const pid = await s.create(id);
        seen.push(JSON.stringify(procCgroups(pid)));
        expectOk(await s.cli(["delete", "--force", id]), "delete");
      }
      s.defer(async () => {
        for (const d of cgroupDirs(path)) if (exists(d)) await removeCgroupTree(d);
      });
      expect(seen[0] === seen[1], `first ${seen[0]}, then ${seen[1]}`);
      expect(seen[0].includes(`/${path}"`), `not at ${path}: ${seen[0]}`);
    },
  },
  {
    id: "config-linux/device-allowlist/order",
    file: "config-linux.md",
    section: "Allowed Device list",
    level: "MUST",
    quote: "The runtime MUST apply entries in the listed order.",
    notes:
      "The process makes /dev/conformance-fuse (c 10:229; mknod is allowed by every runtime's default rules) and opens it for reading: [deny all, allow c 10:229 rw] must let the open succeed, [allow c 10:229 rw, deny all] must make it fail with EPERM.",
    async check(s) {
      const attempt = async (
        devices: NonNullable<NonNullable<NonNullable<Spec["linux"]>["resources"]>["devices"]>,
      ) => {
        const id = s.id();
        await s.configure(id, (c) => {
          c.process!.args = [
            "sh",
            "-c",
            "mknod /dev/conformance-fuse c 10 229 && exec 3< /dev/conformance-fuse && echo opened",
          ];
          for (const set of ["bounding", "effective", "permitted"] as const) {
            c.process!.capabilities![set]!.push("CAP_MKNOD");
          }
          c.linux!.resources = { devices };
        });
        const r = await s.runForeground(id);
        return {
          opened: r.stdout.includes("opened"),
          denied: /not permitted/i.test(r.stderr),
          text: (r.stdout + r.stderr).trim(),
        };
      };
      const allowLast = await attempt([
        { allow: false, access: "rwm" },
        { allow: true, type: "c", major: 10, minor: 229, access: "rw" },
      ]);
      expect(allowLast.opened, `[deny all, allow c 10:229 rw]: the open failed: ${allowLast.text}`);
      const denyLast = await attempt([
        { allow: true, type: "c", major: 10, minor: 229, access: "rw" },
        { allow: false, access: "rwm" },
      ]);
      expect(
        !denyLast.opened && denyLast.denied,
        `[allow c 10:229 rw, deny all]: ${denyLast.text || "opened"}`,
      );
    },
  },
  {
    id: "config-linux/intel-rdt/no-resctrl",
    file: "config-linux.md",
    section: "IntelRdt",
    level: "MUST",
    quote:
      "If no mounted `resctrl` pseudo-filesystem is available in the runtime mount namespace, the runtime MUST generate an error.",
    async check(s) {
      if (exists("/sys/fs/resctrl/schemata")) throw new Skip("resctrl is mounted on this host");
      await refuses(
        s,
        "intelRdt without resctrl",
        (c) => c.linux!.intelRdt = { closID: "conformance", l3CacheSchema: "L3:0=f" },
      );
    },
  },
  {
    id: "config-linux/masked-paths",
    file: "config-linux.md",
    section: "Masked Paths",
    level: "MUST",
    quote:
      "`maskedPaths` ... will mask over the provided paths inside the container so that they cannot be read.",
    notes:
      "Applying the configuration is a MUST of lifecycle step 2. /proc/kcore from runc's default spec reads as empty.",
    async check(s) {
      const p = await probe(s);
      expect(p.get("kcore")[0] === "0", `/proc/kcore gave ${p.get("kcore")[0]} bytes`);
    },
  },
  {
    id: "config-linux/readonly-paths",
    file: "config-linux.md",
    section: "Readonly Paths",
    level: "MUST",
    quote: "`readonlyPaths` ... will set the provided paths as readonly inside the container.",
    notes: "/proc/sys from runc's default spec cannot be written.",
    async check(s) {
      const p = await probe(s);
      expect(p.get("procsys")[0] !== "0", "/proc/sys/kernel/domainname could be written");
    },
  },
  // ---------------------------------------------------------------- runtime-linux.md
  {
    id: "runtime-linux/file-descriptors",
    file: "runtime-linux.md",
    section: "File descriptors",
    level: "MUST",
    quote:
      "By default, only the `stdin`, `stdout` and `stderr` file descriptors are kept open for the application by the runtime.",
    notes:
      "(Stated as a fact, not with MUST; a leaked descriptor is a real bug, so it is checked.) The container runs `sleep` directly; its /proc/<pid>/fd is read from the host after start.",
    async check(s) {
      const id = s.id();
      await s.configure(id, (c) => c.process!.args = ["sleep", "1000"]);
      const pid = await s.create(id);
      await s.start(id);
      await waitFor(() => Deno.readTextFileSync(`/proc/${pid}/comm`).trim() === "sleep");
      const fds = [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => Number(e.name)).sort((a, b) =>
        a - b
      );
      expect(fds.join(" ") === "0 1 2", `the program's open fds: ${fds.join(" ")}`);
    },
  },
  {
    id: "runtime-linux/dev-symlinks",
    file: "runtime-linux.md",
    section: "Dev symbolic links",
    level: "MUST",
    quote:
      "runtimes MUST create the following symlinks if the source file exists after processing mounts",
    async check(s) {
      const p = await probe(s);
      const links = new Map(p.get("link").map((l) => l.split(" ") as [string, string]));
      const want: Record<string, string> = {
        fd: "/proc/self/fd",
        stdin: "/proc/self/fd/0",
        stdout: "/proc/self/fd/1",
        stderr: "/proc/self/fd/2",
      };
      for (const [name, target] of Object.entries(want)) {
        expect(links.get(name) === target, `/dev/${name} -> ${links.get(name)}`);
      }
    },
  },
  // ---------------------------------------------------------------- features.md
  {
    id: "features/oci-version-accepted",
    file: "features.md",
    section: "Specification version",
    level: "MUST",
    quote:
      "`ociVersionMin` ... The runtime MUST accept this value as the `ociVersion` property of `config.json`. (also `ociVersionMax`)",
    async check(s) {
      const r = await s.cli(["features"]);
      if (r.code !== 0) throw new CheckFailed(`features: exit ${r.code}: ${r.stderr.trim()}`);
      const f = JSON.parse(r.stdout);
      for (const key of ["ociVersionMin", "ociVersionMax"]) {
        expect(typeof f[key] === "string", `${key} missing`);
        await accepts(s, `ociVersion ${f[key]}`, (c) => c.ociVersion = f[key]);
      }
    },
  },
  {
    id: "features/known-properties",
    file: "features.md",
    section: "Specification version",
    level: "MUST",
    quote:
      "The Features structure MUST NOT contain properties that are not defined in this version of the Open Container Initiative Runtime Specification.",
    notes:
      "Checked against the properties of runtime-spec v1.1 (features.md, features-linux.md), plus `mountExtensions` and `potentiallyUnsafeConfigAnnotations` for v1.2 and `memoryPolicy` and `netDevices` for v1.3. runc 1.1's features reports ociVersionMax 1.0.2-dev, a version without the features structure.",
    async check(s) {
      const r = await s.cli(["features"]);
      if (r.code !== 0) throw new CheckFailed(`features: exit ${r.code}: ${r.stderr.trim()}`);
      const f = JSON.parse(r.stdout);
      const v12 = /^1\.([2-9]|\d\d)\./.test(f.ociVersionMax);
      const v13 = /^1\.([3-9]|\d\d)\./.test(f.ociVersionMax);
      const top = [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
        "annotations",
        ...(v12 ? ["potentiallyUnsafeConfigAnnotations"] : []),
      ];
      const linux = [
        "namespaces",
        "capabilities",
        "cgroup",
        "seccomp",
        "apparmor",
        "selinux",
        "intelRdt",
        ...(v12 ? ["mountExtensions"] : []),
        ...(v13 ? ["memoryPolicy", "netDevices"] : []),
      ];
      const extra = [
        ...Object.keys(f).filter((k) => !top.includes(k)),
        ...Object.keys(f.linux ?? {}).filter((k) => !linux.includes(k)).map((k) => `linux.${k}`),
      ];
      expect(
        extra.length === 0,
        `properties not defined in ${f.ociVersionMax}: ${extra.join(", ")}`,
      );
      expect(
        /^1\.[1-9]/.test(f.ociVersionMax),
        `ociVersionMax ${f.ociVersionMax} predates the features structure (v1.1.0)`,
      );
    },
  },
];
