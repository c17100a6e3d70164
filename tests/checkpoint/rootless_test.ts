// Checkpoint and restore of a rootless container, as the unprivileged test user (nsinit-test):
// refused, as runc refuses them, with one line saying why (CRIU needs root) instead of CRIU's
// errors; the container keeps running and nothing is made.
import assert from "node:assert/strict";
import { makeBundle } from "../helpers/bundle.ts";
import { uniqueId } from "../helpers/ids.ts";
import { skipIf } from "../helpers/skip.ts";
import { cannotRunAsTestUser, runNsinitAs, testUser } from "../helpers/user.ts";
import { COUNTER_ARGS, criuBinary, readCounter, waitFor } from "./helpers.ts";

const reason = cannotRunAsTestUser() ??
  (criuBinary() ? undefined : "no criu on PATH (scripts/install_criu.sh installs CRIU 4.1.1)");
const user = testUser()!;

Deno.test({
  name: "rootless: checkpoint and restore are refused, saying why; the container runs on",
  ignore: skipIf(reason !== undefined, reason ?? ""),
  async fn() {
    await using b = await makeBundle({
      id: uniqueId("criu2-rootless"),
      args: COUNTER_ARGS,
      rootless: true,
      owner: { uid: user.uid, gid: user.gid },
      cgroupsPath: null,
      readonlyRoot: false,
    });
    // A runtime directory of the user's own, as a login session has (the state root below it).
    const xdg = `${b.dir}/xdg`;
    await Deno.mkdir(xdg, { mode: 0o700 });
    await Deno.chown(xdg, user.uid, user.gid);
    const env = { XDG_RUNTIME_DIR: xdg };
    const n = (args: string[]) => runNsinitAs(user, args, { env, pipeGraceMs: 200 });
    const img = `${b.dir}/img`, work = `${b.dir}/work`;
    const run = await n(["run", "-d", "--bundle", b.dir, b.id]);
    assert.equal(run.code, 0, run.stderr);
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      const c = await n(["checkpoint", "--image-path", img, "--work-path", work, b.id]);
      assert.equal(c.code, 1, `checkpoint exit ${c.code}: ${c.stderr}`);
      assert.match(c.stderr, /cannot checkpoint a rootless container/);
      assert.match(c.stderr, /CRIU needs root/);
      assert.doesNotMatch(c.stderr, /dump\.log|Error \(/, "CRIU's errors instead of the reason");
      assert.equal(c.stderr.trim().split("\n").length, 1, c.stderr);
      for (const p of [img, work]) {
        assert.throws(() => Deno.statSync(p), Deno.errors.NotFound, `${p} was made`);
      }
      // Intact: still running, still counting, still an ordinary container.
      const st = await n(["state", b.id]);
      assert.equal(JSON.parse(st.stdout).status, "running", st.stderr);
      const at = readCounter(b);
      await waitFor(() => readCounter(b) > at + 2, "the counter to go on after the refusal");

      await Deno.mkdir(img);
      const newId = uniqueId("criu2-rootless-r");
      const r = await n(["restore", "-d", "--image-path", img, "--bundle", b.dir, newId]);
      assert.equal(r.code, 1, `restore exit ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, /cannot restore a rootless container/);
      assert.match(r.stderr, /CRIU needs root/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.throws(() => Deno.statSync(`${xdg}/nsinit/${newId}`), Deno.errors.NotFound);
    } finally {
      const d = await n(["delete", "--force", b.id]);
      assert.equal(d.code, 0, d.stderr);
    }
    assert.throws(() => Deno.statSync(`${xdg}/nsinit/${b.id}`), Deno.errors.NotFound);
  },
});
