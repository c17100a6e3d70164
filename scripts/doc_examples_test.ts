// Doc examples must be able to fail: `deno test --doc` (step 4b of scripts/test.sh) runs every
// example in the repository, and an example that "asserts" with console's assert method only
// prints. These tests keep that method out of the repository and prove, once, that a false
// assertion in an example fails the run.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;
// Spelled in two parts so this file does not match its own search.
const BANNED = ["console", "assert"].join(".");
const PRUNED = new Set([".git", ".cache", "dist", "node_modules"]);
const SCANNED = /\.(ts|tsx|js|mjs|md)$/;

function* sourceFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    if (PRUNED.has(e.name)) continue;
    const path = `${dir}${e.name}`;
    if (e.isDirectory) yield* sourceFiles(`${path}/`);
    else if (e.isFile && SCANNED.test(e.name)) yield path;
  }
}

Deno.test("no file the tests or doc examples run asserts with console's assert (it never throws)", () => {
  const found: string[] = [];
  for (const path of sourceFiles(ROOT)) {
    Deno.readTextFileSync(path).split("\n").forEach((line, i) => {
      if (line.includes(BANNED)) found.push(`${path.slice(ROOT.length)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, [], `use node:assert/strict instead of ${BANNED}:\n${found.join("\n")}`);
});

/** Runs `deno test --doc` on a module whose only example holds `body`; returns its exit code. */
async function docRun(body: string): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-doc-example-" });
  try {
    const example = [
      "```ts",
      'import assert from "node:assert/strict";',
      ...body.split("\n"),
      "```",
    ];
    await Deno.writeTextFile(
      `${dir}/m.ts`,
      `/**\n * Doubles.\n *\n * @example\n${
        example.map((l) => ` * ${l}`).join("\n")
      }\n */\nexport function double(n: number): number {\n  return n * 2;\n}\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--doc", "--no-config", "-A", `${dir}/m.ts`],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno test --doc fails on an example whose assertion is false, passes on a true one", async () => {
  const bad = await docRun('import { double } from "./m.ts";\nassert.equal(double(2), 5);');
  assert.notEqual(bad.code, 0, bad.output);
  assert.match(bad.output, /AssertionError/);
  const good = await docRun('import { double } from "./m.ts";\nassert.equal(double(2), 4);');
  assert.equal(good.code, 0, good.output);
  // Why the method above is banned: the same false claim through it passes the run.
  const printed = await docRun(`import { double } from "./m.ts";\n${BANNED}(double(2) === 5);`);
  assert.equal(printed.code, 0, printed.output);
});
