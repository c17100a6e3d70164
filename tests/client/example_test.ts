/**
 * The README's OciRuntimeClient example (examples/oci_client.ts) runs unchanged with runc and
 * with dist/nsinit.
 */

import assert from "node:assert/strict";
import { hasCommand, isRoot, makeBundle, REPO_ROOT, skipUnless } from "../helpers/mod.ts";

for (const command of ["runc", `${REPO_ROOT}/dist/nsinit`]) {
  const name = command.split("/").at(-1)!;
  Deno.test({
    name: `examples/oci_client.ts runs with ${name}`,
    ignore: skipUnless(isRoot(), "needs root") ||
      skipUnless(hasCommand(command), `${command} is missing`),
    async fn() {
      await using b = await makeBundle({ args: ["sleep", "1000"] });
      const out = await new Deno.Command("deno", {
        args: ["run", "-A", `${REPO_ROOT}/examples/oci_client.ts`, command, b.dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
      for (
        const line of [
          "state running",
          'exec said "hello from exec\\n"',
          "terminal said",
          "state paused",
          "pids.current",
          "event stats",
          "deleted",
        ]
      ) assert.ok(text.includes(`${name}: ${line}`), `missing "${line}" in:\n${text}`);
    },
  });
}
