/**
 * A manager SIGKILLed with five containers running under `oci` handlers (runc and dist/nsinit,
 * each with conmon): a new manager over the same root re-adopts the three still running (pid and
 * start time) and learns the real exit codes of the two that ended while no manager ran.
 */

import assert from "node:assert/strict";
import { RuntimeManager } from "../../manager/mod.ts";
import { isAlive } from "../../manager/proc.ts";
import { hasCommand, isRoot, makeBundle, REPO_ROOT, skipUnless } from "../helpers/mod.ts";

const NSINIT = `${REPO_ROOT}/dist/nsinit`;
const HANDLERS = {
  runc: { type: "oci", runtimePath: "runc" },
  nsinit: { type: "oci", runtimePath: NSINIT },
};

Deno.test({
  name:
    "manager: SIGKILLed with 5 oci containers running; a new manager re-adopts them and learns 2 real exit codes",
  ignore: skipUnless(isRoot(), "needs root") ||
    skipUnless(hasCommand("conmon"), "conmon is not installed (scripts/install_client_deps.sh)") ||
    skipUnless(hasCommand("runc"), "runc is not installed") ||
    skipUnless(hasCommand(NSINIT), "dist/nsinit is not built"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "nsinit-test-restart-" });
    const plan = [
      { handler: "runc", args: ["sleep", "1000"] },
      { handler: "nsinit", args: ["sleep", "1000"] },
      { handler: "runc", args: ["sleep", "1000"] },
      { handler: "runc", args: ["sh", "-c", "sleep 2; exit 42"], code: 42 },
      { handler: "nsinit", args: ["sh", "-c", "sleep 2; exit 43"], code: 43 },
    ];
    const bundles = await Promise.all(plan.map((p) => makeBundle({ args: p.args })));
    let m: RuntimeManager | undefined;
    try {
      const child = new Deno.Command("deno", {
        args: [
          "run",
          "-A",
          `${REPO_ROOT}/tests/manager/fixtures/manager_child.ts`,
          root,
          JSON.stringify(HANDLERS),
          ...bundles.map((b, i) => `${b.id}=${plan[i].handler}=${b.dir}`),
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      let out = "";
      while (!out.includes("ready")) {
        const r = await reader.read();
        if (r.done) {
          const err = await new Response(child.stderr).text();
          throw new Error(`the manager process ended before it was ready: ${err}`);
        }
        out += new TextDecoder().decode(r.value);
      }
      child.kill("SIGKILL");
      assert.equal((await child.status).signal, "SIGKILL");
      reader.releaseLock();
      await child.stdout.cancel();
      await child.stderr.cancel();

      // while no manager runs, two containers end
      const records = plan.map((_, i) =>
        JSON.parse(Deno.readTextFileSync(`${root}/containers/${bundles[i].id}.json`)) as {
          pid: number;
          startTime: string;
        }
      );
      const deadline = Date.now() + 20_000;
      while (
        [3, 4].some((i) => isAlive(records[i].pid, records[i].startTime)) && Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }

      m = await RuntimeManager.open({ root, runtimes: HANDLERS });
      for (const [i, p] of plan.entries()) {
        const st = await m.updateContainerStatus(bundles[i].id);
        if (p.code === undefined) {
          assert.equal(st.status, "running", `${bundles[i].id} under ${p.handler}`);
          assert.equal(st.pid, records[i].pid);
          const r = await m.execSyncContainer(bundles[i].id, ["echo", "still here"], 10);
          assert.equal(new TextDecoder().decode(r.stdout), "still here\n");
        } else {
          assert.equal(st.status, "stopped", `${bundles[i].id} under ${p.handler}`);
          assert.equal(st.exitCode, p.code);
          assert.ok(st.finished);
        }
      }
      for (const b of bundles.slice(0, 3)) {
        await m.stopContainer(b.id, 0);
        assert.equal((await m.updateContainerStatus(b.id)).exitCode, 137);
      }
    } finally {
      for (const b of bundles) await m?.deleteContainer(b.id).catch(() => {});
      await m?.close();
      await Promise.all(bundles.map((b) => b[Symbol.asyncDispose]()));
      await Deno.remove(root, { recursive: true });
    }
  },
});
