// End-to-end: all six OCI hook kinds run in order, in the right namespaces, with the state on stdin.
import assert from "node:assert/strict";
import { Factory, HookError } from "../mod.ts";
import { makeBundle } from "./helpers/bundle.ts";
import { makeTempDir } from "./helpers/paths.ts";
import { isRoot, skipUnless } from "./helpers/skip.ts";

const ignore = skipUnless(isRoot(), "real containers need root");

const HOOK = `#!/bin/sh
read -r state
echo "$1|$state|$(readlink /proc/self/ns/mnt)|$FROM_ENV" >> "$2"
`;

Deno.test({
  name: "hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop",
  ignore,
  async fn() {
    await using dir = await makeTempDir("hooks");
    const hostHook = `${dir.path}/hook.sh`;
    const hostLog = `${dir.path}/log`;
    await Deno.writeTextFile(hostHook, HOOK, { mode: 0o755 });
    await using b = await makeBundle({ args: ["sleep", "60"] });
    // startContainer runs inside the container: its path and log are in there.
    await Deno.writeTextFile(`${b.rootfs}/hook.sh`, HOOK, { mode: 0o755 });
    await Deno.mkdir(`${b.rootfs}/hooklog`);
    b.config.mounts!.push({
      destination: "/hooklog",
      type: "bind",
      source: dir.path,
      options: ["rbind", "rw"],
    });
    const h = (kind: string, path = hostHook, log = hostLog) => ({
      path,
      args: [path, kind, log],
      env: ["FROM_ENV=yes"],
      timeout: 5,
    });
    b.config.annotations = { "org.example.key": "value" };
    b.config.hooks = {
      prestart: [h("prestart")],
      createRuntime: [h("createRuntime")],
      createContainer: [h("createContainer")],
      startContainer: [h("startContainer", "/hook.sh", "/hooklog/log")],
      poststart: [h("poststart")],
      poststop: [h("poststop")],
    };
    const factory = new Factory({ root: b.stateRoot });
    const c = await factory.create(b.id, {
      bundle: b.dir,
      spec: b.config,
      stdio: { stdin: "null" },
    });
    const pid = (await c.state()).pid;
    const containerMnt = Deno.readLinkSync(`/proc/${pid}/ns/mnt`);
    await c.start();
    await c.signal(9);
    await c.wait();
    await c.destroy();

    const hostMnt = Deno.readLinkSync("/proc/self/ns/mnt");
    const lines = (await Deno.readTextFile(hostLog)).trim().split("\n").map((l) => l.split("|"));
    assert.deepEqual(lines.map((l) => l[0]), [
      "prestart",
      "createRuntime",
      "createContainer",
      "startContainer",
      "poststart",
      "poststop",
    ]);
    const expect: Record<string, [string, string]> = {
      prestart: ["creating", hostMnt],
      createRuntime: ["creating", hostMnt],
      createContainer: ["creating", containerMnt],
      startContainer: ["created", containerMnt],
      poststart: ["running", hostMnt],
      poststop: ["stopped", hostMnt],
    };
    for (const [kind, stateText, mnt, env] of lines) {
      const state = JSON.parse(stateText);
      assert.equal(state.status, expect[kind][0], `${kind} status`);
      assert.equal(state.id, b.id);
      assert.equal(state.bundle, b.dir);
      assert.deepEqual(state.annotations, { "org.example.key": "value" });
      if (kind !== "poststop") assert.equal(state.pid, pid, `${kind} pid`);
      assert.equal(mnt, expect[kind][1], `${kind} mount namespace`);
      assert.equal(env, "yes", `${kind} env`);
    }
  },
});

Deno.test({
  name:
    "hooks: a failing createRuntime hook fails create and leaves nothing; a failing poststart only warns",
  ignore,
  async fn() {
    await using dir = await makeTempDir("hooks");
    const fail = `${dir.path}/fail.sh`;
    const slow = `${dir.path}/slow.sh`;
    await Deno.writeTextFile(fail, "#!/bin/sh\nexit 3\n", { mode: 0o755 });
    await Deno.writeTextFile(slow, "#!/bin/sh\nsleep 10\n", { mode: 0o755 });
    await using b = await makeBundle({ args: ["true"] });
    const warnings: string[] = [];
    const factory = new Factory({ root: b.stateRoot, onWarning: (m) => warnings.push(m) });

    b.config.hooks = { createRuntime: [{ path: fail }] };
    await assert.rejects(
      factory.create(b.id, { bundle: b.dir, spec: b.config }),
      (e: Error) =>
        e instanceof HookError && /createRuntime hook #0 .*exit status 3/.test(e.message),
    );
    assert.deepEqual(await factory.list(), []);

    b.config.hooks = { createContainer: [{ path: slow, timeout: 1 }] };
    await assert.rejects(
      factory.create(b.id, { bundle: b.dir, spec: b.config }),
      /createContainer hook #0.*timed out after 1s/,
    );
    assert.deepEqual(await factory.list(), []);

    b.config.hooks = { poststart: [{ path: fail }] };
    const c = await factory.run(b.id, { bundle: b.dir, spec: b.config, stdio: { stdin: "null" } });
    await c.wait();
    await c.destroy();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /poststart hook #0 .*exit status 3/);
  },
});
