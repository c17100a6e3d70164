/**
 * `nsinit spec [--bundle DIR] [--rootless]`: writes runc's default config.json
 * (tab-indented, as runc writes it), refusing to overwrite one.
 *
 * @module
 */

import { join, resolve } from "../../util/path.ts";
import { defaultSpec } from "../../spec/default.ts";
import { bool, checkArgs, parseFlags, str } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";

/** Runs `nsinit spec`; resolves to the exit code. */
export async function run(args: string[], _g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    bundle: { type: "string", short: "b" },
    rootless: { type: "boolean" },
  });
  checkArgs("spec", positionals, 0, "exact");
  const bundle = str(values, "bundle");
  const dir = bundle ? resolve(bundle) : Deno.cwd();
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Error(`chdir ${bundle}: not a directory`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`chdir ${bundle}: no such file or directory`);
    }
    throw e;
  }
  const text = JSON.stringify(defaultSpec({ rootless: bool(values, "rootless") }), null, "\t");
  try {
    await Deno.writeTextFile(join(dir, "config.json"), text, { createNew: true, mode: 0o666 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new Error("File config.json exists. Remove it first");
    }
    throw e;
  }
  return 0;
}
