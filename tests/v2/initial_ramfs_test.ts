/**
 * Whether a rootfs is on the initial ramfs (which pivot_root cannot leave): the host's answer
 * (`HOST_FACTS`, a stat of the directory against /'s device) against mountinfo's. On a host whose
 * / is a disk both say no; in the cgroup v2 VM (`bash scripts/v2vm/run.sh`), whose / is the
 * initramfs, a directory on it says yes and a tmpfs mounted there says no.
 */

import assert from "node:assert/strict";
import { HOST_FACTS, onInitialRamfs } from "../../core/init_plan.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";

const rootIsRamfs = onInitialRamfs("/");

Deno.test("initial ramfs: the host's stat answers as mountinfo does for a directory on /", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-ramfs-", dir: "/tmp" });
  try {
    assert.equal(HOST_FACTS.onInitialRamfs(dir), onInitialRamfs(dir));
    assert.equal(
      HOST_FACTS.onInitialRamfs(dir),
      rootIsRamfs && Deno.statSync(dir).dev === Deno.statSync("/").dev,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "initial ramfs: a tmpfs mounted on the ramfs is not it (pivot_root there)",
  ignore: skipUnless(
    rootIsRamfs && isRoot(),
    "initial ramfs: / is not the initial ramfs here, or not root (run with scripts/v2vm/run.sh)",
  ),
  fn: async () => {
    // On / itself: the VM mounts a tmpfs on /tmp.
    const dir = await Deno.makeTempDir({ prefix: "nsinit-ramfs-", dir: "/" });
    const sub = `${dir}/sub`;
    Deno.mkdirSync(sub);
    assert.equal(HOST_FACTS.onInitialRamfs(sub), true);
    assert.equal(onInitialRamfs(sub), true);
    const mount = await new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", dir] }).output();
    assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
    try {
      Deno.mkdirSync(sub);
      assert.equal(HOST_FACTS.onInitialRamfs(sub), false);
      assert.equal(onInitialRamfs(sub), false);
    } finally {
      const umount = await new Deno.Command("umount", { args: [dir] }).output();
      assert.ok(umount.success, new TextDecoder().decode(umount.stderr));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
