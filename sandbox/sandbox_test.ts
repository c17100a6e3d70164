import assert from "node:assert/strict";
import { parseProfile, PROFILE_VERSION } from "./profile.ts";
import { looksSecret, sandboxEnv } from "./env.ts";
import { sandboxSpec } from "./spec.ts";
import { handledAccess, landlockPlan, READ } from "./landlock.ts";
import { resolveSandbox } from "./run.ts";
import { ConfigError } from "../errors.ts";

const BASE = {
  args: ["true"],
  cwd: "/home/a/proj",
  allowWrite: [],
  allowRead: [],
  denyRead: [],
  net: false,
  env: [],
  seccomp: true,
  terminal: false,
};
const HOST = { uid: 1000, gid: 1000, home: "/home/a", env: {}, exists: () => true };

Deno.test("profile: version, keys, types, paths resolved against the file", () => {
  const s = parseProfile(
    JSON.stringify({
      version: PROFILE_VERSION,
      allowWrite: ["out", "~/cache", "/abs"],
      denyRead: ["./secret"],
      net: true,
      memory: "1g",
      cpus: 1.5,
      pids: 100,
      timeout: 30,
      env: ["CI"],
      landlock: false,
      seccomp: true,
    }),
    "/p/sandbox.json",
    "/home/a",
  );
  assert.deepEqual(s.allowWrite, ["/p/out", "/home/a/cache", "/abs"]);
  assert.deepEqual(s.denyRead, ["/p/secret"]);
  assert.equal(s.memory, "1g");
  const bad = (doc: unknown, re: RegExp) =>
    assert.throws(() => parseProfile(JSON.stringify(doc), "f.json"), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, re);
      return true;
    });
  bad({ allowWrite: [] }, /^f\.json: version: missing: add "version": 1$/);
  bad({ version: 2 }, /version: unsupported version 2: this nsinit reads version 1/);
  bad({ version: 1, net: "yes" }, /^f\.json: net: must be true or false, got "yes"$/);
  bad({ version: 1, cpus: -1 }, /cpus: must be a positive number/);
  bad({ version: 1, allowWrite: "out" }, /allowWrite: must be an array of non-empty strings/);
  bad({ version: 1, Net: true }, /^f\.json: Net: unknown key \(known: version, allowWrite,/);
  bad([], /a sandbox profile is a JSON object/);
  assert.throws(() => parseProfile("{", "f.json"), /f\.json: not valid JSON/);
});

Deno.test("env: secret-looking names dropped, --env passes or sets", () => {
  for (
    const n of [
      "GITHUB_TOKEN",
      "AWS_ACCESS_KEY_ID",
      "NPM_TOKEN",
      "DB_PASSWORD",
      "SSH_AUTH_SOCK",
      "x_secret",
    ]
  ) {
    assert.equal(looksSecret(n), true, n);
  }
  for (const n of ["PATH", "HOME", "LANG", "TERM", "KEYBOARD", "MONKEY"]) {
    assert.equal(looksSecret(n), false, n);
  }
  assert.deepEqual(sandboxEnv({ A: "1", MY_TOKEN: "t" }, ["MY_TOKEN", "B=2", "MISSING"]), [
    "A=1",
    "MY_TOKEN=t",
    "B=2",
  ]);
  assert.throws(() => sandboxEnv({}, ["=x"]), RangeError);
});

Deno.test("spec: root read-only, cwd writable, private /tmp, own ids, no caps, secrets masked", () => {
  const { spec, landlock } = sandboxSpec(
    {
      ...BASE,
      allowWrite: ["/data"],
      allowRead: ["/home/a/.ssh"],
      memory: 1 << 25,
      pids: 9,
      cpus: 0.5,
    },
    HOST,
  );
  const m = spec.mounts!;
  assert.deepEqual(m[0], {
    destination: "/",
    type: "bind",
    source: "/",
    options: ["rbind", "rro", "rnosuid"],
  });
  assert.ok(m.some((x) => x.destination === "/tmp" && x.type === "tmpfs"));
  assert.ok(m.some((x) => x.destination === "/home/a/proj" && x.options?.includes("rw")));
  assert.ok(m.some((x) => x.destination === "/data" && x.options?.includes("rw")));
  assert.deepEqual(spec.process!.user, { uid: 1000, gid: 1000 });
  assert.equal(spec.process!.noNewPrivileges, true);
  assert.deepEqual(spec.process!.capabilities!.bounding, []);
  assert.deepEqual(spec.linux!.uidMappings, [{ containerID: 1000, hostID: 1000, size: 1 }]);
  assert.ok(spec.linux!.namespaces!.some((n) => n.type === "network"));
  // ~/.ssh was allowed: not masked; the others are.
  assert.ok(!spec.linux!.maskedPaths!.includes("/home/a/.ssh"));
  assert.ok(spec.linux!.maskedPaths!.includes("/home/a/.aws"));
  assert.deepEqual(spec.linux!.resources, {
    memory: { limit: 1 << 25, swap: 1 << 25 },
    cpu: { quota: 50000, period: 100000 },
    pids: { limit: 9 },
  });
  assert.ok(landlock.some((r) => r.path === "/data" && r.access === "write"));
  assert.ok(landlock.some((r) => r.path === "/home/a/.ssh" && r.access === "read"));
  assert.ok(!landlock.some((r) => r.path === "/home/a"));
  const net = sandboxSpec({ ...BASE, net: true, seccomp: false }, HOST).spec;
  assert.ok(!net.linux!.namespaces!.some((n) => n.type === "network"));
  assert.equal(net.linux!.seccomp, undefined);
});

Deno.test("landlock: rights by ABI; read rules get read rights only", () => {
  assert.equal(handledAccess(0), 0n);
  assert.equal(handledAccess(1), (1n << 13n) - 1n);
  assert.equal(handledAccess(2), (1n << 14n) - 1n);
  assert.equal(handledAccess(3), (1n << 15n) - 1n);
  assert.equal(handledAccess(4), (1n << 15n) - 1n);
  assert.equal(handledAccess(7), (1n << 16n) - 1n);
  const plan = landlockPlan(1, [{ path: "/usr", access: "read" }, { path: "/w", access: "write" }]);
  assert.deepEqual(plan.rules.map((r) => r.access), [READ, handledAccess(1)]);
});

Deno.test("resolveSandbox: bad options refused naming them", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    await assert.rejects(() => resolveSandbox([], { cwd }), TypeError);
    await assert.rejects(
      () => resolveSandbox(["true"], { cwd: "/" }),
      /cwd: the working directory is \//,
    );
    await assert.rejects(
      () => resolveSandbox(["true"], { cwd, allowWrite: ["/no/such/path"] }),
      /allowWrite: \/no\/such\/path: no such file or directory/,
    );
    await assert.rejects(
      () => resolveSandbox(["true"], { cwd, memory: "lots" }),
      /memory: "lots": not a size/,
    );
    await assert.rejects(
      () => resolveSandbox(["true"], { cwd, pids: 1.5 }),
      /pids: must be a whole number/,
    );
    await assert.rejects(() => resolveSandbox(["true"], { cwd, timeout: -1 }), RangeError);
    const r = await resolveSandbox(["true"], { cwd, memory: "32m", allowRead: ["sub"] });
    assert.equal(r.memory, 32 * 1024 * 1024);
    assert.deepEqual(r.allowRead, [`${cwd}/sub`]);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
