#!/usr/bin/env bash
# capacity-cpu-check.sh: a CPU-bound capacity against the server's CPU cost per request,
# measured at half that capacity over windows long enough to average the machine's noise.
#
# For each RUN_DIR (a run_all.sh run directory) it reads SERVER's capacity search of one cell
# (capacity-CELL-SERVER.json: the capacity, the connections of the step at it, the cores
# the server could use) and the run's set-up (run.json: the capacity phase's upstream delay
# and CPU quota, the server's threads, the fan-out). Then it runs SERVER in that set-up (the
# same pinning, quota, upstream delay and flags) at half of each run's capacity, open loop,
# ROUNDS rounds of WINDOW s after 1 s of warm-up, the runs' rates taking turns, on half the
# connections of the step at capacity (the search sizes connections in proportion to the
# rate). It prints every measurement and, per run, the median CPU per request, the capacity
# the server's cores over it predict, and capacity / prediction. A search decides from
# one-second steps whose CPU per request moves with the machine's speed
# (scripts/cpu-noise.py); this measures the cost apart from the search.
# Only 127.0.0.1 is targeted; every run is bounded; the EXIT trap stops what it started.
#
# Usage: scripts/capacity-cpu-check.sh [--server NAME] [--cell CELL] [--rounds N] [--window S] RUN_DIR...
#   --server NAME   the server whose capacity is checked [hyper]
#   --cell CELL     the capacity cell, MODE-ENDPOINT [reuse-single]
#   --rounds N      measurements per run [3]
#   --window S      recorded seconds per measurement [10]
#   -h, --help      this help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

# fail MESSAGE: what stopped the check, one line, exit 1.
fail() { echo "$(basename "$0"): $1" >&2; exit 1; }

server=$BENCH_BASE_SERVER cell=reuse-single rounds=3 window=10 runs=()
while (( $# )); do
  case $1 in
    --server) server=$(bench_value "$@"); shift 2 ;;
    --cell) cell=$(bench_value "$@"); shift 2 ;;
    --rounds) rounds=$(bench_value "$@"); shift 2 ;;
    --window) window=$(bench_value "$@"); shift 2 ;;
    -h|--help) bench_usage; exit 0 ;;
    -*) bench_bad_usage "unknown argument $1" ;;
    *) runs+=("$1"); shift ;;
  esac
done
(( ${#runs[@]} )) || bench_bad_usage "name at least one run_all.sh run directory"
[[ $cell =~ ^(no-reuse|reuse)-(single|multiple)$ ]] || bench_bad_usage "--cell takes MODE-ENDPOINT (e.g. reuse-single), not $cell"
mode=${BASH_REMATCH[1]} endpoint=${BASH_REMATCH[2]}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || bench_bad_usage "--rounds takes a whole number of at least 1, not $rounds"
[[ $window =~ ^[1-9][0-9]*$ ]] || bench_bad_usage "--window takes whole seconds, at least 1, not $window"

bench_build
# What the runs agree on, from the first: the set-up every measurement shares.
first=${runs[0]}/run.json
[[ -f $first ]] || fail "${runs[0]} has no run.json: not a run_all.sh run directory"
delay_ms=$(loadgen_field "$first" capacity.delay_ms)
quota=$(loadgen_field "$first" capacity.server_cpu_quota)
threads=$(loadgen_field "$first" "server_threads.$server")
fanout=$(loadgen_field "$first" fanout)

rates=() conns=() caps=() cores=()
for i in "${!runs[@]}"; do
  record=${runs[$i]}/capacity-$cell-$server.json
  [[ -f $record ]] || fail "no capacity search of server-$server in $cell in ${runs[$i]}"
  for field in capacity.delay_ms capacity.server_cpu_quota "server_threads.$server" fanout; do
    [[ $(loadgen_field "${runs[$i]}/run.json" "$field") == "$(loadgen_field "$first" "$field")" ]] \
      || fail "${runs[$i]} and ${runs[0]} differ in $field: one set-up cannot check both"
  done
  { read -r cap; read -r at; read -r core; } < <(loadgen_field "$record" capacity_rps at_capacity server_cores)
  [[ $cap != null && $core != null ]] \
    || fail "${runs[$i]}: the search has no capacity, or the server's cores are unknown"
  caps[i]=$cap cores[i]=$core
  rates[i]=$(awk -v c="$cap" 'BEGIN {printf "%.0f", c / 2}')
  conns[i]=$(( ($(loadgen_field "$record" "steps.$at.connections") + 1) / 2 ))
  echo "run $(( i + 1 )) (${runs[$i]}): server-$server $cell capacity ${cap%.*} req/s on ${core} core(s); measuring at ${rates[i]} req/s on ${conns[i]} connections"
done

ulimit -n "$(ulimit -Hn)"
bench_pins
bench_start gosleep "$client_pin" target/release/gosleep --listen 127.0.0.1:0 --delay-ms "$delay_ms"
gosleep_pid=$PID upstream="http://$ADDR"
server_flags=(--threads "$threads" --fanout "$fanout") loadgen_flags=()
[[ $mode == no-reuse ]] && server_flags+=(--no-reuse) loadgen_flags+=(--no-keepalive)
bench_start_server "$server" "$upstream" "${server_flags[@]}"
server_pid=$PID server_addr=$ADDR
if [[ $quota != null ]]; then
  bench_quota_setup "$quota" || fail "the runs had a CPU quota of $quota core(s), and here $BENCH_WHY"
  bench_quota_add "$server_pid"
fi
echo "set-up: server-$server ${server_flags[*]} on ${server_pin:-any core}, CPU quota ${quota/null/none}; gosleep ${delay_ms} ms and loadgen on ${client_pin:-any core}"

declare -A per_request=()
for round in $(seq "$rounds"); do
  for i in "${!runs[@]}"; do
    json=$BENCH_TMP/run$i-$round.json
    # shellcheck disable=SC2086 # the pin is a word list on purpose
    $client_pin target/release/loadgen -R "${rates[i]}" -c "${conns[i]}" -t 1 -d "${window}s" --warmup 1s --timeout 10s \
      "${loadgen_flags[@]}" --server-pid "$server_pid" --json "$json" "http://$server_addr/$endpoint" >"$BENCH_TMP/run.txt" 2>&1 \
      || fail "loadgen failed: $(tail -1 "$BENCH_TMP/run.txt")"
    { read -r answers; read -r per_1k; read -r cpu; read -r non2xx; read -r socket; } \
      < <(loadgen_field "$json" requests cpu_per_1k_requests server.cpu_percent non_2xx socket_errors)
    read -r us cpu < <(awk -v k="$per_1k" -v c="$cpu" 'BEGIN {printf "%.1f %.1f\n", k * 1000, c}')
    errors=""
    (( non2xx + socket > 0 )) && errors="; ERRORS: $non2xx non-2xx, $socket socket errors (not counted)"
    echo "round $round, run $(( i + 1 )): ${rates[i]} req/s: $answers answers, $us us of server CPU per request (server CPU $cpu% of a core)$errors"
    [[ -z $errors ]] && per_request[$i]+="$us "
  done
done
bench_stop "$server_pid" "$server"
bench_stop "$gosleep_pid" gosleep

for i in "${!runs[@]}"; do
  # shellcheck disable=SC2086 # a list of figures
  printf '%s\n' ${per_request[$i]:-} | sort -n | awk -v run="$(( i + 1 ))" -v cap="${caps[i]}" -v cores="${cores[i]}" -v w="$window" '
    { v[NR] = $1 }
    END {
      if (NR == 0) { printf "run %d: no measurement without errors\n", run; exit }
      median = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      predict = cores / (median / 1e6)
      printf "run %d: median %.1f us of server CPU per request over %d windows of %d s (%.1f-%.1f); %s core(s) predict %.0f req/s; capacity %.0f / prediction = %.2f\n",
        run, median, NR, w, v[1], v[NR], cores, predict, cap, cap / predict
    }'
done
