#!/usr/bin/env bash
# check-run-all.sh: run_all.sh and publish-run.sh do what their help says.
#
# - `./run_all.sh --help` names every flag the script accepts, with its default, and every
#   server of servers/roster.toml; the benchmarks' (bench servers, cpu, latency, recovery,
#   loadgen, flask-bound) name theirs too.
# - A bad flag or value exits 2 with one line naming it (no build, no run).
# - A run in which no cell could be measured (every cell needs more file descriptors than
#   the limit) exits 1 saying so, prints its progress as "[k/N] CELL (about T left)",
#   writes no results.md, and leaves the repository's results.md alone.
# - `--python` where no usable python3 exists (a stand-in for python/setup.sh says so) says
#   why once, skips every Python cell with that reason, and records it in run.json.
# - scripts/publish-run.sh copies a complete run's results.md and charts, and refuses a
#   run that is not complete.
# - With --tls (unless --no-tls-run): a quick run of server-hyper's eight table cells, over
#   plain HTTP and over HTTPS, completes; its results.md has the HTTPS tables with the
#   upstream's TLS rows; and gosleep's counts say what reusing connections means: without
#   reuse about one TLS handshake per upstream call, with it almost none.
# Exit 0 if all hold; otherwise one line per failure and exit 1.
#
# Usage: scripts/check-run-all.sh [--no-tls-run]   (seconds once the release build is
# done; the --tls run is most of them: 18 s for `time ./run_all.sh --quick --tls --servers
# hyper --no-capacity --duration 1 --connections 20` on this project's 2-core VM, and the
# whole check 20 s, on 2026-12-07)
set -euo pipefail
cd "$(dirname "$0")/.."

tls_run=1
case ${1:-} in
  "") ;;
  --no-tls-run) tls_run=0 ;;
  *) echo "check-run-all.sh: unknown argument $1 (--no-tls-run is the one flag)" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "check-run-all: FAIL: $1" >&2; failures=$(( failures + 1 )); }

# --help: every flag run_all.sh has always taken is still there, described.
help=$(./run_all.sh --help)
for f in --quick --servers --python --connections --duration --delay-ms --fanout --tls --no-capacity \
  --capacity-delay-ms --capacity-quota --capacity-window --output --publish --help; do
  grep -qE -- "^ +(-h, )?$f( |$)" <<<"$help" || fail "--help does not describe $f"
done
grep -q -- '--connections <N> .*\[1000' <<<"$help" || fail "--help does not give --connections' default"
# The servers are servers/roster.toml's, as bench roster reads it: --help offers each.
roster=$(target/release/bench roster)
[[ -n $roster ]] || fail "bench roster read no server from servers/roster.toml"
grep -qF -- "from: $roster" <<<"$help" || fail "--help does not offer the roster's servers ($roster)"

# The benchmarks: --help describes --quick and its default, a bad flag exits 2 (neither builds).
for bench in "target/release/bench servers" "target/release/bench cpu" "target/release/bench latency" \
  "target/release/bench recovery" "target/release/bench loadgen" "target/release/bench flask-bound"; do
  $bench --help | grep -A1 -E -- '^ +--quick ' | grep -qF '[' || fail "$bench --help does not describe --quick and its default"
  rc=0
  $bench --bogus >/dev/null 2>&1 || rc=$?
  (( rc == 2 )) || fail "$bench --bogus exited $rc, not 2"
done

# Bad input: exit 2, one line naming what is wrong.
bad() {
  local want=$1 rc=0
  shift
  ./run_all.sh "$@" >"$work/out" 2>"$work/err" || rc=$?
  if (( rc != 2 )); then
    fail "./run_all.sh $* exited $rc, not 2"
  elif ! grep -qF -- "$want" "$work/err" || [[ $(wc -l <"$work/err") -ne 1 ]]; then
    fail "./run_all.sh $* said '$(cat "$work/err")', not one line with '$want'"
  fi
}
bad "--servers needs a value" --servers
bad "--servers axum, has an empty or malformed name" --servers axum,
bad "unknown server nginx" --servers nginx
bad "--connections needs a value" --connections --quick
bad "--duration takes a positive integer, not 0" --duration 0
bad "--capacity-window takes a positive number of seconds" --capacity-window 0
bad "unknown argument --bogus" --bogus
bad "unknown argument --tls=1" --tls=1

# Nothing measured: every cell skipped for the fd limit.
before=$(git status --porcelain -- results.md results.svg results-capacity.svg)
rc=0
./run_all.sh --servers hyper --no-capacity --connections 30000 --output "$work/run" >"$work/log" 2>&1 || rc=$?
if (( rc != 1 )); then
  fail "a run with no measured cell exited $rc, not 1"
fi
grep -q '^run_all.sh: no cell was measured (4 skipped, 0 failed' "$work/log" || fail "a run with no measured cell did not say so"
grep -qE '^-> \[1/4\] no-reuse-single-hyper: .* \(about [0-9]+ (s|min) left\)$' "$work/log" || fail "no progress line '-> [1/4] CELL: ... (about T left)'"
[[ ! -e $work/run/results.md ]] || fail "a run with no measured cell wrote results.md"
[[ $(git status --porcelain -- results.md results.svg results-capacity.svg) == "$before" ]] || fail "a run changed the repository's results"

# --python without python3: the Python cells are skipped, with the reason, in run.json too.
printf '#!/bin/sh\necho "python: no python3 on PATH (check-run-all stand-in)" >&2\nexit 3\n' >"$work/no-python"
chmod +x "$work/no-python"
rc=0
BENCH_PYTHON_SETUP=$work/no-python ./run_all.sh --servers hyper --python --no-capacity --connections 30000 \
  --output "$work/run-py" >"$work/log" 2>&1 || rc=$?
(( rc == 1 )) || fail "a --python run without python3 and no measured cell exited $rc, not 1"
grep -qF '== python: not here (no python3 on PATH (check-run-all stand-in))' "$work/log" || fail "a --python run without python3 did not say why"
for s in flask starlette tornado; do
  grep -qF -- "-- reuse-multiple-$s: skipped (the Python servers did not run: no python3 on PATH" "$work/log" \
    || fail "a --python run without python3 did not skip reuse-multiple-$s with the reason"
done
grep -qE '^-> \[16/16\] reuse-multiple-tornado: ' "$work/log" || fail "a --python run does not count the Python cells in its progress"
python=$(target/release/bench field "$work/run-py/run.json" python.servers python.versions python.unavailable) || true
[[ $python == $'["flask","starlette","tornado"]\nnull\nno python3 on PATH (check-run-all stand-in)' ]] ||
  fail "run.json does not record why the Python servers did not run: $python"

# publish-run.sh: a complete run is copied, anything else refused.
run=$work/fake-run to=$work/published
mkdir -p "$run" "$to"
echo "# results" >"$run/results.md"
echo "<svg/>" >"$run/results.svg"
echo "stale" >"$to/results-capacity.svg"
rc=0
scripts/publish-run.sh "$run" --to "$to" >/dev/null 2>"$work/err" || rc=$?
if (( rc != 1 )) || ! grep -q "is not a complete run" "$work/err"; then
  fail "publish-run.sh did not refuse a run without its complete status (exit $rc)"
fi
[[ ! -e $to/results.md ]] || fail "publish-run.sh copied an incomplete run"
echo complete >"$run/status"
scripts/publish-run.sh "$run" --to "$to" >/dev/null || fail "publish-run.sh refused a complete run"
if ! cmp -s "$run/results.md" "$to/results.md" || ! cmp -s "$run/results.svg" "$to/results.svg"; then
  fail "publish-run.sh did not copy results.md and results.svg"
fi
[[ ! -e $to/results-capacity.svg ]] || fail "publish-run.sh left a capacity chart the run does not have"

# --tls: one server, no searches, the shortest cells, and 20 connections: a /multiple cell
# then opens 100 upstream connections at once over TLS, not --quick's 500, whose
# handshakes gosleep (on loadgen's core) can take longer than the 1 s warm-up and the
# window together to finish on a busy machine. Each HTTPS table cell must have its
# upstream counts and its rows; /single's counts, physical facts with wide margins: a
# server that does not reuse its upstream connections makes one TLS handshake (full or
# resumed) per upstream call, one that does makes next to none in the window (its pool of
# C connections was filled in the warm-up). Not /multiple's: at C x fan-out new
# connections, gosleep's handshakes can take the client core past the 1 s warm-up.
if (( tls_run )); then
  rc=0
  ./run_all.sh --quick --tls --servers hyper --no-capacity --duration 1 --connections 20 --output "$work/run-tls" >"$work/log" 2>&1 || rc=$?
  (( rc == 0 )) || fail "./run_all.sh --quick --tls --servers hyper exited $rc: $(tail -3 "$work/log")"
  md=$work/run-tls/results.md
  for table in "HTTPS upstream — Not reuse connections — Single req" "HTTPS upstream — Reuse connections — Multi req"; do
    grep -qF "### $table" "$md" 2>/dev/null || fail "a --tls run's results.md has no table '$table'"
  done
  grep -q '^| Upstream TLS handshakes per request (full / resumed) | [0-9.]* / [0-9.]* |$' "$md" 2>/dev/null ||
    fail "a --tls run's results.md has no row of upstream TLS handshakes per request with figures"
  grep -qF "| Upstream TLS | " "$md" 2>/dev/null || fail "a --tls run's results.md does not name its TLS stack"
  # handshakes_per_call CELL: gosleep's TLS handshakes (full + resumed) per upstream call
  # over the cell's window.
  handshakes_per_call() {
    local f=$work/run-tls/$1.upstream.json
    target/release/bench field "$f" tls_handshakes_full tls_handshakes_resumed requests |
      awk '{v[NR] = $1} END {if (NR == 3 && v[3] > 0) printf "%.3f", (v[1] + v[2]) / v[3]; else print "none"}'
  }
  for cell in no-reuse-single reuse-single no-reuse-multiple reuse-multiple; do
    [[ -s $work/run-tls/https-$cell-hyper.upstream.json ]] || fail "https-$cell-hyper has no upstream counts"
  done
  per=$(handshakes_per_call https-no-reuse-single-hyper 2>/dev/null) || per=none
  awk -v p="$per" 'BEGIN {exit !(p != "none" && p >= 0.5 && p <= 1.5)}' ||
    fail "https-no-reuse-single-hyper: $per TLS handshakes per upstream call, not about 1 (0.5 to 1.5)"
  per=$(handshakes_per_call https-reuse-single-hyper 2>/dev/null) || per=none
  awk -v p="$per" 'BEGIN {exit !(p != "none" && p < 0.2)}' ||
    fail "https-reuse-single-hyper: $per TLS handshakes per upstream call, not next to none (under 0.2)"
  if compgen -G "$work/run-tls/*reuse-*-hyper.upstream.json" | grep -qv '/https-'; then
    fail "a plain-HTTP cell has upstream TLS counts"
  fi
fi

if (( failures )); then
  exit 1
fi
echo "check-run-all: ok (help, bad input, a run with nothing measured, --python without python3, publishing$( (( tls_run )) && echo ', a --tls run'))"
