#!/usr/bin/env bash
# gosleep/bench.sh: is gosleep ever the bottleneck? Two measurements, printed as Markdown:
#  1. 1000 ms sleeps on 10,000 concurrent wrk connections: RPS against the Little's-law
#     bound (C / D = 10,000/s), p99 latency, CPU use; gosleep and a minimal Go net/http
#     twin (bench/gosleep.go) under the same load;
#  2. ms=0 with 100 keep-alive connections: requests/second and CPU seconds per 1,000
#     requests, gosleep and the Go twin alternated, each with one thread (GOMAXPROCS=1)
#     pinned to core 0, wrk pinned to core 1.
#  3. with --tls, instead: HTTPS at ms=0, gosleep and the Go twin serving one ECDSA P-256
#     certificate (made here with openssl), one thread each pinned to core 0, wrk (OpenSSL)
#     pinned to core 1, alternated: 100 keep-alive connections, then `Connection: close` on
#     50 (a TCP connection and a TLS handshake per request); gosleep's /stats says how many
#     of its handshakes were full and how many resumed. With `--server-cores X`, the server
#     runs under a CPU quota of X cores, so that it, not wrk's one core, is the bound: wrk
#     making a handshake per request saturates its core before either server does.
# Everything targets 127.0.0.1, every run is bounded by wrk's -d, and the EXIT trap stops
# every process this script started, by PID. wrk, openssl and Go come from Debian's packages
# (installed if missing and we are root); without `go` the Go comparison is skipped.
#
# Usage: gosleep/bench.sh [--quick] [--tls [--server-cores X]]
#   --quick           short runs, for a smoke test
#   --tls             the HTTPS comparison (3.) instead of 1. and 2.
#   --server-cores X  with --tls: the server under a CPU quota of X cores (e.g. 0.4; a
#                     cgroup, needs root) [no quota]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

args="$*"
long=60 short=10 rounds=3 conns=10000 tls=0 cores=""
while (( $# )); do
  case $1 in
    --quick) long=5 short=3 rounds=1 conns=2000 ;;
    --tls) tls=1 ;;
    --server-cores)
      [[ ${2:-} =~ ^(0\.[0-9]*[1-9][0-9]*|[1-9][0-9]*(\.[0-9]+)?)$ ]] || bench_bad_usage "--server-cores takes a positive number of cores, e.g. 0.4"
      cores=$2
      shift ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
  shift
done
if [[ -n $cores ]] && (( ! tls )); then bench_bad_usage "--server-cores needs --tls"; fi

bench_need wrk
if (( tls )); then
  bench_need openssl
  command -v go >/dev/null || bench_need golang-go 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < conns + 100 )); then
  echo "bench.sh: need ulimit -n >= $((conns + 100)) for $conns connections, have $(ulimit -n)" >&2; exit 1
fi

bench_build
gosleep=target/release/gosleep
go_bin=""
if command -v go >/dev/null; then
  (cd gosleep/bench && GOCACHE="$BENCH_TMP/gocache" go build -o "$BENCH_TMP/go-sleep" gosleep.go) && go_bin="$BENCH_TMP/go-sleep"
fi
servers=(gosleep)
[[ -n "$go_bin" ]] && servers+=(go)

# Pin to core 0 (server) and core 1 (wrk) when there are two cores and taskset exists.
bench_pins

# start_named NAME PIN THREADS: gosleep or the Go twin with THREADS worker threads
# ("all": the default, one per CPU).
start_named() {
  local name=$1 pin=$2 threads=$3
  if [[ $name == gosleep ]]; then
    local extra=()
    [[ $threads != all ]] && extra=(--threads "$threads")
    bench_start "$name" "$pin" "$gosleep" --listen 127.0.0.1:0 --delay-ms 1000 "${extra[@]}"
  elif [[ $threads == all ]]; then
    bench_start "$name" "$pin" "$go_bin" --listen 127.0.0.1:0
  else
    GOMAXPROCS=$threads bench_start "$name" "$pin" "$go_bin" --listen 127.0.0.1:0
  fi
}

echo "# gosleep benchmark"
echo
echo "Machine: $(bench_machine), $(go version 2>/dev/null || echo 'no go')."
echo "Command: \`gosleep/bench.sh $args\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
echo

if (( tls )); then
  # One self-signed ECDSA P-256 leaf for both servers (wrk verifies nothing).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$BENCH_TMP/key.pem" -out "$BENCH_TMP/cert.pem" 2>/dev/null
  bench_trust "$BENCH_TMP/cert.pem"
  quota_note=""
  if [[ -n $cores ]]; then
    bench_quota_setup "$cores" || { echo "--server-cores: $BENCH_WHY" >&2; exit 1; }
    quota_note=", each server under a CPU quota of $cores cores"
  fi
  # start_tls NAME: gosleep or the Go twin on HTTPS, one thread, pinned to the server core.
  start_tls() {
    if [[ $1 == gosleep ]]; then
      bench_start gosleep "$server_pin" "$gosleep" --listen 127.0.0.1:0 --threads 1 \
        --tls-cert "$BENCH_TMP/cert.pem" --tls-key "$BENCH_TMP/key.pem"
    else
      GOMAXPROCS=1 bench_start go "$server_pin" "$go_bin" --listen 127.0.0.1:0 \
        -tls-cert "$BENCH_TMP/cert.pem" -tls-key "$BENCH_TMP/key.pem"
    fi
    if [[ -n $cores ]]; then bench_quota_add "$PID"; fi
  }
  # gosleep's handshake counters over the run, "full F, resumed R, failed X".
  tls_stats() {
    local stats
    stats=$(gosleep_stats "https://$1")
    printf 'full %s, resumed %s, failed %s' "$(loadgen_field - tls_handshakes_full <<<"$stats")" \
      "$(loadgen_field - tls_handshakes_resumed <<<"$stats")" "$(loadgen_field - tls_failures <<<"$stats")"
  }
  echo "## HTTPS: ms=0, one server thread (pinned: ${server_pin:-none}), wrk -t 1 (pinned: ${client_pin:-none})${quota_note}, ${short} s per run, alternated"
  echo
  echo "| server | connection | run | RPS | p99 ms | server CPU s per 1,000 requests | server CPU (% of one core) | wrk errors | gosleep's handshakes |"
  echo "|---|---|---:|---:|---:|---:|---:|---|---|"
  for round in $(seq "$rounds"); do
    for mode in keep-alive close; do
      for s in "${servers[@]}"; do
        start_tls "$s"
        headers=() c=100
        [[ $mode == close ]] && headers=(-H 'Connection: close') c=50
        before=$(bench_cpu_ticks "$PID")
        # shellcheck disable=SC2086
        $client_pin wrk -t 1 -c "$c" -d "${short}s" --timeout 10s --latency "${headers[@]}" "https://$ADDR/sleep?ms=0" \
          >"$BENCH_TMP/wrk.out" 2>&1
        after=$(bench_cpu_ticks "$PID")
        handshakes="—"
        [[ $s == gosleep ]] && handshakes=$(tls_stats "$ADDR")
        echo "| $s | $mode ($c) | $round | $(wrk_rps) | $(wrk_p99) | $(bench_cpu_per_1000 "$before" "$after" "$(wrk_requests)") | $(bench_cpu_percent "$before" "$after" "$short") | $(wrk_errors) | $handshakes |"
        bench_stop "$PID"
      done
    done
  done
  # shellcheck disable=SC2016 # the backquotes are Markdown
  [[ -n "$go_bin" ]] || printf '\n(no `go` found: the Go comparison was skipped; Debian: apt-get install golang-go)\n'
  exit 0
fi

# 1. Many sleepers. Nothing pinned: server and wrk share both cores, as a user's run would.
echo "## Many sleepers: ms=1000, $conns connections, ${long} s, unpinned (both cores shared with wrk -t 2)"
echo
echo "| server | RPS | Little's bound (C/D) | efficiency | p50 ms | p99 ms | server CPU (% of one core) | wrk errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for s in "${servers[@]}"; do
  start_named "$s" "" all
  before=$(bench_cpu_ticks "$PID")
  bench_wrk "" 2 "$conns" "$long" "http://$ADDR/sleep?ms=1000"
  after=$(bench_cpu_ticks "$PID")
  r=$(wrk_rps)
  eff=$(awk -v r="$r" -v b="$conns" 'BEGIN {printf "%.1f%%", 100 * r / b}')
  echo "| $s | $r | $conns | $eff | $(wrk_p50) | $(wrk_p99) | $(bench_cpu_percent "$before" "$after" "$long") | $(wrk_errors) |"
  bench_stop "$PID"
done
echo
echo "A closed loop completes nothing in its first second, so a ${long} s run reaches at most $(( long - 1 ))/${long} of the bound."
echo "All connections start together, so their requests arrive in waves of up to $conns at once;"
echo "p99 measures how fast server and wrk together clear a wave, not the timer."
echo

# 2. Raw speed: one server thread pinned to core 0, wrk pinned to core 1.
echo "## Raw speed: ms=0, 100 keep-alive connections, one server thread (pinned: ${server_pin:-none}), ${short} s per run, alternated"
echo
echo "| server | run | RPS | p99 ms | server CPU s per 1,000 requests |"
echo "|---|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
  for s in "${servers[@]}"; do
    start_named "$s" "$server_pin" 1
    before=$(bench_cpu_ticks "$PID")
    bench_wrk "$client_pin" 1 100 "$short" "http://$ADDR/sleep?ms=0"
    after=$(bench_cpu_ticks "$PID")
    echo "| $s | $round | $(wrk_rps) | $(wrk_p99) | $(bench_cpu_per_1000 "$before" "$after" "$(wrk_requests)") |"
    bench_stop "$PID"
  done
done
if [[ -z "$go_bin" ]]; then
  echo
  echo "(no \`go\` found: the Go comparison was skipped; Debian: apt-get install golang-go)"
fi
echo
