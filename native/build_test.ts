import assert from "node:assert/strict";
import { NATIVE_SOURCES } from "./build.ts";

Deno.test("NATIVE_SOURCES lists every file of native/src (remote builds fetch exactly these)", () => {
  const dir = new URL("./src/", import.meta.url);
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(names, [...NATIVE_SOURCES]);
});
