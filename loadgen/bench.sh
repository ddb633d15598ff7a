#!/usr/bin/env bash
# loadgen/bench.sh: is loadgen as fast as wrk? Same target (gosleep, ms=0, one thread
# pinned to core 0), same client side (100 keep-alive connections, one thread pinned to
# core 1), runs alternated: requests/second and the load generator's own CPU seconds
# per 1,000 requests (user + system: the CPU ticks of the children the measuring shell
# waited for, from /proc). Printed as Markdown.
# Only 127.0.0.1 is targeted; runs are bounded by -d; the EXIT trap stops gosleep by PID.
#
# Usage: loadgen/bench.sh [--quick]
#   --quick          one round of 3 s per tool [3 rounds of 10 s]
#   -h, --help       this help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

secs=10 rounds=3
while (( $# )); do
  case $1 in
    --quick) secs=3 rounds=1; shift ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done

bench_need wrk
bench_build

bench_pins
bench_start gosleep "$server_pin" target/release/gosleep --listen 127.0.0.1:0 --threads 1
url="http://$ADDR/sleep?ms=0"

# measure TOOL: one run in the foreground of this (sub)shell; prints "RPS REQUESTS
# TICKS_BEFORE TICKS_AFTER", the ticks being the CPU of the shell's waited-for children.
measure() {
  local out="$BENCH_TMP/$1.out" shell=$BASHPID before after
  before=$(bench_children_cpu_ticks "$shell")
  if [[ $1 == wrk ]]; then
    # shellcheck disable=SC2086
    $client_pin wrk -t 1 -c 100 -d "${secs}s" "$url" >"$out" 2>&1
  else
    # shellcheck disable=SC2086
    $client_pin target/release/loadgen -t 1 -c 100 -d "${secs}s" "$url" >"$out" 2>&1
  fi
  after=$(bench_children_cpu_ticks "$shell")
  echo "$(text_rps "$out") $(awk '/requests in/ {print $1}' "$out") $before $after"
}

echo "# loadgen vs wrk"
echo
echo "Machine: $(bench_machine)."
echo "Command: \`loadgen/bench.sh $*\` on $(date -u '+%Y-%m-%d %H:%M UTC'); target gosleep ms=0 (1 thread, ${server_pin:-unpinned}), client 1 thread x 100 keep-alive connections (${client_pin:-unpinned}), ${secs} s per run."
echo
echo "| round | tool | requests/s | client CPU s per 1,000 requests |"
echo "|---:|---|---:|---:|"
for round in $(seq "$rounds"); do
  for tool in wrk loadgen; do
    read -r rps requests before after <<<"$(measure "$tool")"
    echo "| $round | $tool | $rps | $(bench_cpu_per_1000 "$before" "$after" "$requests") |"
  done
done
bench_stop "$PID"
