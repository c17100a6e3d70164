import assert from "node:assert/strict";
import { runcState } from "./oci_state.ts";

Deno.test("runcState: runc's field order; empty annotations dropped", () => {
  const s = runcState({
    owner: "",
    created: "c",
    rootfs: "/r",
    bundle: "/b",
    status: "running",
    pid: 3,
    id: "x",
    ociVersion: "1.0.2",
    annotations: {},
  });
  assert.equal(
    JSON.stringify(s),
    '{"ociVersion":"1.0.2","id":"x","pid":3,"status":"running","bundle":"/b","rootfs":"/r","created":"c","owner":""}',
  );
});
