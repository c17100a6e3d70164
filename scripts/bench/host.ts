/**
 * The benchmark's host side: packages and builds it needs, the one bundle every runtime
 * runs, facts about the machine, the cgroups it may leave, and a way to run crun on a
 * hybrid cgroup host.
 *
 * @module
 */

import { defaultSpec } from "../../spec/default.ts";
import type { Spec } from "../../spec/config.ts";
import { rootfsPath } from "../../tests/helpers/rootfs.ts";
import { ensureBuild as ensureDist } from "../build.ts";
import { cgroupScopes } from "./cgroup_scopes.ts";

export { type CgroupScope, cgroupScopes } from "./cgroup_scopes.ts";

/** The repository root (absolute, no trailing slash). */
export const REPO_ROOT: string = decodeURIComponent(new URL("../..", import.meta.url).pathname)
  .replace(/\/$/, "");

/** What a finished command gave back. */
export interface CommandResult {
  /** Exit code. */
  code: number;
  /** Standard output, as text. */
  stdout: string;
  /** Standard error, as text. */
  stderr: string;
}

const dec = new TextDecoder();

/**
 * Runs a command to completion with stdin from /dev/null and its output collected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sh } from "./host.ts";
 * const r = await sh("echo", ["hi"]);
 * assert.equal(r.code, 0);
 * assert.equal(r.stdout, "hi\n");
 * ```
 */
export async function sh(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<CommandResult> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(env ? { env } : {}),
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * The absolute path of `name` on `$PATH` (plus the sbin directories), or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { which } from "./host.ts";
 * assert.ok(which("sh")?.endsWith("/sh"));
 * assert.equal(which("no-such-tool-here"), undefined);
 * ```
 */
export function which(name: string): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The Debian packages that provide the tools the benchmark runs. */
export const PACKAGES: Readonly<Record<string, string>> = {
  runc: "runc",
  crun: "crun",
  "/usr/bin/time": "time",
  unshare: "util-linux",
  nsenter: "util-linux",
  bwrap: "bubblewrap",
};

/**
 * Installs with apt-get whatever of {@link PACKAGES} is missing (idempotent: nothing runs when
 * all are present). Returns the packages installed.
 */
export async function ensurePackages(log: (msg: string) => void): Promise<string[]> {
  const missing = new Set<string>();
  for (const [tool, pkg] of Object.entries(PACKAGES)) {
    const found = tool.startsWith("/") ? exists(tool) : which(tool) !== undefined;
    if (!found) missing.add(pkg);
  }
  if (missing.size === 0) return [];
  const pkgs = [...missing].sort();
  if (Deno.env.get("NSINIT_IN_V2VM")) {
    // No network in the VM: its image carries what the host had (scripts/v2vm/build.sh).
    log(`in the VM without ${pkgs.join(" ")}: the parts that need them are left out`);
    return [];
  }
  log(`installing ${pkgs.join(" ")} with apt-get`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  let r = await sh("apt-get", ["install", "-y", "-q", ...pkgs], env);
  if (r.code !== 0) {
    await sh("apt-get", ["update", "-q"], env);
    r = await sh("apt-get", ["install", "-y", "-q", ...pkgs], env);
  }
  if (r.code !== 0) throw new Error(`apt-get install ${pkgs.join(" ")} failed: ${r.stderr.trim()}`);
  return pkgs;
}

/** Whether a path exists (without following a final symlink). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Rebuilds what of dist/ is missing or older than its sources (the native helper, the CLI
 * bundle and launcher: see scripts/build.ts), as make would. Returns whether it built.
 */
export function ensureBuild(log: (msg: string) => void): Promise<boolean> {
  // In the VM: scripts/v2vm/run.sh built dist/ just before the boot, and bundling needs
  // the network (esbuild from npm), which the VM has not.
  if (Deno.env.get("NSINIT_IN_V2VM")) return Promise.resolve(false);
  const built = ensureDist();
  if (built) log("dist/ was missing or stale: rebuilt what changed");
  return Promise.resolve(built);
}

/** Where the benchmark keeps the CLI floor's bundle (scripts/bench/floor_cli.ts). */
export const FLOOR_CLI_JS = `${REPO_ROOT}/.cache/bench/floor_cli.js`;

/**
 * Bundles scripts/bench/floor_cli.ts into one file, {@link FLOOR_CLI_JS}, as `deno task build`
 * bundles the CLI (`deno bundle --platform deno`), so that a `deno run` of it type-checks
 * nothing. In the cgroup v2 VM, which cannot bundle (esbuild comes from npm), it uses the
 * bundle the host made before the boot. Returns the file, or undefined when there is none.
 */
export async function ensureFloorCli(log: (msg: string) => void): Promise<string | undefined> {
  if (Deno.env.get("NSINIT_IN_V2VM")) {
    if (exists(FLOOR_CLI_JS)) return FLOOR_CLI_JS;
    log(`no ${FLOOR_CLI_JS} in the VM (the host bundles it before the boot): no CLI floor`);
    return undefined;
  }
  const tmp = `${FLOOR_CLI_JS}.tmp-${Deno.pid}`;
  await Deno.mkdir(FLOOR_CLI_JS.slice(0, FLOOR_CLI_JS.lastIndexOf("/")), { recursive: true });
  const r = await sh(Deno.execPath(), [
    "bundle",
    "--quiet",
    "--minify", // as the CLI's chunks are (scripts/chunks.ts)
    "--platform",
    "deno",
    "--no-lock",
    "--config",
    `${REPO_ROOT}/deno.json`,
    "--output",
    tmp,
    `${REPO_ROOT}/scripts/bench/floor_cli.ts`,
  ]);
  if (r.code !== 0) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`deno bundle scripts/bench/floor_cli.ts failed: ${r.stderr.trim()}`);
  }
  await Deno.rename(tmp, FLOOR_CLI_JS);
  return FLOOR_CLI_JS;
}

/** The bundle every runtime runs. */
export interface BenchBundle {
  /** The bundle directory, with `config.json` (runs `/bin/true`) and `rootfs/`. */
  dir: string;
  /** Its rootfs (a private copy of the busybox rootfs). */
  rootfs: string;
  /** The parsed `config.json`. */
  spec: Spec;
  /**
   * A second bundle for the create/start/state/kill/delete cycle: the same config, except
   * `sleep` as the process (so there is something to kill) and the same rootfs by absolute path.
   */
  lifecycleDir: string;
}

/**
 * The config every runtime runs: runc's default spec (`runc spec`) with `process.terminal`
 * false, `process.args` `["/bin/true"]`, and a relative `linux.cgroupsPath`, so the cgroups
 * land below the benchmark's own cgroup in every hierarchy, as runc resolves it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { benchSpec } from "./host.ts";
 * const spec = benchSpec("nsinit-bench-1");
 * assert.equal(spec.process?.args?.[0], "/bin/true");
 * assert.equal(spec.process.terminal, false);
 * assert.equal(spec.linux?.cgroupsPath, "nsinit-bench-1");
 * ```
 */
export function benchSpec(cgroupsPath: string): Spec {
  const spec = defaultSpec();
  spec.process = { ...spec.process!, terminal: false, args: ["/bin/true"] };
  spec.root = { path: "rootfs", readonly: spec.root?.readonly ?? true };
  spec.linux = { ...spec.linux, cgroupsPath };
  return spec;
}

/** Makes the bundle in `dir` (which must not exist), from the shared busybox rootfs. */
export async function makeBenchBundle(dir: string, cgroupsPath: string): Promise<BenchBundle> {
  const shared = await rootfsPath();
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  const rootfs = `${dir}/rootfs`;
  const cp = await sh("cp", ["-a", "--", shared, rootfs]);
  if (cp.code !== 0) throw new Error(`cp -a ${shared} ${rootfs}: ${cp.stderr.trim()}`);
  const spec = benchSpec(cgroupsPath);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(spec, null, "\t") + "\n");
  const lifecycleDir = `${dir}/lifecycle`;
  await Deno.mkdir(lifecycleDir);
  const lc: Spec = structuredClone(spec);
  lc.process!.args = ["sleep", "3600"];
  lc.root = { path: rootfs, readonly: spec.root!.readonly ?? true };
  lc.linux!.cgroupsPath = `${cgroupsPath}-lc`;
  await Deno.writeTextFile(`${lifecycleDir}/config.json`, JSON.stringify(lc, null, "\t") + "\n");
  return { dir, rootfs, spec, lifecycleDir };
}

/** Facts about the machine, for the report. */
export interface MachineInfo {
  /** `uname -r`. */
  kernel: string;
  /** CPU model name. */
  cpu: string;
  /** Online CPUs. */
  cores: number;
  /** Total memory in GiB. */
  memoryGiB: number;
  /** The filesystem type the state roots under /run live on. */
  runFs: string;
  /** cgroup layout: "hybrid", "v1" or "v2". */
  cgroups: string;
}

/** Reads {@link MachineInfo}. */
export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const cpu = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  const fs = await sh("findmnt", ["-n", "-o", "FSTYPE", "-T", "/run"]).catch(() => ({
    code: 1,
    stdout: /^\S+ \/run (\S+)/m.exec(Deno.readTextFileSync("/proc/mounts"))?.[1] ?? "",
    stderr: "",
  }));
  let cgroups = "v1";
  if (exists("/sys/fs/cgroup/cgroup.controllers")) cgroups = "v2";
  else if (exists("/sys/fs/cgroup/unified/cgroup.controllers")) cgroups = "hybrid";
  return {
    kernel: Deno.osRelease(),
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30 * 10) / 10,
    runFs: fs.stdout.trim() || "unknown",
    cgroups,
  };
}

/** The first line of `cmd --version`, or "not installed". */
export async function versionOf(cmd: string[]): Promise<string> {
  try {
    const r = await sh(cmd[0], [...cmd.slice(1), "--version"]);
    return r.stdout.split("\n")[0].trim() || r.stderr.split("\n")[0].trim() || "unknown";
  } catch {
    return "not installed";
  }
}

/**
 * Removes every cgroup directory named `<prefix>*` right below this process's own cgroup, in
 * every hierarchy. A process still inside (only ever one the benchmark started) is killed
 * first. Returns the directories removed.
 */
export async function removeBenchCgroups(prefix: string): Promise<string[]> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{5,}$/.test(prefix)) {
    throw new RangeError(`removeBenchCgroups: refusing the prefix ${JSON.stringify(prefix)}`);
  }
  const removed: string[] = [];
  for (const scope of cgroupScopes()) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(scope.own)];
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.isDirectory || !e.name.startsWith(prefix)) continue;
      const dir = `${scope.own}/${e.name}`;
      for (let i = 0; i < 100; i++) {
        try {
          await Deno.remove(dir);
          removed.push(dir);
          break;
        } catch {
          const pids = (await Deno.readTextFile(`${dir}/cgroup.procs`).catch(() => ""))
            .split("\n").map(Number).filter((p) => Number.isInteger(p) && p > 1);
          for (const pid of pids) {
            try {
              Deno.kill(pid, "SIGKILL");
            } catch { /* gone */ }
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  }
  return removed;
}

/**
 * A process holding a mount namespace in which `/sys/fs/cgroup/unified` is unmounted: a
 * hybrid host as crun accepts it (a plain cgroup v1 host). `argv()` prefixes a command so it
 * runs in that namespace (through nsenter); `close()` kills the holder.
 */
export interface MountNsHolder extends AsyncDisposable {
  /** The holder's pid. */
  readonly pid: number;
  /** `nsenter --mount=/proc/<pid>/ns/mnt --` followed by `cmd`. */
  argv(cmd: string[]): string[];
  /** Kills the holder and waits for it. */
  close(): Promise<void>;
}

/** Starts a {@link MountNsHolder}. */
export async function startV1View(): Promise<MountNsHolder> {
  const child = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      "umount /sys/fs/cgroup/unified && echo ready && exec sleep 2147483647",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
  };
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      const err = dec.decode(await new Response(child.stderr).arrayBuffer()).trim();
      await close();
      throw new Error(`unshare for a cgroup v1 view failed: ${err || "exited"}`);
    }
    text += dec.decode(value);
  }
  if (text.trim() !== "ready") {
    await close();
    throw new Error(`unshare for a cgroup v1 view: unexpected output ${JSON.stringify(text)}`);
  }
  const pid = child.pid;
  return {
    pid,
    argv: (cmd) => ["nsenter", `--mount=/proc/${pid}/ns/mnt`, "--", ...cmd],
    close,
    [Symbol.asyncDispose]: close,
  };
}
