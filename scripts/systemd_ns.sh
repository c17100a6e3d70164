#!/usr/bin/env bash
# A real systemd (the host's /lib/systemd/systemd, 252 on Debian 12) booted as PID 1 of its own
# namespaces, contained so it can share the machine with other work (see
# /work/shared/ENVIRONMENT.md, "systemd, for the systemd driver"). For the systemd driver's
# end-to-end tests on hosts whose PID 1 is not systemd.
#
#   scripts/systemd_ns.sh start NAME        boot it; prints its host pid once it answers on D-Bus
#   scripts/systemd_ns.sh exec NAME CMD...  run CMD inside (every namespace; the caller's
#                                           directory and environment kept)
#   scripts/systemd_ns.sh pid NAME          its host pid (exit 1 when it is not running)
#   scripts/systemd_ns.sh stop NAME         power it off (SIGKILL by pid when it is not provably
#                                           contained or does not stop in time), then remove
#                                           its cgroups and state directory
#
# NAME is [A-Za-z0-9_.-]+; state lives in .cache/systemd-ns/NAME (console.log there is systemd's
# console). Containment, each step because systemd 252 harms the host without it:
# - pid, mount, uts, ipc and net namespaces, mount propagation private;
# - its own cgroup below the caller's in every hierarchy, joined before the cgroup namespace is
#   unshared, so its cgroup tree nests there and two instances do not collide;
# - fresh proc with /proc/sys read-only, a fresh read-only sysfs (it writes machine-wide sysctls
#   at start otherwise), fresh cgroup hierarchies on a tmpfs, tmpfs /run;
# - a private console: the pty of `script` bind-mounted on /dev/console, plain files on
#   /dev/tty0 and /dev/kmsg, so it resets and logs nothing of the host's;
# - `container=other`, and `systemctl poweroff` only after /run/systemd/container inside says
#   `other` (otherwise poweroff would switch off the host's swap and detach loop devices).
# Processes are ended only by their recorded pid, never by name.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
self=$repo/scripts/systemd_ns.sh
# shellcheck source=scripts/cgroup_own.sh
source "$repo/scripts/cgroup_own.sh"
say() { echo "systemd_ns: $*" >&2; }
die() {
  say "$*"
  exit 1
}

state_dir() {
  [[ $1 =~ ^[A-Za-z0-9_.-]+$ && $1 != . && $1 != .. ]] || die "bad NAME ${1@Q}"
  echo "$repo/.cache/systemd-ns/$1"
}

# The host's cgroup hierarchies, one per line: "FSTYPE MOUNTPOINT OPTIONS OWN", OWN being this
# process's cgroup in it. Only hierarchies under /sys/fs/cgroup.
hierarchies() {
  local mnt fstype opts own opt
  while read -r _ mnt fstype opts _; do
    [[ $fstype == cgroup || $fstype == cgroup2 ]] || continue
    [[ $mnt == /sys/fs/cgroup/* || $mnt == /sys/fs/cgroup ]] || continue
    own=$(own_cgroup "$fstype" "$opts")
    [[ -n $own ]] || continue
    # Which controllers (or name=) the hierarchy carries, as mount options for a fresh mount.
    local mopts=""
    if [[ $fstype == cgroup ]]; then
      IFS=, read -ra os <<<"$opts"
      for opt in "${os[@]}"; do
        case $opt in
        rw | ro | relatime | noatime | nosuid | nodev | noexec | clone_children | xattr | \
          release_agent=* | noprefix | cpuset_v2_mode) ;;
        name=*) mopts+=${mopts:+,}none,$opt ;;
        *) mopts+=${mopts:+,}$opt ;;
        esac
      done
    fi
    printf '%s %s %s %s\n' "$fstype" "$mnt" "${mopts:--}" "${own%/}"
  done </proc/self/mounts
}

# pid_alive PID START: whether PID is still the process that had start time START.
pid_alive() {
  local stat
  [[ $1 =~ ^[1-9][0-9]*$ ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  read -ra f <<<"$stat"
  [[ ${f[19]} == "$2" ]]
}

# recorded_pid DIR: prints the systemd pid recorded in DIR if that process still runs.
recorded_pid() {
  local pid start
  [[ -f $1/pid ]] || return 1
  read -r pid start <"$1/pid"
  pid_alive "$pid" "$start" || return 1
  echo "$pid"
}

cmd_start() {
  local name=$1 dir pid i
  dir=$(state_dir "$name")
  if pid=$(recorded_pid "$dir" 2>/dev/null); then die "$name is already running (pid $pid)"; fi
  [[ -x /lib/systemd/systemd ]] || die "/lib/systemd/systemd is missing (apt-get install systemd)"
  rm -rf "$dir"
  mkdir -p "$dir"
  # 1. Its own cgroup below ours in every hierarchy.
  : >"$dir/cgroups"
  while read -r fstype mnt mopts own; do
    local cg=$mnt$own/nsinit-systemd-$name
    mkdir -p "$cg"
    if [[ -f $cg/cpuset.cpus && -z $(cat "$cg/cpuset.cpus") ]]; then
      cat "$mnt$own/cpuset.cpus" >"$cg/cpuset.cpus"
      cat "$mnt$own/cpuset.mems" >"$cg/cpuset.mems"
    fi
    printf '%s %s %s %s\n' "$fstype" "${mnt#/sys/fs/cgroup}" "$mopts" "$cg" >>"$dir/cgroups"
  done < <(hierarchies)
  : >"$dir/tty0"
  : >"$dir/kmsg"
  # 2. The namespaces, under script(1) for a private console; systemd's console goes to the log.
  setsid script -qfec "unshare --pid --fork --mount --uts --ipc --net --propagation private \
    bash $(printf %q "$self") _stage1 $(printf %q "$dir")" "$dir/console.log" \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/script.pid"
  # 3. Wait until it answers on its private D-Bus socket and has reached its target.
  local state=""
  for ((i = 0; i < 300; i++)); do
    if pid=$(recorded_pid "$dir" 2>/dev/null); then
      state=$(timeout 5 nsenter -t "$pid" -a systemctl is-system-running 2>/dev/null || true)
      if [[ $state == running || $state == degraded ]]; then
        echo "$pid"
        return 0
      fi
    fi
    sleep 0.1
  done
  say "systemd did not come up in 30 s; its console:"
  tail -n 20 "$dir/console.log" >&2 || true
  cmd_stop "$name" || true
  return 1
}

# Stage 1, PID 1 of the new pid namespace, still in the host's cgroup namespace and /proc.
cmd_stage1() {
  local dir=$1 stat
  # Our host pid and start time, read by bash itself from the host's procfs.
  read -r stat </proc/self/stat
  local hostpid=${stat%% *}
  stat=${stat##*) }
  read -ra f <<<"$stat"
  echo "$hostpid ${f[19]}" >"$dir/pid.tmp"
  while read -r _ _ _ cg; do echo 0 >"$cg/cgroup.procs"; done <"$dir/cgroups"
  exec unshare --cgroup bash "$self" _stage2 "$dir"
}

# Stage 2, PID 1, now in its own cgroup namespace rooted at the cgroups made above.
cmd_stage2() {
  local dir=$1 tty
  tty=$(tty) || die "no pty for the console"
  mount --make-rprivate /
  mount -t proc -o nosuid,nodev,noexec proc /proc
  mount --bind /proc/sys /proc/sys
  mount -o remount,bind,ro,nosuid,nodev,noexec /proc/sys
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
  mount -t tmpfs -o mode=755,nosuid,nodev,noexec tmpfs /sys/fs/cgroup
  while read -r fstype sub mopts _; do
    mkdir -p "/sys/fs/cgroup$sub"
    if [[ $fstype == cgroup2 ]]; then
      mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "/sys/fs/cgroup$sub"
    else
      mount -t cgroup -o "nosuid,nodev,noexec,$mopts" cgroup "/sys/fs/cgroup$sub"
    fi
  done <"$dir/cgroups"
  mount -o remount,ro /sys/fs/cgroup 2>/dev/null || true
  mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
  mkdir -p /run/systemd/system
  printf '[Unit]\nDescription=nsinit test environment (scripts/systemd_ns.sh)\n' \
    >/run/systemd/system/minimal.target
  mount --bind "$tty" /dev/console
  mount --bind "$dir/tty0" /dev/tty0
  mount --bind "$dir/kmsg" /dev/kmsg
  mv "$dir/pid.tmp" "$dir/pid"
  export container=other
  exec /lib/systemd/systemd --system --unit=minimal.target --log-target=console
}

cmd_exec() {
  local name=$1 dir pid
  shift
  dir=$(state_dir "$name")
  pid=$(recorded_pid "$dir") || die "$name is not running"
  # nsenter -a changes directory to /: go back to the caller's.
  exec nsenter -t "$pid" -a -- bash -c 'cd "$0" && exec "$@"' "$PWD" "$@"
}

cmd_pid() {
  local dir
  dir=$(state_dir "$1")
  recorded_pid "$dir"
}

cmd_stop() {
  local name=$1 dir pid i spid
  dir=$(state_dir "$name")
  [[ -d $dir ]] || return 0
  if pid=$(recorded_pid "$dir" 2>/dev/null); then
    local start
    read -r _ start <"$dir/pid"
    if [[ $(cat "/proc/$pid/root/run/systemd/container" 2>/dev/null) == other ]]; then
      timeout 10 nsenter -t "$pid" -a systemctl poweroff --no-block >/dev/null 2>&1 || true
      for ((i = 0; i < 150; i++)); do
        pid_alive "$pid" "$start" || break
        sleep 0.1
      done
    else
      say "/run/systemd/container in $name does not say 'other': not powering it off"
    fi
    if pid_alive "$pid" "$start"; then
      say "killing systemd (pid $pid)"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        pid_alive "$pid" "$start" || break
        sleep 0.1
      done
    fi
  fi
  # script(1) ends when its child does; end it by its pid if it has not.
  if [[ -f $dir/script.pid ]]; then
    read -r spid <"$dir/script.pid"
    for ((i = 0; i < 30; i++)); do
      [[ -d /proc/$spid ]] || break
      sleep 0.1
    done
    if [[ $spid =~ ^[1-9][0-9]*$ && -d /proc/$spid && $(cat "/proc/$spid/comm") == script ]]; then
      kill -KILL "$spid" 2>/dev/null || true
    fi
  fi
  # Its cgroups, deepest first (empty once every process in the namespace is gone).
  if [[ -f $dir/cgroups ]]; then
    local cg ok=1
    while read -r _ _ _ cg; do
      [[ $cg == */nsinit-systemd-"$name" && -d $cg ]] || continue
      for ((i = 0; i < 50; i++)); do
        find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        [[ -d $cg ]] || break
        sleep 0.1
      done
      [[ -d $cg ]] && {
        say "cannot remove $cg"
        ok=0
      }
    done <"$dir/cgroups"
    ((ok)) || return 1
  fi
  if [[ ${NSINIT_SYSTEMD_NS_KEEP_LOG:-} ]]; then
    find "$dir" -mindepth 1 ! -name console.log -delete
  else
    rm -rf "$dir"
  fi
}

case ${1:-} in
start | exec | pid | stop)
  [[ $# -ge 2 ]] || die "usage: systemd_ns.sh start|exec|pid|stop NAME [CMD...]"
  cmd=$1
  shift
  "cmd_$cmd" "$@"
  ;;
_stage1 | _stage2) "cmd${1}" "$2" ;;
*) die "usage: systemd_ns.sh start|exec|pid|stop NAME [CMD...]" ;;
esac
