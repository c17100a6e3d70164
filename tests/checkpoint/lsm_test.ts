// `--lsm-profile` and `--lsm-mount-context` of a restore: they reach CRIU's RESTORE request (a
// fake CRIU records it, with the host's LSMs injected), and on a host without the LSM they name
// is refused up front, naming the flag, with nothing left behind (the real CRIU's images; CRIU
// 4.1.1 itself restores with an AppArmor profile on a host without AppArmor, ignoring it).
import assert from "node:assert/strict";
import { CriuError } from "../../errors.ts";
import { restoreContainer } from "../../criu/restore.ts";
import { probeHostFeatures } from "../../core/host_features.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { uniqueId } from "../helpers/ids.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import {
  assertNothingLeft,
  checkpointCounter,
  COUNTER_ARGS,
  ignoreCriu,
  nsinitIn,
  readCounter,
  waitFor,
} from "./helpers.ts";

const fake = new URL("./fake_criu.sh", import.meta.url).pathname;

/** Restores through the fake CRIU (which answers RESTORE with failure) and returns its record. */
async function recordRestore(
  lsm: { lsmProfile?: string; lsmMountContext?: string },
): Promise<Record<string, unknown>> {
  await using b = await makeBundle({ id: uniqueId("criu2-lsm"), args: ["true"] });
  await Deno.mkdir(`${b.dir}/img`);
  const record = `${b.dir}/request.json`;
  Deno.env.set("FAKE_CRIU_WHERE", "fail");
  Deno.env.set("FAKE_CRIU_RECORD", record);
  try {
    const err = await restoreContainer(b.stateRoot, b.id, {
      imagePath: `${b.dir}/img`,
      bundle: b.dir,
      criu: fake,
      ...lsm,
    }, { apparmor: true, selinux: true }).then(() => undefined, (e) => e);
    assert.ok(err instanceof CriuError, `expected CRIU's refusal, got ${err}`);
    assert.match(err.message, /fake criu: refused/);
  } finally {
    Deno.env.delete("FAKE_CRIU_WHERE");
    Deno.env.delete("FAKE_CRIU_RECORD");
  }
  assertNothingLeft(b, b.id);
  return JSON.parse(await Deno.readTextFile(record));
}

Deno.test({
  name: "lsm: lsmProfile and lsmMountContext reach CRIU's RESTORE request",
  ignore: skipUnless(isRoot(), "restore needs root (bind mount of the rootfs)"),
  async fn() {
    const req = await recordRestore({
      lsmProfile: "selinux:system_u:system_r:container_t:s0:c1,c2",
      lsmMountContext: "system_u:object_r:container_file_t:s0:c1,c2",
    });
    assert.equal(req.lsmProfile, "selinux:system_u:system_r:container_t:s0:c1,c2");
    assert.equal(req.lsmMountContext, "system_u:object_r:container_file_t:s0:c1,c2");
    const apparmor = await recordRestore({ lsmProfile: "apparmor:criu2-profile" });
    assert.equal(apparmor.lsmProfile, "apparmor:criu2-profile");
    assert.equal(apparmor.lsmMountContext, undefined);
    // Without them, CRIU keeps the profiles in the images.
    const none = await recordRestore({});
    assert.equal(none.lsmProfile, undefined);
    assert.equal(none.lsmMountContext, undefined);
  },
});

const host = probeHostFeatures();

Deno.test({
  name: "lsm: an LSM the host lacks is refused naming the flag; nothing is left; images still work",
  ignore: ignoreCriu ||
    skipUnless(!host.apparmor && !host.selinux, "this host runs AppArmor or SELinux"),
  async fn() {
    await using b = await makeBundle({
      id: uniqueId("criu2-lsmhost"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const n = nsinitIn(b);
    const img = `${b.dir}/img`;
    await checkpointCounter(b, n, img);
    const at = readCounter(b);
    const restore = ["restore", "-d", "--image-path", img, "--bundle", b.dir];
    const cases: [string[], RegExp][] = [
      [
        ["--lsm-profile", "apparmor:criu2-none"],
        /lsm-profile: "apparmor:criu2-none" needs AppArmor, which is not enabled on this host/,
      ],
      [
        ["--lsm-profile", "selinux:system_u:system_r:container_t:s0"],
        /lsm-profile: "selinux:system_u:system_r:container_t:s0" needs SELinux/,
      ],
      [
        ["--lsm-mount-context", "system_u:object_r:container_file_t:s0"],
        /lsm-mount-context: "system_u:object_r:container_file_t:s0" needs SELinux/,
      ],
      [["--lsm-profile", "criu2-bare"], /lsm-profile: "criu2-bare" is not apparmor:PROFILE/],
    ];
    try {
      for (const [flags, want] of cases) {
        const r = await n([...restore, ...flags, b.id]);
        assert.equal(r.code, 1, `${flags.join(" ")}: exit ${r.code}: ${r.stderr}`);
        assert.match(r.stderr, want, flags.join(" "));
        assert.doesNotMatch(r.stderr, /\n.*\n/, `more than one line: ${r.stderr}`);
        assertNothingLeft(b, b.id);
      }
    } finally {
      // A restore that went through (CRIU 4.1.1 ignores an AppArmor profile without AppArmor).
      await n(["delete", "--force", b.id]);
    }
    // The refusals touched nothing: the same images restore and count on.
    const r = await n([...restore, b.id]);
    try {
      assert.equal(r.code, 0, r.stderr);
      await waitFor(() => readCounter(b) >= at + 3, "the restored counter to go on");
    } finally {
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, b.id);
  },
});
