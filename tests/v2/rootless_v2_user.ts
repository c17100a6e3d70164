/**
 * Run by tests/v2/rootless_v2_test.ts as the unprivileged user, inside a cgroup delegated to it
 * (one Deno start-up: under the VM's software emulation each costs ~10 s). Exercises a rootless
 * container's lifecycle with its cgroup and the sandbox's limits through the library, and prints
 * one JSON object of what it saw for the test to check. Not a test file itself.
 *
 * Usage: deno run -A rootless_v2_user.ts BUNDLE HOGBUNDLE WORKDIR
 */

import { Factory } from "../../mod.ts";
import { runSandbox } from "../../sandbox/mod.ts";

const [bundle, hogBundle, work] = Deno.args;
const out: Record<string, unknown> = {};
const warnings: string[] = [];
const factory = new Factory({ root: `${work}/state`, onWarning: (m) => warnings.push(m) });
const text = (p: string) => Deno.readTextFileSync(p).trim();

const c = await factory.run("rl-life", { bundle, stdio: { stdin: "null" } });
try {
  const dir = c.cgroup.paths()[""];
  out.cgroupDir = dir;
  out.procs = text(`${dir}/cgroup.procs`);
  out.pid = c.init!.pid;
  await c.pause();
  out.paused = await c.status();
  await c.resume();
  out.resumed = await c.status();
  await c.set({ pids: { limit: 20 }, memory: { limit: 64 * 1024 * 1024 } });
  out.pidsMax = text(`${dir}/pids.max`);
  out.memoryMax = text(`${dir}/memory.max`);
  out.processes = await c.processes();
  const ex = await c.exec({ args: ["sh", "-c", "id -u"], cwd: "/", user: { uid: 0, gid: 0 } }, {
    stdio: { stdin: "null", stdout: "piped" },
  });
  out.exec = (await ex.output()).stdout.trim();
  // CVE-2023-25809: the container's cgroup lies in the user's delegated subtree, which the user
  // may write on the host; in the container it must be read-only (escape_test.ts runs the
  // other classes rootless on a host without a delegated cgroup).
  const esc = await c.exec({
    args: [
      "sh",
      "-c",
      "mkdir /sys/fs/cgroup/escape 2>/dev/null && echo mkdir; " +
      "(echo 1 > /sys/fs/cgroup/pids.max) 2>/dev/null && echo wrote; " +
      "(echo $$ > /sys/fs/cgroup/cgroup.procs) 2>/dev/null && echo joined; " +
      "grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' -f6 | sed 's/^/opts=/'",
    ],
    cwd: "/",
    user: { uid: 0, gid: 0 },
  }, { stdio: { stdin: "null", stdout: "piped" } });
  out.cgroupWrites = (await esc.output()).stdout.trim().split("\n");
  out.pidsMaxAfter = text(`${dir}/pids.max`);
} finally {
  await c.destroy({ force: true });
}
out.cgroupGone = (() => {
  try {
    Deno.statSync(String(out.cgroupDir));
    return false;
  } catch {
    return true;
  }
})();

const hog = await factory.run("rl-hog", { bundle: hogBundle, stdio: { stdin: "null" } });
out.hogExit = await hog.init!.exitCode();
await hog.destroy({ force: true });

const sb = await runSandbox(["sh", "-c", "x=a; while true; do x=$x$x$x$x; done"], {
  cwd: work,
  memory: "32m",
});
out.sandboxHogExit = sb.code;
const pids = await runSandbox(["cat", "/sys/fs/cgroup/pids.max"], { cwd: work, pids: 5 });
out.sandboxPidsMax = pids.stdout.trim();
out.sandboxPidsStderr = pids.stderr;
out.warnings = warnings;
console.log(JSON.stringify(out));
