#!/usr/bin/env bash
# Builds the systemd test VM (see README.md in this directory): Debian bookworm with systemd as
# init on cgroup v2, its root an ext4 image (booted with qemu's -snapshot: never changed).
#
#   scripts/sdvm/build.sh            prints the directory holding root.img, initramfs.cpio, kernel
#
# 1. The kernel, qemu and busybox come from scripts/v2vm/build.sh (apt-get, once).
# 2. root/: `debootstrap --variant=minbase --include=systemd,procps` from Debian's archive (once,
#    ~250 MB, a few minutes), then this script's additions (rewritten on every build, cheap): the
#    host's deno at its host path (dist/nsinit's launcher names it), the test unit, a hostname.
#    root.img: an ext4 image of root/ (mkfs.ext4 -d), remade when root/'s additions change.
# 3. initramfs.cpio: busybox, the virtio-blk, ext4 and virtio-9p modules and an /init that mounts
#    the root image and the repository (9p, at its host path) and switch_roots into systemd.
#    (A 9p root made systemd take minutes to boot under software emulation.)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$repo/.cache/sdvm
mkdir -p "$out"
say() { echo "sdvm: $*" >&2; }

# --- 1. kernel, qemu, busybox
v2=$(bash "$repo/scripts/v2vm/build.sh")
kernel=$(cat "$v2/kernel")
kver=${kernel#/boot/vmlinuz-}
command -v debootstrap >/dev/null || {
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
    </dev/null >&2
}

# --- 2. the root filesystem
root=$out/root
if [[ ! -x $root/lib/systemd/systemd ]]; then
  say "debootstrap bookworm (minbase + systemd) into $root (once; a few minutes)"
  rm -rf "$root.tmp"
  mirror=${NSINIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  if ! debootstrap --variant=minbase --include=systemd,procps,libseccomp2,dbus,libpam-systemd bookworm "$root.tmp" \
    "$mirror" >"$out/debootstrap.log" 2>&1; then
    tail -n 20 "$out/debootstrap.log" >&2
    rm -rf "$root.tmp"
    say "debootstrap failed (log: $out/debootstrap.log)"
    exit 1
  fi
  mv "$root.tmp" "$root"
fi
# The system bus: a user manager (systemd --user) asks PID 1 over it to move a process it may not
# move itself into its scope (the rootless systemd driver); pam_systemd gives the user manager its
# $XDG_RUNTIME_DIR. Roots made before they were included get them from the host's apt (bookworm).
have=$(chroot "$root" dpkg-query -W -f='${Status}\n' dbus libpam-systemd 2>/dev/null |
  grep -c 'ok installed')
if [[ $have != 2 ]]; then
  say "adding dbus and libpam-systemd to $root"
  rm -rf "$root/tmp/debs"
  mkdir -p "$root/tmp/debs"
  (cd "$root/tmp/debs" && apt-get download -qq dbus dbus-bin dbus-daemon dbus-session-bus-common \
    dbus-system-bus-common libdbus-1-3 libexpat1 libpam-systemd systemd-sysv >/dev/null 2>&1)
  chroot "$root" sh -c 'dpkg -i /tmp/debs/*.deb' >"$out/dbus.log" 2>&1 || {
    tail -n 20 "$out/dbus.log" >&2
    say "installing dbus and libpam-systemd into $root failed (log: $out/dbus.log)"
    exit 1
  }
  rm -rf "$root/tmp/debs"
fi
# The unprivileged test user, with the host's uid (the rootless systemd tests run as it).
test_uid=$(id -u nsinit-test 2>/dev/null || echo 1500)
if ! grep -q '^nsinit-test:' "$root/etc/passwd"; then
  chroot "$root" useradd -m -u "$test_uid" -s /bin/sh nsinit-test
fi
deno_bin=$(readlink -f "$(command -v deno)")
mkdir -p "$root$(dirname "$deno_bin")"
if ! cmp -s "$deno_bin" "$root$deno_bin"; then cp "$deno_bin" "$root$deno_bin"; fi
ln -sf "$deno_bin" "$root/usr/local/bin/deno"
echo sdvm >"$root/etc/hostname"
# A fixed machine id: systemd would otherwise write a new one into the shared root every boot.
echo 5d0a7c1e2f3b4a5968778695a4b3c2d1 >"$root/etc/machine-id"
cat >"$root/etc/systemd/system/nsinit-test.target" <<'EOF'
[Unit]
Description=nsinit tests (scripts/sdvm)
Wants=nsinit-test.service
EOF
cat >"$root/etc/systemd/system/nsinit-test.service" <<'EOF'
[Unit]
Description=nsinit tests (scripts/sdvm)
DefaultDependencies=no
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/nsinit-vm-test
StandardOutput=journal+console
StandardError=journal+console
EOF
cat >"$root/usr/local/sbin/nsinit-vm-test" <<'EOF'
#!/bin/sh
# Runs the tests, then powers off. The host's repository is at /mnt/repo (9p); the tests run in
# a tmpfs copy at the repository's own path, unpacked from one tar (9p and transpiling are slow
# under software emulation, per file and per program): the sources, dist/, .cache/rootfs, and a
# DENO_DIR run.sh filled on the host (same paths, so its transpiled modules are used).
repo=$(sed -n 's/.*nsinit\.repo=\([^ ]*\).*/\1/p' /proc/cmdline)
run=/mnt/repo/.cache/sdvm/run
mkdir -p "$repo" /tmp/deno-dir
mount -t tmpfs -o mode=755 repo "$repo"
tar -C "$repo" -xf "$run/repo.tar"
tar -C /tmp/deno-dir -xf "$run/deno-dir.tar"
export DENO_DIR=/tmp/deno-dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 HOME=/root NSINIT_IN_SDVM=1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd "$repo" || exit 1
echo "sdvm-init: systemd up in $(cut -d' ' -f1 /proc/uptime) s, cgroup $(stat -fc %T /sys/fs/cgroup); running $run/cmd.sh"
sh "$run/cmd.sh" >"$run/output.log" 2>&1
echo $? >"$run/rc"
sync
echo "sdvm-init: done (exit code $(cat "$run/rc")) at $(cut -d' ' -f1 /proc/uptime) s"
systemctl poweroff --no-block
EOF
chmod 755 "$root/usr/local/sbin/nsinit-vm-test"

img_stamp=$(
  {
    find "$root/etc/systemd/system" "$root/usr/local" "$root/etc/hostname" "$root/etc/passwd" \
      "$root/usr/bin/dbus-daemon" "$root/lib/x86_64-linux-gnu/security" "$root/etc/pam.d" -type f -print0 |
      sort -z | xargs -0 sha256sum
    stat -c '%s %Y' "$root$deno_bin" "$root/lib/systemd/systemd"
  } | sha256sum | cut -d' ' -f1
)
if [[ ! -f $out/root.img || ! -f $out/root.img.stamp || $(cat "$out/root.img.stamp") != "$img_stamp" ]]; then
  say "making root.img (ext4) from $root"
  rm -f "$out/root.img.tmp"
  # (mkfs prints "Creating regular file" on stdout, which is this script's answer.)
  mkfs.ext4 -q -F -L sdroot -d "$root" "$out/root.img.tmp" 1536M >&2
  mv "$out/root.img.tmp" "$out/root.img"
  echo "$img_stamp" >"$out/root.img.stamp"
fi

# --- 3. the initramfs
mapfile -t modules < <(for m in virtio_pci virtio_blk ext4 9pnet_virtio 9p; do
  modprobe --show-depends -S "$kver" "$m"
done | awk '$1 == "insmod" && !seen[$2]++ {print $2}')
stamp=$(
  {
    sha256sum "${BASH_SOURCE[0]}" /bin/busybox "${modules[@]}"
    echo "$kernel"
  } | sha256sum | cut -d' ' -f1
)
if [[ -f $out/initramfs.cpio && -f $out/stamp && $(cat "$out/stamp") == "$stamp" ]]; then
  echo "$kernel" >"$out/kernel"
  echo "$out"
  exit 0
fi
say "building the initramfs (kernel $kver)"
tree=$(mktemp -d "$out/tree.XXXXXX")
trap 'rm -rf -- "$tree"' EXIT
mkdir -p "$tree"/{bin,proc,sys,dev,newroot,modules}
cp /bin/busybox "$tree/bin/busybox"
n=0
for m in "${modules[@]}"; do
  n=$((n + 1))
  cp "$m" "$tree/modules/$(printf '%02d' "$n")-$(basename "$m")"
done
cat >"$tree/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
fail() {
  echo "sdvm-init: $*"
  poweroff -f
}
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for m in /modules/*.ko; do insmod "$m" || fail "insmod $m"; done
repo=
for a in $(cat /proc/cmdline); do
  case $a in nsinit.repo=*) repo=${a#nsinit.repo=} ;; esac
done
[ -n "$repo" ] || fail "no nsinit.repo= on the kernel command line"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 /dev/vda /newroot || fail "cannot mount the root image /dev/vda"
mkdir -p /newroot/mnt/repo
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=none repo /newroot/mnt/repo ||
  fail "cannot mount the repository (9p tag repo)"
mount -t tmpfs -o mode=1777 tmp /newroot/tmp
umount /dev /proc
exec switch_root /newroot /lib/systemd/systemd
INIT
chmod 755 "$tree/init"
(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) \
  >"$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
echo "$kernel" >"$out/kernel"
echo "$stamp" >"$out/stamp"
echo "$out"
