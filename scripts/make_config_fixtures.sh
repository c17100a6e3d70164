#!/usr/bin/env bash
# Regenerates tests/fixtures/configs/: the config.json files other tools write, captured
# from the real tools on this machine (never edited by hand). tests/configs_test.ts runs
# each of them with runc and with dist/nsinit and compares.
#
#   scripts/make_config_fixtures.sh        (root; needs runc, crun, podman, containerd)
#
# What it captures:
#   runc.json, runc-rootless.json    `runc spec`, `runc spec --rootless`
#   crun.json, crun-rootless.json    `crun spec`, `crun spec --rootless`
#   podman.json                      `podman run` (private storage, as tests/clients does):
#                                    the config podman writes, with its default seccomp
#                                    profile (containers-common's seccomp.json, converted)
#   ctr.json, ctr-seccomp.json       `ctr run` against a private containerd: the config in
#                                    the bundle containerd makes, without and with --seccomp
#                                    (containerd's default profile as ctr writes it)
# podman and containerd write the config for their runtime: a capture script given as the
# runtime copies <bundle>/config.json on `create`, then runs runc with the same arguments, so
# the container really runs. Paths under this script's temp dir become @TMP@ in the fixtures,
# and the tool versions are recorded in tests/fixtures/configs/VERSIONS.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$repo/tests/fixtures/configs
say() { echo "make_config_fixtures: $*"; }
die() {
  echo "make_config_fixtures: $*" >&2
  exit 1
}
[[ $(id -u) == 0 ]] || die "needs root (podman and containerd run real containers)"
for t in runc crun podman containerd ctr; do
  command -v "$t" >/dev/null || die "$t is missing (scripts/install_test_deps.sh, scripts/install_client_deps.sh)"
done
rootfs=$repo/.cache/rootfs
[[ -x $rootfs/bin/busybox ]] || bash "$repo/scripts/make_rootfs.sh" >/dev/null

# Host paths podman and containerd create whatever their --root says (podman's blob-info
# cache, runc's default state root, containerd's defaults): what this run adds goes again.
host_paths=(/var/lib/containers /var/lib/containers/cache /run/libpod /run/runc /run/containerd
  /run/containerd/s /var/lib/containerd /opt/containerd)
declare -A host_before=()
for p in "${host_paths[@]}"; do
  host_before[$p]=$( [[ -e $p ]] && ls -A "$p" 2>/dev/null | tr '\n' ' ' || echo MISSING)
done
restore_host_paths() {
  local p e
  for p in "${host_paths[@]}"; do
    [[ -e $p ]] || continue
    if [[ ${host_before[$p]} == MISSING ]]; then
      rm -rf -- "$p"
      continue
    fi
    for e in $(ls -A "$p" 2>/dev/null); do
      [[ " ${host_before[$p]} " == *" $e "* ]] || rm -rf -- "${p:?}/$e"
    done
  done
}

T=$(mktemp -d /tmp/nsinit-fixtures.XXXXXX)
containerd_pid=""
cleanup() {
  if [[ -n $containerd_pid && $containerd_pid -gt 0 ]]; then
    kill "$containerd_pid" 2>/dev/null || true
    wait "$containerd_pid" 2>/dev/null || true
  fi
  # Unmount what the tools left under the temp dir, deepest first, then remove it.
  awk -v t="$T" '$5 ~ "^"t {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$T"
  restore_host_paths
}
trap cleanup EXIT
mkdir -p "$out" "$T/capture"

# A runtime that records the config it is given, then is runc.
capture() { # NAME
  cat >"$T/capture-$1" <<EOF
#!/bin/sh
bundle=""
prev=""
cmd=""
for a in "\$@"; do
  case "\$prev" in --bundle | -b) bundle=\$a ;; esac
  case "\$a" in create | run) [ -z "\$cmd" ] && cmd=\$a ;; esac
  prev=\$a
done
if [ -n "\$cmd" ] && [ -n "\$bundle" ] && [ ! -e "$T/capture/$1.json" ]; then
  cp "\$bundle/config.json" "$T/capture/$1.json"
fi
exec runc "\$@"
EOF
  chmod 755 "$T/capture-$1"
}

# runc spec / crun spec
for tool in runc crun; do
  for mode in "" --rootless; do
    d=$T/$tool$mode
    mkdir -p "$d"
    (cd "$d" && "$tool" spec $mode)
    cp "$d/config.json" "$T/capture/$tool${mode:+-rootless}.json"
  done
done

# podman, private storage and state, as tests/clients/podman_test.ts runs it
capture podman
mkdir -p "$T/podman/"{home,tmp,net,vol,libpod-tmp}
tar --numeric-owner -C "$rootfs" -cf "$T/rootfs.tar" .
podman() {
  HOME=$T/podman/home TMPDIR=$T/podman/tmp XDG_CONFIG_HOME=$T/podman/home/.config \
    command podman --root "$T/podman/root" --runroot "$T/podman/runroot" \
    --tmpdir "$T/podman/libpod-tmp" --storage-driver vfs --cgroup-manager cgroupfs \
    --events-backend none --network-config-dir "$T/podman/net" --volumepath "$T/podman/vol" \
    --runtime "$T/capture-podman" "$@"
}
podman import "$T/rootfs.tar" localhost/nsinit-fixture:latest >/dev/null 2>&1
# This host's bounding set lacks CAP_SYS_RESOURCE: podman's default rlimits cannot be set by
# any runtime here, so ask for small ones (as tests/clients does).
podman run --rm --network none --cgroups no-conmon \
  --cgroup-parent "nsinit-fixture-$$" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  localhost/nsinit-fixture:latest true >/dev/null
podman rmi -f localhost/nsinit-fixture:latest >/dev/null 2>&1 || true
for h in /sys/fs/cgroup/*/; do rmdir "$h/nsinit-fixture-$$" 2>/dev/null || true; done
rmdir /sys/fs/cgroup/unified/nsinit-fixture-$$ 2>/dev/null || true

# containerd, a private daemon, as tests/clients/containerd_test.ts runs it
capture ctr
capture ctr-seccomp
sock=$T/containerd/containerd.sock
mkdir -p "$T/containerd"
cat >"$T/containerd/config.toml" <<EOF
version = 2
root = "$T/containerd/root"
state = "$T/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/containerd/opt"
EOF
containerd --config "$T/containerd/config.toml" >"$T/containerd/log" 2>&1 &
containerd_pid=$!
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.2; done
[[ -S $sock ]] || die "containerd did not start: $(tail -3 "$T/containerd/log")"
cp -a "$rootfs" "$T/containerd/rootfs"
for name in ctr ctr-seccomp; do
  extra=()
  [[ $name == ctr-seccomp ]] && extra=(--seccomp)
  ctr -a "$sock" -n nsinit-fixture run --rm --runc-binary "$T/capture-$name" \
    --runc-root "$T/containerd/runc-root" --cgroup "nsinit-fixture-$name-$$" "${extra[@]}" \
    --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --rootfs "$T/containerd/rootfs" "fixture-$name" /bin/true >/dev/null
  for h in /sys/fs/cgroup/*/; do rmdir "$h/nsinit-fixture-$name-$$" 2>/dev/null || true; done
done

for f in runc runc-rootless crun crun-rootless podman ctr ctr-seccomp; do
  [[ -s $T/capture/$f.json ]] || die "$f: no config was captured"
  # Stable fixtures: the temp dir becomes @TMP@, this run's pid @PID@; pretty-printed.
  sed -e "s|$T|@TMP@|g" -e "s|-$$\\b|-@PID@|g" "$T/capture/$f.json" |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2))' >"$out/$f.json"
done
{
  echo "# Tools that wrote these fixtures (scripts/make_config_fixtures.sh)"
  runc --version | head -1
  crun --version | head -1
  command podman --version
  containerd --version
} >"$out/VERSIONS"
say "wrote $(ls "$out" | wc -l) files to tests/fixtures/configs"
