import assert from "node:assert/strict";
import { makeTempDir, REPO_ROOT } from "./paths.ts";
import { rootfsPath } from "./rootfs.ts";
import { run } from "./run.ts";
import { hasCommand, isRoot, skipUnless } from "./skip.ts";

Deno.test("rootfsPath: the busybox rootfs with users, groups and applets", async () => {
  const root = await rootfsPath();
  assert.equal(root, await rootfsPath());
  assert.ok(Deno.statSync(`${root}/bin/busybox`).isFile);
  assert.equal(Deno.readLinkSync(`${root}/bin/sh`), "busybox");
  assert.equal(Deno.readLinkSync(`${root}/bin/ls`), "busybox");
  assert.equal(Deno.readLinkSync(`${root}/usr/bin/env`), "../../bin/busybox");
  for (const d of ["dev", "proc", "sys", "tmp", "etc", "root", "run", "var/tmp"]) {
    assert.ok(Deno.statSync(`${root}/${d}`).isDirectory, d);
  }
  assert.equal(Deno.statSync(`${root}/tmp`).mode! & 0o7777, 0o1777);
  const passwd = Deno.readTextFileSync(`${root}/etc/passwd`);
  assert.match(passwd, /^root:x:0:0:/m);
  assert.match(passwd, /^nobody:x:65534:65534:/m);
  assert.match(passwd, /^user:x:1000:1000:/m);
  const group = Deno.readTextFileSync(`${root}/etc/group`);
  assert.match(group, /^extra:x:1001:user$/m);
  assert.match(group, /^user:x:1000:$/m);
  assert.equal(Deno.readTextFileSync(`${root}/etc/hostname`), "nsinit\n");
});

Deno.test({
  name: "rootfsPath: a shell runs in it (chroot), and user has its groups",
  ignore: skipUnless(isRoot(), "chroot needs root"),
  async fn() {
    const root = await rootfsPath();
    const r = await run("chroot", [root, "/bin/sh", "-c", "echo hi; id user"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hi\nuid=1000(user) gid=1000(user) groups=1000(user),1001(extra)\n");
  },
});

Deno.test({
  name: "make_rootfs.sh: builds into a given dir, then only when busybox or the script changed",
  ignore: skipUnless(hasCommand("busybox") && isRoot(), "needs /bin/busybox and root"),
  async fn() {
    await using tmp = await makeTempDir("rootfs");
    const dir = `${tmp.path}/root`;
    const script = `${REPO_ROOT}/scripts/make_rootfs.sh`;
    const first = await run("bash", [script, dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /built/);
    const again = await run("bash", [script, dir]);
    assert.match(again.stdout, /up to date/);
    Deno.writeTextFileSync(`${dir}/.nsinit-rootfs-stamp`, "stale\n");
    Deno.writeTextFileSync(`${dir}/etc/junk`, "x");
    const rebuilt = await run("bash", [script, dir]);
    assert.match(rebuilt.stdout, /built/);
    assert.throws(() => Deno.statSync(`${dir}/etc/junk`), Deno.errors.NotFound);
    assert.deepEqual(
      [...Deno.readDirSync(tmp.path)].map((e) => e.name).sort(),
      [".nsinit-test-run", "root", "root.lock"],
    );
  },
});
