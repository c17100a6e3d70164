#!/usr/bin/env bash
# Builds the minimal busybox root filesystem the tests run containers in.
#
#   scripts/make_rootfs.sh [DIR]        (default DIR: <repo>/.cache/rootfs)
#
# Contents: bin/busybox (Debian's busybox-static) with a symlink per applet in bin/
# (plus the applet's usual path from `busybox --list-full`, e.g. usr/bin/env), /bin/sh,
# empty dev proc sys tmp etc root run var/tmp home/user, and a small /etc:
#   passwd  root:0, nobody:65534, user:1000 (group 1000, supplementary group 1001 "extra")
#   group   root:0, nogroup:65534, user:1000, extra:1001 (member: user)
#   hostname, hosts
# Idempotent: a stamp file (DIR/.nsinit-rootfs-stamp) holds the hash of the busybox
# binary and of this script; the tree is rebuilt only when either changed. The new tree
# is built beside DIR and swapped in with a rename, under a lock, so concurrent callers
# (parallel test processes) never see a half-built rootfs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$repo/.cache/rootfs}
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
dir=${dir%/}
busybox=/bin/busybox
stamp_name=.nsinit-rootfs-stamp

if [[ ! -x $busybox ]]; then
  echo "make_rootfs: $busybox missing, installing busybox-static" >&2
  if [[ ! -e /var/lib/apt/lists/lock ]] || ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static </dev/null >/dev/null
fi
banner=$("$busybox" 2>&1 | head -n1 || true)
if [[ $banner != BusyBox* ]]; then
  echo "make_rootfs: $busybox is not busybox ($banner)" >&2
  exit 1
fi

want=$( { sha256sum "$busybox"; sha256sum "${BASH_SOURCE[0]}"; } | awk '{print $1}' | sha256sum | awk '{print $1}')

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9

if [[ -f $dir/$stamp_name && $(cat "$dir/$stamp_name") == "$want" ]]; then
  echo "make_rootfs: $dir is up to date"
  exit 0
fi

tmp=$(mktemp -d "$dir.new.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc,root,run,var/tmp,home/user}
chmod 1777 "$tmp/tmp" "$tmp/var/tmp"
chmod 0700 "$tmp/root"
cp "$busybox" "$tmp/bin/busybox"
chmod 0755 "$tmp/bin/busybox"

# One symlink per applet in bin/, and at the applet's usual path too.
while read -r applet; do
  [[ -n $applet && $applet != busybox ]] || continue
  ln -sf busybox "$tmp/bin/$applet"
done < <("$busybox" --list)
while read -r path; do
  case $path in
  bin/* | "") continue ;;
  sbin/*) target=../bin/busybox ;;
  usr/bin/* | usr/sbin/*) target=../../bin/busybox ;;
  *) continue ;;
  esac
  [[ -e $tmp/$path || -L $tmp/$path ]] || ln -s "$target" "$tmp/$path"
done < <("$busybox" --list-full)
[[ -L $tmp/bin/sh ]] || ln -sf busybox "$tmp/bin/sh"

cat >"$tmp/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
user:x:1000:1000:user:/home/user:/bin/sh
EOF
cat >"$tmp/etc/group" <<'EOF'
root:x:0:
extra:x:1001:user
user:x:1000:
nogroup:x:65534:
EOF
echo nsinit >"$tmp/etc/hostname"
cat >"$tmp/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1	localhost
EOF
chown 1000:1000 "$tmp/home/user"
echo "$want" >"$tmp/$stamp_name"
chmod 0755 "$tmp"

# Swap in: the old tree (if any) is moved aside first, then removed.
if [[ -e $dir ]]; then
  old=$(mktemp -d "$dir.old.XXXXXX")
  mv -T "$dir" "$old/tree"
  mv -T "$tmp" "$dir"
  rm -rf -- "$old"
else
  mv -T "$tmp" "$dir"
fi
trap - EXIT
echo "make_rootfs: built $dir ($("$busybox" --list | wc -l) applets)"
