#!/usr/bin/env bash
# python/flask-bound.sh: server-flask against its Little's bound. A thread-per-request
# server with a pool of T threads holds at most min(C, T) requests in flight, so against an
# upstream of D seconds it can answer at most min(C, T) / D requests/s; this measures how
# close Flask under gunicorn's gthread worker comes, per pool size T, for /single with
# upstream connections reused and not.
#
# Per T and mode: server-flask --threads T pinned to core 0, gosleep (1000 ms, one thread)
# and loadgen (C connections, one thread, closed loop like wrk) on core 1; a warm-up, then
# the recorded window, with the server's CPU sampled (--server-pid: gunicorn's arbiter and
# its worker). Prints a Markdown table: RPS, the bound, RPS / bound, p99, errors, server CPU.
# Only 127.0.0.1 is targeted; every run is bounded; the EXIT trap stops what it started.
#
# Usage: python/flask-bound.sh [--quick] [--threads LIST]
#   --quick          3 s windows after 1 s of warm-up, one round [10 s after 2 s, 3 rounds]
#   --threads LIST   comma-separated pool sizes [32,64,128,256]
#   -h, --help       this help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

args="$*"
conns=1000 delay_ms=1000 secs=10 warmup=2 rounds=3 pools=(32 64 128 256)
while (( $# )); do
  case $1 in
    --quick) secs=3 warmup=1 rounds=1; shift ;;
    --threads) list=$(bench_value "$@") || exit 2; shift 2
               [[ $list =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || bench_bad_usage "--threads takes pool sizes like 32,64, not $list"
               IFS=, read -r -a pools <<<"$list" ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done
bench_servers_setup "$delay_ms" flask

rows="$BENCH_TMP/rows.tsv"
: >"$rows"
for round in $(seq "$rounds"); do
  for mode in reuse no-reuse; do
    flags=() lg_flags=()
    # As run_all.sh's "not reuse" cells: no keep-alive on either side.
    [[ $mode == no-reuse ]] && flags=(--no-reuse) lg_flags=(--no-keepalive)
    for t in "${pools[@]}"; do
      echo "round $round/$rounds: flask --threads $t /single $mode: $conns connections, ${warmup} s + ${secs} s" >&2
      bench_start flask "$server_pin" "$(bench_server_bin flask)" --listen 127.0.0.1:0 --upstream "$upstream" \
        --threads "$t" "${flags[@]}"
      json="$BENCH_TMP/run.json"
      # shellcheck disable=SC2086
      $client_pin target/release/loadgen -c "$conns" -t 1 -d "${secs}s" --warmup "${warmup}s" --timeout 30s \
        "${lg_flags[@]}" --server-pid "$PID" --json "$json" "http://$ADDR/single" >"$BENCH_TMP/run.txt" || true
      bench_stop "$PID" flask
      bound=$(( (t < conns ? t : conns) * 1000 / delay_ms ))
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$t" "$(text_rps "$BENCH_TMP/run.txt")" "$bound" \
        "$(loadgen_field "$json" latency_summary.p99_us)" "$(loadgen_errors "$BENCH_TMP/run.txt")" \
        "$(loadgen_field "$json" server.cpu_percent)" "$round" >>"$rows"
    done
  done
done
bench_stop "$gosleep_pid"

echo "# server-flask against its Little's bound"
echo
echo "Machine: $(bench_machine); $(python/setup.sh --versions)."
echo "Command: \`python/flask-bound.sh $args\` on $(date -u '+%Y-%m-%d %H:%M UTC'); upstream delay $delay_ms ms, /single, $conns connections, ${warmup} s warm-up then ${secs} s recorded, rounds: $rounds; server on ${server_pin:-no pinning}, gosleep and loadgen on ${client_pin:-no pinning}."
echo
echo "| mode | --threads T | bound min(C, T) / D | RPS per round | RPS / bound (median) | p99 (median) | errors | server CPU % (median) |"
echo "|---|---:|---:|---|---:|---:|---|---:|"
awk -F'\t' "$BENCH_AWK_MEDIAN"'
  {
    key = $1 SUBSEP $2
    if (!(key in seen)) { seen[key] = 1; order[++n] = key; bound[key] = $4; errs[key] = "" }
    rps[key] = rps[key] " " $3; p99[key] = p99[key] " " $5; cpu[key] = cpu[key] " " $7
    if ($6 != "none") errs[key] = errs[key] (errs[key] == "" ? "" : "; ") $6
  }
  END {
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, part, SUBSEP)
      printf "| %s | %s | %s | %s | %.1f%% | %.0f ms | %s | %.0f%% |\n", part[1], part[2], bound[k], substr(rps[k], 2),
        100 * median(rps[k]) / bound[k], median(p99[k]) / 1000, (errs[k] == "" ? "none" : errs[k]), median(cpu[k])
    }
  }' "$rows"
