#!/usr/bin/env bash
# servers/bench.sh: the servers under the slow-upstream load, measured with wrk, as
# Markdown tables. Upstream delay 1000 ms; per server and case one wrk run:
#   /single and /multiple (fanout 5), with upstream reuse (2,000 connections) and with
#   --no-reuse (1,000 connections, a fresh upstream connection per call).
# The server runs pinned to core 0 with its --threads of servers/roster.toml (one worker for an
# async server; a thread-pool server, e.g. rouille, its pool of 256, its natural unit being
# a thread per request); gosleep (one thread) and wrk (one thread) share core 1. Reported: RPS, efficiency against the Little's-law bound
# min(C, T) / D, p50/p99, wrk's errors, server CPU seconds per 1,000 requests and its
# ratio to server-hyper, server peak RSS, TIME_WAIT sockets left after the run.
# Only 127.0.0.1 is targeted; every run is bounded by wrk's -d; the EXIT trap stops every
# process this script started, by PID.
#
# Usage: servers/bench.sh [--quick] [--servers LIST]
#   --quick          5 s per run at 500 (reuse) and 200 (no reuse) connections
#                    [60 s at 2,000 and 30 s at 1,000]
#   --servers LIST   comma-separated, of servers/roster.toml [its default set]
#   -h, --help       this help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

args="$*"
reuse_secs=60 noreuse_secs=30 reuse_conns=2000 noreuse_conns=1000
read -r -a servers <<<"$(bench_roster default=yes)"
while (( $# )); do
  case $1 in
    --quick) reuse_secs=5 noreuse_secs=5 reuse_conns=500 noreuse_conns=200; shift ;;
    --servers) list=$(bench_server_list "$@"); shift 2; IFS=, read -r -a servers <<<"$list" ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done
delay_ms=1000 fanout=5

bench_need wrk curl
need=$(( reuse_conns * (1 + fanout) + 100 ))
if (( $(ulimit -Hn) < need )); then
  echo "servers/bench.sh: /multiple at $reuse_conns connections needs ulimit -n >= $need, have $(ulimit -Hn)" >&2
  exit 1
fi
bench_servers_setup "$delay_ms" "${servers[@]}"

rows="$BENCH_TMP/rows.tsv"
: >"$rows"
for s in "${servers[@]}"; do
  threads=$(bench_threads "$s")
  for mode in reuse no-reuse; do
    for path in single multiple; do
      if [[ $mode == reuse ]]; then conns=$reuse_conns secs=$reuse_secs flags=(); else conns=$noreuse_conns secs=$noreuse_secs flags=(--no-reuse); fi
      echo "$s /$path $mode: $conns connections, ${secs} s" >&2
      bench_start_server "$s" "$upstream" --threads "$threads" --fanout "$fanout" "${flags[@]}"
      gosleep_reset "$upstream_addr"
      before=$(bench_cpu_ticks "$PID")
      bench_wrk "$client_pin" 1 "$conns" "$secs" "http://$ADDR/$path"
      after=$(bench_cpu_ticks "$PID")
      rss=$(bench_peak_rss_kib "$PID")
      bench_stop "$PID"
      # Upstream connections the server opened during the run (minus the /stats one), and
      # the upstream calls it made: reuse shows as few connections for many calls.
      up_conns=$(( $(gosleep_stat "$upstream_addr" connections_accepted) - 1 ))
      up_calls=$(gosleep_stat "$upstream_addr" requests)
      tw=$(ss -Htan state time-wait 2>/dev/null | wc -l)
      # Little's law: at most min(C, T) requests wait upstream at once (T: a thread pool's size).
      bound=$conns
      if bench_pooled "$s" && (( threads < conns )); then bound=$threads; fi
      bound_rps=$(awk -v b="$bound" -v d="$delay_ms" 'BEGIN {printf "%.0f", b * 1000 / d}')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$path" "$mode" "$conns" "$threads" \
        "$(wrk_rps)" "$bound_rps" "$(wrk_p50)" "$(wrk_p99)" "$(wrk_errors)" \
        "$(bench_cpu_per_1000 "$before" "$after" "$(wrk_requests)")" "$((rss / 1024))" "$tw" "$up_calls" "$up_conns" >>"$rows"
      sleep 2 # let TIME_WAIT and the upstream's closed connections settle between runs
    done
  done
done
bench_stop "$gosleep_pid"

echo "# Server benchmark"
echo
echo "Machine: $(bench_machine)."
echo "Kernel: somaxconn $(cat /proc/sys/net/core/somaxconn), tcp_max_syn_backlog $(cat /proc/sys/net/ipv4/tcp_max_syn_backlog), tcp_tw_reuse $(cat /proc/sys/net/ipv4/tcp_tw_reuse), ip_local_port_range $(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range), tcp_fin_timeout $(cat /proc/sys/net/ipv4/tcp_fin_timeout), ulimit -n $(ulimit -n)."
echo "Command: \`servers/bench.sh $args\` on $(date -u '+%Y-%m-%d %H:%M UTC'); upstream delay ${delay_ms} ms, fanout ${fanout}; server on ${server_pin:-no pinning}, gosleep (1 thread) and wrk (1 thread) on ${client_pin:-no pinning}."
echo "Durations: reuse ${reuse_secs} s, no-reuse ${noreuse_secs} s. A closed loop completes nothing in its first $((delay_ms / 1000)) s, so a run of d seconds reaches at most (d - 1)/d of the bound: $(( (reuse_secs - 1) * 1000 / reuse_secs / 10 )).$(( (reuse_secs - 1) * 1000 / reuse_secs % 10 ))% (reuse), $(( (noreuse_secs - 1) * 1000 / noreuse_secs / 10 )).$(( (noreuse_secs - 1) * 1000 / noreuse_secs % 10 ))% (no-reuse)."
echo
for mode in reuse no-reuse; do
  for path in single multiple; do
    echo "## /$path, $mode"
    echo
    echo "| server | C | threads | RPS | bound min(C,T)/D | efficiency | p50 ms | p99 ms | wrk errors | CPU s / 1k req | CPU vs $BENCH_BASE_SERVER | peak RSS MiB | upstream calls | upstream conns opened | TIME_WAIT after |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' -v m="$mode" -v p="$path" -v base_server="$BENCH_BASE_SERVER" '
      $2 == p && $3 == m { row[++n] = $0; if ($1 == base_server) base = $11 }
      END {
        for (i = 1; i <= n; i++) {
          split(row[i], f, "\t")
          eff = (f[7] > 0) ? sprintf("%.1f%%", 100 * f[6] / f[7]) : "—"
          ratio = (base > 0) ? sprintf("%.2fx", f[11] / base) : "—"
          printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[4], f[5], f[6], f[7], eff, f[8], f[9], f[10], f[11], ratio, f[12], f[14], f[15], f[13]
        }
      }' "$rows"
    echo
  done
done
