// End-to-end: values that once crashed the helper or wrapped silently. Each is applied exactly
// or refused naming the field, and a refusal leaves nothing behind.
import assert from "node:assert/strict";
import { makeBundle } from "../helpers/bundle.ts";
import { runNsinit } from "../helpers/run.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { stateEntries } from "./helpers.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

Deno.test({
  name: "bad values: a mount destination 2000 components deep is created and mounted (as runc)",
  ignore,
  async fn() {
    const deep = "/" + Array(2000).fill("d").join("/");
    await using b = await makeBundle({
      args: ["sh", "-c", `cd ${deep} && grep -c ' ${deep} ' /proc/self/mounts`],
    });
    b.config.mounts!.push({ destination: deep, type: "tmpfs", source: "tmpfs" });
    await b.write();
    const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "1\n");
  },
});

Deno.test({
  name: "bad values: rlimits of 2^64 are refused; 2^64-1 is unlimited (never 0)",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["sh", "-c", "ulimit -n; ulimit -Hn"] });
    const text = JSON.stringify(b.config, null, 2);
    const withNofile = (soft: string, hard: string) =>
      text.replace(
        /"rlimits": \[[^\]]*\]/,
        `"rlimits": [{"type": "RLIMIT_NOFILE", "soft": ${soft}, "hard": ${hard}}]`,
      );
    assert.notEqual(withNofile("1", "1"), text, "the default spec has rlimits to replace");
    await Deno.writeTextFile(
      b.configPath,
      withNofile("18446744073709551616", "18446744073709551616"),
    );
    let r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /process\.rlimits\[0\]\.soft: 18446744073709551616 does not fit in 64 bits/,
    );
    assert.deepEqual(stateEntries(b.stateRoot), []);
    // RLIM_INFINITY for the hard limit (the kernel caps RLIMIT_NOFILE at nr_open), 1024 soft.
    await Deno.writeTextFile(b.configPath, withNofile("1024", "18446744073709551615"));
    r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    if (r.code === 0) {
      assert.equal(r.stdout, "1024\nunlimited\n");
    } else {
      // RLIMIT_NOFILE cannot be unlimited: setrlimit says EPERM, naming the step, never 0.
      assert.match(r.stderr, /set RLIMIT_NOFILE/, r.stderr);
    }
  },
});

Deno.test({
  name: "bad values: cpu.period 1e21 and memory.limit 1 are refused or explained, naming the field",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"] });
    b.config.linux!.resources = { cpu: { period: 1e21 } };
    await b.write();
    let r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /linux\.resources\.cpu\.period: 1e\+21 does not fit in 64 bits/);
    assert.deepEqual(stateEntries(b.stateRoot), []);
    b.config.linux!.resources = { cpu: { period: 2 ** 60 } };
    await b.write();
    r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /linux\.resources\.cpu\.period: \d+ cannot be applied exactly/);
    assert.deepEqual(stateEntries(b.stateRoot), []);

    b.config.linux!.resources = { memory: { limit: 1 } };
    await b.write();
    r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /memory\.limit (1 is too low|.*unable to set memory limit to 1)/,
      r.stderr,
    );
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});

Deno.test({
  name:
    "bad values: seccomp default SCMP_ACT_ERRNO with no rules is refused; time namespace without offsets runs",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"] });
    b.config.linux!.seccomp = { defaultAction: "SCMP_ACT_ERRNO" };
    await b.write();
    let r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 1, `${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /linux\.seccomp: the profile denies execve/);
    assert.deepEqual(stateEntries(b.stateRoot), []);

    delete b.config.linux!.seccomp;
    b.config.linux!.namespaces!.push({ type: "time" });
    delete b.config.linux!.timeOffsets;
    await b.write();
    r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 0, r.stderr);
  },
});

Deno.test({
  name: "bad values: errno-only messages name the error (a hook that does not exist)",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"] });
    for (const kind of ["createRuntime", "startContainer"] as const) {
      b.config.hooks = { [kind]: [{ path: "/nonexistent-hook" }] };
      await b.write();
      const r = await runNsinit(["--root", b.stateRoot, "run", "--bundle", b.dir, b.id]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no such file or directory \(ENOENT\)/, r.stderr);
      assert.doesNotMatch(r.stderr, /errno \d+/, r.stderr);
      assert.deepEqual(stateEntries(b.stateRoot), []);
    }
  },
});

Deno.test({
  name: "bad values: a create killed before its state was written is listed as state shows it",
  ignore,
  async fn() {
    await using b = await makeBundle({ args: ["true"] });
    // What a SIGKILL 50 ms into create leaves: the directory, no state.json yet.
    await Deno.mkdir(`${b.stateRoot}/${b.id}`, { recursive: true });
    const state = await runNsinit(["--root", b.stateRoot, "state", b.id]);
    assert.equal(state.code, 0, state.stderr);
    const list = await runNsinit(["--root", b.stateRoot, "list", "--format", "json"]);
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as { id: string; status: string }[];
    assert.deepEqual(listed.map((s) => [s.id, s.status]), [[
      b.id,
      JSON.parse(state.stdout).status,
    ]]);
    const d = await runNsinit(["--root", b.stateRoot, "delete", "--force", b.id]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(stateEntries(b.stateRoot), []);
  },
});
