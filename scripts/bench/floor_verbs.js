// The verb floors: the least a Deno program must do for `state`, `kill`, `start` and `delete`
// of a container nsinit created, with none of nsinit's code: the same files, the same checks,
// the same calls (libnsinit's checked pidfd signal and exec fifo start, as nsinit makes them),
// nothing else (no flags, no logging, no errors worded, no hooks). Plain JavaScript in one
// file, so that Deno loads no more than this. The benchmark runs it with the launcher's
// `deno run` flags and NSINIT_LIBDIR (scripts/bench.ts, the lifecycle round) beside
// `dist/nsinit`, each verb on a container in the state that verb needs.
//
// Usage: deno run -A floor_verbs.js VERB ROOT ID [SIGNAL]   (NSINIT_LIBDIR: libnsinit.so's dir)
// Exit status 0 when the verb did its work; otherwise an uncaught error (status 1).
//
// The state it reads is core/state.ts's ContainerState (state.json in ROOT/ID): initPid,
// initStartTime (/proc/<pid>/stat field 22, against pid reuse), cgroup.paths (the freezer)
// and cgroup.created (the directories delete removes). "Not started" is the exec fifo
// (`create`) or the directory's sticky bit (`run`, core/state.ts NOT_STARTED_MODE).

const [verb, root, id, sig] = Deno.args;
const dir = `${root}/${id}`;
const NOT_STARTED_MODE = 0o1000;

/** Whether the init recorded in `st` still runs (same start time, not a zombie). */
function alive(st) {
  if (!(st.initPid > 0)) return false;
  let stat;
  try {
    stat = Deno.readTextFileSync(`/proc/${st.initPid}/stat`);
  } catch {
    return false;
  }
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[19]) === st.initStartTime && f[0] !== "Z" && f[0] !== "X";
}

/** Whether the container's cgroup is frozen (v1 freezer, or v2 cgroup.events). */
function frozen(st) {
  const p = st.cgroup?.paths ?? {};
  try {
    if (p.freezer) return Deno.readTextFileSync(`${p.freezer}/freezer.state`).startsWith("FROZEN");
    if (p[""]) return /^frozen 1$/m.test(Deno.readTextFileSync(`${p[""]}/cgroup.events`));
  } catch { /* no freezer */ }
  return false;
}

/** Not started: the exec fifo (`create`) or the directory's mark (`run`). */
function notStarted() {
  try {
    if ((Deno.statSync(dir).mode & NOT_STARTED_MODE) !== 0) return true;
    Deno.lstatSync(`${dir}/exec.fifo`);
    return true;
  } catch {
    return false;
  }
}

function lib(symbols) {
  return Deno.dlopen(`${Deno.env.get("NSINIT_LIBDIR")}/libnsinit.so`, symbols).symbols;
}

/** rmdir, retried while a v1 cgroup is still emptying after its last process's exit. */
async function rmdir(path) {
  for (let i = 0;; i++) {
    try {
      Deno.removeSync(path);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      if (!(e instanceof Deno.errors.Busy) || i >= 200) throw e;
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

const lock = verb === "state" ? undefined : Deno.openSync(dir, { read: true });
if (lock) await lock.lock(true);
const st = JSON.parse(Deno.readTextFileSync(`${dir}/state.json`));
const live = alive(st);
if (verb === "state") {
  const status = !live ? "stopped" : frozen(st) ? "paused" : notStarted() ? "created" : "running";
  console.log(JSON.stringify(
    {
      ociVersion: st.config.ociVersion,
      id,
      pid: status === "stopped" ? 0 : st.initPid,
      status,
      bundle: st.bundle,
      rootfs: st.rootfs,
      created: st.created,
      owner: st.owner,
    },
    null,
    2,
  ));
} else if (verb === "kill") {
  if (!live) throw new Error("container not running");
  const n = lib({
    nsi_init_signal: { parameters: ["i32", "u64", "i32"], result: "i32", nonblocking: true },
  });
  const rc = await n.nsi_init_signal(st.initPid, BigInt(st.initStartTime), Number(sig ?? 15));
  if (rc < 0) throw new Error(`pidfd_send_signal: ${rc}`);
} else if (verb === "start") {
  if (!live || frozen(st) || !notStarted()) throw new Error("container not created");
  const n = lib({
    nsi_init_start: {
      parameters: ["buffer", "i32", "u64", "buffer", "i32"],
      result: "i32",
      nonblocking: true,
    },
  });
  const err = new Uint8Array(1024);
  const path = new TextEncoder().encode(`${dir}/exec.fifo\0`);
  // The native call removes the fifo once the init is released, as nsinit's start.
  const rc = await n.nsi_init_start(path, st.initPid, BigInt(st.initStartTime), err, 1024);
  if (rc !== 0) throw new Error(`start: ${rc}`);
} else if (verb === "delete") {
  if (live) throw new Error("container not stopped");
  for (const d of [...(st.cgroup?.created ?? [])].reverse()) await rmdir(d);
  Deno.removeSync(dir, { recursive: true });
} else {
  throw new Error(`unknown verb ${verb}`);
}
if (lock) lock.close();
