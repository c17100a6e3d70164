#!/usr/bin/env bash
# Installs CRIU 4.1.1 from Debian 13 (trixie) into a private prefix and puts a `criu` command on
# PATH that runs it. Idempotent and quiet: one line of output.
#
#   scripts/install_criu.sh            # prefix /opt/nsinit-criu, wrapper /usr/local/sbin/criu
#   NSINIT_CRIU_PREFIX=DIR NSINIT_CRIU_WRAPPER=FILE scripts/install_criu.sh
#
# Why not apt-get install: Debian 12's criu (3.17.1) fails on newer kernels ("Unexpected rt
# vDSO area bounds"), and trixie's needs libc6 2.38+, which cannot go over bookworm. So the
# packages are fetched with `apt-get download` from a PRIVATE sources list, package lists and
# cache in a temporary directory (the system's apt never sees trixie and nothing upgrades),
# unpacked with dpkg-deb -x into the prefix, and the wrapper runs the prefix's own dynamic
# loader with --library-path. libcriu-dev brings CRIU's RPC schema
# (<prefix>/usr/include/criu/rpc.proto), from which criu/rpc_pb.ts is generated
# (scripts/gen_criu_proto.sh).
# Needs root to install; as non-root it only checks.
set -euo pipefail

prefix=${NSINIT_CRIU_PREFIX:-/opt/nsinit-criu}
wrapper=${NSINIT_CRIU_WRAPPER:-/usr/local/sbin/criu}
version=4.1.1
suite=trixie
packages=(criu libcriu-dev libcompel1 libc6 libprotobuf-c1 libnftables1 libnl-3-200 libnet1
  libgnutls30t64 libbsd0 libuuid1 libmd0 libjansson4 libmnl0 libnftnl11 libxtables12 libidn2-0
  libp11-kit0 libtasn1-6 libunistring5 libnettle8t64 libhogweed6t64 libgmp10 libffi8 libedit2)

say() { echo "install_criu: $*"; }
die() {
  echo "install_criu: $*" >&2
  exit 1
}

# The wrapper's text: the loader and library path of the prefix, then CRIU with every argument
# (file descriptors pass through the exec unchanged, as `criu swrk <fd>` needs).
wrapper_text() {
  cat <<EOF
#!/bin/sh
# CRIU $version from Debian $suite, installed by nsinit's scripts/install_criu.sh into $prefix.
exec $prefix/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 \\
  --library-path $prefix/usr/lib/x86_64-linux-gnu:$prefix/lib/x86_64-linux-gnu \\
  $prefix/usr/sbin/criu "\$@"
EOF
}

installed_version() {
  [[ -x $wrapper ]] || return 0
  "$wrapper" --version 2>/dev/null | awk '/^Version:/ {print $2}'
}

# CRIU's default network lock for a container with its own network namespace runs
# iptables-restore: without it every such dump fails ("execvp(iptables-restore) failed").
if ! command -v iptables-restore >/dev/null && [[ $(id -u) == 0 ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables \
    </dev/null >/dev/null 2>&1 || die "apt-get install iptables failed (CRIU's network lock needs it)"
fi

if [[ $(installed_version) == "$version" && -f $prefix/usr/include/criu/rpc.proto ]] &&
  [[ $(cat "$wrapper") == "$(wrapper_text)" ]]; then
  say "criu $version present ($wrapper -> $prefix)"
  exit 0
fi
[[ $(id -u) == 0 ]] || die "criu $version missing at $wrapper (run as root to install)"
command -v apt-get >/dev/null || die "apt-get is missing (a Debian-based system is needed)"

tmp=$(mktemp -d /tmp/nsinit-criu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/etc/parts" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f $keyring ]] || die "$keyring is missing (package debian-archive-keyring)"
echo "deb [signed-by=$keyring] http://deb.debian.org/debian $suite main" >"$tmp/etc/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$tmp/etc/sources.list" -o "Dir::Etc::sourceparts=$tmp/etc/parts"
  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
  -o "Dir::Etc::preferences=/dev/null" -o "Dir::Etc::preferencesparts=$tmp/etc/parts"
  -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq </dev/null >"$tmp/update.log" 2>&1 ||
  die "apt-get update of the private $suite list failed: $(tail -3 "$tmp/update.log")"
(cd "$tmp/debs" && apt-get "${apt_opts[@]}" download -qq "${packages[@]}" </dev/null \
  >"$tmp/download.log" 2>&1) ||
  die "apt-get download failed: $(tail -3 "$tmp/download.log")"
got=$(dpkg-deb -f "$tmp"/debs/criu_*.deb Version)
[[ $got == "$version"* ]] || die "$suite offers criu $got, expected $version"

# Unpack into a fresh directory, then swap it in, so a failed install leaves the old one.
rm -rf "$prefix.new"
mkdir -p "$prefix.new"
for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$prefix.new"; done
rm -rf "$prefix.old"
[[ ! -e $prefix ]] || mv "$prefix" "$prefix.old"
mv "$prefix.new" "$prefix"
rm -rf "$prefix.old"
mkdir -p "$(dirname "$wrapper")"
wrapper_text >"$wrapper.tmp"
chmod 755 "$wrapper.tmp"
mv "$wrapper.tmp" "$wrapper"

[[ $(installed_version) == "$version" ]] || die "$wrapper --version does not report $version"
check=$("$wrapper" check 2>&1) || die "criu check failed: $(echo "$check" | tail -3)"
say "installed criu $version ($wrapper -> $prefix; criu check: $(echo "$check" | tail -1))"
