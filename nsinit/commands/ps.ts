/**
 * `nsinit ps [--format table|json] ID [PS_ARGS...]`: the container's processes.
 * JSON is the array of pids; the table is `ps` output (default `ps -ef`) cut down
 * to the header and the rows of the container's pids, as runc does.
 *
 * @module
 */

import { Factory } from "../../core/factory.ts";
import { checkArgs, parseFlags, str, UsageError } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { print } from "../log.ts";

/** Runs `nsinit ps`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, { format: { type: "string", short: "f" } });
  checkArgs("ps", positionals, 1, "min");
  const [id, ...psArgs] = positionals;
  const format = str(values, "format") ?? "table";
  if (format !== "table" && format !== "json") throw new UsageError("invalid format option");
  const container = await new Factory({ root: g.root }).load(id);
  const pids = await container.processes();
  if (format === "json") {
    // runc encodes an empty list as null.
    print(JSON.stringify(pids.length > 0 ? pids : null) + "\n");
    return 0;
  }
  const out = await new Deno.Command("ps", {
    args: psArgs.length > 0 ? psArgs : ["-ef"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    const text = (dec.decode(out.stdout) + dec.decode(out.stderr)).trim();
    throw new Error(`ps exited with code ${out.code}: ${text}`);
  }
  const lines = dec.decode(out.stdout).split("\n");
  const pidIndex = lines[0].trim().split(/\s+/).indexOf("PID");
  if (pidIndex < 0) throw new Error("couldn't find PID field in ps output");
  const wanted = new Set(pids);
  const keep = [lines[0]];
  for (const line of lines.slice(1)) {
    if (line.trim() === "") continue;
    const field = line.trim().split(/\s+/)[pidIndex];
    const pid = Number(field);
    if (!/^\d+$/.test(field ?? "")) {
      throw new Error(`unable to parse pid: ${JSON.stringify(field)}`);
    }
    if (wanted.has(pid)) keep.push(line);
  }
  print(keep.map((l) => l + "\n").join(""));
  return 0;
}
