#!/usr/bin/env bash
# Run by tests/security/pid_reuse_test.ts as pid 1 of a private pid namespace
# (unshare --pid --fork --mount-proc): bash reaps the detached init once it exits, and nothing
# else forks between the write to ns_last_pid and `sleep &`, so the sleep gets the dead init's pid.
#
#   pid_reuse_cli.sh STATE_ROOT BUNDLE ID NSINIT_COMMAND...
#
# Prints key=value facts: init, bystander (their pids: equal), state, kill, killall, delete
# (exit codes), bystander_state (its /proc state letter afterwards), or error=...

set -u
root=$1 bundle=$2 id=$3
shift 3
cli=("$@" --root "$root")
"${cli[@]}" run -d --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1 || { echo "error=run -d failed"; exit 1; }
pid=$(sed -n 's/.*"initPid":\([0-9]*\).*/\1/p' "$root/$id/state.json")
echo "init=$pid"
for _ in $(seq 200); do [ -e /proc/$pid ] || break; sleep 0.05; done
[ -e /proc/$pid ] && { echo "error=init $pid did not go away"; exit 1; }
for _ in $(seq 20); do
  echo $((pid - 1)) >/proc/sys/kernel/ns_last_pid
  sleep 1000 &
  [ $! = "$pid" ] && break
  kill -9 $!; wait $! 2>/dev/null
done
echo "bystander=$!"
[ $! = "$pid" ] || { echo "error=pid $pid was not reused"; exit 1; }
echo "state=$("${cli[@]}" state "$id" 2>&1 | tr -d '\n ')"
"${cli[@]}" kill "$id" KILL >/dev/null 2>&1; echo "kill=$?"
"${cli[@]}" kill --all "$id" KILL >/dev/null 2>&1; echo "killall=$?"
"${cli[@]}" delete "$id" >/dev/null 2>&1; echo "delete=$?"
st=$(sed -n 's/^State:\s*\(.\).*/\1/p' /proc/$pid/status 2>/dev/null)
echo "bystander_state=$st"
kill -9 $pid; wait $pid 2>/dev/null
