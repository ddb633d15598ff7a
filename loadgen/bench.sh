#!/usr/bin/env bash
# loadgen/bench.sh: is loadgen as fast as wrk? Same target (gosleep, ms=0, one thread
# pinned to core 0), same client side (100 connections, one thread pinned to core 1), runs
# alternated: requests/second and the load generator's own CPU seconds per 1,000 requests,
# in total and split into user and kernel (the CPU ticks of the children the measuring
# shell waited for: cutime and cstime, from /proc), and the target's CPU (gosleep's, in %
# of its core: near 100% the run is bound by the target, and its requests/s say little
# about the client). Printed as Markdown: a row per run, then per tool the medians over the
# rounds, loadgen's medians over wrk's, and which runs the target bound (90% or more).
# Only 127.0.0.1 is targeted; runs are bounded by -d; the EXIT trap stops gosleep by PID.
#
# Usage: loadgen/bench.sh [--quick] [--rounds N] [--secs N] [--no-keepalive] [--tls]
#                         [--client-cores X] [--loadgen PATH] [--label NAME]
#   --quick          one round of 3 s per tool, for a smoke test: --rounds 1 --secs 3
#   --rounds N       rounds, each one run of wrk then one of loadgen [5]
#   --secs N         seconds per run [10]
#   --no-keepalive   a new connection per request: wrk with -H "Connection: close" (it
#                    reconnects after each answer), loadgen with --no-keepalive
#                    [keep-alive: 100 connections kept open]
#   --tls            the target serves HTTPS (gosleep --tls-self-signed: a CA made for the
#                    run, sessions resumed): wrk over OpenSSL, which verifies no
#                    certificate, and loadgen with --insecure, which verifies none either;
#                    each as it resumes sessions by default. Each row also gives the
#                    handshakes gosleep counted in the run, full/resumed [plain HTTP]
#   --client-cores X the client runs under a CPU quota of X cores (e.g. 0.5; a cgroup,
#                    needs root): it is then the bound, not the target, and its
#                    requests/s measure the client [no quota]
#   --loadgen PATH   the loadgen binary to measure, e.g. a saved older build to compare
#                    before and after a change [target/release/loadgen]
#   --label NAME     its name in the tables [loadgen]
#   -h, --help       this help
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || bench_bad_usage "$1 takes a positive integer, not $2"; }

args=$*
secs=10 rounds=5 keepalive=1 tls="" loadgen=target/release/loadgen label=loadgen cores=""
while (( $# )); do
  case $1 in
    --quick) secs=3 rounds=1; shift ;;
    --rounds) rounds=$(bench_value "$@"); positive "$1" "$rounds"; shift 2 ;;
    --secs) secs=$(bench_value "$@"); positive "$1" "$secs"; shift 2 ;;
    --no-keepalive) keepalive=""; shift ;;
    --tls) tls=1; shift ;;
    --client-cores)
      cores=$(bench_value "$@")
      [[ $cores =~ ^(0?\.[0-9]*[1-9][0-9]*|[1-9][0-9]*(\.[0-9]+)?)$ ]] || bench_bad_usage "$1 takes a number of cores above 0, not $cores"
      shift 2 ;;
    --loadgen) loadgen=$(bench_value "$@"); [[ $loadgen == /* ]] || loadgen=$here/$loadgen; shift 2 ;;
    --label) label=$(bench_value "$@"); shift 2 ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done
# The label is a table cell and an awk key: no spaces, no |, and not wrk's name.
[[ $label =~ ^[[:alnum:]._@+-]+$ && $label != wrk ]] \
  || bench_bad_usage "--label $label: letters, digits and ._@+- only, and not wrk"

# A --loadgen of one's own must exist before the build; the default is what it builds.
[[ $loadgen == target/release/loadgen || -x $loadgen ]] \
  || bench_bad_usage "--loadgen $loadgen is not an executable file"

bench_need wrk
bench_build

if [[ -n $keepalive ]]; then
  wrk_mode=() loadgen_mode=()
  mode="keep-alive" clients="100 keep-alive connections"
else
  wrk_mode=(-H "Connection: close") loadgen_mode=(--no-keepalive)
  mode="no keep-alive" clients="100 connections, a new one per request (wrk -H \"Connection: close\", $label --no-keepalive)"
fi

if [[ -n $cores ]]; then
  bench_quota_setup "$cores" || { echo "--client-cores: $BENCH_WHY" >&2; exit 1; }
  clients="$clients, under a CPU quota of $cores cores"
fi

bench_pins
if [[ -n $tls ]]; then
  ca="$BENCH_TMP/gosleep-ca.pem"
  bench_trust "$ca"
  bench_start gosleep "$server_pin" target/release/gosleep --listen 127.0.0.1:0 --threads 1 \
    --tls-self-signed "$ca"
  url="https://$ADDR/sleep?ms=0" target=$PID stats="https://$ADDR/stats"
  loadgen_mode+=(--insecure)
  mode="$mode, HTTPS" clients="$clients, over HTTPS (gosleep's own CA; neither tool verifies it)"
else
  bench_start gosleep "$server_pin" target/release/gosleep --listen 127.0.0.1:0 --threads 1
  url="http://$ADDR/sleep?ms=0" target=$PID
fi

# handshakes: gosleep's count of full and resumed TLS handshakes so far, "FULL RESUMED"
# (asking makes one full handshake of its own, counted before it answers).
handshakes() {
  local json
  json=$(curl -s --max-time "$BENCH_PROBE_S" "${BENCH_CA_FLAGS[@]}" "$stats") || return 1
  echo "$(sed -n 's/.*"tls_handshakes_full":\([0-9]*\).*/\1/p' <<<"$json") $(sed -n 's/.*"tls_handshakes_resumed":\([0-9]*\).*/\1/p' <<<"$json")"
}

# measure TOOL: one run of wrk or of loadgen in the foreground of this (sub)shell (moved
# into the quota's cgroup first, with --client-cores); prints "RPS REQUESTS USER_BEFORE
# SYS_BEFORE USER_AFTER SYS_AFTER TARGET_BEFORE TARGET_AFTER FULL RESUMED", the first ticks
# being the CPU of the shell's waited-for children, then gosleep's, then the handshakes
# gosleep made in the run ("- -" over plain HTTP). A run that fails or prints no figures:
# its output on stderr, status 1.
measure() {
  local tool=$1 out="$BENCH_TMP/$1.out" shell=$BASHPID before after target0 target1 rps requests rc=0
  local shakes0=(- -) shakes1=(- -) full=- resumed=-
  [[ -z $cores ]] || echo "$shell" >"$BENCH_QUOTA_DIR/cgroup.procs"
  if [[ -n $tls ]]; then read -ra shakes0 <<<"$(handshakes)"; fi
  target0=$(bench_cpu_ticks "$target")
  before=$(bench_children_cpu_ticks_split "$shell")
  if [[ $tool == wrk ]]; then
    # shellcheck disable=SC2086
    $client_pin wrk -t 1 -c 100 -d "${secs}s" "${wrk_mode[@]}" "$url" >"$out" 2>&1 || rc=$?
  else
    # shellcheck disable=SC2086
    $client_pin "$loadgen" -t 1 -c 100 -d "${secs}s" "${loadgen_mode[@]}" "$url" >"$out" 2>&1 || rc=$?
  fi
  after=$(bench_children_cpu_ticks_split "$shell")
  target1=$(bench_cpu_ticks "$target")
  if [[ -n $tls ]]; then
    read -ra shakes1 <<<"$(handshakes)"
    # Less the full handshake of the second question itself.
    full=$((shakes1[0] - shakes0[0] - 1)) resumed=$((shakes1[1] - shakes0[1]))
  fi
  rps=$(text_rps "$out") requests=$(text_requests "$out")
  if (( rc != 0 )) || [[ -z $rps || -z $requests ]]; then
    echo "$tool failed (exit status $rc):" >&2
    cat "$out" >&2
    return 1
  fi
  echo "$rps $requests $before $after $target0 $target1 $full $resumed"
}

echo "# $label vs wrk, $mode"
echo
echo "Machine: $(bench_machine)."
echo "Command: \`loadgen/bench.sh${args:+ $args}\` on $(date -u '+%Y-%m-%d %H:%M UTC'); target gosleep ms=0 (1 thread, ${server_pin:-unpinned}), client 1 thread x $clients (${client_pin:-unpinned}), $rounds round(s) of ${secs} s per tool; $label is \`$loadgen\`."
echo
if [[ -n $tls ]]; then
  echo "| round | tool | requests/s | client CPU s per 1,000 requests | user | kernel | target CPU | handshakes full/resumed |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
else
  echo "| round | tool | requests/s | client CPU s per 1,000 requests | user | kernel | target CPU |"
  echo "|---:|---|---:|---:|---:|---:|---:|"
fi
rows="$BENCH_TMP/rows.tsv"
for round in $(seq "$rounds"); do
  for tool in wrk loadgen; do
    figures=$(measure "$tool")
    read -r rps requests user0 sys0 user1 sys1 target0 target1 full resumed <<<"$figures"
    name=wrk
    [[ $tool == wrk ]] || name=$label
    errors=$(loadgen_errors "$BENCH_TMP/$tool.out")
    [[ $errors == none ]] || echo "round $round, $name: $errors" >&2
    cpu=$(bench_cpu_per_1000 $((user0 + sys0)) $((user1 + sys1)) "$requests")
    user=$(bench_cpu_per_1000 "$user0" "$user1" "$requests")
    kernel=$(bench_cpu_per_1000 "$sys0" "$sys1" "$requests")
    target_cpu=$(bench_cpu_percent "$target0" "$target1" "$secs")
    echo "| $round | $name | $rps | $cpu | $user | $kernel | $target_cpu |${tls:+ $full/$resumed |}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$cpu" "$user" "$kernel" "${target_cpu%\%}" >>"$rows"
  done
done
bench_stop "$target"

echo
echo "## Medians"
echo
echo "Over $rounds round(s) per tool; the ratios are of the medians."
echo
awk -F'\t' -v label="$label" "$BENCH_AWK_MEDIAN"'
  function ratio(a, b) { return (b > 0) ? sprintf("%.2fx", a / b) : "—" }
  BEGIN { TARGET_BOUND = 90 }
  { rps[$1] = rps[$1] " " $2; cpu[$1] = cpu[$1] " " $3; usr[$1] = usr[$1] " " $4; sys[$1] = sys[$1] " " $5
    if ($6 >= TARGET_BOUND) bound++ }
  END {
    print "| tool | requests/s | client CPU s per 1,000 requests | user | kernel |"
    print "|---|---:|---:|---:|---:|"
    for (i = 1; i <= 2; i++) {
      t = (i == 1) ? "wrk" : label
      r[t] = median(rps[t]); c[t] = median(cpu[t])
      printf "| %s | %.2f | %.4f | %.4f | %.4f |\n", t, r[t], c[t], median(usr[t]), median(sys[t])
    }
    print ""
    printf "%s/wrk: requests/s %s, CPU per request %s\n", label, ratio(r[label], r["wrk"]), ratio(c[label], c["wrk"])
    print ""
    if (bound > 0)
      printf "Bound: the target in %d of %d runs (gosleep at %d%% of its core or more): their requests/s are mostly the target'"'"'s, not the client'"'"'s; --client-cores 0.5 makes the client the bound.\n", bound, NR, TARGET_BOUND
    else
      printf "Bound: not the target in any run (gosleep below %d%% of its core).\n", TARGET_BOUND
  }' "$rows"
