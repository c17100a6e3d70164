#!/usr/bin/env bash
# The cgroup v2 tests, on a real cgroup v2 host: a VM under qemu (scripts/v2vm/README.md).
exec bash scripts/v2vm/run.sh
