import assert from "node:assert/strict";
import { tabulate } from "./table.ts";

Deno.test("tabulate: Go tabwriter(12, 1, 3) layout as runc list prints it", () => {
  const created = "2026-11-22T09:25:41.937012566Z";
  const text = tabulate([
    ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
    ["c1", "12011", "created", "/tmp/rb", created, "root"],
  ]);
  // Captured from runc 1.1.5 `runc list`.
  assert.equal(
    text,
    "ID          PID         STATUS      BUNDLE      CREATED                          OWNER\n" +
      "c1          12011       created     /tmp/rb     2026-11-22T09:25:41.937012566Z   root\n",
  );
  assert.equal(tabulate([["A", "B"]]), "A           B\n");
});
