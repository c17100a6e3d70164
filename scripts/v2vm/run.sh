#!/usr/bin/env bash
# Runs tests inside a qemu VM whose only cgroup hierarchy is cgroup2 with controllers (see
# README.md in this directory).
#
#   scripts/v2vm/run.sh [deno test args...]
#
# Without arguments the VM runs `deno test -A --no-check --no-lock` on the v2 tests: tests/v2/,
# drivers/cgroupfs_v2_test.ts, drivers/contract_test.ts (the driver contract suite) and
# cgroups/devicefilter_test.ts. With arguments, `deno test -A
# --no-check --no-lock ARGS...` (paths relative to the repository, which the VM mounts from
# the host over virtio-9p at the same path).
#
# Before booting: builds the initramfs (scripts/v2vm/build.sh), the native helper (deno task
# build) and the busybox rootfs (scripts/make_rootfs.sh) on the host, since the VM has no
# compiler and no network.
#
# Results: the counts go to $NSINIT_RESULTS_DIR/v2vm.json (default .cache/test-results), in the
# format scripts/summary.ts sums, under the source name "vm cgroup2"; the tests' own output is
# printed, and kept in .cache/v2vm/run/output.log (the serial console in console.log).
# Exit status: 0 only if the VM booted and every test passed.
#
# Environment: NSINIT_V2VM_TIMEOUT (seconds for the whole VM run, default 900),
# NSINIT_V2VM_MEM (MiB, default 2048), NSINIT_V2VM_CPUS (default 2), NSINIT_V2VM_RESULT (the
# results file's name, default v2vm) and NSINIT_V2VM_SOURCE (its source name, "vm cgroup2").
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
results=${NSINIT_RESULTS_DIR:-$repo/.cache/test-results}
mkdir -p "$results"
out=$results/${NSINIT_V2VM_RESULT:-v2vm}.json
source_name=${NSINIT_V2VM_SOURCE:-vm cgroup2}
say() { echo "v2vm: $*" >&2; }

# fail TEXT: records one failure and exits 1.
fail() {
  say "$1"
  deno run --allow-read --allow-write scripts/summary.ts record --out "$out" --source "$source_name" \
    --failed 1 --failure "$source_name: $1" ||
    printf '{"source":"%s","passed":0,"failed":1,"skipped":0}\n' "$source_name" >"$out"
  exit 1
}

started=$SECONDS
vm=$(bash scripts/v2vm/build.sh) || fail "building the VM image failed (scripts/v2vm/build.sh)"
kernel=$(cat "$vm/kernel")
deno task build >/dev/null </dev/null || fail "deno task build failed"
bash scripts/make_rootfs.sh >/dev/null </dev/null || fail "scripts/make_rootfs.sh failed"

# --exec CMD...: run CMD in the VM instead of deno test (e.g. the benchmark); its exit code is
# the result, and no test counts are written.
exec_mode=0
if [[ ${1:-} == --exec ]]; then
  exec_mode=1
  shift
  args=("$@")
elif (($# > 0)); then
  args=("$@")
else
  args=(tests/v2/ drivers/cgroupfs_v2_test.ts drivers/contract_test.ts cgroups/devicefilter_test.ts)
fi
run=$vm/run
rm -rf "$run"
mkdir -p "$run"
# npm packages (the protobuf runtime of criu/) cannot be fetched in the VM: cache them here
# and copy them into the VM's DENO_DIR (a tmpfs) before the tests.
DENO_DIR=$vm/deno-dir deno cache --no-lock criu/proto.ts >/dev/null 2>&1 </dev/null ||
  fail "deno cache of the npm packages failed"
{
  echo "# written by scripts/v2vm/run.sh; run by the VM's /init in the repository"
  printf 'mkdir -p "$DENO_DIR" && cp -a %q/npm "$DENO_DIR/"\n' "$vm/deno-dir"
  if ((exec_mode)); then
    printf 'exec'
  else
    printf 'exec deno test -A --no-check --no-lock'
  fi
  printf ' %q' "${args[@]}"
  echo
} >"$run/cmd.sh"

say "booting $(basename "$kernel") under qemu (software emulation), then: deno test ${args[*]}"
# panic=-1 plus -no-reboot: a kernel panic ends qemu instead of hanging.
timeout -k 10 "${NSINIT_V2VM_TIMEOUT:-900}" qemu-system-x86_64 \
  -machine q35 -cpu max -m "${NSINIT_V2VM_MEM:-2048}" -smp "${NSINIT_V2VM_CPUS:-2}" \
  -nic none -display none -monitor none -serial stdio -no-reboot \
  -kernel "$kernel" -initrd "$vm/initramfs.cpio" \
  -append "console=ttyS0 quiet panic=-1 no_timer_check nsinit.repo=$repo" \
  -virtfs "local,path=$repo,mount_tag=repo,security_model=none,id=repo" \
  </dev/null >"$run/console.log" 2>&1 &
qemu=$!
trap 'kill -- "$qemu" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
wait "$qemu"
qemu_rc=$?
trap - EXIT
grep -a '^v2vm-init:' "$run/console.log" >&2

[[ -f $run/output.log ]] && cat "$run/output.log"
if [[ ! -f $run/rc ]]; then
  tail -n 30 "$run/console.log" >&2
  if ((qemu_rc == 124)); then
    fail "the VM did not finish within ${NSINIT_V2VM_TIMEOUT:-900} s"
  fi
  fail "the VM did not run the tests (qemu exit code $qemu_rc; see .cache/v2vm/run/console.log)"
fi
rc=$(cat "$run/rc")
if ((exec_mode)); then
  say "finished in $((SECONDS - started)) s (exit code $rc)"
  exit "$rc"
fi
deno run --allow-read --allow-write scripts/summary.ts deno "$run/output.log" \
  --source "$source_name" --out "$out" --exit-code "$rc" ||
  fail "could not read the test summary"
say "finished in $((SECONDS - started)) s (deno test exit code $rc)"
((rc == 0))
