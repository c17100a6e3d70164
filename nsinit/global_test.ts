import assert from "node:assert/strict";
import { DEFAULT_ROOT, parseGlobal } from "./global.ts";

Deno.test("parseGlobal: defaults", () => {
  const p = parseGlobal(["list"]);
  assert.equal(p.options.root, DEFAULT_ROOT);
  assert.equal(p.options.logFormat, "text");
  assert.equal(p.options.rootless, "auto");
  assert.equal(p.options.systemdCgroup, false);
  assert.equal(p.options.criu, undefined);
  assert.equal(p.options.log, undefined);
  assert.equal(p.command, "list");
});

Deno.test("parseGlobal: every global flag, then the command's own flags untouched", () => {
  const p = parseGlobal([
    "--root",
    "/r",
    "--log=/l",
    "--log-format",
    "json",
    "--debug",
    "--systemd-cgroup",
    "--rootless",
    "false",
    "--criu",
    "/c",
    "create",
    "--bundle",
    "/b",
    "id",
  ]);
  assert.equal(p.options.root, "/r");
  assert.equal(p.options.log, "/l");
  assert.equal(p.options.logger.file, "/l");
  assert.equal(p.options.logFormat, "json");
  assert.ok(p.options.debug && p.options.systemdCgroup);
  assert.equal(p.options.rootless, "false");
  assert.equal(p.options.criu, "/c");
  assert.equal(p.command, "create");
  assert.deepEqual(p.args, ["--bundle", "/b", "id"]);
  assert.ok(parseGlobal(["-v"]).version);
  assert.ok(parseGlobal(["-h"]).help);
});

Deno.test("parseGlobal: bad values", () => {
  assert.throws(() => parseGlobal(["--log-format", "xml", "list"]), /invalid log format "xml"/);
  assert.throws(() => parseGlobal(["--rootless", "maybe", "list"]), /--rootless/);
  assert.throws(() => parseGlobal(["--bogus", "list"]), /--bogus/);
});
