/** The README's engine example (examples/engine.ts) with a library and an oci handler. */

import assert from "node:assert/strict";
import { hasCommand, isRoot, makeBundle, REPO_ROOT, skipUnless } from "../helpers/mod.ts";

for (const handler of ["library", "runc"]) {
  Deno.test({
    name: `examples/engine.ts runs a workload under ${handler} and reads its logs`,
    ignore: skipUnless(isRoot(), "needs root") ||
      skipUnless(handler === "library" || hasCommand("conmon"), "conmon is not installed"),
    async fn() {
      await using b = await makeBundle({
        args: ["sh", "-c", "echo hello; printf partial; echo bye >&2; exit 3"],
      });
      const out = await new Deno.Command("deno", {
        args: ["run", "-A", `${REPO_ROOT}/examples/engine.ts`, b.dir, handler],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
      assert.match(text, /exit code 3\n/);
      assert.match(text, /stdout "hello\\npartial"\n/);
      assert.match(text, /stderr "bye\\n"\n/);
    },
  });
}
