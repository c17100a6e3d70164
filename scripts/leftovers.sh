#!/usr/bin/env bash
# Records what a test run could leave behind, and later reports what it did leave.
#
#   scripts/leftovers.sh snapshot FILE   record the current state in FILE
#   scripts/leftovers.sh check FILE      print each leftover since the snapshot; exit 1 if any
#
# What counts as a leftover (anything present at check time and absent from the snapshot):
#   cgroup   a directory in any cgroup hierarchy mounted under /sys/fs/cgroup that is below
#            this process's own cgroup in that hierarchy, or whose path contains "nsinit"
#   mount    a mount (host mount namespace) at or under /tmp, /run or /var/tmp, or whose
#            path contains "nsinit" (compared as a multiset: a second mount on the same
#            path counts)
#   state    /run/nsinit* and the entries directly inside them; the test roots /tmp/nsinit-test-*
#            (one holding a file .nsinit-test-run that names another test run is shown, not
#            counted: tests/helpers mark the directories they make)
#   netns    a network namespace from `ip netns list`
#   process  a process (pid + start time, so reused pids do not hide) that carries the run's
#            marker NSINIT_TEST_RUN=<run> in its environment (tests and bundles pass it on),
#            whose command line contains "nsinit-test-", or whose parent chain leads to the
#            pid that took the snapshot's parent (the test runner). The checker's own process
#            chain is excluded. A process found only by its command line whose environment
#            names another test run is shown, not counted.
# The run marker is $NSINIT_TEST_RUN at snapshot time (empty: the environment test is off);
# the runner pid is $LEFTOVERS_ANCESTOR, else the caller ($PPID).
# A check that finds something waits 2 s and looks once more, so processes and cgroups
# that are just going away are not reported.
set -euo pipefail
# shellcheck source=scripts/cgroup_own.sh
source "$(dirname "${BASH_SOURCE[0]}")/cgroup_own.sh"

usage() {
  echo "usage: leftovers.sh snapshot FILE | check FILE" >&2
  exit 2
}

# Directories of every cgroup hierarchy, one per line: "MOUNTPOINT<TAB>SCOPE", where SCOPE
# is this process's own cgroup directory in that hierarchy.
cgroup_scopes() {
  local mnt fstype opts own
  while read -r _ mnt fstype opts _; do
    [[ $fstype == cgroup || $fstype == cgroup2 ]] || continue
    [[ $mnt == /sys/fs/cgroup || $mnt == /sys/fs/cgroup/* ]] || continue
    own=$(own_cgroup "$fstype" "$opts")
    [[ -n $own ]] || own=/
    printf '%s\t%s\n' "$mnt" "${mnt%/}${own%/}"
  done </proc/self/mounts
}

collect_cgroups() {
  local mnt scope
  while IFS=$'\t' read -r mnt scope; do
    find "$scope" -mindepth 1 -type d 2>/dev/null || true
    find "$mnt" -mindepth 1 -type d -path '*nsinit*' 2>/dev/null || true
  done < <(cgroup_scopes) | sort -u | sed 's/^/cgroup /'
}

collect_mounts() {
  # mountinfo: field 5 is the mount point (octal escapes kept), fstype follows " - ".
  awk '{
    mp = $5; fs = ""
    for (i = 6; i <= NF; i++) if ($i == "-") { fs = $(i + 1); break }
    if (mp ~ /^\/(tmp|run|var\/tmp)(\/|$)/ || mp ~ /nsinit/) print "mount " mp " " fs
  }' /proc/self/mountinfo | sort
}

collect_state() {
  local d
  shopt -s nullglob
  for d in /run/nsinit* /run/nsinit*/* /tmp/nsinit-test-*; do
    echo "state $d"
  done | sort
  shopt -u nullglob
}

collect_netns() {
  if command -v ip >/dev/null; then
    ip netns list 2>/dev/null | awk '{print "netns " $1}' | sort
  fi
}

# "proc PID STARTTIME PPID" for every process.
collect_procs() {
  local p stat rest
  local -a f
  for p in /proc/[0-9]*; do
    { read -r stat <"$p/stat"; } 2>/dev/null || continue
    rest=${stat##*) } # fields from 3 (state) on; comm may hold spaces and parens
    read -ra f <<<"$rest"
    echo "proc ${p#/proc/} ${f[19]} ${f[1]}"
  done
}

snapshot() {
  local file=$1
  {
    echo "run ${NSINIT_TEST_RUN:-}"
    echo "ancestor ${LEFTOVERS_ANCESTOR:-$PPID}"
    collect_cgroups
    collect_mounts
    collect_state
    collect_netns
    collect_procs | awk '{print $1, $2, $3}'
  } >"$file.tmp"
  mv -f "$file.tmp" "$file"
}

# Prints one line per leftover.
find_leftovers() {
  local file=$1 run ancestor
  run=$(awk '$1 == "run" {print $2; exit}' "$file")
  ancestor=$(awk '$1 == "ancestor" {print $2; exit}' "$file")

  # Files and directories: lines now present that the snapshot lacks (multiset difference).
  comm -13 <(grep -E '^(cgroup|mount|state|netns) ' "$file" | LC_ALL=C sort) \
    <({
      collect_cgroups
      collect_mounts
      collect_state
      collect_netns
    } | LC_ALL=C sort) | while read -r kind path rest; do
    # A test dir marked by another test run (tests/helpers write .nsinit-test-run) is theirs.
    if [[ $kind == state && -n $run && -f $path/.nsinit-test-run ]]; then
      owner=$(head -c 200 "$path/.nsinit-test-run" 2>/dev/null || true)
      if [[ -n $owner && $owner != "$run" ]]; then
        echo "other state $path (test run $owner)"
        continue
      fi
    fi
    echo "leftover $kind $path${rest:+ $rest}"
  done

  # Processes.
  local -A old=() ppid_of=() start_of=()
  local kind pid start ppid
  while read -r kind pid start; do
    [[ $kind == proc ]] && old[$pid]=$start
  done <"$file"
  while read -r kind pid start ppid; do
    ppid_of[$pid]=$ppid
    start_of[$pid]=$start
  done < <(collect_procs)

  # Our own chain (ancestors of this shell, and this shell) is never a leftover.
  local -A mine=()
  pid=$$
  while [[ -n $pid && $pid != 0 ]]; do
    mine[$pid]=1
    pid=${ppid_of[$pid]:-}
  done

  local cmd hit p n e mine_env other
  local -a env args
  for pid in "${!start_of[@]}"; do
    [[ ${old[$pid]:-} == "${start_of[$pid]}" || -n ${mine[$pid]:-} || $pid == 2 ]] && continue
    # Skip our own descendants (command substitutions of this script), find the runner.
    hit="" p=${ppid_of[$pid]} n=0
    while [[ -n $p && $p != 0 && $n -lt 200 ]]; do
      if [[ $p == "$$" ]]; then
        hit=self
        break
      fi
      [[ $p == "$ancestor" ]] && hit=descendant
      p=${ppid_of[$p]:-}
      n=$((n + 1))
    done
    [[ $hit == self ]] && continue
    mapfile -d "" -t args 2>/dev/null <"/proc/$pid/cmdline" || continue
    cmd="${args[*]}"
    mine_env="" other=""
    mapfile -d "" -t env 2>/dev/null <"/proc/$pid/environ" || env=()
    for e in "${env[@]}"; do
      [[ $e == NSINIT_TEST_RUN=* ]] || continue
      if [[ -n $run && ${e#*=} == "$run" ]]; then mine_env=1; else other=${e#*=}; fi
    done
    if [[ -z $hit && -n $mine_env ]]; then hit=environment; fi
    if [[ -z $hit && $cmd == *nsinit-test-* ]]; then
      if [[ -n $other && -n $run ]]; then
        echo "other process $pid (test run $other): ${cmd:0:200}"
        continue
      fi
      hit=marker
    fi
    [[ -n $hit ]] || continue
    [[ -n $cmd ]] || cmd="[$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')]"
    # Its cgroup names the container (or test) that made it.
    cg=$(grep -m1 -E '^[0-9]+:([^:]*,)?pids(,[^:]*)?:|^0::' "/proc/$pid/cgroup" 2>/dev/null | cut -d: -f3-)
    echo "leftover process $pid (ppid ${ppid_of[$pid]}, $hit, cgroup ${cg:-?}): ${cmd:0:200}"
  done | sort -k3n
}

check() {
  local file=$1 found all
  [[ -r $file ]] || {
    echo "leftovers: no snapshot $file" >&2
    exit 2
  }
  all=$(find_leftovers "$file")
  if grep -q '^leftover ' <<<"$all"; then
    sleep 2
    all=$(find_leftovers "$file")
  fi
  # Others' resources are shown, not counted.
  grep '^other ' <<<"$all" | sed 's/^other /not counted, another test run: /' || true
  found=$(grep '^leftover ' <<<"$all" || true)
  if [[ -z $found ]]; then
    echo "leftovers: none"
    return 0
  fi
  echo "$found"
  echo "leftovers: $(grep -c . <<<"$found") found"
  return 1
}

[[ $# == 2 ]] || usage
case $1 in
snapshot) snapshot "$2" ;;
check) check "$2" ;;
*) usage ;;
esac
