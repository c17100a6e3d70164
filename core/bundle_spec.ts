/**
 * Reading an OCI bundle's spec: what a create, a run and a restore do first. Apart from
 * `factory.ts`, which the verbs a shim runs per container (`state`, `kill`, `start`,
 * `delete`) load, and which never read a bundle.
 *
 * @module
 */

import { join } from "../util/path.ts";
import { isDirectory } from "../util/fs.ts";
import type { Spec } from "../spec/config.ts";
import { ConfigError } from "../errors.ts";

/** Reads and validates `<bundle>/config.json`, with errors naming the file. */
export async function readBundleSpec(bundle: string): Promise<Spec> {
  const file = join(bundle, "config.json");
  let text: string;
  try {
    const st = await Deno.stat(bundle);
    if (!st.isDirectory) throw new ConfigError(bundle, "", "bundle is not a directory");
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new ConfigError(
        isDirectory(bundle) ? file : bundle,
        "",
        isDirectory(bundle) ? "no such file" : "bundle directory does not exist",
      );
    }
    throw e;
  }
  const { parseSpec } = await import("../spec/validate.ts");
  return parseSpec(text, file);
}
