#!/usr/bin/env bash
# Installs the real OCI clients the client tests drive (tests/clients/): Debian's containerd
# (with ctr) and podman; crun, the third runtime the OciRuntimeClient suite drives
# (tests/client/); and conmon, the monitor RuntimeManager's oci handlers start (manager/).
# Idempotent and quiet: one line of output.
#
#   scripts/install_client_deps.sh
#
# The packages' own services are not started here (the tests start a private containerd with
# its own root, state and socket, and podman runs without a service); if Debian's postinst
# started containerd's service through an init script, it is stopped again.
# Needs root to install; as non-root it only checks.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
packages=(containerd podman crun conmon)

say() { echo "install_client_deps: $*"; }
die() {
  echo "install_client_deps: $*" >&2
  exit 1
}

missing=()
for p in "${packages[@]}"; do
  if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  say "apt: ${packages[*]} present"
  exit 0
fi
[[ $(id -u) == 0 ]] || die "apt: missing ${missing[*]} (run as root to install)"

# Keep package scripts from starting services (no init system here, but be sure).
policy=/usr/sbin/policy-rc.d
made_policy=""
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  made_policy=1
fi
cleanup() { [[ -z $made_policy ]] || rm -f "$policy"; }
trap cleanup EXIT

updated=""
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  apt-get update -qq </dev/null >/dev/null
  updated=" (after apt-get update)"
fi
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null 2>&1; then
  [[ -z $updated ]] || die "apt: could not install ${missing[*]}"
  apt-get update -qq </dev/null >/dev/null
  updated=" (after apt-get update)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null 2>&1 ||
    die "apt: could not install ${missing[*]}"
fi
say "apt: installed ${missing[*]}$updated"
