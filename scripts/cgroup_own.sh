# Sourced by scripts/systemd_ns.sh and scripts/leftovers.sh (bash).
#
# own_cgroup FSTYPE OPTIONS: this process's cgroup path in the hierarchy mounted with FSTYPE
# (cgroup or cgroup2) and mount OPTIONS (on v1 they name its controllers or name=), from
# /proc/self/cgroup; prints nothing when it is in none of them.
own_cgroup() {
  local fstype=$1 opts=$2 own="" line ctrls path c opt
  local -a cs os
  while IFS= read -r line; do
    ctrls=${line#*:}
    path=${ctrls#*:}
    ctrls=${ctrls%%:*}
    if [[ $fstype == cgroup2 ]]; then
      [[ ${line%%:*} == 0 && -z $ctrls ]] && own=$path
    else
      IFS=, read -ra cs <<<"$ctrls"
      IFS=, read -ra os <<<"$opts"
      for c in "${cs[@]}"; do
        for opt in "${os[@]}"; do
          [[ $c == "$opt" ]] && own=$path
        done
      done
    fi
  done </proc/self/cgroup
  printf '%s' "$own"
}
