import assert from "node:assert/strict";
import { mergeResults, renderMarkdown, type Results } from "./report.ts";
import { makeTempDir } from "../helpers/paths.ts";

const RESULTS: Results = {
  runtimes: { nsinit: "nsinit version 0.1.0", runc: "runc version 1.1.5" },
  clauses: [
    {
      id: "runtime/delete/not-stopped",
      file: "runtime.md",
      section: "Delete",
      level: "MUST",
      quote:
        "Attempting to `delete` a container that is not `stopped` MUST ... | generate an error.",
      notes: "runc deletes created containers.",
      results: {
        nsinit: { status: "pass" },
        runc: { status: "fail", note: "delete of a created container: exit 0" },
      },
    },
    {
      id: "config-linux/devices/existing-file",
      file: "config-linux.md",
      section: "Devices",
      level: "MUST",
      quote: "If a file already exists at `path` ...",
      knownFailure: "fs_mknod replaces the file",
      results: { nsinit: { status: "known-failure", note: "replaced" }, runc: { status: "fail" } },
    },
  ],
  clients: {
    podman: {
      client: "podman 4.3.1",
      operations: [{ operation: "podman run", runtimeCommands: "create; start", status: "pass" }],
    },
    containerd: { client: "containerd", skipped: "not installed", operations: [] },
  },
};

Deno.test("report: one row per clause with both runtimes, known failures, clients", () => {
  const md = renderMarkdown(RESULTS);
  const rows = md.split("\n").filter((l) =>
    l.startsWith("| runtime.md") || l.startsWith("| config-linux.md")
  );
  assert.equal(rows.length, 2);
  assert.match(rows[0], /\| pass \| \*\*FAIL\*\* \|/);
  assert.match(rows[0], /MUST \.\.\. \\\| generate/, "pipes in quotes are escaped");
  assert.match(rows[0], /runc: delete of a created container: exit 0/);
  assert.match(rows[1], /\*\*known failure\*\*/);
  assert.match(md, /## Known failures[\s\S]*fs_mknod replaces the file/);
  assert.match(md, /- nsinit: 1 pass, 0 fail, 1 known failure, 0 skipped, of 2 clauses\./);
  assert.match(md, /### podman 4\.3\.1\n\n\| Operation/);
  assert.match(md, /\| podman run \| `create; start` \| pass \|/);
  assert.match(md, /### containerd\n\nSkipped: not installed/);
});

Deno.test("report: recorded files replace their part of the previous results", async () => {
  await using dir = await makeTempDir("report");
  await Deno.writeTextFile(
    `${dir.path}/podman.json`,
    JSON.stringify({ client: "podman 5", operations: [] }),
  );
  const merged = await mergeResults(dir.path, RESULTS);
  assert.equal(merged.clauses.length, 2, "no spec.json: clauses kept");
  assert.equal(merged.clients.podman.client, "podman 5");
  assert.equal(merged.clients.containerd.skipped, "not installed");
});
