// Escape attempts against `nsinit sandbox`, run as the unprivileged test user: each one makes
// the attack happen for real and proves the sandbox holds (see docs/sandbox.md, "Escape
// attempts"). The walls: the mounts (host read-only, secrets hidden), Landlock, seccomp, the
// namespaces (pid, network, user without capabilities).
import assert from "node:assert/strict";
import { cannotRunAsTestUser, runAs, runNsinitAs, testUser } from "../helpers/user.ts";
import { makeTempDir } from "../helpers/paths.ts";
import { run } from "../helpers/run.ts";
import { uniqueId } from "../helpers/ids.ts";
import { hasCommand, skipIf, skipUnless } from "../helpers/skip.ts";
import { landlockSupport } from "../../sandbox/landlock.ts";
import { read } from "./helpers.ts";

const reason = cannotRunAsTestUser();
const ignore = skipIf(reason !== undefined, reason ?? "");
const needsCc = ignore || skipUnless(hasCommand("cc"), "needs a C compiler for the probe");
const user = testUser()!;
const landlock = (await landlockSupport().catch(() => ({ abi: 0 }))).abi > 0;

/** A project directory owned by the test user, under /tmp. */
async function project() {
  const dir = await makeTempDir("sbx-escape");
  await Deno.chown(dir.path, user.uid, user.gid);
  return dir;
}

function sandbox(cwd: string, args: string[]) {
  return runNsinitAs(user, ["sandbox", ...args], { cwd });
}

Deno.test({
  name: "sandbox escape: a symlink in the working directory does not make the host writable",
  ignore,
  async fn() {
    await using p = await project();
    const victim = `${p.path}/victim`;
    await Deno.mkdir(victim);
    await Deno.writeTextFile(`${victim}/file`, "host\n");
    await Deno.chown(victim, user.uid, user.gid);
    await Deno.chown(`${victim}/file`, user.uid, user.gid);
    const work = `${p.path}/work`;
    await runAs(user, "sh", [
      "-c",
      `mkdir ${work} && ln -s ${victim} ${work}/out && ln -s /etc ${work}/etc`,
    ]);
    // victim is the user's own, writable on the host, but outside the sandbox's writable paths.
    const r = await sandbox(work, [
      "--",
      "sh",
      "-c",
      "echo pwned > out/file; touch etc/pwned; cat out/file 2>&1; exit 0",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(`${victim}/file`), "host\n");
    assert.throws(() => Deno.statSync("/etc/pwned"), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "sandbox escape: a symlink out of the working directory does not widen Landlock",
  ignore: ignore || skipUnless(landlock, "the kernel has no Landlock"),
  async fn() {
    await using p = await project();
    const dir = `${user.home}/nsinit-test-${uniqueId("esc")}`;
    await runAs(user, "sh", ["-c", `mkdir ${dir} && echo secret > ${dir}/data`]);
    try {
      await runAs(user, "ln", ["-s", `${dir}/data`, `${p.path}/link`]);
      const r = await sandbox(p.path, ["--", "cat", "link"]);
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.stdout, /secret/);
      assert.match(r.stderr, /Permission denied/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sandbox escape: no way back to capabilities (nested user namespace, remount, mount)",
  ignore,
  async fn() {
    await using p = await project();
    const r = await sandbox(p.path, [
      "--",
      "sh",
      "-c",
      "unshare -Ur true && echo userns; mount -o remount,rw / && echo remount; " +
      "mount -t tmpfs x /tmp && echo mount; grep ^CapEff /proc/self/status",
    ]);
    assert.doesNotMatch(r.stdout, /userns|remount|mount\n/);
    assert.match(r.stdout, /^CapEff:\s+0+$/m);
  },
});

Deno.test({
  name: "sandbox escape: host processes are out of sight and out of reach",
  ignore,
  async fn() {
    await using p = await project();
    // A process of the same user on the host: visible, signalable and traceable without a sandbox.
    // Started as the user directly (not through runuser, whose child outlived the SIGKILL of
    // runuser and was left running), so the pid killed at the end is the process itself.
    const victim = new Deno.Command("sleep", {
      args: ["60"],
      uid: user.uid,
      gid: user.gid,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const pid = victim.pid;
      assert.ok(pid > 0);
      assert.match(
        Deno.readTextFileSync(`/proc/${pid}/status`),
        new RegExp(`^Uid:\\s+${user.uid}\\s`, "m"),
      );
      const r = await sandbox(p.path, [
        "--",
        "sh",
        "-c",
        `kill -9 ${pid} && echo killed; cat /proc/${pid}/environ && echo read; ls /proc | grep -c '^[0-9]'`,
      ]);
      assert.doesNotMatch(r.stdout, /killed|read/);
      // Only the sandbox's own: its pid 1, sh, ls and grep.
      assert.ok(Number(r.stdout.trim().split("\n").at(-1)) <= 4, `pids seen: ${r.stdout}`);
      assert.ok(Deno.statSync(`/proc/${pid}`).isDirectory, "the host process still runs");
    } finally {
      victim.kill("SIGKILL");
      await victim.status;
    }
  },
});

Deno.test({
  name: "sandbox escape: TIOCSTI (typing into a terminal) is refused by the seccomp filter",
  ignore: needsCc,
  async fn() {
    await using p = await project();
    // The probe opens a terminal of its own and pushes a character into it: without the
    // filter that works; with it the ioctl fails with EPERM.
    const src = `${p.path}/tiocsti.c`;
    await Deno.writeTextFile(
      src,
      `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
  int m = posix_openpt(O_RDWR | O_NOCTTY), s, st;
  char c = 'x';
  setvbuf(stdout, NULL, _IONBF, 0);
  if (m < 0 || grantpt(m) || unlockpt(m)) { perror("pty"); return 2; }
  if (fork() == 0) {
    /* A session of its own whose controlling terminal is the new pty: TIOCSTI's
       precondition. */
    setsid();
    s = open(ptsname(m), O_RDWR);
    if (s < 0) { perror("open pts"); _exit(2); }
    if (ioctl(s, TIOCSTI, &c) == 0) { puts("injected"); _exit(0); }
    printf("refused errno %d\\n", errno);
    _exit(1);
  }
  wait(&st);
  return WEXITSTATUS(st);
}
`,
    );
    const cc = await run("cc", ["-O2", "-static", "-o", `${p.path}/tiocsti`, src]);
    assert.equal(cc.code, 0, cc.stderr);
    await Deno.chown(`${p.path}/tiocsti`, user.uid, user.gid);
    const r = await sandbox(p.path, ["--", "./tiocsti"]);
    assert.equal(r.stdout.trim(), "refused errno 1", r.stderr);
    // Where the kernel still allows TIOCSTI on one's own terminal (dev.tty.legacy_tiocsti =
    // 1), the probe shows it injects without the filter: the refusal above is the filter's.
    if (read("/proc/sys/dev/tty/legacy_tiocsti").trim() === "1") {
      const off = await sandbox(p.path, ["--no-seccomp", "--", "./tiocsti"]);
      assert.equal(off.stdout.trim(), "injected", off.stderr);
    }
  },
});

Deno.test({
  name: "sandbox escape: no network without --net, not even the host's abstract sockets",
  ignore,
  async fn() {
    await using p = await project();
    const r = await sandbox(p.path, [
      "--",
      "sh",
      "-c",
      "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /proc/net/unix | wc -l",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split("\n")[0], "lo");
    // The host's unix sockets table (abstract names included) is per network namespace.
    assert.ok(Number(r.stdout.trim().split("\n").at(-1)) <= 2, r.stdout);
  },
});
