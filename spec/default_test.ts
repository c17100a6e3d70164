import assert from "node:assert/strict";
import process from "node:process";
import { DEFAULT_OCI_VERSION, defaultSpec } from "./default.ts";

/** Runs `runc spec ARGS` in a temp dir and returns the config.json text, or undefined without runc. */
async function runcSpec(args: string[]): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-spec-" });
  try {
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command("runc", { args: ["spec", ...args], cwd: dir }).output();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    assert.ok(out.success, `runc spec ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    return await Deno.readTextFile(`${dir}/config.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Why runc cannot be run here, or undefined when it can. */
function runcMissing(): string | undefined {
  try {
    new Deno.Command("runc", { args: ["--version"] }).outputSync();
    return undefined;
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) return "no permission to run runc (run with -A)";
    return "runc is not installed (apt-get install runc)";
  }
}

const noRunc = runcMissing();
if (noRunc) console.log(`skipped comparison with runc: ${noRunc}`);

Deno.test({
  name: "defaultSpec() is what `runc spec` writes, byte for byte",
  ignore: noRunc !== undefined,
  async fn() {
    const text = await runcSpec([]);
    assert.ok(text !== undefined);
    assert.deepEqual(defaultSpec(), JSON.parse(text));
    assert.equal(JSON.stringify(defaultSpec(), null, "\t"), text);
  },
});

Deno.test({
  name: "defaultSpec({ rootless: true }) is what `runc spec --rootless` writes, byte for byte",
  ignore: noRunc !== undefined,
  async fn() {
    const text = await runcSpec(["--rootless"]);
    assert.ok(text !== undefined);
    assert.deepEqual(defaultSpec({ rootless: true }), JSON.parse(text));
    assert.equal(JSON.stringify(defaultSpec({ rootless: true }), null, "\t"), text);
  },
});

Deno.test("the rootless variant maps the ids given", () => {
  const given = defaultSpec({ rootless: true, uid: 1234, gid: 5678 });
  assert.deepEqual(given.linux?.uidMappings, [{ containerID: 0, hostID: 1234, size: 1 }]);
  assert.deepEqual(given.linux?.gidMappings, [{ containerID: 0, hostID: 5678, size: 1 }]);
  assert.equal(given.linux?.resources, undefined);
  assert.ok(
    given.mounts?.every((m) =>
      !m.options?.some((o) => o.startsWith("gid=") || o.startsWith("uid="))
    ),
  );
});

const canReadIds = Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted" &&
  Deno.permissions.querySync({ name: "sys", kind: "gid" }).state === "granted";
if (!canReadIds) {
  console.log("skipped effective-id test: no sys permission for uid/gid (run with -A)");
}
Deno.test({
  name: "the rootless variant maps the effective ids by default",
  ignore: !canReadIds,
  fn() {
    const spec = defaultSpec({ rootless: true });
    assert.deepEqual(spec.linux?.uidMappings, [{
      containerID: 0,
      hostID: process.geteuid!(),
      size: 1,
    }]);
    assert.deepEqual(spec.linux?.gidMappings, [{
      containerID: 0,
      hostID: process.getegid!(),
      size: 1,
    }]);
  },
});

Deno.test("each call returns a fresh object", () => {
  const a = defaultSpec();
  a.process!.capabilities!.bounding!.push("CAP_SYS_ADMIN");
  a.mounts![0].options = ["ro"];
  assert.deepEqual(defaultSpec().process?.capabilities?.bounding, [
    "CAP_AUDIT_WRITE",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
  ]);
  assert.equal(defaultSpec().mounts![0].options, undefined);
  assert.equal(defaultSpec().ociVersion, DEFAULT_OCI_VERSION);
});
