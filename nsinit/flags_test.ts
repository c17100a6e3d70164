import assert from "node:assert/strict";
import { bool, checkArgs, list, parseFlags, str, uint, UsageError } from "./flags.ts";

const SPECS = {
  bundle: { type: "string", short: "b" },
  detach: { type: "boolean", short: "d" },
  tty: { type: "boolean", short: "t" },
  env: { type: "string", short: "e", multiple: true },
} as const;

Deno.test("parseFlags: both value forms, short flags, clusters, repeats", () => {
  const { values, positionals } = parseFlags(
    ["--bundle", "/a", "-e", "A=1", "--env=B=2", "-dt", "id", "x"],
    SPECS,
  );
  assert.equal(str(values, "bundle"), "/a");
  assert.deepEqual(list(values, "env"), ["A=1", "B=2"]);
  assert.ok(bool(values, "detach") && bool(values, "tty"));
  assert.deepEqual(positionals, ["id", "x"]);
  assert.equal(str(parseFlags(["-b/x", "id"], SPECS).values, "bundle"), "/x");
  assert.equal(str(parseFlags(["-b=/y", "id"], SPECS).values, "bundle"), "/y");
});

Deno.test("parseFlags: flags end at the first positional or --", () => {
  const r = parseFlags(["id", "sh", "-c", "--bundle"], SPECS);
  assert.deepEqual(r.positionals, ["id", "sh", "-c", "--bundle"]);
  assert.deepEqual(r.values, {});
  assert.deepEqual(parseFlags(["-d", "--", "-x"], SPECS).positionals, ["-x"]);
});

Deno.test("parseFlags: Go-style -long and --bool=false", () => {
  const r = parseFlags(["-bundle", "/b", "-detach=false", "--tty=true", "id"], SPECS);
  assert.equal(str(r.values, "bundle"), "/b");
  assert.equal(bool(r.values, "detach"), false);
  assert.equal(bool(r.values, "tty"), true);
});

Deno.test("parseFlags: errors are UsageErrors naming the flag", () => {
  assert.throws(() => parseFlags(["--nope"], SPECS), /flag provided but not defined: --nope/);
  assert.throws(() => parseFlags(["-x"], SPECS), UsageError);
  assert.throws(() => parseFlags(["--bundle"], SPECS), /flag needs an argument: --bundle/);
  assert.throws(() => parseFlags(["-b"], SPECS), /flag needs an argument: -b/);
  assert.throws(() => parseFlags(["--detach=maybe"], SPECS), /invalid boolean value/);
});

Deno.test("checkArgs and uint", () => {
  assert.throws(() => checkArgs("kill", [], 1, "min"), /"kill" requires a minimum of 1 argument/);
  assert.throws(() => checkArgs("kill", ["a", "b", "c"], 2, "max"), /maximum of 2/);
  assert.throws(() => checkArgs("list", ["x"], 0, "exact"), /exactly 0/);
  assert.equal(uint({ n: "3" }, "n"), 3);
  assert.throws(() => uint({ n: "-1" }, "n"), /--n/);
  assert.throws(() => uint({ n: "two" }, "n"), UsageError);
});
