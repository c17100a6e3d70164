// A pid of -1 or 0 from CRIU (a notification or the RESTORE answer) never reaches a signal
// call: a fake criu feeds them, and the restore is refused with nothing left behind.
import assert from "node:assert/strict";
import { Factory } from "../../mod.ts";
import { CriuError } from "../../errors.ts";
import { validPid } from "../../criu/session.ts";
import { makeBundle } from "../helpers/bundle.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { assertNothingLeft } from "./helpers.ts";

const fake = new URL("./fake_criu.sh", import.meta.url).pathname;

Deno.test("validPid refuses -1, 0, fractions and missing pids", () => {
  for (const bad of [-1, 0, 1.5, NaN, undefined]) {
    assert.throws(() => validPid(bad, "test"), CriuError);
  }
  assert.equal(validPid(42, "test"), 42);
});

for (
  const [where, pid] of [["post-restore", -1], ["setup-namespaces", 0], ["answer", 0], [
    "answer",
    -1,
  ]] as const
) {
  Deno.test({
    name: `restore: a pid of ${pid} in ${where} from CRIU is refused before any signal`,
    ignore: skipUnless(isRoot(), "restore needs root (bind mount of the rootfs)"),
    async fn() {
      await using b = await makeBundle({ args: ["true"] });
      await Deno.mkdir(`${b.dir}/img`);
      Deno.env.set("FAKE_CRIU_WHERE", where);
      Deno.env.set("FAKE_CRIU_PID", String(pid));
      try {
        const f = new Factory({ root: b.stateRoot });
        const err = await f.restore(b.id, { imagePath: `${b.dir}/img`, bundle: b.dir, criu: fake })
          .then(() => undefined, (e) => e);
        assert.ok(err instanceof CriuError, `expected a CriuError, got ${err}`);
        assert.match(err.message, new RegExp(`invalid pid ${pid}`));
      } finally {
        Deno.env.delete("FAKE_CRIU_WHERE");
        Deno.env.delete("FAKE_CRIU_PID");
      }
      assertNothingLeft(b, b.id);
    },
  });
}
