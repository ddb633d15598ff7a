#!/usr/bin/env bash
# run_all.sh: reproduce every table of results.md with one command.
#
# Builds the workspace (release), starts gosleep, and for each mode (--no-reuse, reuse) x
# endpoint (/single, /multiple) x server starts the server, loads it with loadgen (warm-up,
# then a recorded window, sampling the server's CPU and memory), keeps loadgen's JSON, and
# stops the server by PID. Then `loadgen report` renders the tables and the chart.
#
# Everything listens on ephemeral ports of 127.0.0.1 (each process prints the address it
# got), so no run can collide with another program's port, and nothing is left listening.
# A trap stops every process this script started, by PID, however it exits.
#
# Before and after every cell, gosleep must still run and answer GET /sleep?ms=0: a cell
# against a dead upstream measures errors returned at once, not the servers. If it does
# not, the run stops at once (exit 1), naming the cell, and writes no results.md. A server
# that dies during its cell has that cell marked failed (exit 1 at the end). If the report
# finds a cell that cannot be a result (over Little's bound, or mostly errors), it marks
# it invalid and the run exits 1. gosleep's PID is in DIR/gosleep.pid while it runs.
#
# Usage: ./run_all.sh [--quick] [--servers a,b] [--connections N] [--duration S]
#                     [--delay-ms D] [--fanout N] [--sweep] [--output DIR]
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

command_line="./run_all.sh${*:+ $*}"
servers_all=(rouille axum actix warp hyper)
servers=("${servers_all[@]}")
connections=1000 duration=10 warmup=2 delay_ms=1000 fanout=5 sweep=0 output=""
# Thread-per-request needs threads to hold clients: rouille gets a pool of 256 (its
# concurrency, and so its Little's bound, is min(C, 256) / D). The async servers get one
# worker, as they get one pinned core.
rouille_threads=256 async_threads=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (( $# )); do
  case $1 in
    --quick) connections=100 duration=2 warmup=1 delay_ms=200 rouille_threads=64; shift ;;
    --servers) IFS=, read -r -a servers <<<"${2:?--servers needs a list}"; shift 2 ;;
    --connections) connections=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --delay-ms) delay_ms=${2:?}; shift 2 ;;
    --fanout) fanout=${2:?}; shift 2 ;;
    --sweep) sweep=1; shift ;;
    --output) output=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_all.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
for s in "${servers[@]}"; do
  [[ " ${servers_all[*]} " == *" $s "* ]] || { echo "run_all.sh: unknown server $s (known: ${servers_all[*]})" >&2; exit 2; }
done
for n in "$connections" "$duration" "$delay_ms" "$fanout"; do
  if ! [[ $n =~ ^[0-9]+$ ]] || (( n == 0 )); then
    echo "run_all.sh: --connections, --duration, --delay-ms and --fanout take positive integers" >&2
    exit 2
  fi
done

if [[ -n $output ]]; then
  raw=$output results_md=$output/results.md
else
  raw=results/$(date -u +%Y%m%d-%H%M%S) results_md=results.md
fi
mkdir -p "$raw"

echo "== building (release)"
bench_build
bin=target/release

ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -n)

bench_pins
if [[ -n $server_pin ]]; then
  pinning="server on core 0; loadgen and gosleep on core 1 (taskset)"
else
  pinning="none ($(nproc) core(s)$(command -v taskset >/dev/null || echo ', no taskset'))"
fi
echo "== pinning: $pinning"

bench_start gosleep "$client_pin" "$bin/gosleep" --listen 127.0.0.1:0 --delay-ms "$delay_ms"
upstream="http://$ADDR" upstream_addr=$ADDR gosleep_pid=$PID
echo "$gosleep_pid" >"$raw/gosleep.pid"
echo "== gosleep on $upstream, delay ${delay_ms} ms"

# upstream_ok WHEN: gosleep still runs and answers a real upstream call; otherwise the
# run stops here, with one line saying where and what failed.
upstream_ok() {
  bench_serving "$gosleep_pid" "$upstream_addr" "/sleep?ms=0" && return 0
  echo "run_all.sh: stopped $1: the upstream (gosleep) failed: $BENCH_WHY. No results.md written; the raw results so far are in $raw/" >&2
  exit 1
}

threads_of() { if [[ $1 == rouille ]]; then echo "$rouille_threads"; else echo "$async_threads"; fi; }

# --sweep: per server, loadgen's sweep finds the connection count that saturates it
# (/single, reuse), the step the original experiment did by hand.
declare -A conns_of
for s in "${servers[@]}"; do
  conns_of[$s]=$connections
  (( sweep )) || continue
  upstream_ok "before the sweep of $s"
  bench_start "$s" "$server_pin" "$bin/server-$s" --listen 127.0.0.1:0 --upstream "$upstream" --threads "$(threads_of "$s")"
  # shellcheck disable=SC2086
  chosen=$($client_pin "$bin/loadgen" sweep -c 50 -t 1 -d 3s --timeout 30s --max-connections 8000 \
    --server-pid "$PID" "http://$ADDR/single" | tee /dev/stderr | sed -n 's/^chosen: -c \([0-9]*\).*/\1/p')
  bench_stop "$PID" "$s"
  upstream_ok "after the sweep of $s"
  [[ -n $chosen ]] && conns_of[$s]=$chosen
  echo "== sweep: $s uses -c ${conns_of[$s]}"
done

declare -A skipped=() failed=()
for mode in no-reuse reuse; do
  for endpoint in single multiple; do
    for s in "${servers[@]}"; do
      cell="$mode-$endpoint-$s"
      c=${conns_of[$s]}
      # A proxy holds C client sockets plus C x calls upstream sockets; loadgen holds C.
      calls=1
      [[ $endpoint == multiple ]] && calls=$fanout
      need=$(( c * (1 + calls) + 100 ))
      if (( need > fd_limit )); then
        skipped[$cell]="needs $need file descriptors (C x (1 + calls)), the limit is $fd_limit"
        echo "-- $cell: skipped (${skipped[$cell]})"
        continue
      fi
      flags=(--threads "$(threads_of "$s")" --fanout "$fanout")
      [[ $mode == no-reuse ]] && flags+=(--no-reuse)
      lg_flags=()
      [[ $mode == no-reuse ]] && lg_flags+=(--no-keepalive)
      echo "-> $cell: $c connections, ${warmup} s warm-up + ${duration} s"
      upstream_ok "before $cell"
      bench_start "$s" "$server_pin" "$bin/server-$s" --listen 127.0.0.1:0 --upstream "$upstream" "${flags[@]}"
      server_pid=$PID server_addr=$ADDR
      # In the background and waited for: bash runs the INT/TERM traps during `wait` at
      # once, whereas a foreground child would delay them (or, for a SIGINT sent to this
      # script alone, swallow it).
      # shellcheck disable=SC2086
      $client_pin "$bin/loadgen" -c "$c" -t 1 -d "${duration}s" --warmup "${warmup}s" --timeout 30s \
        "${lg_flags[@]}" --latency --server-pid "$server_pid" --json "$raw/$cell.json" "http://$ADDR/$endpoint" \
        >"$raw/$cell.txt" 2>&1 &
      loadgen_pid=$!
      BENCH_PIDS+=("$loadgen_pid")
      loadgen_rc=0
      wait "$loadgen_pid" || loadgen_rc=$?
      bench_forget "$loadgen_pid"
      # The server first: a server that died makes a failed cell; a dead upstream ends
      # the run before this cell's figure is printed as if it were one.
      if bench_serving "$server_pid" "$server_addr" /health; then
        bench_stop "$server_pid" "$s"
      else
        failed[$cell]="server-$s failed during the cell: $BENCH_WHY"
        if bench_alive "$server_pid"; then bench_stop "$server_pid" "$s"; fi
      fi
      upstream_ok "after $cell"
      if [[ -n ${failed[$cell]:-} ]]; then
        echo "<- $cell: FAILED (${failed[$cell]})"
      elif (( loadgen_rc != 0 )); then
        failed[$cell]="loadgen failed (status $loadgen_rc): $(tail -1 "$raw/$cell.txt")"
        echo "<- $cell: FAILED (${failed[$cell]})"
      else
        echo "<- $cell: $(text_rps "$raw/$cell.txt") req/s"
      fi
    done
  done
done

# The run's own record, for the report.
json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
{
  echo "{"
  echo "  \"command\": $(json_string "$command_line"),"
  echo "  \"date\": $(json_string "$(date -u '+%Y-%m-%d %H:%M UTC')"),"
  echo "  \"machine\": {\"cpu\": $(json_string "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"), \"cores\": $(nproc), \"kernel\": $(json_string "$(uname -sr)"), \"memory_gib\": $(free -g | awk '/Mem:/ {print $2}')},"
  echo "  \"rustc\": $(json_string "$(rustc --version)"),"
  echo "  \"delay_ms\": $delay_ms, \"fanout\": $fanout, \"connections\": $connections,"
  echo "  \"duration_s\": $duration, \"warmup_s\": $warmup,"
  echo "  \"pinning\": $(json_string "$pinning"),"
  printf '  "server_threads": {'
  sep=""
  for s in "${servers_all[@]}"; do printf '%s"%s": %s' "$sep" "$s" "$(threads_of "$s")"; sep=", "; done
  echo "},"
  printf '  "skipped": {'
  sep=""
  for s in "${servers_all[@]}"; do
    [[ " ${servers[*]} " == *" $s "* ]] && continue
    for mode in no-reuse reuse; do for endpoint in single multiple; do
      skipped[$mode-$endpoint-$s]="not in --servers"
    done; done
  done
  for cell in "${!skipped[@]}"; do printf '%s%s: %s' "$sep" "$(json_string "$cell")" "$(json_string "${skipped[$cell]}")"; sep=", "; done
  echo "},"
  printf '  "failed": {'
  sep=""
  for cell in "${!failed[@]}"; do printf '%s%s: %s' "$sep" "$(json_string "$cell")" "$(json_string "${failed[$cell]}")"; sep=", "; done
  echo "}"
  echo "}"
} >"$raw/run.json"

bench_stop "$gosleep_pid" gosleep
rm -f "$raw/gosleep.pid"
# loadgen report writes the tables even when it finds invalid cells (marked, with the
# reason), then exits 1 naming them.
if ! "$bin/loadgen" report "$raw" --output "$results_md"; then
  echo "run_all.sh: $results_md shows cells that are not results (see the line above and its notes); raw results in $raw/" >&2
  exit 1
fi
echo "== raw results in $raw/, tables in $results_md"
if (( ${#failed[@]} )); then
  echo "run_all.sh: ${#failed[@]} cell(s) failed, shown as — in $results_md: ${!failed[*]}" >&2
  exit 1
fi
