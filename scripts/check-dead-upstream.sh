#!/usr/bin/env bash
# check-dead-upstream.sh: run_all.sh never measures a dead upstream.
#
# Runs `./run_all.sh --quick --servers hyper` into a temp dir, and while its second cell
# runs, kills its gosleep (SIGKILL, the PID run_all.sh wrote to DIR/gosleep.pid). Then
# checks that run_all.sh stops by itself: exit status non-zero, one line naming the cell
# and what failed, no req/s printed for that cell, no results.md or run.json written, no
# "No such process", and no process of this checkout left running. Exit 0 if all hold.
#
# Usage: scripts/check-dead-upstream.sh   (about 15 s once the release build is done)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# The cell during which gosleep is killed, and how long into it: past its start-up checks
# (well under a second), inside its warm-up + window (3 s with --quick).
cell=no-reuse-multiple-hyper
kill_after_s=1
# Bounds on waiting, so this check always ends: the release build may run first.
start_timeout_s=900 stop_timeout_s=60

work=$(mktemp -d)
out=$work/out log=$work/run_all.log
run_all_pid=""
cleanup() {
  # Only if the check itself failed midway: run_all.sh is ours, stopped by its PID (its
  # own trap then stops its children).
  if [[ -n $run_all_pid ]] && kill -0 "$run_all_pid" 2>/dev/null; then
    kill -TERM "$run_all_pid" 2>/dev/null || true
    wait "$run_all_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "check-dead-upstream: FAIL: $1" >&2
  echo "--- run_all.sh output:" >&2
  cat "$log" >&2 || true
  exit 1
}

./run_all.sh --quick --servers hyper --output "$out" >"$log" 2>&1 &
run_all_pid=$!

waited=0
until grep -qE "^-> \[[0-9]+/[0-9]+\] $cell:" "$log"; do
  kill -0 "$run_all_pid" 2>/dev/null || fail "run_all.sh ended before $cell started"
  (( waited++ < start_timeout_s * 5 )) || fail "$cell did not start within $start_timeout_s s"
  sleep 0.2
done
sleep "$kill_after_s"
gosleep_pid=$(cat "$out/gosleep.pid")
# The PID file names run_all.sh's own gosleep: make sure before killing it.
[[ $(tr '\0' ' ' <"/proc/$gosleep_pid/cmdline" 2>/dev/null) == *release/gosleep* ]] ||
  fail "$out/gosleep.pid ($gosleep_pid) is not a running gosleep"
kill -KILL "$gosleep_pid"
echo "check-dead-upstream: killed gosleep (pid $gosleep_pid) ${kill_after_s} s into $cell"

waited=0
while kill -0 "$run_all_pid" 2>/dev/null; do
  (( waited++ < stop_timeout_s * 5 )) || fail "run_all.sh still running $stop_timeout_s s after gosleep was killed"
  sleep 0.2
done
rc=0
wait "$run_all_pid" || rc=$?
run_all_pid=""

(( rc != 0 )) || fail "run_all.sh exited 0 with a dead upstream"
stops=$(grep -c '^run_all.sh: stopped' "$log" || true)
(( stops == 1 )) || fail "expected one 'run_all.sh: stopped' line, got $stops"
want="run_all.sh: stopped after $cell: the upstream (gosleep) failed: pid $gosleep_pid has exited (killed by signal 9)"
grep -qF "$want" "$log" || fail "no line starting: $want"
! grep -q "^<- $cell:" "$log" || fail "a figure was printed for $cell, measured against a dead upstream"
! grep -q 'No such process' "$log" || fail "'No such process' in the output"
for f in results.md results.svg run.json; do
  [[ ! -e $out/$f ]] || fail "$f was written for a run against a dead upstream"
done
left=""
for pid in $(pgrep -f 'target/release/(gosleep|loadgen|server-[a-z]+)( |$)' || true); do
  [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$root" ]] && left+=" $pid"
done
[[ -z $left ]] || fail "processes of this checkout left running:$left"

echo "check-dead-upstream: run_all.sh exited $rc and said:"
grep '^run_all.sh: stopped' "$log"
echo "check-dead-upstream: no figure for $cell, no results.md or run.json, nothing left running: PASS"
