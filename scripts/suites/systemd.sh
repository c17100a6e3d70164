#!/usr/bin/env bash
# The systemd cgroup driver's end-to-end tests against a real systemd, on this host's cgroup v1
# (hybrid) layout: boots systemd in namespaces (scripts/systemd_ns.sh), runs tests/systemd/ inside
# it with `deno test`, powers it off and checks that it left nothing. The cgroup v2 run is
# scripts/suites/sdvm.sh (systemd as init of the qemu VM).
#
# Results: $NSINIT_RESULTS_DIR/systemd.json, source "systemd in namespaces (cgroup v1)".
# tests/systemd/: the driver end to end (CLI, systemctl, files, OOM, refusals, systemd not
# answering), the driver contract suite, podman and containerd with systemd cgroups.
# Time budget: NSINIT_SYSTEMD_SUITE_TIMEOUT seconds for the tests (default 600); the whole suite
# takes about 60 s.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
results=${NSINIT_RESULTS_DIR:-$repo/.cache/test-results}
mkdir -p "$results"
out=$results/systemd.json
source_name="systemd in namespaces (cgroup v1)"
name=suite-$$
log=$results/systemd.log
say() { echo "systemd suite: $*" >&2; }

fail() {
  say "$1"
  deno run --allow-write scripts/summary.ts record --out "$out" --source "$source_name" \
    --failed 1 --failure "$source_name: $1"
  exit 1
}

if ((EUID != 0)); then
  deno run --allow-write scripts/summary.ts record --out "$out" --source "$source_name" --skipped 1
  say "skipped: needs root"
  exit 0
fi
deno task build >/dev/null </dev/null || fail "deno task build failed"
bash scripts/make_rootfs.sh >/dev/null </dev/null || fail "scripts/make_rootfs.sh failed"

started=$SECONDS
pid=$(bash scripts/systemd_ns.sh start "$name") || fail "systemd did not boot in namespaces"
trap 'bash scripts/systemd_ns.sh stop "$name"' EXIT
say "systemd is up (pid $pid, $((SECONDS - started)) s); running tests/systemd/ inside it"
timeout -k 10 "${NSINIT_SYSTEMD_SUITE_TIMEOUT:-600}" bash scripts/systemd_ns.sh exec "$name" \
  env NSINIT_TEST_BIN="$repo/dist/nsinit" deno test -A --no-lock tests/systemd/ </dev/null 2>&1 |
  tee "$log"
rc=${PIPESTATUS[0]}
trap - EXIT
stop_ok=1
bash scripts/systemd_ns.sh stop "$name" || stop_ok=0
deno run --allow-read --allow-write scripts/summary.ts deno "$log" --source "$source_name" \
  --out "$out" --exit-code "$rc" || fail "could not read the tests' summary (exit $rc)"
((stop_ok)) || fail "stopping systemd left something behind"
say "done in $((SECONDS - started)) s"
exit "$rc"
