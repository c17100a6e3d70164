// End-to-end: `nsinit sandbox` as the unprivileged test user and as root, and the
// library call: what the sandbox lets through and what it refuses.
import assert from "node:assert/strict";
import { hasCommand, skipIf, skipUnless } from "./helpers/skip.ts";
import { cannotRunAsTestUser, runAs, runNsinitAs, testUser } from "./helpers/user.ts";
import { makeTempDir, removeDefaultRootAtExit } from "./helpers/paths.ts";

// Root's sandboxes here use the default state root; it goes when the run ends.
removeDefaultRootAtExit();
import { nsinitCommand, runNsinit } from "./helpers/run.ts";
import { uniqueId } from "./helpers/ids.ts";
import { runSandbox, spawnSandbox } from "../sandbox/mod.ts";
import { landlockSupport } from "../sandbox/landlock.ts";

const reason = cannotRunAsTestUser();
const ignoreUser = skipIf(reason !== undefined, reason ?? "");
const ignoreRoot = skipUnless(Deno.uid() === 0, "the root sandbox tests need root");
const user = testUser()!;
const landlock = (await landlockSupport().catch(() => ({ abi: 0 }))).abi > 0;

/** A home and a project directory under /tmp, owned by the test user. */
async function userTree() {
  const dir = await makeTempDir("sandbox");
  const home = `${dir.path}/home`, project = `${home}/project`;
  await Deno.mkdir(`${home}/.ssh`, { recursive: true });
  await Deno.mkdir(project);
  await Deno.writeTextFile(`${home}/.ssh/id_rsa`, "PRIVATE KEY\n");
  await Deno.writeTextFile(`${home}/visible`, "visible\n");
  await new Deno.Command("chown", { args: ["-R", `${user.uid}:${user.gid}`, dir.path] }).output();
  return Object.assign(dir, { home, project });
}

function sandboxAs(home: string, cwd: string, args: string[], env: Record<string, string> = {}) {
  return runNsinitAs(user, ["sandbox", ...args], { cwd, env: { HOME: home, ...env } });
}

Deno.test({
  name: "sandbox as a user: /etc read-only, cwd writable, ~/.ssh hidden, exit code passed through",
  ignore: ignoreUser,
  async fn() {
    await using t = await userTree();
    let r = await sandboxAs(t.home, t.project, ["--", "sh", "-c", "touch /etc/x"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\/etc\/x'?: (Read-only file system|Permission denied)/);

    r = await sandboxAs(t.home, t.project, ["--", "sh", "-c", "touch ./x && id -u"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), String(user.uid));
    assert.equal(Deno.statSync(`${t.project}/x`).uid, user.uid);

    // The home is the working directory: visible, but its secrets are not.
    r = await sandboxAs(t.home, t.home, ["--", "sh", "-c", "cat ~/visible; cat ~/.ssh/id_rsa"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "visible\n");
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
    // ... unless allowed.
    r = await sandboxAs(t.home, t.home, [
      "--allow-read",
      "~/.ssh",
      "--",
      "cat",
      "~/.ssh/id_rsa"
        .replace("~", t.home),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "PRIVATE KEY\n");

    r = await sandboxAs(t.home, t.project, ["--", "sh", "-c", "exit 42"]);
    assert.equal(r.code, 42);
    assert.equal(r.stderr, "");
  },
});

Deno.test({
  name: "sandbox as a user: secret-looking environment variables are dropped unless passed",
  ignore: ignoreUser,
  async fn() {
    await using t = await userTree();
    const env = { GITHUB_TOKEN: "ghp_x", MY_API_KEY: "k", LANG: "C" };
    let r = await sandboxAs(t.home, t.project, ["--", "env"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /GITHUB_TOKEN|MY_API_KEY/);
    assert.match(r.stdout, /^LANG=C$/m);
    r = await sandboxAs(t.home, t.project, ["--env", "GITHUB_TOKEN", "--", "env"], env);
    assert.match(r.stdout, /^GITHUB_TOKEN=ghp_x$/m);
  },
});

Deno.test({
  name: "sandbox as a user: a loopback server of the host is unreachable without --net",
  ignore: ignoreUser,
  async fn() {
    await using t = await userTree();
    using server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepting = (async () => {
      for await (const c of server) c.close();
    })().catch(() => {});
    const port = server.addr.port;
    const probe = `exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`;
    let r = await sandboxAs(t.home, t.project, ["--", "bash", "-c", probe]);
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stdout, /connected/);
    r = await sandboxAs(t.home, t.project, ["--net", "--", "bash", "-c", probe]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /connected/);
    // Loopback itself works inside the private network.
    r = await sandboxAs(t.home, t.project, [
      "--",
      "sh",
      "-c",
      "cat /sys/class/net/lo/operstate; ip -o link show lo",
    ]);
    assert.match(r.stdout, /LOOPBACK,UP/);
    server.close();
    await accepting;
  },
});

Deno.test({
  name: "sandbox as a user: --timeout 1 ends sleep 10 with a clear message; signals are forwarded",
  ignore: ignoreUser,
  async fn() {
    await using t = await userTree();
    const t0 = Date.now();
    const r = await sandboxAs(t.home, t.project, ["--timeout", "1", "--", "sleep", "10"]);
    assert.equal(r.code, 124);
    assert.match(
      r.stderr,
      /^nsinit: sandbox: timed out after 1s \(--timeout\): the command was killed/m,
    );
    assert.ok(Date.now() - t0 < 9000, "it did not wait for sleep 10");

    // SIGTERM to nsinit reaches the command (through the sandbox's pid 1): 128 + 15.
    const [cmd, ...args] = nsinitCommand(["sandbox", "--", "sleep", "30"]);
    const child = new Deno.Command("runuser", {
      args: [
        "-u",
        user.name,
        "--",
        "env",
        `HOME=${t.home}`,
        `PATH=${Deno.env.get("PATH")}`,
        cmd,
        ...args,
      ],
      cwd: t.project,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await new Promise((res) => setTimeout(res, 1500));
    // runuser forwards SIGTERM to its child (nsinit), which forwards it into the sandbox.
    child.kill("SIGTERM");
    const out = await child.output();
    assert.equal(out.code, 143, new TextDecoder().decode(out.stderr));
  },
});

Deno.test({
  name: "sandbox as a user: Landlock keeps a file outside the allowed paths unreadable, " +
    "though the root bind mount exposes it",
  ignore: ignoreUser || skipUnless(landlock, "the kernel has no Landlock"),
  async fn() {
    await using t = await userTree();
    // A file in the user's real home: outside /tmp (private in the sandbox), so the
    // read-only bind of the host's root shows it; not in an allowed path.
    const dir = `${user.home}/nsinit-test-${uniqueId("ll")}`;
    await runAs(user, "sh", ["-c", `mkdir ${dir} && echo outside > ${dir}/data`]);
    try {
      let r = await sandboxAs(t.home, t.project, ["--no-landlock", "--", "cat", `${dir}/data`]);
      assert.equal(r.stdout, "outside\n", "without Landlock the mounts expose it");
      r = await sandboxAs(t.home, t.project, ["--", "cat", `${dir}/data`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Permission denied/);
      r = await sandboxAs(t.home, t.project, ["--allow-read", dir, "--", "cat", `${dir}/data`]);
      assert.equal(r.stdout, "outside\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sandbox refusals: a profile with an unknown key, limits without a delegated cgroup, " +
    "user namespaces disabled: one clear message each",
  ignore: ignoreUser,
  async fn() {
    await using t = await userTree();
    const profile = `${t.project}/sandbox.json`;
    await Deno.writeTextFile(profile, JSON.stringify({ version: 1, allowWrites: ["out"] }));
    let r = await sandboxAs(t.home, t.project, ["--profile", profile, "--", "true"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sandbox\.json: allowWrites: unknown key \(known: version, allowWrite,/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);

    await Deno.writeTextFile(profile, JSON.stringify({ allowWrite: ["out"] }));
    r = await sandboxAs(t.home, t.project, ["--profile", profile, "--", "true"]);
    assert.match(r.stderr, /version: missing: add "version": 1/);

    r = await sandboxAs(t.home, t.project, ["--memory", "32m", "--", "true"]);
    if (r.code === 1) {
      assert.match(
        r.stderr,
        /memory: needs a cgroup, and no cgroup delegated to uid \d+ is writable and no systemd user manager answers/,
      );
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    } else {
      assert.equal(r.code, 0, "a delegated cgroup exists here: the limit applies");
    }

    const [cmd, ...args] = nsinitCommand(["sandbox", "--", "true"]);
    r = await runAs(user, "unshare", [
      "-Ur",
      "sh",
      "-c",
      'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"',
      "sh",
      cmd,
      ...args,
    ], { cwd: t.project, env: { HOME: t.home } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^nsinit: sandbox: user namespaces are disabled on this host/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  },
});

Deno.test({
  name: "sandbox as root: --memory 32m stops a memory hog; /etc stays read-only for root too",
  ignore: ignoreRoot,
  async fn() {
    await using t = await makeTempDir("sandbox-root");
    const hog = "x=a; while true; do x=$x$x$x$x; done";
    let r = await runNsinit(["sandbox", "--memory", "32m", "--", "sh", "-c", hog], {
      cwd: t.path,
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 137, r.stderr);
    r = await runNsinit(["sandbox", "--", "sh", "-c", "touch /etc/x"], { cwd: t.path });
    assert.equal(r.code, 1);
  },
});

Deno.test({
  name: "sandbox library: output and status, streaming, and a Deno script sandboxed",
  ignore: ignoreRoot,
  async fn() {
    await using t = await makeTempDir("sandbox-lib");
    const r = await runSandbox(["sh", "-c", "echo out; echo err >&2; touch /etc/x || exit 3"], {
      cwd: t.path,
    });
    assert.deepEqual(
      { code: r.code, stdout: r.stdout, timedOut: r.timedOut },
      { code: 3, stdout: "out\n", timedOut: false },
    );
    assert.match(r.stderr, /^err\n/);

    await using p = await spawnSandbox(["sh", "-c", "read x; echo got $x"], {
      cwd: t.path,
      stdio: { stdin: "piped", stdout: "piped" },
    });
    const w = p.stdin!.getWriter();
    await w.write(new TextEncoder().encode("ping\n"));
    await w.close();
    assert.equal(await new Response(p.stdout).text(), "got ping\n");
    assert.equal((await p.status).code, 0);

    // An untrusted Deno script: it may write its directory, nothing else.
    const script = `${t.path}/untrusted.ts`;
    await Deno.writeTextFile(
      script,
      `const tries: Record<string, string> = {};
for (const [name, f] of Object.entries({
  etc: () => Deno.writeTextFileSync("/etc/pwned", "x"),
  here: () => Deno.writeTextFileSync("${t.path}/ok", "x"),
  ssh: () => Deno.readTextFileSync(Deno.env.get("HOME") + "/.ssh/id_rsa"),
})) {
  try { f(); tries[name] = "ok"; } catch (e) { tries[name] = (e as Error).name; }
}
console.log(JSON.stringify(tries));`,
    );
    const deno = await runSandbox([Deno.execPath(), "run", "-A", "--no-config", script], {
      cwd: t.path,
      env: ["DENO_DIR=/tmp/deno"],
      timeout: 60,
    });
    assert.equal(deno.code, 0, deno.stderr);
    const tries = JSON.parse(deno.stdout);
    assert.equal(tries.here, "ok");
    assert.notEqual(tries.etc, "ok");
    assert.notEqual(tries.ssh, "ok");
  },
});

Deno.test({
  name: "sandbox as a user: on a terminal the command gets one (an interactive shell works)",
  ignore: ignoreUser || skipUnless(hasCommand("script"), "needs script(1) for a terminal"),
  async fn() {
    await using t = await userTree();
    const [cmd, ...args] = nsinitCommand(["sandbox", "--", "sh", "-i"]);
    const line = [cmd, ...args].map((a) => `'${a}'`).join(" ");
    // script(1) gives nsinit a terminal; the shell reads its input from it.
    const r = await runAs(user, "script", ["-qec", line, "/dev/null"], {
      cwd: t.project,
      env: { HOME: t.home },
      stdin: "test -t 0 && echo on-a-tty; exit 7\n",
    });
    assert.match(r.stdout, /on-a-tty/);
    assert.equal(r.code, 7, r.stdout + r.stderr);
  },
});
