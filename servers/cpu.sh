#!/usr/bin/env bash
# servers/cpu.sh: server CPU per proxied request, every server under the same load.
#
# servers/bench.sh drives each server as hard as its model allows, so rouille (a pool of
# 256 threads: at most 256 requests/s against a 1 s upstream) is measured at an eighth of
# the async servers' rate, and wrk's closed loop sends its requests in waves that an event
# loop answers in batches. CPU per request is not comparable across loads or arrival
# patterns. Here every server gets the same open-loop stream (loadgen --rate, spread
# evenly, after a warm-up): the rate is one all six hold, 200 requests/s over 256
# connections (rouille and std --threads 256: 78% of their bound; an async server: 1
# thread).
# Cases: /single and /multiple (fanout 5), upstream reuse and --no-reuse. The CPU is the
# server's user + system time over loadgen's recorded window (--server-pid), per 1,000
# requests completed in that window. Each case runs 3 times, the servers taking turns
# within a round, so that a noisy minute on this shared machine hits one run of every
# server rather than all runs of one; the table gives the median and the range, and each
# server's CPU against hyper's of the same round (median and range of those ratios), and
# each framework's against the floor of its own model (servers/roster.toml's floor): hyper under
# axum, actix and warp, server-std (blocking, no framework) under rouille. Server
# pinned to core 0; gosleep (1 thread) and loadgen (1 thread) on core 1. Upstream delay
# 1000 ms.
# Only 127.0.0.1 is targeted; every run is bounded; the EXIT trap stops what it started.
#
# The Python baselines (flask, starlette, tornado: python/) run here too when named, each
# with its --threads of servers/roster.toml (flask: the pool of 256 threads of rouille and std),
# python/setup.sh making their venv.
#
# With --tls, every case runs over both schemes, http then https, one right after the
# other: the HTTPS upstream is a second gosleep serving TLS (--tls-self-signed, its CA the
# servers' --upstream-ca, called at https://127.0.0.1:PORT), whose /stats give the TLS
# handshakes per upstream call, full and resumed. A last section sets each server's CPU
# over HTTPS against its CPU over HTTP, round by round: the ratio, and the CPU added per
# upstream call (https - http, over the calls of a request). With --floor-us FULL,RESUMED
# (the client side of one full and one resumed handshake, in µs, from tls/floor/run.sh)
# the added CPU is also set against what that call's handshakes cost in memory, by the
# handshake mix gosleep counted: FULL x full per call + RESUMED x resumed per call.
#
# Usage: servers/cpu.sh [--quick] [--rounds N] [--servers LIST] [--base NAME] [--tls [--floor-us F,R]]
#   --quick          one round of 5 s after 2 s of warm-up [3 rounds of 15 s after 3 s]
#   --rounds N       N rounds (after --quick: of its 5 s)
#   --tls            every case over http and over https (above)
#   --floor-us F,R   with --tls: the in-memory handshake floor, client side, full and resumed
#   --servers LIST   comma-separated, of servers/roster.toml [its Rust servers]; also flask,
#                    starlette, tornado
#   --base NAME      the server every other one's CPU is set against, round by round
#                    (the column "CPU vs NAME"); one of LIST [hyper]
#   -h, --help       this help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

args="$*"
conns=256 rate=200 secs=15 warmup=3 rounds=3 fanout=5 base=$BENCH_BASE_SERVER schemes=(http) floor=""
read -r -a servers <<<"$(bench_roster runs=rust)"
while (( $# )); do
  case $1 in
    --quick) secs=5 warmup=2 rounds=1; shift ;;
    --rounds) rounds=$(bench_value "$@"); shift 2; [[ $rounds =~ ^[1-9][0-9]?$ ]] || bench_bad_usage "--rounds takes 1 to 99" ;;
    --tls) schemes=(http https); shift ;;
    --floor-us) floor=$(bench_value "$@"); shift 2
      [[ $floor =~ ^[0-9]+(\.[0-9]+)?,[0-9]+(\.[0-9]+)?$ ]] || bench_bad_usage "--floor-us takes FULL,RESUMED in µs, e.g. 256,116" ;;
    --base) base=$(bench_value "$@"); shift 2 ;;
    --servers) list=$(bench_server_list "$@"); shift 2; IFS=, read -r -a servers <<<"$list" ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done
[[ " ${servers[*]} " == *" $base "* ]] || bench_bad_usage "--base $base is not one of the servers (${servers[*]})"
[[ -z $floor || ${#schemes[@]} -eq 2 ]] || bench_bad_usage "--floor-us goes with --tls"
bench_servers_setup 1000 "${servers[@]}"
if [[ ${#schemes[@]} -eq 2 ]]; then
  bench_tls_upstream 1000
fi

rows="$BENCH_TMP/rows.tsv"
: >"$rows"
for round in $(seq "$rounds"); do
  for mode in reuse no-reuse; do
    flags=()
    [[ $mode == no-reuse ]] && flags=(--no-reuse)
    for path in single multiple; do
      calls=1
      [[ $path == multiple ]] && calls=$fanout
      for s in "${servers[@]}"; do
        threads=$(bench_threads "$s")
        # The schemes of one server back to back: a slow spell moves both sides of their ratio.
        for scheme in "${schemes[@]}"; do
          up=$upstream tls=()
          [[ $scheme == https ]] && up=$tls_upstream tls=(--upstream-ca "$BENCH_TMP/upstream-ca.pem")
          echo "round $round/$rounds: $s /$path $mode $scheme: $rate requests/s over $conns connections, ${warmup} s + ${secs} s" >&2
          bench_start_server "$s" "$up" --threads "$threads" --fanout "$fanout" "${flags[@]}" "${tls[@]}"
          json="$BENCH_TMP/run.json"
          full=- resumed=-
          if [[ $scheme == https ]]; then
            # gosleep's handshakes over the recorded window: reset as it opens, read as it ends.
            (sleep "$warmup"; gosleep_reset "$tls_upstream") &
            resetter=$!
          fi
          # A run with no 2xx answer exits 1 but still writes its JSON: its row shows the errors.
          # shellcheck disable=SC2086
          $client_pin target/release/loadgen -c "$conns" -t 1 --rate "$rate" --warmup "${warmup}s" -d "${secs}s" \
            --timeout 10s --server-pid "$PID" --json "$json" "http://$ADDR/$path" >"$BENCH_TMP/run.txt" || true
          if [[ $scheme == https ]]; then
            wait "$resetter" || true
            stats=$(gosleep_stats "$tls_upstream")
            done_requests=$(loadgen_field "$json" requests)
            per_call=$(gosleep_handshakes_per_call "$stats" "$done_requests" "$calls")
            full=${per_call% *} resumed=${per_call#* }
          fi
          bench_stop "$PID"
          per_1k=$(loadgen_field "$json" cpu_per_1k_requests)
          if [[ $per_1k == null ]]; then per_1k="—"; else per_1k=$(printf '%.4f' "$per_1k"); fi
          p99=$(bench_ms "$(loadgen_field "$json" latency_summary.p99_us)")
          printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$path" "$mode" "$threads" \
            "$(text_rps "$BENCH_TMP/run.txt")" "$p99" "$(loadgen_errors "$BENCH_TMP/run.txt")" "$per_1k" \
            "$(loadgen_field "$json" server.max_threads)" "$round" "$scheme" "$full" "$resumed" >>"$rows"
        done
      done
    done
  done
done
[[ -z ${tls_gosleep_pid:-} ]] || bench_stop "$tls_gosleep_pid"
bench_stop "$gosleep_pid"

# Each server's floor (servers/roster.toml), "NAME=FLOOR ...", for the tables' awk.
floors=""
for s in "${servers[@]}"; do floors+="$s=$(bench_floor "$s") "; done

echo "# Server CPU per request, equal load"
echo
echo "Machine: $(bench_machine)."
echo "Command: \`servers/cpu.sh $args\` on $(date -u '+%Y-%m-%d %H:%M UTC'); upstream delay 1000 ms, fanout $fanout; loadgen open loop at $rate requests/s over $conns connections, ${warmup} s warm-up then ${secs} s recorded, rounds: $rounds; server on ${server_pin:-no pinning} ($(bench_threads_line "${servers[@]}")), gosleep and loadgen 1 thread each on ${client_pin:-no pinning}."
[[ ${#schemes[@]} -eq 1 ]] || echo "Schemes: http, then https (a second gosleep, --tls-self-signed, called at https://127.0.0.1:PORT with --upstream-ca its CA)."
echo
for scheme in "${schemes[@]}"; do
for mode in reuse no-reuse; do
  for path in single multiple; do
    if [[ ${#schemes[@]} -eq 1 ]]; then echo "## /$path, $mode"; else echo "## /$path, $mode, $scheme"; fi
    echo
    echo "| server | threads | requests/s | p99 ms | errors | CPU s / 1k req (median) | range | CPU vs $base (median) | range | CPU vs its model's floor (median) | range | server threads (max) |"
    echo "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    # Per server: the median of each figure over the rounds.
    # "CPU vs BASE" is the median of the per-round ratios, each against BASE's run of the
    # same round (minutes apart, not tens of minutes): a slow spell of this shared machine
    # moves both sides of a ratio, where it would move only one median.
    awk -F'\t' -v m="$mode" -v p="$path" -v sc="$scheme" -v base="$base" -v floors="$floors" "$BENCH_AWK_MEDIAN"'
      BEGIN { n = split(floors, pairs, " "); for (i = 1; i <= n; i++) { split(pairs[i], f, "="); floor_of[f[1]] = f[2] }; n = 0 }
      $2 == p && $3 == m && $11 == sc {
        if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1; threads[$1] = $4; errs[$1] = "" }
        rps[$1] = rps[$1] " " $5; p99[$1] = p99[$1] " " $6; cpu[$1] = cpu[$1] " " $8; by_round[$1, $10] = $8
        if ($7 != "none") errs[$1] = errs[$1] (errs[$1] == "" ? "" : "; ") $7
        if ($9 + 0 > maxthr[$1] + 0) maxthr[$1] = $9
      }
      # ratio(s, base): the median (and range, in lo/hi) of s'"'"'s per-round CPU over base'"'"'s.
      function ratio(s, base,    k, key, ratios) {
        ratios = ""
        for (k in by_round) {
          split(k, key, SUBSEP)
          if (key[1] == s && by_round[base, key[2]] > 0) ratios = ratios " " by_round[k] / by_round[base, key[2]]
        }
        if (ratios == "") { lo = ""; return "—" }
        return sprintf("%.2fx", median(ratios))
      }
      END {
        for (i = 1; i <= n; i++) {
          s = order[i]
          c = median(cpu[s]); range = sprintf("%.4f-%.4f", lo, hi)
          vs_hyper = ratio(s, base); hyper_range = (lo == "") ? "—" : sprintf("%.2f-%.2fx", lo, hi)
          # Each framework against the floor of its own model; the floors (and the Python
          # servers, of another language) have none.
          floor = floor_of[s]
          vs_floor = (floor == "") ? "—" : ratio(s, floor); floor_range = (floor == "" || lo == "") ? "—" : sprintf("%.2f-%.2fx", lo, hi)
          if (floor != "" && vs_floor != "—") vs_floor = vs_floor " (" floor ")"
          printf "| %s | %s | %.2f | %.1f | %s | %.4f | %s | %s | %s | %s | %s | %s |\n", s, threads[s], median(rps[s]), median(p99[s]),
            (errs[s] == "" ? "none" : errs[s]), c, range, vs_hyper, hyper_range, vs_floor, floor_range, maxthr[s]
        }
      }' "$rows"
    echo
  done
done
done

[[ ${#schemes[@]} -eq 2 ]] || exit 0
echo "## HTTPS against HTTP"
echo
echo "Each server's CPU over HTTPS set against its own run over HTTP of the same round (run right"
echo "before it): the ratio, and the CPU added per upstream call, (https - http) / calls per request,"
echo "medians over the rounds (range). Handshakes per call: gosleep's, full / resumed, over the"
echo "recorded window.${floor:+ Floor: the client side of one full and one resumed handshake in memory,}"
[[ -z $floor ]] || echo "${floor%,*} µs and ${floor#*,} µs (\`--floor-us $floor\`, from tls/floor/run.sh); floor per call = full x ${floor%,*} + resumed x ${floor#*,}."
echo
echo "| case | server | CPU s / 1k, http | CPU s / 1k, https | https / http | added µs per call | range | handshakes per call (full / resumed) |${floor:+ floor µs per call | added / floor |}"
echo "|---|---|---:|---:|---:|---:|---:|---|${floor:+---:|---:|}"
for mode in reuse no-reuse; do
  for path in single multiple; do
    calls=1
    [[ $path == multiple ]] && calls=$fanout
    awk -F'\t' -v m="$mode" -v p="$path" -v calls="$calls" -v floor="$floor" "$BENCH_AWK_MEDIAN"'
      BEGIN { n = 0; if (floor != "") { split(floor, f, ","); ffull = f[1]; fres = f[2] } }
      $2 == p && $3 == m && $8 != "—" {
        if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
        cpu[$1, $11, $10] = $8
        if ($11 == "https" && $12 != "-") { full[$1] = full[$1] " " $12; res[$1] = res[$1] " " $13 }
      }
      END {
        for (i = 1; i <= n; i++) {
          s = order[i]; ratios = ""; added = ""; http = ""; https = ""
          for (k in cpu) {
            split(k, key, SUBSEP)
            if (key[1] != s || key[2] != "http" || !((s, "https", key[3]) in cpu)) continue
            h = cpu[k]; t = cpu[s, "https", key[3]]
            http = http " " h; https = https " " t
            if (h > 0) ratios = ratios " " t / h
            # s per 1k requests -> µs per request: x 1000; per call: / calls.
            added = added " " (t - h) * 1000 / calls
          }
          if (added == "") continue
          a = median(added); range = sprintf("%.0f-%.0f", lo, hi)
          fl = median(full[s]); rs = median(res[s])
          line = sprintf("| /%s %s | %s | %.4f | %.4f | %.2fx | %.0f | %s | %.3f / %.3f |", p, m, s, median(http), median(https), median(ratios), a, range, fl, rs)
          if (floor != "") {
            # Reused connections make next to no handshake: nothing to set against.
            per_call = fl * ffull + rs * fres
            line = line (fl + rs < 0.5 ? " — | — |" : sprintf(" %.0f | %.2fx |", per_call, a / per_call))
          }
          print line
        }
      }' "$rows"
  done
done
echo
