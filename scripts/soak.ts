/**
 * `deno task soak`: containers created, run and deleted concurrently for 10 minutes from one
 * Deno process (the library) and from the CLI, checking that the runtime's file descriptors,
 * memory and threads stay flat and that nothing is left (tests/security/soak.ts).
 *
 *   deno task soak [--seconds 600] [--concurrency 100] [--cli-concurrency 100]
 *
 * Needs root. Exits 1 on a leak, a failed container, or anything left behind.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { flat, soak } from "../tests/security/soak.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "600" },
    concurrency: { type: "string", default: "100" },
    "cli-concurrency": { type: "string", default: "100" },
  },
});
const report = await soak({
  seconds: Number(values.seconds),
  concurrency: Number(values.concurrency),
  cliConcurrency: Number(values["cli-concurrency"]),
  log: (l) => console.log(l),
});
const first = report.samples[0], last = report.samples.at(-1);
console.log(
  `soak: ${report.library} containers from the library, ${report.cli} from the CLI; ` +
    `fds ${first?.fds} -> ${last?.fds}, rss ${(first?.rssKiB ?? 0) >> 10} -> ${
      (last?.rssKiB ?? 0) >> 10
    } MiB, threads ${first?.threads} -> ${last?.threads}`,
);
const problems = [
  ...flat(report.samples),
  ...report.leftovers.map((l) => `left behind: ${l}`),
  ...[...report.failures].map(([m, n]) => `${n} x failed: ${m}`),
];
for (const p of problems) console.log(`soak: ${p}`);
Deno.exit(problems.length > 0 ? 1 : 0);
