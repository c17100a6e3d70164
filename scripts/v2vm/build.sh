#!/usr/bin/env bash
# Builds the cgroup v2 test VM's initramfs (see README.md in this directory).
#
#   scripts/v2vm/build.sh            prints the directory holding kernel + initramfs paths
#
# 1. Installs (once) Debian's qemu-system-x86, linux-image-amd64 and busybox-static with
#    apt-get. The kernel lands in /boot; it is only read from there.
# 2. Builds .cache/v2vm/initramfs.cpio (uncompressed: unpacking is faster than inflating under
#    software emulation) holding busybox, the deno binary and the glibc libraries ldd lists for
#    it, libseccomp.so.2 (the seccomp module dlopens it), the kernel modules for virtio-9p, CRIU
#    (scripts/install_criu.sh's prefix and wrapper, when installed), AppArmor's apparmor_parser
#    with its configuration (Debian's apparmor package, when installed: the VM's kernel runs
#    AppArmor, and tests/apparmor_test.ts loads a profile there), and the /init below. The native helper (dist/lib) and the test rootfs (.cache/rootfs) are not
#    packed: the VM mounts the repository from the host over virtio-9p at the same path.
# 3. Writes .cache/v2vm/kernel (the path of the vmlinuz to boot) and a stamp: the initramfs is
#    rebuilt only when this script, deno, busybox, the libraries or the kernel changed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$repo/.cache/v2vm
mkdir -p "$out"

say() { echo "v2vm: $*" >&2; }

# --- 1. packages
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*-amd64' >/dev/null || need+=(linux-image-amd64)
[[ -x /bin/busybox ]] && /bin/busybox --list | grep -qx switch_root || need+=(busybox-static)
if ((${#need[@]} > 0)); then
  say "installing ${need[*]}"
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    </dev/null >&2
fi

# The newest Debian kernel in /boot that has its modules.
kernel="" kver=""
for k in $(printf '%s\n' /boot/vmlinuz-*-amd64 | sort -V); do
  v=${k#/boot/vmlinuz-}
  [[ -d /lib/modules/$v/kernel ]] && kernel=$k kver=$v
done
[[ -n $kernel ]] || {
  say "no /boot/vmlinuz-*-amd64 with modules in /lib/modules"
  exit 1
}

deno_bin=$(readlink -f "$(command -v deno)")
busybox=/bin/busybox
mapfile -t deno_libs < <(ldd "$deno_bin" | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}')
seccomp_lib=$(readlink -f /lib/x86_64-linux-gnu/libseccomp.so.2 2>/dev/null || true)
# The other runtimes and tools the benchmark runs in the VM (deno task bench --vm), when the host
# has them (the benchmark installs them from Debian): at the same paths, with their libraries.
extra_bins=()
for b in runc crun /usr/bin/time unshare nsenter; do
  p=$(command -v "$b" 2>/dev/null) && extra_bins+=("$(readlink -f "$p")")
done
if ((${#extra_bins[@]} > 0)); then
  mapfile -t extra_libs < <(ldd "${extra_bins[@]}" 2>/dev/null | awk '/=> \//{print $3}' | sort -u)
else
  extra_libs=()
fi
# CRIU, when scripts/install_criu.sh installed it: its private prefix and the `criu` wrapper go in
# at the same paths (scripts/suites/criu_vm.sh runs the checkpoint tests in the VM: its Debian
# kernel tracks dirty memory, so pre-dumps run there).
criu_prefix=${NSINIT_CRIU_PREFIX:-/opt/nsinit-criu}
criu_wrapper=${NSINIT_CRIU_WRAPPER:-/usr/local/sbin/criu}
[[ -x $criu_prefix/usr/sbin/criu && -x $criu_wrapper ]] || criu_prefix="" criu_wrapper=""
# CRIU dumps and restores tmpfs contents with GNU tar (busybox's lacks its options).
gnu_tar="" tar_libs=()
if [[ -n $criu_prefix ]]; then
  gnu_tar=$(readlink -f "$(command -v tar)")
  mapfile -t tar_libs < <(ldd "$gnu_tar" | awk '/=> \//{print $3}')
fi
# CRIU locks a container's network namespace during a dump with iptables-restore (its default
# network lock): the host's iptables (xtables-nft-multi), its libraries and extensions go in too,
# or every dump of a container with its own network namespace fails in the VM.
# CRIU dumps a network namespace's addresses, routes and rules with iproute2's `ip` (busybox's lacks
# `ip route save`): without it every such dump fails in the VM ("ip: invalid argument 'save'").
iproute="" iproute_libs=()
if [[ -n $criu_prefix ]] && p=$(command -v ip 2>/dev/null) && [[ $(readlink -f "$p") != */busybox* ]]; then
  iproute=$(readlink -f "$p")
  mapfile -t iproute_libs < <(ldd "$iproute" | awk '/=> \//{print $3}')
fi
xtables="" xtables_libs=() xtables_ext=""
# CRIU 4 also saves the legacy tables (`iptables-legacy-save`) when the host has them: the legacy
# binary (xtables-legacy-multi, same package) goes in too.
xtables_legacy=""
if [[ -n $criu_prefix ]] && p=$(command -v xtables-nft-multi 2>/dev/null); then
  xtables=$(readlink -f "$p")
  mapfile -t xtables_libs < <(ldd "$xtables" | awk '/=> \//{print $3}')
  if p=$(command -v xtables-legacy-multi 2>/dev/null); then
    xtables_legacy=$(readlink -f "$p")
    mapfile -t -O "${#xtables_libs[@]}" xtables_libs < <(ldd "$xtables_legacy" | awk '/=> \//{print $3}')
  fi
  for d in /usr/lib/x86_64-linux-gnu/xtables /lib/x86_64-linux-gnu/xtables; do
    [[ -d $d ]] && xtables_ext=$(readlink -f "$d") && break
  done
fi
# AppArmor's policy compiler, when the host has Debian's apparmor package
# (scripts/install_test_deps.sh installs it): the binary, its libraries, parser.conf and the feature
# set it pins for profiles without an abi rule, at the same paths.
aa_parser="" aa_libs=() aa_files=()
if p=$(command -v apparmor_parser 2>/dev/null || ls /sbin/apparmor_parser 2>/dev/null); then
  aa_parser=$(readlink -f "$p")
  mapfile -t aa_libs < <(ldd "$aa_parser" | awk '/=> \//{print $3}')
  for f in /etc/apparmor/parser.conf /usr/share/apparmor-features/features; do
    [[ -f $f ]] && aa_files+=("$f")
  done
fi
# Modules for virtio-9p, and the socket-diag and nf_tables modules CRIU's check and network lock
# need, in load order (dependencies first), without duplicates.
criu_modules=()
[[ -z $criu_prefix ]] ||
  criu_modules=(unix_diag inet_diag tcp_diag udp_diag netlink_diag af_packet_diag nf_tables
    nft_compat xt_mark veth tun nf_conntrack_netlink)
mapfile -t modules < <(for m in virtio_pci 9pnet_virtio 9p "${criu_modules[@]}"; do
  modprobe --show-depends -S "$kver" "$m" 2>/dev/null || true
done | awk '$1 == "insmod" && !seen[$2]++ {print $2}')

# --- 2. stamp
stamp=$(
  {
    sha256sum "${BASH_SOURCE[0]}" "$deno_bin" "$busybox" "${deno_libs[@]}" ${seccomp_lib:+"$seccomp_lib"} \
      "${modules[@]}" "${extra_bins[@]}" "${extra_libs[@]}" \
      ${criu_prefix:+"$criu_prefix/usr/sbin/criu" "$criu_wrapper" "$gnu_tar"} "${tar_libs[@]}" \
      ${xtables:+"$xtables"} ${xtables_legacy:+"$xtables_legacy"} "${xtables_libs[@]}" ${iproute:+"$iproute"} "${iproute_libs[@]}" ${aa_parser:+"$aa_parser"} "${aa_libs[@]}" \
      "${aa_files[@]}"
    echo "$kernel"
  } | sha256sum | cut -d' ' -f1
)
if [[ -f $out/initramfs.cpio && -f $out/stamp && $(cat "$out/stamp") == "$stamp" ]]; then
  echo "$kernel" >"$out/kernel"
  echo "$out"
  exit 0
fi
say "building the initramfs (kernel $kver, deno $deno_bin)"

tree=$(mktemp -d "$out/tree.XXXXXX")
trap 'rm -rf -- "$tree"' EXIT
mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,mnt,root,modules,lib64}
mkdir -p "$tree/lib/x86_64-linux-gnu" "$tree/sys/fs/cgroup"
cp "$busybox" "$tree/bin/busybox"
cp "$deno_bin" "$tree/usr/bin/deno"
# The host path of deno too: dist/nsinit (deno task build's launcher) names it.
if [[ $deno_bin != /usr/bin/deno ]]; then
  mkdir -p "$tree$(dirname "$deno_bin")"
  ln -s /usr/bin/deno "$tree$deno_bin"
fi
for lib in "${deno_libs[@]}" ${seccomp_lib:+"$seccomp_lib"}; do
  real=$(readlink -f "$lib")
  dest=$tree/lib/x86_64-linux-gnu/$(basename "$lib")
  [[ $lib == /lib64/* ]] && dest=$tree$lib
  cp "$real" "$dest"
done
for b in "${extra_bins[@]}"; do
  mkdir -p "$tree$(dirname "$b")"
  cp "$b" "$tree$b"
done
for lib in "${extra_libs[@]}"; do
  dest=$tree/lib/x86_64-linux-gnu/$(basename "$lib")
  [[ -e $dest ]] || cp "$(readlink -f "$lib")" "$dest"
done
[[ -n $seccomp_lib ]] && ln -sf "$(basename "$seccomp_lib")" "$tree/lib/x86_64-linux-gnu/libseccomp.so.2"
if [[ -n $criu_prefix ]]; then
  mkdir -p "$tree$(dirname "$criu_prefix")" "$tree$(dirname "$criu_wrapper")"
  cp -a "$criu_prefix" "$tree$criu_prefix"
  cp "$criu_wrapper" "$tree$criu_wrapper"
  mkdir -p "$tree/usr/local/bin"
  cp "$gnu_tar" "$tree/usr/local/bin/tar"
  for lib in "${tar_libs[@]}" "${xtables_libs[@]}" "${iproute_libs[@]}"; do
    [[ -e $tree/lib/x86_64-linux-gnu/$(basename "$lib") ]] ||
      cp "$(readlink -f "$lib")" "$tree/lib/x86_64-linux-gnu/$(basename "$lib")"
  done
  # First in the VM's PATH, ahead of busybox's applet in /bin.
  [[ -z $iproute ]] || cp "$iproute" "$tree/usr/local/sbin/ip"
  if [[ -n $xtables ]]; then
    mkdir -p "$tree/usr/sbin"
    cp "$xtables" "$tree/usr/sbin/xtables-nft-multi"
    for n in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
      ln -sf xtables-nft-multi "$tree/usr/sbin/$n"
    done
    if [[ -n $xtables_legacy ]]; then
      cp "$xtables_legacy" "$tree/usr/sbin/xtables-legacy-multi"
      for n in iptables ip6tables; do
        for s in "" -restore -save; do
          ln -sf xtables-legacy-multi "$tree/usr/sbin/$n-legacy$s"
        done
      done
    fi
    [[ -z $xtables_ext ]] || {
      mkdir -p "$tree$xtables_ext"
      cp -a "$xtables_ext/." "$tree$xtables_ext/"
    }
  fi
fi
if [[ -n $aa_parser ]]; then
  cp "$aa_parser" "$tree/sbin/apparmor_parser"
  for lib in "${aa_libs[@]}"; do
    [[ -e $tree/lib/x86_64-linux-gnu/$(basename "$lib") ]] ||
      cp "$(readlink -f "$lib")" "$tree/lib/x86_64-linux-gnu/$(basename "$lib")"
  done
  for f in "${aa_files[@]}"; do
    mkdir -p "$tree$(dirname "$f")"
    cp "$f" "$tree$f"
  done
fi
n=0
for m in "${modules[@]}"; do
  n=$((n + 1))
  cp "$m" "$tree/modules/$(printf '%02d' "$n")-$(basename "$m")"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$tree/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$tree/etc/group"
echo v2vm >"$tree/etc/hostname"

cat >"$tree/init" <<'INIT'
#!/bin/busybox sh
# Stage 1 (pid 1 on the initramfs): pivot_root(2) refuses the initial rootfs, which containers
# need, so bind the rootfs onto itself, move that mount over / and chroot into it.
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/usr/local/bin:/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
if [ "$1" != stage2 ]; then
  mount -t proc proc /proc
  mount --bind / /mnt
  umount /proc
  cd /mnt
  mount --move . /
  exec chroot . /init stage2
fi

# Stage 2: the test host.
fail() {
  echo "v2vm-init: $*"
  echo 125 >/tmp/rc 2>/dev/null
  poweroff -f
}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=755 run /run
# Only cgroup2, with every controller enabled for the children of the root.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
  echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "v2vm-init: cannot enable $c"
done
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
# securityfs: AppArmor's policy interface (apparmor_parser loads profiles through it).
grep -q ' /sys/kernel/security ' /proc/mounts ||
  mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
hostname v2vm
ip link set lo up 2>/dev/null # CRIU's kernel checks connect over loopback
for m in /modules/*.ko; do insmod "$m" || fail "insmod $m"; done

repo=
for a in $(cat /proc/cmdline); do
  case $a in nsinit.repo=*) repo=${a#nsinit.repo=} ;; esac
done
[ -n "$repo" ] || fail "no nsinit.repo= on the kernel command line"
mkdir -p "$repo"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=none repo "$repo" ||
  fail "cannot mount the repository (9p tag repo) at $repo"
vm=$repo/.cache/v2vm
export NSINIT_IN_V2VM=1 DENO_DIR=/tmp/deno-dir DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
cd "$repo"
echo "v2vm-init: up in $(cut -d' ' -f1 /proc/uptime) s; running $vm/run/cmd.sh"
sh "$vm/run/cmd.sh" >"$vm/run/output.log" 2>&1
rc=$?
echo "$rc" >"$vm/run/rc"
sync
echo "v2vm-init: done (exit code $rc) at $(cut -d' ' -f1 /proc/uptime) s"
umount "$repo" 2>/dev/null
poweroff -f
INIT
chmod 755 "$tree/init"

(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) \
  >"$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
echo "$kernel" >"$out/kernel"
echo "$stamp" >"$out/stamp"
say "initramfs: $(du -h "$out/initramfs.cpio" | cut -f1)"
echo "$out"
