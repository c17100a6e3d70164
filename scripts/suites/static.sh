#!/usr/bin/env bash
# Static checks, one result each: type-check, lint, formatting, and the public API's
# documentation (`deno doc --lint mod.ts`: every export documented).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
passed=0
failed=0
failures=()
check() {
  local name=$1
  shift
  if "$@" >/tmp/nsinit-static-$$.log 2>&1; then
    passed=$((passed + 1))
    echo "static: $name ok"
  else
    failed=$((failed + 1))
    failures+=(--failure "$name")
    echo "static: $name FAILED"
    sed 's/^/  /' /tmp/nsinit-static-$$.log | tail -40
  fi
  rm -f /tmp/nsinit-static-$$.log
}
check "deno task check" deno task check
check "deno lint" deno lint
check "deno fmt --check" deno fmt --check
check "deno doc --lint mod.ts" deno doc --lint mod.ts
deno run --allow-read --allow-write scripts/summary.ts record --out "$NSINIT_RESULTS_DIR/static.json" \
  --source static --passed "$passed" --failed "$failed" "${failures[@]}"
((failed == 0))
