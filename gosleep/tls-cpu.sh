#!/usr/bin/env bash
# gosleep's CPU per request over HTTPS next to plain HTTP (issue 28): loadgen at a fixed
# open-loop rate against `/sleep?ms=0`, gosleep on one pinned thread, loadgen on the other
# core, gosleep's CPU sampled by loadgen (--server-pid). Five cases, alternated per round:
# keep-alive over HTTP and HTTPS, and a new connection per request (Connection: close) over
# HTTP, over HTTPS resuming sessions, and over HTTPS with full handshakes only
# (loadgen --no-tls-resumption). HTTPS uses --tls-self-signed and loadgen --cacert.
#
# Usage: gosleep/tls-cpu.sh [--rounds N] [--duration T]
#   --rounds N     rounds of the five cases (default 3)
#   --duration T   recorded time of each run, loadgen's -d (default 10s)
#
# Builds gosleep and loadgen (release) first. Prints a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3 duration=10s
while (( $# )); do
  case $1 in
    --rounds) rounds=${2:?--rounds needs a value}; shift ;;
    --duration) duration=${2:?--duration needs a value}; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "tls-cpu.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

# Open-loop rates every case holds on the 2-core machine: keep-alive far below gosleep's
# limit; per-connection rates below what loadgen's own handshakes allow on one core.
KEEPALIVE_RATE=3000 CLOSE_RATE=150

cargo build --release -p gosleep -p loadgen >&2
gosleep=target/release/gosleep loadgen=target/release/loadgen
work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

pin_server=() pin_client=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi

# case_flags CASE: the scheme, then loadgen's flags for that case.
case_flags() {
  case $1 in
    http-keepalive) echo "http -R $KEEPALIVE_RATE -c 50" ;;
    https-keepalive) echo "https -R $KEEPALIVE_RATE -c 50" ;;
    http-close) echo "http -R $CLOSE_RATE -c 20 --no-keepalive" ;;
    https-close-resumed) echo "https -R $CLOSE_RATE -c 20 --no-keepalive" ;;
    https-close-full) echo "https -R $CLOSE_RATE -c 20 --no-keepalive --no-tls-resumption" ;;
  esac
}

echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Command: \`gosleep/tls-cpu.sh --rounds $rounds --duration $duration\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
echo "gosleep --threads 1 (pinned: ${pin_server[*]:-none}), loadgen -t 1 (pinned: ${pin_client[*]:-none}), /sleep?ms=0, 1 s warm-up."
echo
echo "| case | round | rate | requests | gosleep CPU s per 1,000 requests | non-2xx | socket errors | loadgen's TLS handshakes |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for round in $(seq "$rounds"); do
  for name in http-keepalive https-keepalive http-close https-close-resumed https-close-full; do
    read -r scheme flags <<<"$(case_flags "$name")"
    tls=() trust=() host=127.0.0.1
    if [[ $scheme == https ]]; then
      tls=(--tls-self-signed "$work/ca.pem") trust=(--cacert "$work/ca.pem") host=localhost
    fi
    : >"$work/gosleep.out"
    "${pin_server[@]}" "$gosleep" --listen 127.0.0.1:0 --threads 1 "${tls[@]}" >"$work/gosleep.out" 2>&1 &
    pid=$!
    addr=""
    for _ in $(seq 100); do
      addr=$(sed -n 's|.*listening on http://||p' "$work/gosleep.out")
      [[ -n $addr ]] && break
      sleep 0.1
    done
    [[ -n $addr ]] || { echo "gosleep did not start: $(cat "$work/gosleep.out")" >&2; exit 1; }
    # shellcheck disable=SC2086 # $flags is a list of loadgen flags
    "${pin_client[@]}" "$loadgen" -t 1 -d "$duration" --warmup 1s $flags "${trust[@]}" --server-pid "$pid" \
      --json "$work/run.json" "$scheme://$host:${addr##*:}/sleep?ms=0" >"$work/loadgen.out" 2>&1
    handshakes=$(sed -n 's/.*TLS handshakes: \(.*\), latency.*/\1/p' "$work/loadgen.out")
    requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/loadgen.out")
    cpu=$(printf %.4f "$("$loadgen" field "$work/run.json" cpu_per_1k_requests)")
    rate=$(sed -n 's/.*-R \([0-9]*\).*/\1/p' <<<"$flags")
    echo "| $name | $round | $rate | $requests | $cpu | $("$loadgen" field "$work/run.json" non_2xx) | $("$loadgen" field "$work/run.json" socket_errors) | ${handshakes:-—} |"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
  done
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
