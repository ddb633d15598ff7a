#!/usr/bin/env bash
# servers/tls-profile.sh: where each server's CPU for a not-reused HTTPS upstream call goes.
#
# bench cpu --tls measures what a not-reused HTTPS upstream call adds to each server's
# CPU per request; docs/benchmarks/tls.md found it 2.2-3.6x what the client side of a
# resumed TLS 1.3 handshake costs in memory (tls/floor), and split it, by hand and from one
# perf run, for server-hyper only. This script makes that split for every server. Each
# server gets cpu.sh's no-reuse load (the server --no-reuse; loadgen open loop, 200
# requests/s over 256 connections, after a warm-up; upstream delay 1000 ms) twice in a row:
# against plain gosleep (http://), then against gosleep over HTTPS (--tls-self-signed,
# called at https://127.0.0.1:PORT with --upstream-ca its CA). For each run:
# - the server's CPU per request is its user + system time over loadgen's recorded window
#   (--server-pid), as cpu.sh reads it;
# - over that same window, `perf record -F 999 -C 0` (no call graphs: cheap) samples the
#   server's core, `perf report --pid PID` keeps the server's samples (all its threads),
#   and each goes to one category by its DSO and symbol (the table PERF_CATEGORIES below,
#   first match wins): crypto (ring), kernel, allocator and copies (malloc/free/memcpy and
#   kin), rustls, TLS glue (tokio-rustls, hyper-rustls, actix-tls, the ureq servers' TLS
#   connector, webpki, pki-types, bench-tls), and the rest (the server, its runtime, its
#   HTTP client, the rest of libc, the vDSO);
# - each category's CPU per request is its share of the run's samples times the run's CPU
#   per request, and what an upstream call adds to it is (https - http) / calls per
#   request (1 for /single, the fanout 5 for /multiple);
# - over HTTPS, gosleep's /stats give the TLS handshakes per call (full / resumed).
# Why the core and not `perf record -p PID`: -p counts each thread's CPU time toward a
# sampling period of its own, so a thread that runs less than a period (about 1 ms) in
# all is never sampled; server-std, which spawns short threads, kept 3% of its CPU in
# samples on /multiple over HTTP (47% over HTTPS) in a --quick try, where the core's
# clock keeps 80-100% of every server's.
# One run each way: each split is as rough as its sample counts, which the tables print
# (a server at a tenth of a core, sampled 10 s at 999 Hz: about a thousand samples), with
# the share of the server's CPU (loadgen's figure) they stand for. The last section lists
# each server's top symbols over HTTPS, to name what the categories hold.
# Server pinned to core 0 (its --threads of servers/roster.toml); gosleep, loadgen (one thread
# each) and perf on core 1 (unpinned, on a one-core machine: perf samples every core).
# perf needs root (or kernel.perf_event_paranoid <= 0, to sample a whole core); it is
# installed (Debian's linux-perf) when missing and we are root, and the script stops,
# saying why, when perf cannot record.
# Only 127.0.0.1 is targeted; every run is bounded; the EXIT trap stops what it started.
#
# Usage: servers/tls-profile.sh [--quick] [--servers LIST] [--endpoint single|multiple] [--secs N]
#   --quick          3 s sampled after 1 s of warm-up [10 s after 3 s]
#   --secs N         N seconds sampled after the warm-up (also after --quick)
#   --endpoint E     single, or multiple (fanout 5) [single]
#   --rate N         N requests/s, over max(256, 1.25 N) connections, so that the 1 s
#                    upstream delay never runs out of them; a pool of 256 threads (rouille,
#                    std) holds at most 256 a second [200]
#   --servers LIST   comma-separated Rust servers of servers/roster.toml [all of them]
#   -h, --help       this help
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

# Every perf sample's category: the first line whose DSO and symbol patterns (awk EREs)
# both match. The symbol is perf's, demangled (Rust's legacy mangling, hash dropped), with
# a leading `<`, `&`, `mut `, `dyn ` and `core::ptr::drop_in_place<` taken off, so that a
# trait method or a drop counts for the crate of its type (`<rustls::...::ClientConnection
# as ...>::f` is rustls's), and a std type's method for the crate of its trait (`<Vec<T> as
# rustls::msgs::codec::Codec>::encode` is rustls's). The loose C names (fe*, x25519*,
# sha*...) are ring's static functions; they count only in the server's binary, where
# libc's and libm's names cannot be. `rustls::crypto::ring::` is rustls's side of its ring
# provider (the arithmetic underneath is ring's). Caveat: rustc merges identical
# functions (LLVM mergefunc), and perf names a merged body by one of its names, so a
# generic's samples can carry another type's name (e.g. `RawVec<gimli::...>::grow_one`).
# category   DSO                         symbol
PERF_CATEGORIES='
kernel       ^\[kernel\.kallsyms\]$      .
crypto       .                           ^(ring_core_|ring::)
crypto       ^server-                    ^(fiat_|fe_|fe4_|x25519|sha[0-9_]|aes|gcm|ecp_|p256|p384|bn_|chacha|ChaCha|poly1305|limbs_|LIMBS_|CRYPTO_|OPENSSL_)
glue         .                           ^(tokio_rustls::|hyper_rustls::|actix_tls::|rustls_pki_types::|webpki::|bench_tls::|contract::ureq_client::(OurTls|TlsTransport)|ureq::tls::|reqwest::tls::)
rustls       .                           ^rustls::
alloc        ^libc[.-]                   ^(malloc|free|cfree|calloc|realloc|_int_|__libc_(malloc|free|calloc|realloc)|tcache|unlink_chunk|malloc_consolidate|__mem(move|cpy|set)|mem(move|cpy|set))
alloc        .                           ^(__rustc::)?(__rust_(alloc|dealloc|realloc|alloc_zeroed|no_alloc_shim_is_unstable)|__rdl_)
rest         .                           .
'
# The categories in the tables' order, with their headings.
PERF_ORDER=(crypto kernel alloc rustls glue rest)
declare -A PERF_HEADING=([crypto]="crypto (ring)" [kernel]=kernel [alloc]="allocator, copies" [rustls]=rustls
  [glue]="TLS glue" [rest]=rest)

args="$*"
conns=256 rate=200 secs=10 warmup=3 fanout=5 endpoint=single secs_given=""
read -r -a servers <<<"$(bench_roster runs=rust)"
while (( $# )); do
  case $1 in
    --quick) secs=3 warmup=1; shift ;;
    --secs) secs_given=$(bench_value "$@"); shift 2; [[ $secs_given =~ ^[1-9][0-9]{0,2}$ ]] || bench_bad_usage "--secs takes 1 to 999" ;;
    --endpoint) endpoint=$(bench_value "$@"); shift 2; [[ $endpoint =~ ^(single|multiple)$ ]] || bench_bad_usage "--endpoint takes single or multiple" ;;
    --rate) rate=$(bench_value "$@"); shift 2; [[ $rate =~ ^[1-9][0-9]{0,3}$ ]] || bench_bad_usage "--rate takes 1 to 9999" ;;
    --servers) list=$(bench_server_list "$@"); shift 2; IFS=, read -r -a servers <<<"$list" ;;
    -h|--help) bench_usage; exit 0 ;;
    *) bench_bad_usage "unknown argument $1" ;;
  esac
done
secs=${secs_given:-$secs}
(( rate * 5 / 4 > conns )) && conns=$(( rate * 5 / 4 ))
for s in "${servers[@]}"; do
  bench_is_python "$s" && bench_bad_usage "$s is a Python server: this script profiles the Rust servers (their symbols are the categories')"
done
calls=1
[[ $endpoint == multiple ]] && calls=$fanout

# perf: installed if missing (as root), then asked to record once; any failure stops here.
if ! command -v perf >/dev/null; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    apt-get install -y -qq linux-perf >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; } || true
  fi
  command -v perf >/dev/null || { echo "perf not found, and not installed (Debian: apt-get install linux-perf, as root)" >&2; exit 1; }
fi
paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo unknown)
if [[ $EUID -ne 0 && ! $paranoid =~ ^(-1|0)$ ]]; then
  echo "perf cannot sample a whole core as $(id -un): kernel.perf_event_paranoid is $paranoid (run as root, or sysctl kernel.perf_event_paranoid=0)" >&2
  exit 1
fi
if ! perf record -q -F 999 -C 0 -o "$BENCH_TMP/probe.data" -- true >"$BENCH_TMP/probe.err" 2>&1; then
  echo "perf cannot record here (kernel.perf_event_paranoid $paranoid, user $(id -un)): $(head -3 "$BENCH_TMP/probe.err")" >&2
  exit 1
fi

# perf_samples DATA PID: one line per symbol of process PID's samples (all its threads) in a
# perf.data, "SAMPLES<TAB>CATEGORY<TAB>DSO<TAB>SYMBOL",
# most samples first; unresolved symbols (perf's [unknown] or a bare address) are counted in
# their DSO's category and marked "?" in the SYMBOL field's place.
perf_samples() {
  perf report -i "$1" --pid "$2" --no-children --sort dso,symbol --stdio -n -t $'\t' 2>/dev/null \
    | awk -F'\t' -v table="$PERF_CATEGORIES" '
      BEGIN {
        n = 0
        split(table, lines, "\n")
        for (i = 1; i in lines; i++) {
          if (split(lines[i], f, " +") != 3) continue
          n++; cat[n] = f[1]; dso_re[n] = f[2]; sym_re[n] = f[3]
        }
      }
      /^#/ || NF < 4 { next }
      {
        # perf pads its fields with blanks even with -t.
        for (i = 2; i <= 4; i++) { sub(/^ +/, "", $i); sub(/ +$/, "", $i) }
        samples = $2; dso = $3; sym = $4
        sub(/^\[.\] /, "", sym)
        subject = sym
        while (sub(/^(core::ptr::drop_in_place<|<|&|mut |dyn )/, "", subject)) {}
        if (subject ~ /^(alloc|core|std)::/ && match(subject, / as [a-z_0-9]+::/)) {
          trait = substr(subject, RSTART + 4)
          if (trait !~ /^(alloc|core|std)::/) subject = trait
        }
        unresolved = (sym == "" || sym ~ /^\[unknown\]$/ || sym ~ /^0x[0-9a-f]+$/)
        for (i = 1; i <= n; i++) if (dso ~ dso_re[i] && subject ~ sym_re[i]) break
        printf "%d\t%s\t%s\t%s\n", samples, cat[i], dso, unresolved ? "?" : sym
      }' | sort -t$'\t' -k1,1nr
}

# perf_totals SAMPLES_FILE: "TOTAL CRYPTO KERNEL ALLOC RUSTLS GLUE REST UNRESOLVED" (PERF_ORDER's order).
perf_totals() {
  awk -F'\t' -v order="${PERF_ORDER[*]}" '
    { total += $1; by[$2] += $1; if ($4 == "?") unresolved += $1 }
    END {
      k = split(order, o, " "); line = total + 0
      for (i = 1; i <= k; i++) line = line " " by[o[i]] + 0
      print line, unresolved + 0
    }' "$1"
}

bench_servers_setup 1000 "${servers[@]}"
bench_tls_upstream 1000
# perf samples the server's core (every core where the server is not pinned).
perf_target=(-a)
[[ -z $server_pin ]] || perf_target=(-C "${server_pin##* }")
perf_version=$(perf version 2>/dev/null | awk '{print $3}')

rows="$BENCH_TMP/rows.tsv"
: >"$rows"
for s in "${servers[@]}"; do
  threads=$(bench_threads "$s")
  # The two schemes of one server back to back: a slow spell moves both sides of the difference.
  for scheme in http https; do
    up=$upstream tls=()
    [[ $scheme == https ]] && up=$tls_upstream tls=(--upstream-ca "$BENCH_TMP/upstream-ca.pem")
    echo "$s /$endpoint no-reuse $scheme: $rate requests/s over $conns connections, ${warmup} s + ${secs} s under perf" >&2
    bench_start_server "$s" "$up" --threads "$threads" --fanout "$fanout" --no-reuse "${tls[@]}"
    server_pid=$PID
    data="$BENCH_TMP/$s-$scheme.data" json="$BENCH_TMP/run.json"
    # As loadgen's recorded window opens: gosleep's counters reset (over HTTPS), and perf
    # (on the client core) samples the server's core for the window's length.
    (
      sleep "$warmup"
      [[ $scheme == http ]] || gosleep_reset "$tls_upstream"
      # shellcheck disable=SC2086 # a word list on purpose
      exec $client_pin perf record -q -F 999 "${perf_target[@]}" -o "$data" -- sleep "$secs"
    ) >"$BENCH_TMP/perf.err" 2>&1 &
    perf_pid=$!
    BENCH_PIDS+=("$perf_pid")
    # A run with no 2xx answer exits 1 but still writes its JSON: its row shows the errors.
    # shellcheck disable=SC2086
    $client_pin target/release/loadgen -c "$conns" -t 1 --rate "$rate" --warmup "${warmup}s" -d "${secs}s" \
      --timeout 10s --server-pid "$server_pid" --json "$json" "http://$ADDR/$endpoint" >"$BENCH_TMP/run.txt" || true
    perf_rc=0
    wait "$perf_pid" || perf_rc=$?
    bench_forget "$perf_pid"
    if (( perf_rc != 0 )) || [[ ! -s $data ]]; then
      echo "perf record on $s ($scheme) failed (status $perf_rc): $(head -3 "$BENCH_TMP/perf.err")" >&2
      exit 1
    fi
    full=- resumed=-
    if [[ $scheme == https ]]; then
      stats=$(gosleep_stats "$tls_upstream")
      per_call=$(gosleep_handshakes_per_call "$stats" "$(loadgen_field "$json" requests)" "$calls")
      full=${per_call% *} resumed=${per_call#* }
    fi
    bench_stop "$server_pid" "$s"
    per_1k=$(loadgen_field "$json" cpu_per_1k_requests)
    # CPU s per 1,000 requests = ms per request; in µs.
    cpu_us=$(awk -v v="$per_1k" 'BEGIN { if (v == "null") print "-"; else printf "%.1f", v * 1000 }')
    perf_samples "$data" "$server_pid" >"$BENCH_TMP/$s-$scheme.samples"
    if [[ -z ${perf_event:-} ]]; then
      perf_event=$(perf report -i "$data" --stdio --header-only 2>/dev/null | sed -n 's/^# event : name = \([^,]*\),.*/\1/p' | head -1)
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$scheme" "$cpu_us" "$(perf_totals "$BENCH_TMP/$s-$scheme.samples")" \
      "$full" "$resumed" "$(loadgen_errors "$BENCH_TMP/run.txt")" "$(loadgen_field "$json" requests)" >>"$rows"
  done
done
bench_stop "$tls_gosleep_pid" gosleep-tls
bench_stop "$gosleep_pid" gosleep

headings=""
for c in "${PERF_ORDER[@]}"; do headings+=" ${PERF_HEADING[$c]} |"; done
dashes=$(printf '%.0s---:|' "${PERF_ORDER[@]}")

echo "# Where a not-reused HTTPS upstream call's CPU goes"
echo
echo "Machine: $(bench_machine); perf ${perf_version:-?}, event ${perf_event:-?}."
echo "Command: \`servers/tls-profile.sh $args\` on $(date -u '+%Y-%m-%d %H:%M UTC'); /$endpoint, --no-reuse, upstream delay 1000 ms, fanout $fanout ($calls upstream call(s) per request); loadgen open loop at $rate requests/s over $conns connections, ${warmup} s warm-up then ${secs} s recorded, once over http and right after once over https (a second gosleep, --tls-self-signed, called at https://127.0.0.1:PORT with --upstream-ca its CA); server on ${server_pin:-no pinning} ($(bench_threads_line "${servers[@]}")), gosleep and loadgen 1 thread each and perf on ${client_pin:-no pinning}; \`perf record -F 999 ${perf_target[*]}\` (no call graphs) over each recorded window, the server's samples kept (\`perf report --pid PID\`)."
echo
echo "## What an upstream call adds over HTTPS, by category"
echo
echo "CPU per request: the server's, over loadgen's recorded window. Added per call: (https - http) / $calls."
echo "Each category's: its share of the run's perf samples times the run's CPU per request, https - http, / $calls;"
echo "the categories add up to the added CPU. Handshakes per call: gosleep's over the https window, full / resumed."
echo
echo "| server | CPU µs / req, http | CPU µs / req, https | added µs per call |$headings samples, http / https | handshakes per call (full / resumed) |"
echo "|---|---:|---:|---:|${dashes}---:|---|"
awk -F'\t' -v calls="$calls" -v k="${#PERF_ORDER[@]}" '
  # $3 the CPU µs per request; $4 "TOTAL CAT1 ... CATk UNRESOLVED"; $5, $6 handshakes.
  { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }; cpu[$1, $2] = $3; counts[$1, $2] = $4; hs[$1] = $5 " / " $6 }
  function per_req(s, scheme, i,    c) { split(counts[s, scheme], c, " "); return (c[1] > 0) ? cpu[s, scheme] * c[i + 1] / c[1] : 0 }
  END {
    for (j = 1; j <= n; j++) {
      s = order[j]
      split(counts[s, "http"], h, " "); split(counts[s, "https"], t, " ")
      samples = h[1] " / " t[1]
      if (cpu[s, "http"] == "-" || cpu[s, "https"] == "-") {
        line = sprintf("| %s | %s | %s | — |", s, cpu[s, "http"], cpu[s, "https"])
        for (i = 1; i <= k; i++) line = line " — |"
      } else {
        line = sprintf("| %s | %.0f | %.0f | %.0f |", s, cpu[s, "http"], cpu[s, "https"], (cpu[s, "https"] - cpu[s, "http"]) / calls)
        for (i = 1; i <= k; i++) line = line sprintf(" %.0f |", (per_req(s, "https", i) - per_req(s, "http", i)) / calls)
      }
      print line sprintf(" %s | %s |", samples, hs[s])
    }
  }' "$rows"
echo
echo "## Each run's samples by category"
echo
echo "Shares of the run's perf samples, %. Unresolved: samples perf could not name (counted in their DSO's category)."
echo "Sampled: the samples against 999 a second of the server's CPU over the window (its CPU per request x requests)."
echo
echo "| server | scheme | CPU µs / req | samples | sampled |$headings unresolved | errors |"
echo "|---|---|---:|---:|---:|${dashes}---:|---|"
awk -F'\t' -v k="${#PERF_ORDER[@]}" '{
  split($4, c, " ")
  expected = ($3 == "-") ? 0 : $3 * $8 / 1e6 * 999
  line = sprintf("| %s | %s | %s | %d | %s |", $1, $2, $3, c[1], (expected > 0) ? sprintf("%.0f%%", 100 * c[1] / expected) : "—")
  for (i = 1; i <= k + 1; i++) line = line sprintf(" %.1f |", (c[1] > 0) ? 100 * c[i + 1] / c[1] : 0)
  print line " " $7 " |"
}' "$rows"
echo
echo "## The top symbols over HTTPS"
echo
echo "Each server's 12 symbols with the most samples over https (its http run's samples of the same symbol beside them), with their category."
echo
for s in "${servers[@]}"; do
  echo "### $s"
  echo
  echo '```'
  printf '%6s %6s  %-7s %-18s %s\n' https http category dso symbol
  head -12 "$BENCH_TMP/$s-https.samples" | while IFS=$'\t' read -r n cat dso sym; do
    h=$(awk -F'\t' -v d="$dso" -v y="$sym" '$3 == d && $4 == y { n += $1 } END { print n + 0 }' "$BENCH_TMP/$s-http.samples")
    printf '%6s %6s  %-7s %-18s %s\n' "$n" "$h" "$cat" "$dso" "$sym"
  done
  echo '```'
  echo
done
