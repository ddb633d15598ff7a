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
# that dies during its cell has that cell marked failed (exit 1 at the end); one alive but
# still not answering /health 30 s after its cell keeps its figures with a note saying
# so (an overloaded server working off what its load left in flight). If the report
# finds a cell that cannot be a result (over Little's bound, or mostly errors), it marks
# it invalid and the run exits 1. gosleep's PID is in DIR/gosleep.pid while it runs.
#
# Then, unless --no-capacity, the capacity phase: a second gosleep at a shorter delay
# (--capacity-delay-ms, so that the connections a search needs fit the fd limit), and for
# each mode x endpoint x server `loadgen capacity`, which raises an open-loop rate until the
# server breaks its latency SLO and says what bound it (CPU, its pool, a concurrency cap,
# the fd budget, or the client side). Each server runs it under a CPU quota of
# --capacity-quota cores (a cgroup, where one can be made; 0 = none) so that the server,
# not loadgen and gosleep on the other core, is what runs out first; the quota is in
# results.md beside every capacity figure.
#
# With --tls, every table and every search runs twice: over plain HTTP as above, then
# against a gosleep serving HTTPS (--tls-self-signed: a CA it makes at start, whose PEM it
# writes to DIR/upstream-ca.pem), each server calling https://127.0.0.1:PORT and trusting
# that CA alone (--upstream-ca). For each HTTPS table cell, gosleep's /stats is reset as
# loadgen's window opens and kept when loadgen ends (DIR/CELL.upstream.json): its TLS
# handshakes, full and resumed, per request answered are rows of results.md's HTTPS
# tables. A run without --tls is the plain-HTTP run alone, as before the flag existed.
#
# With --python, the three servers of the original Python experiment (python/: Flask,
# Starlette, tornado) run beside the Rust ones in every cell, as baselines; python/setup.sh
# makes their venv the first time. Where no usable python3 exists, their cells are skipped
# with the reason, which results.md shows.
#
# Every run writes into its own directory, results/<UTC date-time>/ (or --output DIR), and
# points results/latest at it; the repository's results.md and charts change only with
# --publish (or scripts/publish-run.sh later). `./run_all.sh --help` lists every flag.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

command_line="./run_all.sh${*:+ $*}"
# The servers and their settings are servers/roster's: its default set runs unless
# --servers names others (std, the blocking floor, runs when named); the Python baselines
# with --python (or when named).
read -r -a servers <<<"$(bench_roster default=yes)"
read -r -a python_all <<<"$(bench_roster runs=python)"
connections=1000 duration=5 warmup=2 delay_ms=1000 fanout=5 output="" publish=0 python=0
capacity=1 capacity_delay_ms=100 capacity_quota=0.5 tls=0
# Each capacity step: a short warm-up (its connections are open before its clock starts),
# then the recorded window (10 upstream delays at 100 ms), in seconds. Short, as are the
# tables' 5 s: 20 cells and 20 searches of about 10 steps each, plus the build, must fit
# in the run's 15 minutes.
capacity_warmup=0.25 capacity_window=1
# Each server runs with the roster's --threads: a thread-per-request server needs threads
# to hold clients (its Little's bound is min(C, pool) / D), an async one gets one worker, as
# it gets one pinned core. --quick gives the pools quick_pool threads instead.
quick_pool=64 pool_override=""

usage() {
  cat <<EOF
Usage: ./run_all.sh [FLAG]...

Builds the workspace (release), measures every server in the four cells of the original
experiment (connections reused or not x /single or /multiple) against gosleep, then
searches each server's capacity, and renders results.md and its charts.

Flags (default in brackets):
  --quick                  a smoke run of everything in about 3 minutes: 100 connections,
                           1 s + 2 s cells, a 200 ms upstream, pools of $quick_pool threads, capacity
                           steps of 0.2 s + 0.5 s
  --servers LIST           comma-separated, from: ${BENCH_SERVERS[*]}
                           [$(IFS=,; echo "${servers[*]}"); std, the blocking floor, runs when named]
  --python                 add the Python baselines, ${python_all[*]} (python/), to
                           the servers; python/setup.sh makes python/.venv (PyPI) the
                           first time, and without a usable python3 their cells are
                           skipped, with the reason in results.md
  --connections N          connections per table cell [$connections]
  --duration S             recorded seconds per table cell, after $warmup s of warm-up [$duration]
  --delay-ms D             gosleep's delay for the tables, ms [$delay_ms]
  --fanout N               upstream calls per /multiple request [$fanout]
  --tls                    run every table and search a second time against gosleep over
                           HTTPS (rustls; a CA made for the run, trusted by the servers
                           alone), with the upstream's TLS handshakes per request: twice
                           the cells and searches
  --no-capacity            skip the capacity searches
  --capacity-delay-ms D    gosleep's delay for the capacity searches, ms [$capacity_delay_ms]
  --capacity-quota CORES   CPU quota per server during its searches; 0 for none [$capacity_quota]
  --capacity-window S      recorded seconds per search step, after $capacity_warmup s of
                           warm-up; longer is firmer near the knee, about 20 s more per
                           search per added second [$capacity_window]
  --output DIR             write the run into DIR instead of results/<UTC date-time>/
                           (results/latest then stays where it was)
  --publish                when the run is complete (every cell measured and valid), copy
                           its results.md and charts over the repository's; without it the
                           repository's files are never touched
  -h, --help               this help

Output: DIR/run.json (the run's record), DIR/<cell>.json and .txt per cell (loadgen's
result and log; an HTTPS cell's name starts with https-, and its DIR/<cell>.upstream.json
holds gosleep's counters over its window), DIR/results.md and its charts. results/latest
points at the newest run under results/. To publish a run afterwards:
scripts/publish-run.sh results/latest.

Exit status: 0 when every cell was measured and valid; 1 when a cell failed or was not
a valid result, no cell was measured, or the upstream died (the run stops at once);
2 for a bad flag or value.
EOF
}
while (( $# )); do
  case $1 in
    --quick) connections=100 duration=2 warmup=1 delay_ms=200 pool_override=$quick_pool
             capacity_warmup=0.2 capacity_window=0.5; shift ;;
    --servers) list=$(bench_server_list "$@"); shift 2; IFS=, read -r -a servers <<<"$list" ;;
    --connections) connections=$(bench_value "$@"); shift 2 ;;
    --duration) duration=$(bench_value "$@"); shift 2 ;;
    --delay-ms) delay_ms=$(bench_value "$@"); shift 2 ;;
    --fanout) fanout=$(bench_value "$@"); shift 2 ;;
    --no-capacity) capacity=0; shift ;;
    --tls) tls=1; shift ;;
    --python) python=1; shift ;;
    --capacity-delay-ms) capacity_delay_ms=$(bench_value "$@"); shift 2 ;;
    --capacity-quota) capacity_quota=$(bench_value "$@"); shift 2 ;;
    --capacity-window) capacity_window=$(bench_value "$@"); shift 2 ;;
    --output) output=$(bench_value "$@"); shift 2 ;;
    --publish) publish=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done
if (( python )); then
  for s in "${python_all[@]}"; do
    [[ " ${servers[*]} " == *" $s "* ]] || servers+=("$s")
  done
fi
python_servers=()
for s in "${servers[@]}"; do bench_is_python "$s" && python_servers+=("$s"); done
positive() {
  [[ $2 =~ ^[1-9][0-9]*$ ]] || bench_bad_usage "$1 takes a positive integer, not $2"
}
positive --connections "$connections"
positive --duration "$duration"
positive --delay-ms "$delay_ms"
positive --fanout "$fanout"
positive --capacity-delay-ms "$capacity_delay_ms"
[[ $capacity_quota =~ ^[0-9]+(\.[0-9]+)?$ ]] || bench_bad_usage "--capacity-quota takes a number of cores (e.g. 0.5; 0 for none), not $capacity_quota"
if ! [[ $capacity_window =~ ^[0-9]+(\.[0-9]+)?$ ]] || [[ $capacity_window =~ ^0+(\.0+)?$ ]]; then
  bench_bad_usage "--capacity-window takes a positive number of seconds (e.g. 3), not $capacity_window"
fi

# The upstream's schemes, each a full set of cells: plain HTTP always, HTTPS with --tls
# (curl then asks gosleep, over TLS, for its counters).
schemes=(http)
if (( tls )); then
  schemes+=(https)
  bench_need curl || exit 1
fi

if [[ -n $output ]]; then
  raw=$output
else
  raw=results/$(date -u +%Y%m%d-%H%M%S)
fi
results_md=$raw/results.md
mkdir -p "$raw"
# results/latest: the newest run under results/, to read (and publish) without its date.
[[ -z $output ]] && ln -sfn "$(basename "$raw")" results/latest
echo "== this run: $raw/"

echo "== building (release)"
bench_build
bin=target/release

# The Python servers' venv; where it cannot exist, their cells are skipped (python_unavailable).
python_versions="" python_unavailable=""
if (( ${#python_servers[@]} )); then
  echo "== python: python/setup.sh (python/.venv)"
  python_rc=0
  bench_python_setup || python_rc=$?
  case $python_rc in
    0) python_versions=$(python/setup.sh --versions)
       echo "== python: $python_versions" ;;
    3) python_unavailable=$BENCH_WHY
       echo "== python: not here ($python_unavailable); the cells of ${python_servers[*]} are skipped" ;;
    *) echo "run_all.sh: python/setup.sh failed ($BENCH_WHY); nothing measured" >&2
       exit 1 ;;
  esac
fi

ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -n)

bench_pins
if [[ -n $server_pin ]]; then
  pinning="server on core 0; loadgen and gosleep on core 1 (taskset)"
else
  pinning="none ($(nproc) core(s)$(command -v taskset >/dev/null || echo ', no taskset'))"
fi
echo "== pinning: $pinning"

# start_upstream DELAY_MS SCHEME: (re)starts gosleep at that delay on the client core,
# serving SCHEME (http, or https with a CA of its own in ca_file, which the servers and
# this script's probes then trust); its PID is in DIR/gosleep.pid while it runs. Sets
# upstream (the servers' --upstream) and upstream_addr (what the probes ask).
gosleep_pid=""
ca_file=$raw/upstream-ca.pem
start_upstream() {
  [[ -n $gosleep_pid ]] && bench_stop "$gosleep_pid" gosleep
  if [[ $2 == https ]]; then
    # The CA of an earlier gosleep of this run must not pass for this one's.
    rm -f "$ca_file"
    bench_trust "$ca_file"
    bench_start gosleep "$client_pin" "$bin/gosleep" --listen 127.0.0.1:0 --delay-ms "$1" --tls-self-signed "$ca_file"
    # An IP literal, as in the http:// cells: a host name would add a lookup per new
    # connection that some clients make on a thread of their own (hyper-util, ureq). The
    # servers still verify it, as a name: gosleep's certificate is made for 127.0.0.1.
    upstream="https://$ADDR" upstream_addr="https://$ADDR" gosleep_pid=$PID
  else
    bench_start gosleep "$client_pin" "$bin/gosleep" --listen 127.0.0.1:0 --delay-ms "$1"
    upstream="http://$ADDR" upstream_addr=$ADDR gosleep_pid=$PID
  fi
  echo "$gosleep_pid" >"$raw/gosleep.pid"
  echo "== gosleep on $upstream, delay $1 ms"
}

# upstream_ok WHEN: gosleep still runs and answers a real upstream call; otherwise the
# run stops here, with one line saying where and what failed.
upstream_ok() {
  bench_serving "$gosleep_pid" "$upstream_addr" "/sleep?ms=0" && return 0
  echo "run_all.sh: stopped $1: the upstream (gosleep) failed: $BENCH_WHY. No results.md written; the raw results so far are in $raw/" >&2
  exit 1
}

threads_of() { if bench_pooled "$1" && [[ -n $pool_override ]]; then echo "$pool_override"; else bench_threads "$1"; fi; }

declare -A skipped=() failed=() noted=()
# How long a live server may take to answer /health after its cell: it may still be
# working off the requests its load left in flight.
settle_s=30

# run_cell CELL SERVER ENDPOINT MODE -- LOADGEN_ARGS...: starts the server (under the CPU
# quota when one is set), runs loadgen LOADGEN_ARGS (its output in DIR/CELL.txt) against
# http://SERVER_ADDR/ENDPOINT, then checks the server and the upstream. A cell whose
# server died is failed; a dead upstream ends the run. Sets cell_rc to loadgen's status.
# Over HTTPS (scheme), the server trusts the run's CA; and when counts_after is set (a
# table cell's warm-up, s), gosleep's /stats is reset that long after loadgen starts, as
# its window opens (it opens its connections first, in far less than the window's
# edge), and kept in DIR/CELL.upstream.json when loadgen ends.
run_cell() {
  local cell=$1 s=$2 endpoint=$3 mode=$4 server_pid server_addr loadgen_pid counting=0
  shift 5
  local flags=(--threads "$(threads_of "$s")" --fanout "$fanout")
  [[ $mode == no-reuse ]] && flags+=(--no-reuse)
  [[ $scheme == https ]] && flags+=(--upstream-ca "$ca_file")
  upstream_ok "before $cell"
  bench_start_server "$s" "$upstream" "${flags[@]}"
  server_pid=$PID server_addr=$ADDR
  [[ $cell == capacity-* && -n $BENCH_QUOTA_DIR ]] && bench_quota_add "$server_pid"
  # In the background and waited for: bash runs the INT/TERM traps during `wait` at
  # once, whereas a foreground child would delay them (or, for a SIGINT sent to this
  # script alone, swallow it).
  # shellcheck disable=SC2086
  $client_pin "$bin/loadgen" "$@" --server-pid "$server_pid" "http://$server_addr/$endpoint" >"$raw/$cell.txt" 2>&1 &
  loadgen_pid=$!
  BENCH_PIDS+=("$loadgen_pid")
  cell_rc=0
  if [[ -n $counts_after ]]; then
    sleep "$counts_after" &
    wait $! || true
    gosleep_reset "$upstream_addr" && counting=1
  fi
  wait "$loadgen_pid" || cell_rc=$?
  bench_forget "$loadgen_pid"
  # No file when the reset or the read failed: the report says the counts are missing.
  if (( counting )) && ! gosleep_stats "$upstream_addr" >"$raw/$cell.upstream.json"; then
    rm -f "$raw/$cell.upstream.json"
  fi
  # The server first: a server that died makes a failed cell; one still busy long after
  # its load keeps its figures, noted; a dead upstream ends the run before this cell's
  # figure is printed as if it were one.
  if bench_settles "$server_pid" "$server_addr" /health "$settle_s"; then
    bench_stop "$server_pid" "$s"
  elif bench_alive "$server_pid"; then
    noted[$cell]="server-$s was still busy after the cell ($BENCH_WHY); its figures stand, and it was stopped"
    echo "-- $cell: ${noted[$cell]}"
    bench_stop "$server_pid" "$s"
  else
    failed[$cell]="server-$s failed during the cell: $BENCH_WHY"
  fi
  upstream_ok "after $cell"
}

# runnable CELL SERVER: false, with the cell marked skipped, for a Python server where
# python3 is not usable.
runnable() {
  if [[ -z $python_unavailable ]] || ! bench_is_python "$2"; then return 0; fi
  skipped[$1]="the Python servers did not run: $python_unavailable"
  echo "-- $1: skipped (${skipped[$1]})"
  return 1
}

# fits CELL ENDPOINT CONNECTIONS: a proxy holds C client sockets plus C x calls upstream
# sockets (loadgen holds C): false, with the cell marked skipped, when that passes the limit.
fits() {
  local calls=1
  [[ $2 == multiple ]] && calls=$fanout
  local need=$(( $3 * (1 + calls) + 100 ))
  (( need <= fd_limit )) && return 0
  skipped[$1]="needs $need file descriptors (C x (1 + calls)), the limit is $fd_limit"
  echo "-- $1: skipped (${skipped[$1]})"
  return 1
}

# Progress: "-> [7/40] CELL: WHAT (about 6 min left)". The time left is each phase's cells
# to go times its mean cell so far; before a phase's first cell, a table cell's warm-up and
# window plus a second, and a search of search_steps_guess steps (with their settling).
cells_per_phase=$(( ${#servers[@]} * 4 * ${#schemes[@]} ))
cells_total=$(( cells_per_phase * (1 + capacity) )) cells_done=0 measured=0
tables_seen=0 searches_seen=0 table_s=0 table_n=0 search_s=0 search_n=0 search_steps_guess=12
# announce CELL WHAT: the progress line as a cell (or a skipped one) starts; the time left
# counts this cell.
announce() {
  local this_table=1 this_search=0 tables_left searches_left=0
  [[ $1 == capacity-* ]] && this_table=0 this_search=1
  cells_done=$(( cells_done + 1 ))
  tables_seen=$(( tables_seen + this_table )) searches_seen=$(( searches_seen + this_search ))
  tables_left=$(( cells_per_phase - tables_seen + this_table ))
  (( capacity )) && searches_left=$(( cells_per_phase - searches_seen + this_search ))
  awk -v tl="$tables_left" -v ts="$table_s" -v tn="$table_n" -v sl="$searches_left" -v ss="$search_s" \
      -v sn="$search_n" -v tguess="$(( warmup + duration + 1 ))" -v steps="$search_steps_guess" \
      -v sw="$capacity_warmup" -v sd="$capacity_window" -v line="-> [$cells_done/$cells_total] $1: $2" '
    BEGIN {
      per_search = sn ? ss / sn : steps * (sw + sd + 0.3)
      per_table = tn ? ts / tn : tguess
      left = tl * per_table + sl * per_search
      printf "%s (about %s left)\n", line, (left >= 90 ? sprintf("%.0f min", left / 60) : sprintf("%.0f s", left))
    }'
}

# The cells' names: an HTTPS cell's starts with https- (the report's names).
prefix_of() { if [[ $1 == https ]]; then echo https-; fi; }
counts_after=""
for scheme in "${schemes[@]}"; do
  start_upstream "$delay_ms" "$scheme"
  # Over HTTPS, each table cell keeps gosleep's counts over its window.
  [[ $scheme == https ]] && counts_after=$warmup
  for mode in no-reuse reuse; do
    for endpoint in single multiple; do
      for s in "${servers[@]}"; do
        cell="$(prefix_of "$scheme")$mode-$endpoint-$s"
        announce "$cell" "$connections connections, ${warmup} s warm-up + ${duration} s"
        if ! runnable "$cell" "$s" || ! fits "$cell" "$endpoint" "$connections"; then continue; fi
        lg_flags=()
        [[ $mode == no-reuse ]] && lg_flags+=(--no-keepalive)
        started=$SECONDS
        run_cell "$cell" "$s" "$endpoint" "$mode" -- -c "$connections" -t 1 -d "${duration}s" --warmup "${warmup}s" \
          --timeout 30s "${lg_flags[@]}" --latency --json "$raw/$cell.json"
        table_s=$(( table_s + SECONDS - started )) table_n=$(( table_n + 1 ))
        if [[ -n ${failed[$cell]:-} ]]; then
          echo "<- $cell: FAILED (${failed[$cell]})"
        elif (( cell_rc != 0 )); then
          failed[$cell]="loadgen failed (status $cell_rc): $(tail -1 "$raw/$cell.txt")"
          echo "<- $cell: FAILED (${failed[$cell]})"
        else
          measured=$(( measured + 1 ))
          echo "<- $cell: $(text_rps "$raw/$cell.txt") req/s, errors: $(loadgen_errors "$raw/$cell.txt")"
        fi
      done
    done
  done
done
counts_after=""

# The capacity phase: loadgen capacity per cell, at the shorter upstream delay.
quota_cores=""
if (( capacity )); then
  start_upstream "$capacity_delay_ms" "${schemes[0]}"
  if [[ $capacity_quota != 0 && $capacity_quota != 0.0 ]]; then
    if bench_quota_setup "$capacity_quota"; then
      quota_cores=$capacity_quota
      echo "== capacity: each server under a CPU quota of $capacity_quota core(s) ($BENCH_QUOTA_DIR)"
    else
      echo "== capacity: no CPU quota ($BENCH_WHY); a fast server's figures may be client-bound (marked so)"
    fi
  fi
  for scheme in "${schemes[@]}"; do
    [[ $scheme == "${schemes[0]}" ]] || start_upstream "$capacity_delay_ms" "$scheme"
    for mode in no-reuse reuse; do
      for endpoint in single multiple; do
        for s in "${servers[@]}"; do
          cell="capacity-$(prefix_of "$scheme")$mode-$endpoint-$s"
          calls=1
          [[ $endpoint == multiple ]] && calls=$fanout
          # The server's sockets bound the search's connections (see fits).
          max_c=$(( (fd_limit - 100) / (1 + calls) ))
          cap_flags=(--upstream-pid "$gosleep_pid" --max-connections "$max_c" -d "${capacity_window}s" --warmup "${capacity_warmup}s"
            --timeout 10s --json "$raw/$cell.json")
          [[ $mode == no-reuse ]] && cap_flags+=(--no-keepalive)
          bench_pooled "$s" && cap_flags+=(--pool "$(threads_of "$s")")
          # The light first step must be light for the server (the roster says which need one).
          start_rate=$(bench_start_rate "$s")
          [[ -n $start_rate ]] && cap_flags+=(--start-rate "$start_rate")
          announce "$cell" "search"
          runnable "$cell" "$s" || continue
          started=$SECONDS
          run_cell "$cell" "$s" "$endpoint" "$mode" -- capacity "${cap_flags[@]}"
          search_s=$(( search_s + SECONDS - started )) search_n=$(( search_n + 1 ))
          verdict=$(grep '^capacity: ' "$raw/$cell.txt" || true)
          if [[ -n ${failed[$cell]:-} ]]; then
            echo "<- $cell: FAILED (${failed[$cell]})"
          elif [[ ! -s $raw/$cell.json ]]; then
            # A first step that failed still writes its record (exit 1); no record is a failure.
            failed[$cell]="loadgen capacity failed (status $cell_rc): $(tail -1 "$raw/$cell.txt")"
            echo "<- $cell: FAILED (${failed[$cell]})"
          else
            measured=$(( measured + 1 ))
            echo "<- $cell: ${verdict:-no verdict}"
          fi
        done
      done
    done
  done
fi

# The run's own record, for the report: written by loadgen, which checks it as the report will.
record=(--command "$command_line" --date "$(date -u '+%Y-%m-%d %H:%M UTC')" --cpu "$(bench_cpu_model)" --cores "$(nproc)"
  --kernel "$(uname -sr)" --memory-gib "$(bench_memory_gib)" --rustc "$(rustc --version)" --delay-ms "$delay_ms"
  --fanout "$fanout" --connections "$connections" --duration-s "$duration" --warmup-s "$warmup" --pinning "$pinning")
# The report's columns, in this order.
for s in "${servers[@]}"; do
  record+=(--server "$s=$(threads_of "$s")")
  bench_pooled "$s" && record+=(--pooled "$s")
done
for s in "${python_servers[@]}"; do record+=(--python-server "$s"); done
[[ -n $python_versions ]] && record+=(--python-versions "$python_versions")
[[ -n $python_unavailable ]] && record+=(--python-unavailable "$python_unavailable")
(( tls )) && record+=(--tls)
if (( capacity )); then
  record+=(--capacity-delay-ms "$capacity_delay_ms")
  [[ -n $quota_cores ]] && record+=(--capacity-quota "$quota_cores")
fi
for cell in "${!skipped[@]}"; do record+=(--skipped "$cell=${skipped[$cell]}"); done
for cell in "${!failed[@]}"; do record+=(--failed "$cell=${failed[$cell]}"); done
for cell in "${!noted[@]}"; do record+=(--note "$cell=${noted[$cell]}"); done
"$bin/loadgen" record "${record[@]}" --output "$raw/run.json"

bench_stop "$gosleep_pid" gosleep
rm -f "$raw/gosleep.pid"
if (( measured == 0 )); then
  echo "run_all.sh: no cell was measured (${#skipped[@]} skipped, ${#failed[@]} failed; why is in $raw/run.json); no results.md written" >&2
  exit 1
fi
# loadgen report writes the tables even when it finds invalid cells (marked, with the
# reason), then exits 1 naming them.
if ! "$bin/loadgen" report "$raw" --output "$results_md"; then
  echo "run_all.sh: $results_md shows cells that are not results (see the line above and its notes)" >&2
  exit 1
fi
echo "== results in $results_md (raw results beside it)"
if (( ${#failed[@]} )); then
  echo "run_all.sh: ${#failed[@]} cell(s) failed, shown as — in $results_md: ${!failed[*]}" >&2
  exit 1
fi
# What scripts/publish-run.sh checks before it copies a run over the repository's files.
echo complete >"$raw/status"
if (( publish )); then
  scripts/publish-run.sh "$raw"
else
  echo "== the repository's results.md is unchanged; to publish this run: scripts/publish-run.sh $raw"
fi
