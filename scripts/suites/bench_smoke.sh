#!/usr/bin/env bash
# The benchmark must keep working (it is not a test of speed: numbers are never asserted):
# `deno task bench --quick` runs every measurement a few times and writes its report to
# .cache/bench/quick/. One result: it ran to the end, or it did not.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
if timeout 600 deno task bench --quick </dev/null >.cache/bench-smoke.log 2>&1; then
  echo "bench_smoke: deno task bench --quick ran ($(tail -n 1 .cache/bench-smoke.log))"
  deno run --allow-read --allow-write scripts/summary.ts record \
    --out "$NSINIT_RESULTS_DIR/bench_smoke.json" --source "bench smoke" --passed 1
else
  echo "bench_smoke: deno task bench --quick FAILED; its log:"
  tail -n 40 .cache/bench-smoke.log | sed 's/^/  /'
  deno run --allow-read --allow-write scripts/summary.ts record \
    --out "$NSINIT_RESULTS_DIR/bench_smoke.json" --source "bench smoke" --failed 1 \
    --failure "deno task bench --quick failed"
  exit 1
fi
