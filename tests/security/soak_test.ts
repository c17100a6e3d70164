// Churn, shortened for CI: `deno task soak` runs the same for 10 minutes with 100 containers
// in flight from the library and 100 from the CLI (NSINIT_SOAK_SECONDS and
// NSINIT_SOAK_CONCURRENCY change this test's size).
import assert from "node:assert/strict";
import { isRoot, skipUnless } from "../helpers/skip.ts";
import { flat, soak } from "./soak.ts";

const SECONDS = Number(Deno.env.get("NSINIT_SOAK_SECONDS") ?? "30");
const CONCURRENCY = Number(Deno.env.get("NSINIT_SOAK_CONCURRENCY") ?? "20");

Deno.test({
  name:
    `soak: ${SECONDS}s of churn (${CONCURRENCY} in flight from the library, 4 from the CLI): flat fds, memory, threads; nothing left`,
  ignore: skipUnless(isRoot(), "real containers need root"),
  async fn() {
    const report = await soak({ seconds: SECONDS, concurrency: CONCURRENCY, cliConcurrency: 4 });
    const first = report.samples[0], last = report.samples.at(-1);
    console.log(
      `soak: ${report.library} library + ${report.cli} CLI containers; fds ${first?.fds} -> ${last?.fds}, ` +
        `rss ${(first?.rssKiB ?? 0) >> 10} -> ${
          (last?.rssKiB ?? 0) >> 10
        } MiB, threads ${first?.threads} -> ${last?.threads}`,
    );
    assert.deepEqual([...report.failures], [], "containers failed");
    assert.deepEqual(report.leftovers, [], "left behind");
    assert.deepEqual(flat(report.samples), [], "resources grew");
    assert.ok(report.library > CONCURRENCY && report.cli > 0, "the soak ran too few containers");
  },
});
