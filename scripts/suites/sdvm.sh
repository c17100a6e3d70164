#!/usr/bin/env bash
# The systemd driver on cgroup v2: the qemu VM with systemd as init (scripts/sdvm/README.md).
# Time budget: NSINIT_SDVM_TIMEOUT (default 600 s) for the VM; it takes 2 to 4 minutes (the
# rootless user-manager test, tests/systemd/user_manager_test.ts, is 40 to 85 s of them), the
# first build (debootstrap) a few minutes more.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../sdvm/run.sh"
