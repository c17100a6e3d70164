#!/usr/bin/env bash
# The checkpoint/restore tests on a second kernel: the cgroup v2 VM (scripts/v2vm) boots
# Debian's kernel, which tracks dirty memory (CONFIG_MEM_SOFT_DIRTY, missing on the CI kernel),
# so pre-dumps can run there, and restore goes through the cgroup v2 driver. It runs every file
# of tests/checkpoint/ and the client's and the manager's checkpoint tests: where CRIU cannot dump
# on the host's kernel (it hangs on 6.18.44-fc-v1045: tests/helpers/criu_probe.ts), the host
# skips them all and this is where they run. Needs CRIU installed (scripts/install_criu.sh;
# scripts/v2vm/build.sh packs it into the VM); without it the tests skip themselves. Results:
# "vm criu" in criu_vm.json. Time: about 9 minutes (boot ~20 s, CRIU and each CLI start under
# software emulation), within its 2400 s timeout.
# The test containers have their own network namespace there too: the VM carries iproute2's `ip`,
# iptables (nft and legacy) and the nf_conntrack_netlink module, which CRIU's dump of one needs.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
# The VM has no compiler: build the tests' memory-holding program here.
mkdir -p .cache/checkpoint
if [[ ! .cache/checkpoint/memhold -nt tests/checkpoint/memhold.c ]]; then
  cc -static -O2 -o .cache/checkpoint/memhold.tmp tests/checkpoint/memhold.c &&
    mv .cache/checkpoint/memhold.tmp .cache/checkpoint/memhold
fi
NSINIT_V2VM_RESULT=criu_vm NSINIT_V2VM_SOURCE="vm criu" NSINIT_V2VM_TIMEOUT=${NSINIT_V2VM_TIMEOUT:-2400} \
  exec bash scripts/v2vm/run.sh tests/checkpoint/ tests/client/checkpoint_test.ts \
  tests/manager/checkpoint_test.ts
