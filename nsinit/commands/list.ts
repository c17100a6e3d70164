/**
 * `nsinit list [--format table|json] [--quiet]`: the containers under the root,
 * as runc lists them (a tab-aligned table, a JSON array of states, or ids).
 *
 * @module
 */

import { join } from "../../util/path.ts";
import { Factory } from "../../core/factory.ts";
import type { OciState } from "../../core/container.ts";
import { bool, checkArgs, parseFlags, str, UsageError } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import { print } from "../log.ts";
import { runcState } from "../oci_state.ts";
import { tabulate } from "../table.ts";

/** Runs `nsinit list`; resolves to the exit code. */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    format: { type: "string", short: "f" },
    quiet: { type: "boolean", short: "q" },
  });
  checkArgs("list", positionals, 0, "exact");
  const format = str(values, "format") ?? "table";
  if (format !== "table" && format !== "json") throw new UsageError("invalid format option");

  const factory = new Factory({ root: g.root });
  const states: OciState[] = [];
  const users = passwd();
  for (const id of await factory.list()) {
    const dir = join(factory.root, id);
    try {
      // A directory without state.json is a create that was killed before it wrote one:
      // `state` reports it (stopped), so list does too, and `delete --force` removes it.
      let uid: number;
      try {
        uid = Deno.statSync(join(dir, "state.json")).uid ?? 0;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        uid = Deno.statSync(dir).uid ?? 0;
      }
      const container = await factory.load(id);
      states.push(runcState(await container.state(), users.get(uid) ?? `#${uid}`));
    } catch (e) {
      g.logger.warn(`load container ${id}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  if (bool(values, "quiet")) {
    print(states.map((s) => s.id + "\n").join(""));
  } else if (format === "json") {
    // runc encodes an empty list as null.
    print(JSON.stringify(states.length > 0 ? states : null) + "\n");
  } else {
    const rows = states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]);
    print(tabulate([["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], ...rows]));
  }
  return 0;
}

/** User names by uid, from /etc/passwd. */
function passwd(): Map<number, string> {
  const users = new Map<number, string>();
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const [name, , uid] = line.split(":");
      if (name && uid !== undefined && /^\d+$/.test(uid) && !users.has(Number(uid))) {
        users.set(Number(uid), name);
      }
    }
  } catch {
    // no passwd file: owners print as #uid
  }
  return users;
}
