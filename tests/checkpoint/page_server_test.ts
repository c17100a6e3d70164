// Migration through a page server with the real CRIU: `checkpoint --page-server` sends the pages
// to a `criu page-server` (started and ended by pid here), and the merged images restore and
// count on. runc's checkpoint.bats ("checkpoint --page-server") is the model.
import assert from "node:assert/strict";
import { uniqueId } from "../helpers/ids.ts";
import {
  assertNothingLeft,
  ckptBundle,
  COUNTER_ARGS,
  criuBinary,
  freePort,
  ignoreCriu,
  imagePages,
  nsinitIn,
  readCounter,
  runDetached,
  startCriuDaemon,
  waitFor,
} from "./helpers.ts";

const criu = criuBinary() ?? "criu";

function pageFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /^pages-\d+\.img$/.test(n))
    .sort();
}

Deno.test({
  name:
    "page-server: checkpoint --page-server puts the pages on the page server; merged, they restore",
  ignore: ignoreCriu,
  async fn() {
    await using b = await ckptBundle({
      id: uniqueId("criu2-ps"),
      args: COUNTER_ARGS,
      readonlyRoot: false,
    });
    const n = nsinitIn(b);
    const local = `${b.dir}/img`, remote = `${b.dir}/remote`;
    await Deno.mkdir(remote);
    const port = freePort();
    await using server = await startCriuDaemon(criu, "page-server", remote, [
      "page-server",
      "--images-dir",
      remote,
      "--address",
      "127.0.0.1",
      "--port",
      String(port),
    ]);
    await runDetached(b, n);
    try {
      await waitFor(() => readCounter(b) >= 3, "the counter to start");
      const c = await n([
        "checkpoint",
        "--page-server",
        `127.0.0.1:${port}`,
        "--image-path",
        local,
        b.id,
      ]);
      assert.equal(c.code, 0, c.stderr);
      // The pages went to the page server; the rest of the images stayed here.
      assert.notDeepEqual(pageFiles(remote), [], "no page files on the page server");
      assert.ok(imagePages(remote) > 0, "the page server's page files are empty");
      assert.equal(imagePages(local), 0, `pages were written locally: ${pageFiles(local)}`);
      assert.ok(Deno.statSync(`${local}/inventory.img`).isFile);
      // The one-shot page server ends when the dump closes its connection.
      await waitFor(() => !server.alive(), "the page server to end after the dump");
      assert.notEqual((await n(["state", b.id])).code, 0, "the container is still there");
    } finally {
      await n(["delete", "--force", b.id]);
    }
    const at = readCounter(b);
    // Merge, as a migration does: the page server's files join the local images.
    for (const e of Deno.readDirSync(remote)) {
      if (e.isFile && e.name.endsWith(".img")) {
        await Deno.copyFile(`${remote}/${e.name}`, `${local}/${e.name}`);
      }
    }
    const r = await n(["restore", "-d", "--image-path", local, "--bundle", b.dir, b.id]);
    try {
      assert.equal(r.code, 0, r.stderr);
      await waitFor(() => readCounter(b) >= at + 5, "the restored counter to go on");
      const now = readCounter(b);
      assert.ok(now < at + 200, `counter ${at} -> ${now}: restarted, not resumed`);
    } finally {
      await n(["delete", "--force", b.id]);
    }
    assertNothingLeft(b, b.id);
  },
});
