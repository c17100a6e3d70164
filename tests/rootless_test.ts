// End-to-end: rootless containers through the CLI, as the unprivileged test user
// (nsinit-test): the state root, single-id and subuid-range mappings, the lifecycle,
// and the refusals, each with one message saying what to change.
import assert from "node:assert/strict";
import { makeBundle } from "./helpers/bundle.ts";
import { skipIf } from "./helpers/skip.ts";
import { uniqueId } from "./helpers/ids.ts";
import {
  cannotRunAsTestUser,
  mapTestUserSubIds,
  runAs,
  runNsinitAs,
  testUser,
} from "./helpers/user.ts";

const reason = cannotRunAsTestUser();
const ignore = skipIf(reason !== undefined, reason ?? "");
const user = testUser()!;

async function rootlessBundle(args: string[], opts: { writable?: boolean; id?: string } = {}) {
  const b = await makeBundle({
    ...(opts.id ? { id: opts.id } : {}),
    args,
    rootless: true,
    owner: { uid: user.uid, gid: user.gid },
    cgroupsPath: null,
    readonlyRoot: opts.writable ? false : true,
  });
  // A runtime directory of the user's own, as a login session has.
  const xdg = `${b.dir}/xdg`;
  await Deno.mkdir(xdg, { mode: 0o700 });
  await Deno.chown(xdg, user.uid, user.gid);
  return Object.assign(b, { xdg, env: { XDG_RUNTIME_DIR: xdg } });
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

Deno.test({
  name: "rootless: create, state, start, exec, kill, delete as an unprivileged user",
  ignore,
  async fn() {
    await using b = await rootlessBundle(["sleep", "1000"]);
    // Its own network namespace too, as a rootless container that slirp4netns serves has.
    b.config.linux!.namespaces!.push({ type: "network" });
    await b.write();
    const env = b.env;
    const create = await runNsinitAs(user, ["create", "--bundle", b.dir, b.id], { env });
    assert.equal(create.code, 0, create.stderr);
    try {
      // State under $XDG_RUNTIME_DIR/nsinit, as runc puts its own.
      assert.ok(Deno.statSync(`${b.xdg}/nsinit/${b.id}/state.json`).isFile);
      assert.equal(Deno.statSync(`${b.xdg}/nsinit`).uid, user.uid);
      // No delegated cgroup on this host for the user: said once, clearly.
      assert.equal(count(create.stderr, "running without cgroups"), 1, create.stderr);

      let st = await runNsinitAs(user, ["state", b.id], { env });
      assert.equal(JSON.parse(st.stdout).status, "created", st.stderr);
      const start = await runNsinitAs(user, ["start", b.id], { env });
      assert.equal(start.code, 0, start.stderr);
      st = await runNsinitAs(user, ["state", b.id], { env });
      const state = JSON.parse(st.stdout);
      assert.equal(state.status, "running");
      // The init runs as the user on the host, as root inside.
      assert.equal(Deno.statSync(`/proc/${state.pid}`).uid, user.uid);

      const exec = await runNsinitAs(user, [
        "exec",
        b.id,
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; cat /proc/self/setgroups",
      ], { env });
      assert.equal(exec.code, 0, exec.stderr);
      const [uid, map, setgroups] = exec.stdout.trim().split("\n").map((l) => l.trim());
      assert.equal(uid, "0");
      // One user namespace (runc's rootless capabilities hold no CAP_SYS_ADMIN: no nested one
      // to lock the mounts, docs/security.md): container root is the user.
      assert.deepEqual(map.split(/\s+/), ["0", String(user.uid), "1"]);
      assert.equal(setgroups, "deny");
      // A tool that joins the container by pid, as `slirp4netns <pid>` and `nsenter -t <pid>`
      // do (its user namespace first, then the others): it gets in.
      const own = b.config.linux!.namespaces!.filter((n) => !n.path).map((n) => n.type);
      for (const t of ["network", "uts", "ipc", "pid"]) assert.ok(own.includes(t as never), t);
      const joined = await runAs(user, "nsenter", [
        "-t",
        String(state.pid),
        "--user",
        "--preserve-credentials",
        "--net",
        "--uts",
        "--ipc",
        "--pid",
        "--",
        "cat",
        "/proc/sys/kernel/hostname",
      ]);
      assert.equal(joined.code, 0, `nsenter into the rootless container: ${joined.stderr}`);

      const pause = await runNsinitAs(user, ["pause", b.id], { env });
      assert.equal(pause.code, 1);
      assert.match(pause.stderr, /freezer: cannot freeze: the container runs without cgroups/);

      const kill = await runNsinitAs(user, ["kill", b.id, "KILL"], { env });
      assert.equal(kill.code, 0, kill.stderr);
      for (let i = 0; i < 100; i++) {
        st = await runNsinitAs(user, ["state", b.id], { env });
        if (JSON.parse(st.stdout).status === "stopped") break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(JSON.parse(st.stdout).status, "stopped");
    } finally {
      const del = await runNsinitAs(user, ["delete", "--force", b.id], { env });
      assert.equal(del.code, 0, del.stderr);
    }
    assert.throws(() => Deno.statSync(`${b.xdg}/nsinit/${b.id}`), Deno.errors.NotFound);
  },
});

Deno.test({
  name: "rootless: process.oomScoreAdj, with the single id map the runtime writes itself",
  ignore,
  async fn() {
    await using b = await rootlessBundle(["cat", "/proc/self/oom_score_adj"]);
    // Written by the init itself while it is still dumpable (its /proc/self the user's).
    b.config.process!.oomScoreAdj = 300;
    await b.write();
    const r = await runNsinitAs(user, ["run", "--bundle", b.dir, b.id], { env: b.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "300");
  },
});

Deno.test({
  name: "rootless: exec with process.oomScoreAdj (the exec helper is non-dumpable)",
  ignore,
  async fn() {
    await using b = await rootlessBundle(["sleep", "1000"], { id: uniqueId("podjoin-oom") });
    await b.write();
    const env = b.env;
    const run = await runNsinitAs(user, ["run", "--detach", "--bundle", b.dir, b.id], {
      env,
      pipeGraceMs: 200,
    });
    assert.equal(run.code, 0, run.stderr);
    try {
      const p = `${b.dir}/process.json`;
      await Deno.writeTextFile(
        p,
        JSON.stringify({
          ...b.config.process,
          args: ["cat", "/proc/self/oom_score_adj"],
          terminal: false,
          oomScoreAdj: 400,
        }),
      );
      await Deno.chown(p, user.uid, user.gid);
      const e = await runNsinitAs(user, ["exec", "--process", p, b.id], { env });
      assert.equal(e.code, 0, e.stderr);
      assert.equal(e.stdout.trim(), "400");
    } finally {
      const del = await runNsinitAs(user, ["delete", "--force", b.id], { env });
      assert.equal(del.code, 0, del.stderr);
    }
  },
});

/** Runs `a` detached, then `b` (which joins `a` by path) to completion; returns b's output. */
async function podJoin(nested: boolean) {
  const kind = nested ? "nested" : "flat";
  await using a = await rootlessBundle(["sleep", "1000"], { id: uniqueId(`podjoin-a-${kind}`) });
  a.config.hostname = `pod-${kind}`;
  for (const t of ["network", "ipc", "uts"] as const) {
    if (!a.config.linux!.namespaces!.some((n) => n.type === t)) {
      a.config.linux!.namespaces!.push({ type: t });
    }
  }
  if (nested) {
    // With CAP_SYS_ADMIN the init locks its mounts in a nested user namespace: /proc/<pid>/ns/user
    // is that one, and the network, ipc and uts namespaces belong to its parent.
    const caps = a.config.process!.capabilities!;
    for (const set of ["bounding", "effective", "permitted"] as const) {
      caps[set] = [...new Set([...(caps[set] ?? []), "CAP_SYS_ADMIN"])];
    }
  }
  await a.write();
  const env = a.env;
  const run = await runNsinitAs(user, ["run", "--detach", "--bundle", a.dir, a.id], {
    env,
    pipeGraceMs: 200,
  });
  assert.equal(run.code, 0, run.stderr);
  try {
    const st = await runNsinitAs(user, ["state", a.id], { env });
    const { pid } = JSON.parse(st.stdout);
    const nestedNow = JSON.parse(Deno.readTextFileSync(`${a.xdg}/nsinit/${a.id}/state.json`))
      .nestedUserns === true;
    assert.equal(nestedNow, nested, "the first container nests (or not) as the test means");
    await using b = await rootlessBundle([
      "sh",
      "-c",
      "cat /proc/sys/kernel/hostname; for n in net ipc uts user; do readlink /proc/self/ns/$n; done",
    ], { id: uniqueId(`podjoin-b-${kind}`) });
    const linux = b.config.linux!;
    // As a pod's container joins the pause container: its user, network, ipc and uts namespaces.
    linux.namespaces = linux.namespaces!.filter((n) =>
      !["user", "network", "ipc", "uts"].includes(n.type)
    );
    for (const [t, f] of [["user", "user"], ["network", "net"], ["ipc", "ipc"], ["uts", "uts"]]) {
      linux.namespaces.push({ type: t as "user", path: `/proc/${pid}/ns/${f}` });
    }
    delete linux.uidMappings;
    delete linux.gidMappings;
    delete b.config.hostname;
    if (nested) {
      // In the nested user namespace nothing may mount an mqueue of the joined ipc namespace,
      // which its parent owns (docs/security.md): a pod's container there binds none.
      b.config.mounts = b.config.mounts!.filter((m) => m.type !== "mqueue");
    }
    await b.write();
    const r = await runNsinitAs(user, ["run", "--bundle", b.dir, b.id], { env: b.env });
    const want = ["net", "ipc", "uts", "user"].map((f) =>
      Deno.readLinkSync(`/proc/${pid}/ns/${f}`)
    );
    return { r, want, hostname: a.config.hostname };
  } finally {
    const del = await runNsinitAs(user, ["delete", "--force", a.id], { env });
    assert.equal(del.code, 0, del.stderr);
  }
}

Deno.test({
  name: "rootless pod: a container joins a nesting container's namespaces by path",
  ignore,
  async fn() {
    const { r, want, hostname } = await podJoin(true);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), [hostname, ...want]);
  },
});

Deno.test({
  name: "rootless pod: a container joins a non-nesting container's namespaces by path",
  ignore,
  async fn() {
    const { r, want, hostname } = await podJoin(false);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), [hostname, ...want]);
  },
});

Deno.test({
  name: "rootless: a subuid range mapped through newuidmap/newgidmap",
  ignore,
  async fn() {
    await using b = await rootlessBundle([
      "sh",
      "-c",
      "cat /proc/self/uid_map; echo oom=$(cat /proc/self/oom_score_adj); touch /owned && chown 1:2 /owned && echo done",
    ], { writable: true });
    // Written by the init itself while it is still dumpable (its /proc/self the user's).
    b.config.process!.oomScoreAdj = 300;
    const { uids: sub, gids: subg } = mapTestUserSubIds(b.config, user);
    const caps = b.config.process!.capabilities!;
    for (const set of [caps.bounding!, caps.effective!, caps.permitted!]) set.push("CAP_CHOWN");
    await b.write();
    const r = await runNsinitAs(user, ["run", "--bundle", b.dir, b.id], { env: b.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^\\s*1\\s+${sub.start}\\s+${sub.count}$`, "m"));
    assert.match(r.stdout, /^oom=300$/m);
    assert.match(r.stdout, /done/);
    // Container uid 1 is the first id of the range on the host.
    const st = Deno.statSync(`${b.rootfs}/owned`);
    assert.equal(st.uid, sub.start);
    assert.equal(st.gid, subg.start + 1);
  },
});

Deno.test({
  name: "rootless refusals: no subuid range, no state root, limits without a cgroup, " +
    "user namespaces disabled",
  ignore,
  async fn() {
    await using b = await rootlessBundle(["true"]);

    // A range the user was not given.
    b.config.linux!.uidMappings = [
      { containerID: 0, hostID: user.uid, size: 1 },
      { containerID: 1, hostID: 4_000_000, size: 1000 },
    ];
    await b.write();
    let r = await runNsinitAs(user, ["run", "--bundle", b.dir, b.id], { env: b.env });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /linux\.uidMappings\[1\]: host uids 4000000-4000999 are not yours to map: you are uid \d+ and \/etc\/subuid gives nsinit-test \d+-\d+/,
    );
    assert.equal(count(r.stderr, "nsinit:"), 1, r.stderr);
    assert.deepEqual([...Deno.readDirSync(b.xdg)].map((e) => e.name), []);

    // The default root without XDG_RUNTIME_DIR.
    b.config.linux!.uidMappings = [{ containerID: 0, hostID: user.uid, size: 1 }];
    await b.write();
    r = await runNsinitAs(user, ["run", "--bundle", b.dir, b.id]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /cannot create a container in \/run\/nsinit: permission denied.*XDG_RUNTIME_DIR/,
    );

    // Limits with no delegated cgroup name the field.
    b.config.linux!.resources = { pids: { limit: 10 } };
    await b.write();
    r = await runNsinitAs(user, ["run", "--bundle", b.dir, b.id], { env: b.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /linux\.resources\.pids\.limit: cannot be applied/);
    assert.deepEqual([...Deno.readDirSync(`${b.xdg}/nsinit`)].map((e) => e.name), []);

    // User namespaces disabled: simulated in a private user namespace whose limit is 0.
    delete b.config.linux!.resources;
    await b.write();
    const [cmd, ...args] = (await import("./helpers/run.ts")).nsinitCommand([
      "--root",
      `${b.dir}/state`,
      "run",
      "--bundle",
      b.dir,
      b.id,
    ]);
    r = await runAs(user, "unshare", [
      "-Ur",
      "sh",
      "-c",
      'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"',
      "sh",
      cmd,
      ...args,
    ], { env: b.env });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /user namespaces are disabled on this host \(user\.max_user_namespaces is 0\)/,
    );
  },
});
