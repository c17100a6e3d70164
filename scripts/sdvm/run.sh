#!/usr/bin/env bash
# Runs tests inside the systemd VM: Debian's kernel under qemu, systemd 252 as PID 1 on cgroup v2
# (see README.md in this directory).
#
#   scripts/sdvm/run.sh [deno test args...]
#
# Default: tests/systemd/library_test.ts and tests/systemd/contract_test.ts, the library-level
# tests (each CLI command costs ~20 s under software emulation, so the CLI and client tests run
# in the systemd-in-namespaces suite only).
#
# Results go to $NSINIT_RESULTS_DIR/sdvm.json (source "vm systemd cgroup2"); the tests' output is
# printed and kept in .cache/sdvm/run/output.log, the serial console in console.log.
# Exit status: 0 only if the VM booted and every test passed. Environment: NSINIT_SDVM_TIMEOUT
# (seconds for the whole VM run, default 600), NSINIT_SDVM_MEM (MiB, 2048), NSINIT_SDVM_CPUS (2).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
results=${NSINIT_RESULTS_DIR:-$repo/.cache/test-results}
mkdir -p "$results"
out=$results/sdvm.json
source_name="vm systemd cgroup2"
say() { echo "sdvm: $*" >&2; }
fail() {
  say "$1"
  deno run --allow-read --allow-write scripts/summary.ts record --out "$out" --source "$source_name" \
    --failed 1 --failure "$source_name: $1"
  exit 1
}

started=$SECONDS
vm=$(bash scripts/sdvm/build.sh) || fail "building the VM failed (scripts/sdvm/build.sh)"
deno task build >/dev/null </dev/null || fail "deno task build failed"
bash scripts/make_rootfs.sh >/dev/null </dev/null || fail "scripts/make_rootfs.sh failed"
args=("$@")
((${#args[@]} > 0)) || args=(tests/systemd/library_test.ts tests/systemd/contract_test.ts
  tests/systemd/user_manager_test.ts)
# Transpiled modules for the VM (it copies this DENO_DIR to a tmpfs): nsinit and the tests.
mapfile -t test_files < <(find "${args[@]}" -name '*_test.ts' 2>/dev/null)
DENO_DIR=$vm/deno-dir deno cache --no-lock nsinit/main.ts "${test_files[@]}" >/dev/null 2>&1 ||
  say "could not fill $vm/deno-dir (the VM will transpile everything itself)"
run=$vm/run
rm -rf "$run"
mkdir -p "$run"
# The VM runs a tmpfs copy of the repository (sources, dist/, .cache/rootfs) and of the DENO_DIR.
tar -cf "$run/repo.tar" --exclude=./.git --exclude=./.cache --exclude=./node_modules . \
  .cache/rootfs || fail "cannot pack the repository for the VM"
tar -cf "$run/deno-dir.tar" -C "$vm/deno-dir" . || fail "cannot pack the DENO_DIR for the VM"
{
  echo "# written by scripts/sdvm/run.sh; run by nsinit-test.service in the VM"
  printf 'exec env NSINIT_TEST_BIN=%q deno test -A --no-check --no-lock' "$repo/dist/nsinit"
  printf ' %q' "${args[@]}"
  echo
} >"$run/cmd.sh"

say "booting systemd under qemu (software emulation), then: deno test ${args[*]}"
timeout -k 10 "${NSINIT_SDVM_TIMEOUT:-600}" qemu-system-x86_64 \
  -machine q35 -cpu max -m "${NSINIT_SDVM_MEM:-2048}" -smp "${NSINIT_SDVM_CPUS:-2}" \
  -nic none -display none -monitor none -serial stdio -no-reboot \
  -kernel "$(cat "$vm/kernel")" -initrd "$vm/initramfs.cpio" \
  -append "console=ttyS0 quiet panic=-1 nsinit.repo=$repo systemd.unit=nsinit-test.target systemd.unified_cgroup_hierarchy=1 systemd.show_status=0" \
  -drive "file=$vm/root.img,if=virtio,format=raw,snapshot=on" \
  -virtfs "local,path=$repo,mount_tag=repo,security_model=none,id=repo" \
  </dev/null >"$run/console.log" 2>&1 &
qemu=$!
trap 'kill -- "$qemu" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
wait "$qemu"
qemu_rc=$?
trap - EXIT
grep -a 'sdvm-init:' "$run/console.log" >&2
[[ -f $run/output.log ]] && cat "$run/output.log"
if [[ ! -f $run/rc ]]; then
  tail -n 30 "$run/console.log" >&2
  ((qemu_rc == 124)) && fail "the VM did not finish within ${NSINIT_SDVM_TIMEOUT:-600} s"
  fail "the VM did not run the tests (qemu exit code $qemu_rc; see $run/console.log)"
fi
rc=$(cat "$run/rc")
deno run --allow-read --allow-write scripts/summary.ts deno "$run/output.log" \
  --source "$source_name" --out "$out" --exit-code "$rc" || fail "could not read the test summary"
say "finished in $((SECONDS - started)) s (deno test exit code $rc)"
((rc == 0))
