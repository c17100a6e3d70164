#!/usr/bin/env bash
# AppArmor for real: the development and CI hosts run no LSM, so process.apparmorProfile (the
# init's and exec's) and a CRIU restore's --lsm-profile apparmor:NAME are tested in the cgroup v2
# VM (scripts/v2vm), whose Debian kernel enables AppArmor. scripts/v2vm/build.sh packs
# apparmor_parser (Debian's apparmor package, from scripts/install_test_deps.sh) and the VM's /init
# mounts securityfs; tests/apparmor_test.ts loads its profiles there and removes them. Without the
# package (or CRIU, for the restore) the tests skip themselves, with the reason.
# Results: "vm apparmor" in apparmor_vm.json. Time: about 1.5 minutes (boot ~10 s, one deno start,
# one CRIU dump and restore; 89 s measured), within its 300 s timeout.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
NSINIT_V2VM_RESULT=apparmor_vm NSINIT_V2VM_SOURCE="vm apparmor" \
  NSINIT_V2VM_TIMEOUT=${NSINIT_V2VM_TIMEOUT:-300} \
  exec bash scripts/v2vm/run.sh tests/apparmor_test.ts
