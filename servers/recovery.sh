#!/usr/bin/env bash
# servers/recovery.sh: how long each server takes to serve again after an overload, and how
# much upstream work it does for clients that have already gone.
#
# Per server: gosleep (200 ms, 1 thread) and loadgen on core 1, the server on core 0; a
# burst of loadgen -c 2000 for 10 s on /multiple?n=64 with loadgen's default 2 s timeout
# (so clients give up, close and send again, as impatient clients do), far past what any
# server can answer (2,000 x 64 upstream calls need more sockets than the fd limit). When
# loadgen has exited, every client is gone; then one GET /health at a time (each allowed
# up to the time left) until one answers 200: the recovery time is from loadgen's exit to
# that answer, at most 120 s. Reported per server: the burst's answers by kind, upstream
# calls during the burst and after it (work for nobody), the recovery time, peak threads,
# and whether the server then stopped cleanly on SIGTERM.
# Only 127.0.0.1 is targeted; every run is bounded (10 s burst, 120 s recovery limit); the
# EXIT trap stops every process this script started, by PID.
#
# Usage: servers/recovery.sh [--quick] [--servers LIST]
#   --quick          a 3 s burst of 500 connections [10 s of 2,000]
#   --servers LIST   comma-separated, of servers/roster.toml [its Rust servers]
#   -h, --help       this help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

args="$*"
conns=2000 secs=10 fanout=64 limit=120
read -r -a servers <<<"$(bench_roster runs=rust)"
while (( $# )); do
  case $1 in
    --quick) conns=500 secs=3; shift ;;
    --servers) list=$(bench_server_list "$@"); shift 2; IFS=, read -r -a servers <<<"$list" ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done
bench_need curl
bench_servers_setup 200 "${servers[@]}"

now() { date +%s.%N; }
# threads_of PID: the process's thread count now (0 once it has gone).
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

echo "# Server recovery after an overload"
echo
echo "Machine: $(bench_machine)."
echo "Command: \`servers/recovery.sh $args\` on $(date -u '+%Y-%m-%d %H:%M UTC'); burst: loadgen -c $conns -t 1 -d ${secs}s (timeout 2 s) on /multiple?n=$fanout, gosleep delay 200 ms; server on ${server_pin:-no pinning} ($(bench_threads_line "${servers[@]}")), gosleep and loadgen on ${client_pin:-no pinning}."
echo
echo "| server | burst answers 2xx | non-2xx | socket errors | upstream calls in burst | upstream calls after | peak threads | recovery s | stop |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for s in "${servers[@]}"; do
  bench_start_server "$s" "$upstream" --threads "$(bench_threads "$s")"
  server_pid=$PID server_addr=$ADDR
  gosleep_reset "$upstream_addr"
  json="$BENCH_TMP/$s.json"
  # shellcheck disable=SC2086
  $client_pin target/release/loadgen -c "$conns" -t 1 -d "${secs}s" --json "$json" \
    "http://$server_addr/multiple?n=$fanout" >"$BENCH_TMP/$s.txt" 2>&1 &
  loadgen_pid=$!
  BENCH_PIDS+=("$loadgen_pid")
  peak=0
  while kill -0 "$loadgen_pid" 2>/dev/null; do
    t=$(threads_of "$server_pid")
    (( t > peak )) && peak=$t
    sleep 0.2
  done
  wait "$loadgen_pid" || true
  bench_forget "$loadgen_pid"
  gone=$(now)
  calls_burst=$(gosleep_stat "$upstream_addr" requests)
  recovery="> $limit"
  while :; do
    left=$(awk -v g="$gone" -v n="$(now)" -v l="$limit" 'BEGIN {printf "%.1f", l - (n - g)}')
    awk -v l="$left" 'BEGIN {exit !(l > 0)}' || break
    t=$(threads_of "$server_pid")
    (( t > peak )) && peak=$t
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$left" "http://$server_addr/health" || true)
    if [[ $code == 200 ]]; then
      recovery=$(awk -v g="$gone" -v n="$(now)" 'BEGIN {printf "%.1f", n - g}')
      break
    fi
    kill -0 "$server_pid" 2>/dev/null || { recovery="died"; break; }
    sleep 0.1
  done
  calls_after=$(( $(gosleep_stat "$upstream_addr" requests) - calls_burst ))
  ok=$(loadgen_field "$json" requests)
  { read -r non2xx; read -r socket; read -r codes; } < <(loadgen_field "$json" non_2xx socket_errors errors.status)
  # The codes' JSON object ({"502":4}) as the cell shows it: (502: 4).
  if (( non2xx > 0 )); then codes="($(tr -d '{}"' <<<"$codes" | sed 's/:/: /g; s/,/, /g'))"; else codes=""; fi
  stop="exit 0"
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    rc=0
    wait "$server_pid" || rc=$?
    (( rc == 0 )) || stop="exit $rc"
  else
    rc=0
    wait "$server_pid" || rc=$?
    stop="died ($rc)"
  fi
  bench_forget "$server_pid"
  echo "| $s | $(( ok - non2xx )) | $non2xx${codes:+ $codes} | $socket | $calls_burst | $calls_after | $peak | $recovery | $stop |"
done
bench_stop "$gosleep_pid"
