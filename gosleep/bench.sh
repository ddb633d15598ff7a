#!/usr/bin/env bash
# gosleep/bench.sh: is gosleep ever the bottleneck? Two measurements, printed as Markdown:
#  1. --delay-ms 1000 with 10,000 concurrent wrk connections: RPS against the Little's-law
#     bound (C / D = 10,000/s) and p99 latency (must stay near 1 s);
#  2. ms=0 with 100 keep-alive connections: requests/second and gosleep's CPU seconds per
#     1,000 requests, side by side with a minimal Go net/http server (bench/gosleep.go),
#     alternated, each pinned to the same core with one thread (GOMAXPROCS=1).
# Everything targets 127.0.0.1, every run is bounded by wrk's -d, and a trap stops every
# process this script started, by PID. wrk comes from Debian's packages (installed if
# missing and we are root); the Go comparison is skipped when no `go` is found.
#
# Usage: gosleep/bench.sh [--quick]      (--quick: short runs, for a smoke test)
set -euo pipefail
cd "$(dirname "$0")/.."

long=60 short=10 rounds=3 conns=10000
if [[ "${1:-}" == "--quick" ]]; then long=5 short=3 rounds=1 conns=2000; fi

if ! command -v wrk >/dev/null; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
  else
    echo "bench.sh: wrk not found (Debian: apt-get install wrk)" >&2; exit 1
  fi
fi
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < conns + 100 )); then
  echo "bench.sh: need ulimit -n >= $((conns + 100)) for $conns connections, have $(ulimit -n)" >&2; exit 1
fi

cargo build --release -p gosleep >&2
gosleep=target/release/gosleep
tmp=$(mktemp -d)
go_bin=""
if command -v go >/dev/null; then
  (cd gosleep/bench && GOCACHE="$tmp/gocache" go build -o "$tmp/go-sleep" gosleep.go) && go_bin="$tmp/go-sleep"
fi

# Pin servers to core 0 and wrk to core 1 when there are two cores and taskset exists.
server_pin=() client_pin=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  server_pin=(taskset -c 0) client_pin=(taskset -c 1)
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start NAME CMD... : runs CMD in the background, waits for its "listening on http://ADDR"
# line, sets PID and ADDR.
start() {
  local name=$1; shift
  "${server_pin[@]}" "$@" >"$tmp/$name.out" 2>&1 &
  PID=$!; pids+=("$PID")
  for _ in $(seq 100); do
    ADDR=$(sed -n 's|.*listening on http://||p' "$tmp/$name.out")
    [[ -n "$ADDR" ]] && return 0
    sleep 0.1
  done
  echo "bench.sh: $name did not start: $(cat "$tmp/$name.out")" >&2; exit 1
}
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)

# wrk's latency figures carry units (us, ms, s); print them in ms.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /m$/) {sub(/m/,"",v); v*=60000} else {sub(/s/,"",v); v*=1000} printf "%.1f", v}'; }

run_wrk() { # threads conns duration url -> wrk output in $tmp/wrk.out
  "${client_pin[@]}" wrk -t "$1" -c "$2" -d "$3s" --timeout 10s --latency "$4" >"$tmp/wrk.out" 2>&1
}
rps() { awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.out"; }
p99() { awk '$1 == "99%" {print $2}' "$tmp/wrk.out" | to_ms; }
p50() { awk '$1 == "50%" {print $2}' "$tmp/wrk.out" | to_ms; }
socket_errors() { awk '/Socket errors/ {print $0; found=1} END {if (!found) print "none"}' "$tmp/wrk.out"; }

echo "# gosleep benchmark"
echo
echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr), $(free -g | awk '/Mem:/ {print $2}') GiB; $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); $(go version 2>/dev/null || echo 'no go')."
echo "Command: \`gosleep/bench.sh $*\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
echo

# start_named NAME THREADS: starts gosleep (NAME=gosleep) or the Go twin (NAME=go) with
# THREADS worker threads ("all": the default, one per CPU), pinned as server_pin says.
start_named() {
  local name=$1 threads=$2
  if [[ $name == gosleep ]]; then
    if [[ $threads == all ]]; then start "$name" "$gosleep" --listen 127.0.0.1:0 --delay-ms 1000
    else start "$name" "$gosleep" --listen 127.0.0.1:0 --delay-ms 1000 --threads "$threads"; fi
  else
    if [[ $threads == all ]]; then start "$name" "$go_bin" --listen 127.0.0.1:0
    else GOMAXPROCS=$threads start "$name" "$go_bin" --listen 127.0.0.1:0; fi
  fi
}
servers=(gosleep); [[ -n "$go_bin" ]] && servers+=(go)

# 1. Many sleepers: 1000 ms sleeps on $conns connections. Nothing pinned: server and wrk
#    share both cores, every thread they want, as a user's run on this machine would.
saved_pin=("${server_pin[@]}") saved_client=("${client_pin[@]}")
server_pin=() client_pin=()
echo "## Many sleepers: ms=1000, $conns connections, ${long} s, unpinned (both cores shared with wrk -t 2)"
echo
echo "| server | RPS | Little's bound (C/D) | efficiency | p50 ms | p99 ms | server CPU (% of one core) | wrk socket errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for s in "${servers[@]}"; do
  start_named "$s" all
  before=$(cpu_ticks "$PID")
  run_wrk 2 "$conns" "$long" "http://$ADDR/sleep?ms=1000"
  after=$(cpu_ticks "$PID")
  r=$(rps)
  cpu=$(awk -v a="$after" -v b="$before" -v t="$tck" -v d="$long" 'BEGIN {printf "%.0f%%", 100 * (a - b) / t / d}')
  eff=$(awk -v r="$r" -v b="$conns" 'BEGIN {printf "%.1f%%", 100 * r / b}')
  echo "| $s | $r | $conns | $eff | $(p50) | $(p99) | $cpu | $(socket_errors) |"
  stop "$PID"
done
echo
echo "A closed loop completes nothing in its first second, so a ${long} s run reaches at most $(( long - 1 ))/${long} of the bound."
echo "All connections start together, so their requests arrive in waves of up to $conns at once;"
echo "p99 measures how fast server and wrk together clear a wave, not the timer."
echo
server_pin=("${saved_pin[@]}") client_pin=("${saved_client[@]}")

# 2. Raw speed: ms=0, 100 keep-alive connections, one server thread pinned to core 0,
#    wrk pinned to core 1.
echo "## Raw speed: ms=0, 100 keep-alive connections, one server thread (pinned: ${server_pin[*]:-none}), ${short} s per run, alternated"
echo
echo "| server | run | RPS | p99 ms | server CPU s per 1,000 requests |"
echo "|---|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
  for s in "${servers[@]}"; do
    start_named "$s" 1
    before=$(cpu_ticks "$PID")
    run_wrk 1 100 "$short" "http://$ADDR/sleep?ms=0"
    after=$(cpu_ticks "$PID")
    r=$(rps)
    reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
    cpu=$(awk -v a="$after" -v b="$before" -v t="$tck" -v n="$reqs" 'BEGIN {printf "%.4f", (a - b) / t / n * 1000}')
    echo "| $s | $round | $r | $(p99) | $cpu |"
    stop "$PID"
  done
done
[[ -z "$go_bin" ]] && echo && echo "(no \`go\` found: the Go comparison was skipped; Debian: apt-get install golang-go)"
echo
