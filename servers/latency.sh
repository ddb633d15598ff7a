#!/usr/bin/env bash
# servers/latency.sh: the servers' latency under an open-loop load, measured by loadgen.
#
# servers/bench.sh (wrk, closed loop) starts every connection at once, so requests arrive
# in waves and p99 measures how fast a wave is cleared. Here loadgen sends at a constant
# total rate (--rate, spread evenly over the connections, latency counted from each
# request's intended send time: coordinated-omission corrected), after a warm-up, so p99
# is the latency a steady stream of clients sees. Server: its --threads of servers/roster.toml
# (an async server: one) pinned to core 0;
# gosleep (1 thread) and loadgen (1 thread) on core 1. Upstream delay 1000 ms, /single,
# reuse, 2,000 connections at 95% of the Little's-law bound (1,900 requests/s).
# Only 127.0.0.1 is targeted; runs are bounded; the EXIT trap stops what it started.
#
# Usage: servers/latency.sh [--quick] [--servers LIST]
#   --quick          500 connections, 5 s after 2 s of warm-up [2,000, 20 s after 3 s]
#   --servers LIST   comma-separated, of servers/roster.toml [its async Rust servers]
#   -h, --help       this help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

args="$*"
conns=2000 secs=20 warmup=3
read -r -a servers <<<"$(bench_roster runs=rust model=async)"
while (( $# )); do
  case $1 in
    --quick) conns=500 secs=5 warmup=2; shift ;;
    --servers) list=$(bench_server_list "$@"); shift 2; IFS=, read -r -a servers <<<"$list" ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done
rate=$(( conns * 95 / 100 ))
bench_servers_setup 1000 "${servers[@]}"

echo "# Server latency, open loop"
echo
echo "Machine: $(bench_machine)."
echo "Command: \`servers/latency.sh $args\` on $(date -u '+%Y-%m-%d %H:%M UTC'); /single, reuse, upstream delay 1000 ms, $conns connections at $rate requests/s (95% of C/D), ${warmup} s warm-up then ${secs} s recorded; server ($(bench_threads_line "${servers[@]}")) on ${server_pin:-no pinning}, gosleep and loadgen 1 thread each on ${client_pin:-no pinning}."
echo
echo "| server | requests/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU % |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in "${servers[@]}"; do
  bench_start_server "$s" "$upstream" --threads "$(bench_threads "$s")"
  json="$BENCH_TMP/$s.json"
  # A run with no 2xx answer exits 1 but still writes its JSON: its row shows the errors.
  # shellcheck disable=SC2086
  $client_pin target/release/loadgen -c "$conns" -t 1 --rate "$rate" --warmup "${warmup}s" -d "${secs}s" \
    --timeout 10s --latency --server-pid "$PID" --json "$json" "http://$ADDR/single" >"$BENCH_TMP/$s.txt" || true
  bench_stop "$PID"
  # The figures, from the JSON's latency_summary (microseconds) and server sample.
  ms() { bench_ms "$(loadgen_field "$json" "latency_summary.$1")"; }
  cpu=$(printf '%.0f%%' "$(loadgen_field "$json" server.cpu_percent)")
  echo "| $s | $(text_rps "$BENCH_TMP/$s.txt") | $(ms p50_us) | $(ms p90_us) | $(ms p99_us) | $(ms p99_9_us) | $(ms max_us) | $(loadgen_errors "$BENCH_TMP/$s.txt") | $cpu |"
done
bench_stop "$gosleep_pid"
