# shellcheck shell=bash
# The figures part of scripts/bench-lib.sh (which sources it): CPU and memory read from
# /proc, wrk's and loadgen's outputs read for the scripts' tables, and the machine line.

# CPU ticks (user + system, all threads) and peak RSS (KiB) of a process; and the CPU
# ticks of the children a process has waited for (a tool run in the foreground, whose own
# /proc entry is gone when it has ended), as "USER SYSTEM" (cutime, cstime).
bench_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
bench_children_cpu_ticks_split() { awk '{print $16, $17}' "/proc/$1/stat"; }
# bench_cpu_per_1000 TICKS_BEFORE TICKS_AFTER REQUESTS: CPU seconds per 1,000 requests, for
# CPU read from /proc around a run that loadgen did not sample (wrk's, a tool's own);
# loadgen's --server-pid runs give theirs as `loadgen_field JSON cpu_per_1k_requests`.
bench_cpu_per_1000() { awk -v a="$2" -v b="$1" -v t="$BENCH_TCK" -v n="$3" 'BEGIN {printf "%.4f", (n > 0) ? (a - b) / t / n * 1000 : 0}'; }
# bench_cpu_percent TICKS_BEFORE TICKS_AFTER SECONDS: CPU use in % of one core.
bench_cpu_percent() { awk -v a="$2" -v b="$1" -v t="$BENCH_TCK" -v d="$3" 'BEGIN {printf "%.0f%%", 100 * (a - b) / t / d}'; }

# bench_wrk PIN THREADS CONNS SECONDS URL: runs wrk, keeps its output in $BENCH_TMP/wrk.out.
bench_wrk() {
  local pin=$1
  shift
  # shellcheck disable=SC2086
  $pin wrk -t "$1" -c "$2" -d "$3s" --timeout 10s --latency "$4" >"$BENCH_TMP/wrk.out" 2>&1
}

# Figures from the last wrk run. Latencies carry units (us, ms, s, m); printed in ms.
wrk_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /m$/) {sub(/m/,"",v); v*=60000} else {sub(/s/,"",v); v*=1000} printf "%.1f", v}'; }
# text_rps FILE: the requests/s of a run printed in wrk's text format (wrk's or loadgen's).
# text_requests FILE: its count of completed requests (the "N requests in" line).
text_rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
text_requests() { awk '/requests in/ {print $1}' "$1"; }
wrk_rps() { text_rps "$BENCH_TMP/wrk.out"; }
wrk_requests() { text_requests "$BENCH_TMP/wrk.out"; }
wrk_p50() { awk '$1 == "50%" {print $2}' "$BENCH_TMP/wrk.out" | wrk_ms; }
wrk_p99() { awk '$1 == "99%" {print $2}' "$BENCH_TMP/wrk.out" | wrk_ms; }
# "none", or wrk's socket error counts and non-2xx count, in one cell.
wrk_errors() {
  awk '/Socket errors/ {sub(/^ *Socket errors: */, ""); e = $0} /Non-2xx/ {n = $NF}
       END {s = ""; if (e != "") s = e; if (n != "") s = s (s == "" ? "" : "; ") "non-2xx " n; print (s == "" ? "none" : s)}' \
    "$BENCH_TMP/wrk.out"
}

# Figures from a loadgen run. loadgen_field JSON PATH: the value at PATH (keys joined by
# dots: requests, latency_summary.p99_us, server.cpu_percent) of a JSON file (- for stdin),
# or a figure derived from a run's --json (cpu_per_1k_requests); "null" for none, and a
# message and exit 1 for a path the file lacks. loadgen_errors TEXT: "none" or the error
# lines of loadgen's text output, in one cell.
loadgen_field() { target/release/bench field "$@"; }
loadgen_errors() {
  awk '/Socket errors|Non-2xx/ {sub(/^ */, ""); e = e (e == "" ? "" : "; ") $0} END {print (e == "" ? "none" : e)}' "$1"
}

# gosleep_stats ADDR: all of gosleep's /stats, as JSON (nothing, and status 1, when it does
# not answer 200); gosleep_reset ADDR zeroes them. ADDR is HOST:PORT, or https://HOST:PORT
# for a gosleep serving HTTPS (trusting bench_trust's CA).
gosleep_url() { if [[ $1 == https://* ]]; then echo "$1"; else echo "http://$1"; fi; }
gosleep_stats() { curl -sf "${BENCH_CA_FLAGS[@]}" "$(gosleep_url "$1")/stats"; }
gosleep_reset() { curl -s "${BENCH_CA_FLAGS[@]}" -X POST "$(gosleep_url "$1")/stats/reset" >/dev/null; }

# The machine: its CPU model and memory (GiB); bench_machine: one line naming the machine
# and tools, for a report's header.
bench_cpu_model() { awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo; }
bench_memory_gib() { free -g | awk '/Mem:/ {print $2}'; }
bench_machine() {
  local tools=""
  command -v wrk >/dev/null && tools=", $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "$(nproc) cores, $(bench_cpu_model), $(uname -sr), $(bench_memory_gib) GiB$tools"
}

# An awk function for the scripts' tables: median(LIST) of a space-separated list of
# numbers, leaving its smallest and largest in lo and hi (mawk has no sort: insertion).
# Use: awk "$BENCH_AWK_MEDIAN"' ...program...'
# shellcheck disable=SC2034 # read by the sourcing scripts
BENCH_AWK_MEDIAN='
  function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    lo = v[1]; hi = v[n]
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }'
