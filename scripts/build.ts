/**
 * `deno task build`: compiles the native helper into dist/lib and writes the
 * `dist/nsinit` launcher that OCI clients can be pointed at.
 *
 * `deno compile` cannot work on these machines (it downloads denort), so the
 * launcher runs the CLI module with Deno, without type-checking, from the
 * cache that this script warms.
 */
import { buildNative } from "../native/build.ts";

const root = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const dist = `${root}/dist`;
buildNative(`${dist}/lib`);

const deno = Deno.execPath();
const launcher = `#!/bin/sh
# nsinit launcher, written by "deno task build".
NSINIT_LIBDIR="\${NSINIT_LIBDIR:-${dist}/lib}" exec "${deno}" run -A --no-check --no-lock --quiet --no-prompt "${root}/nsinit/main.ts" "$@"
`;
Deno.writeTextFileSync(`${dist}/nsinit.tmp`, launcher, { mode: 0o755 });
Deno.renameSync(`${dist}/nsinit.tmp`, `${dist}/nsinit`);

// Warm Deno's module cache so the first container start does not pay for it.
try {
  Deno.statSync(`${root}/nsinit/main.ts`);
  const warm = new Deno.Command(deno, {
    args: ["cache", "--no-lock", "--quiet", `${root}/nsinit/main.ts`],
    stdout: "inherit",
    stderr: "inherit",
  }).outputSync();
  if (!warm.success) Deno.exit(1);
} catch (e) {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}
console.log(`built ${dist}/lib/libnsinit.so, ${dist}/lib/nsinit-init and ${dist}/nsinit`);
