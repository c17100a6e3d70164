#!/usr/bin/env bash
# Installs what the tests need, idempotently and quietly; one line of output per step.
#
#   scripts/install_test_deps.sh
#
# Steps:
#   apt      Debian packages (apt-get update only when the package lists are missing)
#   deno     deno 2.9.6 on PATH (npm install -g deno@2.9.6 when missing or another version)
#   user     the unprivileged test user nsinit-test, with /etc/subuid and /etc/subgid ranges
#   access   the test user can reach the checkout (search bit on the directories above it)
#   clients  containerd and podman (scripts/install_client_deps.sh), for tests/clients
#   criu     CRIU 4.1.1 from Debian 13 in a private prefix + a `criu` wrapper on PATH
#            (scripts/install_criu.sh), for checkpoint/restore
#   rootfs   the busybox rootfs (scripts/make_rootfs.sh, default .cache/rootfs)
# The cgroup v2 VM's packages (qemu, a kernel) come from scripts/v2vm/build.sh; the systemd VM's
# (debootstrap, and Debian's systemd in its image) from scripts/sdvm/build.sh.
# Needs root for anything it has to install; as non-root it only checks.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
deno_version=2.9.6
test_user=nsinit-test
# systemd (its binary and libsystemd0's sd-bus) for the systemd driver's tests in namespaces
# (scripts/systemd_ns.sh); installing the package does not make it PID 1. apparmor for its
# apparmor_parser, which scripts/v2vm/build.sh packs into the VM (whose kernel runs AppArmor:
# tests/apparmor_test.ts loads a profile there); on a host without AppArmor it loads nothing.
# musl-tools: native/build.ts builds the per-container helper with musl-gcc when it is there
# (glibc's static start-up costs ~0.2 ms of cpuid traps per exec in a VM).
packages=(busybox-static runc uidmap libseccomp-dev gcc musl-tools make procps util-linux iproute2
  bubblewrap systemd libsystemd0 apparmor)

say() { echo "install_test_deps: $*"; }
die() {
  echo "install_test_deps: $*" >&2
  exit 1
}
is_root() { [[ $(id -u) == 0 ]]; }

# --- apt
missing=()
for p in "${packages[@]}"; do
  if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  say "apt: ${#packages[@]} packages present"
else
  is_root || die "apt: missing ${missing[*]} (run as root to install)"
  updated=""
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt-get update -qq </dev/null >/dev/null
    updated=" (after apt-get update)"
  fi
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null; then
    [[ -z $updated ]] || die "apt: could not install ${missing[*]}"
    # Stale package lists: refresh once and try again.
    apt-get update -qq </dev/null >/dev/null
    updated=" (after apt-get update)"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null ||
      die "apt: could not install ${missing[*]}"
  fi
  say "apt: installed ${missing[*]}$updated"
fi

# --- deno
have=""
if command -v deno >/dev/null; then
  have=$(deno --version 2>/dev/null | awk 'NR==1 {print $2}')
fi
if [[ $have == "$deno_version" ]]; then
  say "deno: $deno_version at $(command -v deno)"
else
  is_root || die "deno: found '${have:-none}', need $deno_version (npm install -g deno@$deno_version)"
  command -v npm >/dev/null || die "deno: npm is missing, cannot install deno@$deno_version"
  npm install -g --silent --no-fund --no-audit "deno@$deno_version" </dev/null >/dev/null
  hash -r
  now=$(deno --version 2>/dev/null | awk 'NR==1 {print $2}')
  [[ $now == "$deno_version" ]] ||
    die "deno: npm installed deno@$deno_version but '$(command -v deno)' reports '${now:-nothing}'"
  say "deno: installed $deno_version with npm (had '${have:-none}') at $(command -v deno)"
fi

# --- user
# The end of the highest subordinate range already allocated in FILE (at least 100000).
next_sub_start() {
  awk -F: 'BEGIN {m = 100000} NF >= 3 && $2 + $3 > m {m = $2 + $3} END {print m}' "$1" 2>/dev/null ||
    echo 100000
}
notes=()
if id "$test_user" >/dev/null 2>&1; then
  notes+=("exists")
else
  is_root || die "user: $test_user missing (run as root to create it)"
  useradd --create-home --shell /bin/sh --user-group "$test_user"
  notes+=("created")
fi
for kind in uid gid; do
  file=/etc/sub$kind
  if ! grep -q "^$test_user:" "$file" 2>/dev/null; then
    is_root || die "user: $test_user has no range in $file"
    start=$(next_sub_start "$file")
    usermod "--add-sub${kind}s" "$start-$((start + 65535))" "$test_user"
    notes+=("added sub$kind $start-$((start + 65535))")
  fi
done
say "user: $test_user (uid $(id -u "$test_user"); ${notes[*]})"

# --- access: the rootless tests run the checkout's code as the test user, so every directory
# above the repository must let that user pass through (a clone in a mktemp -d is 0700). Only
# the search bit is added, to the directories that lack it; nothing becomes listable.
if is_root && ! runuser -u "$test_user" -- test -r "$repo/mod.ts"; then
  opened=()
  d=$repo
  while :; do
    if ! runuser -u "$test_user" -- test -x "$d"; then
      chmod o+x "$d"
      opened+=("$d")
    fi
    [[ $d == / ]] && break
    d=$(dirname "$d")
  done
  runuser -u "$test_user" -- test -r "$repo/mod.ts" ||
    die "access: $test_user cannot read $repo/mod.ts (rootless tests would fail)"
  say "access: o+x on ${opened[*]:-nothing} so $test_user can read the checkout"
fi

# --- OCI clients (containerd, podman) for tests/clients
bash "$repo/scripts/install_client_deps.sh"

# --- CRIU for checkpoint/restore (criu/, tests/checkpoint)
bash "$repo/scripts/install_criu.sh"

# --- rootfs
say "rootfs: $(bash "$repo/scripts/make_rootfs.sh" | sed 's/^make_rootfs: //')"
