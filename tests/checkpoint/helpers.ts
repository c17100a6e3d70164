/**
 * What the checkpoint/restore tests share: whether a working CRIU is here, a
 * counting container, a memory-holding program, and a check that a container
 * left nothing behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import { resolveCriu } from "../../criu/swrk.ts";
import { criuCannotDump } from "../helpers/criu_probe.ts";
import { hasCommand, isRoot, skipUnless } from "../helpers/skip.ts";
import { mountsUnder } from "../helpers/paths.ts";
import { cgroupDirsNamed as dirsNamed, waitFor } from "../helpers/host.ts";

export { waitFor };
import { type Bundle, type BundleOptions, makeBundle } from "../helpers/bundle.ts";
import { runNsinit, type RunResult } from "../helpers/run.ts";

/**
 * Options every checkpoint and restore of the tests gets. CRIU locks the network with
 * iptables-restore and saves a network namespace with iproute2's `ip` by default; where
 * iptables is missing, the lock is skipped. (The cgroup v2 VM carries both, and the
 * nf_conntrack_netlink module CRIU's dump of a network namespace needs: scripts/v2vm/build.sh.)
 */
export const CRIU_NET: { networkLock?: "skip" } = hasCommand("iptables-restore")
  ? {}
  : { networkLock: "skip" };

/** A bundle for a checkpoint test (see makeBundle): its own network namespace, as runc's spec. */
export function ckptBundle(opts: BundleOptions = {}): Promise<Bundle> {
  return makeBundle(opts);
}

/** The criu binary, or undefined when there is none (scripts/install_criu.sh installs it). */
export function criuBinary(): string | undefined {
  try {
    return resolveCriu();
  } catch {
    return undefined;
  }
}

let problem: Promise<string | undefined> | undefined;

/**
 * Why real checkpoints cannot run here (no root, no CRIU, or a CRIU that cannot dump on this
 * kernel: `criuCannotDump` in tests/helpers/criu_probe.ts), or undefined when they can. Probed once per test process.
 */
export function criuProblem(): Promise<string | undefined> {
  return problem ??= (async () => {
    if (!isRoot()) return "checkpoint/restore needs root";
    const criu = criuBinary();
    if (!criu) return "no criu on PATH (scripts/install_criu.sh installs CRIU 4.1.1)";
    return await criuCannotDump(criu);
  })();
}

const criuReason = await criuProblem();

/** The skip reason shared by every real checkpoint test ({@link criuProblem}; false: it runs). */
export const ignoreCriu: boolean = skipUnless(criuReason === undefined, criuReason ?? "");

/**
 * A loop that counts in /tmp/n (written with a rename, so a read never sees half a
 * number). Its stdio is the container's own /dev/null: CRIU cannot dump a file
 * opened from outside the container's mount namespace.
 */
export const COUNTER_ARGS = [
  "sh",
  "-c",
  "exec </dev/null >/dev/null 2>&1; i=0; while true; do i=$((i+1)); echo $i > /tmp/n.tmp; " +
  "mv /tmp/n.tmp /tmp/n; sleep 0.05; done",
];

/** The counter's value (0 before the first write). */
export function readCounter(b: Bundle): number {
  try {
    return Number(Deno.readTextFileSync(`${b.rootfs}/tmp/n`).trim()) || 0;
  } catch {
    return 0;
  }
}

/** `nsinit ARGS` against one bundle's state root (`--root`), its output captured. */
export type Nsinit = (args: string[]) => Promise<RunResult>;

/** Runs `nsinit --root <b.stateRoot> ARGS` (see runNsinit). */
export function nsinitIn(b: Bundle): Nsinit {
  return (args) => runNsinit(["--root", b.stateRoot, ...args], { pipeGraceMs: 200 });
}

/** Starts the container of `b` with `nsinit run -d` and asserts that it started. */
export async function runDetached(b: Bundle, n: Nsinit): Promise<void> {
  const run = await n(["run", "-d", "--bundle", b.dir, b.id]);
  assert.equal(run.code, 0, run.stderr);
}

/** Asserts that each `nsinit ARGS` of `cases` exits 1 with stderr matching its pattern. */
export async function assertRefused(n: Nsinit, cases: [string[], RegExp][]): Promise<void> {
  for (const [args, want] of cases) {
    const r = await n(args);
    assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code}`);
    assert.match(r.stderr, want, args.join(" "));
  }
}

/** Asserts that the counter container of `b` still runs and counts on (nothing happened to it). */
export async function assertStillCounting(b: Bundle, n: Nsinit): Promise<void> {
  assert.equal(JSON.parse((await n(["state", b.id])).stdout).status, "running");
  const at = readCounter(b);
  await waitFor(() => readCounter(b) > at, "the counter to go on");
}

/**
 * Runs the counter container of `b` (see runDetached), lets it count to 3 and checkpoints it with
 * `nsinit checkpoint --image-path img`, which deletes it (`delete --force` ends it anyway).
 */
export async function checkpointCounter(b: Bundle, n: Nsinit, img: string): Promise<void> {
  await runDetached(b, n);
  try {
    await waitFor(() => readCounter(b) >= 3, "the counter to start");
    const c = await n(["checkpoint", "--image-path", img, b.id]);
    assert.equal(c.code, 0, c.stderr);
  } finally {
    await n(["delete", "--force", b.id]);
  }
}

/** Whether the kernel tracks dirty memory (CONFIG_MEM_SOFT_DIRTY), which pre-dumps need. */
export function hasMemTrack(): boolean {
  const criu = criuBinary();
  if (!criu || !isRoot()) return false;
  const out = new Deno.Command(criu, {
    args: ["check", "--feature", "mem_dirty_track"],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return out.success;
}

const MEMHOLD_SRC = new URL("./memhold.c", import.meta.url).pathname;
/** The static memhold binary, built once per source change (the VM has no compiler: it uses this). */
export const MEMHOLD_BIN = new URL("../../.cache/checkpoint/memhold", import.meta.url).pathname;

function memholdFresh(): boolean {
  try {
    return Deno.statSync(MEMHOLD_BIN).mtime! >= Deno.statSync(MEMHOLD_SRC).mtime!;
  } catch {
    return false;
  }
}

/** Whether the static memory-holding program is built or can be (a C compiler). */
export const ignoreMemhold: boolean = skipUnless(
  hasCommand("cc") || memholdFresh(),
  "no C compiler for memhold.c, and no build of it in .cache/checkpoint",
);

/**
 * Puts memhold.c's static build into the bundle's rootfs as /memhold (building it first
 * when stale), and returns an argv holding `mib` MiB. It writes its memory's checksum to
 * /tmp/ready when filled, and to /tmp/sum on each SIGUSR1.
 */
export async function installMemhold(b: Bundle, mib: number): Promise<string[]> {
  if (!memholdFresh()) {
    await Deno.mkdir(MEMHOLD_BIN.slice(0, MEMHOLD_BIN.lastIndexOf("/")), { recursive: true });
    const tmp = `${MEMHOLD_BIN}.${Deno.pid}`;
    const out = await new Deno.Command("cc", {
      args: ["-static", "-O2", "-o", tmp, MEMHOLD_SRC],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(out.success, `cc memhold.c: ${new TextDecoder().decode(out.stderr)}`);
    await Deno.rename(tmp, MEMHOLD_BIN);
  }
  await Deno.copyFile(MEMHOLD_BIN, `${b.rootfs}/memhold`);
  await Deno.chmod(`${b.rootfs}/memhold`, 0o755);
  // Its stdio is the container's own /dev/null (see COUNTER_ARGS).
  return ["sh", "-c", `exec /memhold ${mib} </dev/null >/dev/null 2>&1`];
}

/** Reads a checksum file the memory program wrote, or "" while it is missing. */
export function readSum(b: Bundle, name: "ready" | "sum"): string {
  try {
    return Deno.readTextFileSync(`${b.rootfs}/tmp/${name}`).trim();
  } catch {
    return "";
  }
}

/** Pages (4 KiB) in the page files of an images directory. */
export function imagePages(dir: string): number {
  let pages = 0;
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && /^pages-\d+\.img$/.test(e.name)) {
      pages += Deno.statSync(`${dir}/${e.name}`).size / 4096;
    }
  }
  return pages;
}

/** cgroup directories named `name` anywhere below /sys/fs/cgroup (a few levels deep). */
export function cgroupDirsNamed(name: string): string[] {
  return dirsNamed(name, 6);
}

/**
 * Asserts that container `id` of bundle `b` left no state directory, cgroup or mount; its cgroup
 * is `cgroupsPath` (default the bundle's).
 */
export function assertNothingLeft(b: Bundle, id: string, cgroupsPath?: string): void {
  const dir = `${b.stateRoot}/${id}`;
  let present = true;
  try {
    Deno.statSync(dir);
  } catch {
    present = false;
  }
  assert.equal(present, false, `state directory ${dir} is left`);
  assert.deepEqual(mountsUnder(b.stateRoot), [], "mounts left under the state root");
  const cg = cgroupsPath ?? b.config.linux?.cgroupsPath;
  if (cg) assert.deepEqual(cgroupDirsNamed(cg.split("/").pop()!), [], "cgroups left");
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it; another
 * process could take it before the caller binds it, which a test then reports as CRIU's error).
 */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A CRIU daemon a test started (`criu page-server` or `criu lazy-pages`); disposing ends it. */
export interface CriuDaemon extends AsyncDisposable {
  /** Its pid (from CRIU's `--pidfile`). */
  pid: number;
  /** Whether it still runs. */
  alive(): boolean;
}

function isCriu(pid: number): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("criu");
  } catch {
    return false;
  }
}

/**
 * Starts `criu <args> -d --pidfile <dir>/<name>.pid` in `dir`: CRIU daemonizes once its socket
 * listens, so the daemon is ready when this returns. Disposing sends SIGKILL to that pid (only
 * while /proc says it is still a criu) and waits until it is gone.
 */
export async function startCriuDaemon(
  criu: string,
  name: string,
  dir: string,
  args: string[],
): Promise<CriuDaemon> {
  const pidfile = `${dir}/${name}.pid`;
  const out = await new Deno.Command(criu, {
    args: [...args, "-d", "--pidfile", pidfile, "-v4", "-o", `${name}.log`],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(
    out.success,
    `criu ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}` +
      new TextDecoder().decode(out.stdout),
  );
  const pid = Number(Deno.readTextFileSync(pidfile).trim());
  assert.ok(Number.isInteger(pid) && pid > 0, `bad pid in ${pidfile}`);
  const alive = () => isCriu(pid);
  return {
    pid,
    alive,
    async [Symbol.asyncDispose]() {
      if (alive()) Deno.kill(pid, "SIGKILL");
      await waitFor(() => !alive(), `criu ${name} (${pid}) to end`);
    },
  };
}

/**
 * Starts `criu lazy-pages` for the images in `dir` (see startCriuDaemon): it fetches the pages from
 * the lazy page server of a checkpoint on 127.0.0.1:`port`, or without a port serves the pages of
 * the images themselves.
 */
export function startLazyPagesDaemon(
  criu: string,
  dir: string,
  port?: number,
): Promise<CriuDaemon> {
  const server = port === undefined
    ? []
    : ["--page-server", "--address", "127.0.0.1", "--port", String(port)];
  return startCriuDaemon(criu, "lazy-pages", dir, ["lazy-pages", ...server, "--images-dir", dir]);
}

/** CRIU's lazy page server sizes a pipe to this with F_SETPIPE_SZ (measured with strace). */
export const CRIU_LAZY_PIPE_SIZE = 3354624;

/**
 * Raises fs.pipe-max-size to {@linkcode CRIU_LAZY_PIPE_SIZE} when it is lower and this process
 * (root) lacks CAP_SYS_RESOURCE, so that CRIU's lazy page server can size its pipe, and puts the
 * old value back when the test process ends (the `unload` event; a SIGKILLed run leaves it
 * raised, which only lets pipes grow larger). Returns the value it replaced, if it did.
 */
export function raisePipeMaxForCriu(): string | undefined {
  const file = "/proc/sys/fs/pipe-max-size";
  try {
    const before = Deno.readTextFileSync(file).trim();
    if (Deno.uid() !== 0 || Number(before) >= CRIU_LAZY_PIPE_SIZE || pipeSizeHint() === "") {
      return undefined;
    }
    Deno.writeTextFileSync(file, String(CRIU_LAZY_PIPE_SIZE));
    globalThis.addEventListener("unload", () => Deno.writeTextFileSync(file, before));
    return before;
  } catch {
    return undefined;
  }
}

/**
 * Why CRIU's lazy page server cannot size its pipe here, if that is the case: F_SETPIPE_SZ above
 * fs.pipe-max-size needs CAP_SYS_RESOURCE; without it CRIU 4.1.1 goes on with a bad fd and fails
 * with `page-pipe: splice: -1: Bad file descriptor` when the first page is asked for.
 */
function pipeSizeHint(): string {
  try {
    const max = Number(Deno.readTextFileSync("/proc/sys/fs/pipe-max-size").trim());
    const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
    const sysResource = eff !== undefined && (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
    if (sysResource || max >= CRIU_LAZY_PIPE_SIZE) return "";
    return `; CRIU sizes its pipe to ${CRIU_LAZY_PIPE_SIZE} bytes, which needs CAP_SYS_RESOURCE ` +
      `(root lacks it here) or fs.pipe-max-size >= ${CRIU_LAZY_PIPE_SIZE} (here ${max})`;
  } catch {
    return "";
  }
}

/**
 * Whether CRIU itself completes a lazy migration on this host, without nsinit: `criu dump
 * --lazy-pages` of a `setsid sleep 2`, `criu lazy-pages`, and `criu restore --lazy-pages` in a new
 * pid namespace (the original still holds its pid). Returns undefined when the dump finished its
 * transfer, else why not (CRIU's first error). Every process it starts is ended by pid; its
 * directory is removed. Takes ~3 s.
 */
export async function probeLazyMigration(criu: string): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-test-criu2-lazyprobe-" });
  const port = freePort();
  const children: Deno.ChildProcess[] = [];
  const spawn = (cmd: string, args: string[]) => {
    const c = new Deno.Command(cmd, {
      args,
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    })
      .spawn();
    children.push(c);
    return c;
  };
  const firstError = (log: string) => {
    try {
      return Deno.readTextFileSync(`${dir}/${log}`).split("\n")
        .filter((l) => /Error/.test(l) && !/RLIMIT_NOFILE/.test(l))
        .map((l) => l.replace(/^\(\s*[\d.]+\)\s*/, "")).slice(0, 2).join(" | ");
    } catch {
      return "";
    }
  };
  let lazy: CriuDaemon | undefined;
  try {
    const task = spawn("setsid", ["sleep", "2"]);
    await new Promise((r) => setTimeout(r, 100));
    const dump = spawn(criu, [
      "dump",
      "-t",
      String(task.pid),
      "--lazy-pages",
      "--address",
      "127.0.0.1",
      "--port",
      String(port),
      "-D",
      dir,
      "-v4",
      "-o",
      "dump.log",
    ]);
    const ready = () => {
      try {
        return Deno.readTextFileSync(`${dir}/dump.log`).includes("status-ready");
      } catch {
        return false;
      }
    };
    const dumpEnd = dump.status.then((s) => s.code);
    for (const end = Date.now() + 10_000; !ready() && Date.now() < end;) {
      if (await Promise.race([dumpEnd, new Promise((r) => setTimeout(() => r(-1), 50))]) !== -1) {
        return `criu dump --lazy-pages fails here: ${firstError("dump.log")}`;
      }
    }
    if (!ready()) return "criu dump --lazy-pages never got ready (dump.log)";
    try {
      lazy = await startLazyPagesDaemon(criu, dir, port);
    } catch {
      return `criu lazy-pages fails here: ${firstError("lazy-pages.log")}`;
    }
    const restore = spawn("unshare", [
      "--pid",
      "--fork",
      "--mount-proc",
      "--kill-child",
      criu,
      "restore",
      "--lazy-pages",
      "-D",
      dir,
      "-v4",
      "-o",
      "restore.log",
    ]);
    const code = await Promise.race([
      dumpEnd,
      new Promise<number>((r) => setTimeout(() => r(-1), 15_000)),
    ]);
    await Promise.race([restore.status, new Promise((r) => setTimeout(r, 5_000))]);
    if (code === 0) return undefined;
    return `CRIU's own lazy migration fails on this host (criu dump --lazy-pages of a sleep, ` +
      `restored with criu lazy-pages): ${firstError("dump.log") || `dump exit ${code}`}` +
      pipeSizeHint();
  } finally {
    // All killed before any is waited for: the task a dump still traces cannot be reaped
    // until its tracer (that dump) is gone.
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch { /* already ended */ }
    }
    for (const c of children) await c.status;
    await lazy?.[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
}
