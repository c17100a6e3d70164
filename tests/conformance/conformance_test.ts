// The OCI runtime-spec conformance suite: one test per clause (clauses.ts), run against nsinit
// (dist/nsinit) and, where installed, runc, with the same bundle and separate state roots.
// Every result is recorded in .cache/conformance/spec.json; `deno run -A
// tests/conformance/report.ts` turns it into docs/conformance.md. A clause nsinit fails is a
// test failure unless the clause lists it as a known failure, which is printed and shown as an
// ignored step; runc's results are recorded, never asserted (where runc deviates from the
// spec, the spec wins and the report says so).
import { CLAUSES } from "./clauses.ts";
import {
  openSessions,
  type Outcome,
  runCheck,
  runtimes,
  runtimeVersion,
  type Session,
  treeSnapshot,
  writeResults,
} from "./harness.ts";
import { removeTestDir } from "../helpers/paths.ts";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import type { Bundle } from "../helpers/bundle.ts";

const ignore = skipUnless(isRoot(), "the conformance suite runs real containers: needs root");
const RUNTIMES = runtimes();

let opened: Promise<{ sessions: Session[]; bundle: Bundle }> | undefined;
let rootfsBefore: string[] = [];
const open = () =>
  opened ??= openSessions(RUNTIMES).then((o) => {
    rootfsBefore = treeSnapshot(o.sessions[0].base.root!.path);
    return o;
  });
const results: Record<string, Record<string, Outcome>> = {};
const versions: Record<string, string> = {};

addEventListener("unload", () => {
  // If the last test did not run (a --filter), still leave nothing behind.
  opened?.then(({ bundle }) => {
    try {
      Deno.removeSync(bundle.dir, { recursive: true });
    } catch {
      // gone
    }
  }).catch(() => {});
});

async function save(): Promise<void> {
  await writeResults("spec.json", {
    runtimes: versions,
    clauses: CLAUSES.filter((c) => results[c.id]).map((c) => ({
      id: c.id,
      file: c.file,
      section: c.section,
      level: c.level,
      quote: c.quote,
      ...(c.notes ? { notes: c.notes } : {}),
      ...(c.knownFailure ? { knownFailure: c.knownFailure } : {}),
      results: results[c.id],
    })),
  });
}

for (const clause of CLAUSES) {
  Deno.test({
    name: `OCI ${clause.file} ${clause.level}: ${clause.id}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      const { sessions } = await open();
      const got: Record<string, Outcome> = {};
      for (const s of sessions) {
        versions[s.name] ??= await runtimeVersion(s.runtime);
        got[s.name] = await runCheck(s, clause.check);
      }
      const mine = got.nsinit;
      if (clause.knownFailure) {
        if (mine.status === "fail") {
          mine.status = "known-failure";
          mine.note = `${clause.knownFailure} (${mine.note})`;
        } else if (mine.status === "pass") {
          mine.status = "fail";
          mine.note =
            `listed as a known failure (${clause.knownFailure}) but passes: remove the entry`;
        }
      }
      results[clause.id] = got;
      await save();
      for (const [name, o] of Object.entries(got)) {
        if (name !== "nsinit" && o.status === "fail") {
          console.error(`  ${name} deviates: ${o.note}`);
        }
      }
      if (mine.status === "known-failure") {
        console.error(`KNOWN FAILURE ${clause.id}: ${mine.note}`);
        await t.step({ name: `known failure: ${clause.knownFailure}`, ignore: true, fn() {} });
        return;
      }
      if (mine.status === "skip") {
        console.error(`skipped: ${clause.id}: ${mine.note}`);
        await t.step({ name: `skipped: ${mine.note}`, ignore: true, fn() {} });
        return;
      }
      if (mine.status === "fail") {
        throw new Error(`nsinit does not meet ${clause.file} "${clause.quote}": ${mine.note}`);
      }
    },
  });
}

Deno.test({
  name: "OCI conformance: results recorded, bundle removed",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (!opened) return;
    const { bundle, sessions } = await opened;
    await save();
    await removeTestDir(bundle.dir);
    opened = undefined;
    const rootfs = sessions[0].base.root!.path;
    const after = treeSnapshot(rootfs);
    const added = after.filter((p) => !rootfsBefore.includes(p));
    const removed = rootfsBefore.filter((p) => !after.includes(p));
    if (added.length + removed.length > 0) {
      throw new Error(
        `the shared rootfs ${rootfs} changed: added ${added.join(", ") || "-"}, ` +
          `removed ${removed.join(", ") || "-"}`,
      );
    }
  },
});
