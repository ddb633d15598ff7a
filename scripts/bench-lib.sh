# shellcheck shell=bash
# Shared pieces of the project's measuring scripts (gosleep/bench.sh, loadgen/bench.sh,
# python/flask-bound.sh). Source it after
# `set -euo pipefail`; it defines functions and a temp dir ($BENCH_TMP), and traps that stop
# every process started through bench_start (or added to BENCH_PIDS), by PID, however the
# script ends (an INT or TERM ends it at once: children are waited for with `wait`).

# The servers' roster and the figures the scripts compute live in files of their own.
# shellcheck source=scripts/bench-roster.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-roster.sh"
# shellcheck source=scripts/bench-figures.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-figures.sh"

BENCH_TMP=$(mktemp -d)
BENCH_PIDS=()
BENCH_TCK=$(getconf CLK_TCK)
# Seconds a probe waits for an answer: a stopped or wedged process must not hang the
# script, and anything alive answers a trivial GET on loopback far sooner.
BENCH_PROBE_S=5
# What the last failed bench_serving found (for the caller's message).
BENCH_WHY=""
# curl's flags for the CA that a probe of an https:// address trusts (bench_trust sets
# them: run_all.sh --tls trusts the CA gosleep made for the run); none: the system's roots.
BENCH_CA_FLAGS=()

# The scripts' command lines. bench_usage prints the calling script's header comment (line
# 2 up to its `set -euo`), which is its help. bench_bad_usage MESSAGE: a bad flag or value,
# one line naming it, exit 2. bench_value FLAG ARGS...: the flag's value, which must be
# there and not be another flag. bench_server_list FLAG ARGS...: the value of --servers,
# comma-separated names of the roster (below).
bench_usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
bench_bad_usage() { echo "$(basename "$0"): $1 ($0 --help lists the flags)" >&2; exit 2; }
bench_value() {
  [[ $# -ge 2 && -n $2 && $2 != --* ]] || bench_bad_usage "$1 needs a value"
  printf '%s' "$2"
}
bench_server_list() {
  local list
  # errexit is off inside the caller's $(...): stop here by hand.
  list=$(bench_value "$@") || exit 2
  [[ $list =~ ^[a-z]+(,[a-z]+)*$ ]] || bench_bad_usage "$1 $list has an empty or malformed name (write e.g. axum,hyper)"
  local s
  for s in ${list//,/ }; do
    bench_known "$s" || bench_bad_usage "unknown server $s (known: ${BENCH_SERVERS[*]})"
  done
  printf '%s' "$list"
}

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # Empty once its processes have ended.
  [[ -z ${BENCH_QUOTA_DIR:-} ]] || rmdir "$BENCH_QUOTA_DIR" 2>/dev/null || true
  rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bench_need TOOL...: installs each missing tool from Debian's packages (same name) when we
# are root, or stops with a message naming it.
bench_need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null && continue
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
      apt-get install -y -qq "$tool" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
    else
      echo "$tool not found (Debian: apt-get install $tool)" >&2
      return 1
    fi
  done
}

# bench_start NAME PIN CMD...: runs CMD in the background (under PIN, e.g. "taskset -c 0",
# or "" for none), waits for its "listening on http://ADDR" (or https://ADDR) line and for
# GET /health to answer 200 (over TLS for https://, trusting bench_trust's CA); sets PID and
# ADDR (HOST:PORT). Output goes to $BENCH_TMP/NAME.out.
bench_start() {
  local name=$1 pin=$2
  shift 2
  # The file exists before the loop below reads it: the background child opens it only
  # when it gets to run, and a sed on a missing file would end this script (set -e).
  : >"$BENCH_TMP/$name.out"
  # shellcheck disable=SC2086 # PIN is a word list on purpose
  $pin "$@" >"$BENCH_TMP/$name.out" 2>&1 &
  PID=$!
  BENCH_PIDS+=("$PID")
  local _ url
  for _ in $(seq 100); do
    url=$(sed -n 's|.*listening on \(https\{0,1\}://\)|\1|p' "$BENCH_TMP/$name.out")
    ADDR=${url#*://}
    if [[ -n "$url" ]]; then
      # A plain-HTTP address is probed as HOST:PORT, an HTTPS one as its URL.
      [[ $url == https://* ]] || url=$ADDR
      bench_healthy "$url" && return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not come up: $(cat "$BENCH_TMP/$name.out")" >&2
  return 1
}

# bench_start_server NAME UPSTREAM [FLAGS...]: bench_start of the roster's server NAME on
# server_pin, on an ephemeral port of 127.0.0.1, against UPSTREAM (host:port or URL), with
# FLAGS (--threads, --no-reuse...); PID and ADDR as bench_start's.
bench_start_server() {
  local name=$1 upstream=$2
  shift 2
  bench_start "$name" "$server_pin" "$(bench_server_bin "$name")" --listen 127.0.0.1:0 --upstream "$upstream" "$@"
}

# bench_http_ok HOST:PORT PATH: GET PATH answers 200 within BENCH_PROBE_S seconds
# (bash's /dev/tcp: no curl needed). An https://HOST:PORT is asked over TLS by curl,
# which verifies the certificate against bench_trust's CA.
bench_http_ok() {
  local status=""
  if [[ $1 == https://* ]]; then
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time "$BENCH_PROBE_S" "${BENCH_CA_FLAGS[@]}" "$1$2") || true
    [[ $status == 200 ]]
    return
  fi
  { exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3
  read -r -t "$BENCH_PROBE_S" _ status _ <&3 || true
  exec 3<&-
  [[ $status == 200 ]]
}

# bench_trust CA_FILE: probes of https:// addresses (and curl's calls to gosleep) trust
# that CA (and only it) from now on.
bench_trust() { BENCH_CA_FLAGS=(--cacert "$1"); }

# bench_healthy HOST:PORT: GET /health answers 200.
bench_healthy() { bench_http_ok "$1" /health; }

# bench_alive PID: the process has not ended (an ended child not yet reaped is a zombie,
# which kill -0 still finds).
bench_alive() {
  kill -0 "$1" 2>/dev/null && [[ $(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null) != Z ]]
}

# shellcheck disable=SC2034 # BENCH_WHY is read by the sourcing script
# bench_serving PID HOST:PORT PATH: the process still runs and answers GET PATH with 200.
# If not, returns 1 with what failed in BENCH_WHY (a global, not output: the exit
# status of a child can only be collected in this shell, not in a $(...) subshell).
bench_serving() {
  local rc
  if ! bench_alive "$1"; then
    rc=0
    wait "$1" 2>/dev/null || rc=$?
    bench_forget "$1"
    BENCH_WHY="pid $1 has exited (status $rc)"
    return 1
  fi
  bench_http_ok "$2" "$3" && return 0
  BENCH_WHY="pid $1 on $2 did not answer GET $3 with 200 within ${BENCH_PROBE_S} s"
  return 1
}


# bench_forget PID: the process has ended; the traps need not stop it.
bench_forget() {
  local kept=() pid
  for pid in "${BENCH_PIDS[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
  BENCH_PIDS=("${kept[@]}")
}

# bench_stop PID [NAME]: SIGTERM, then wait for it; says so if it did not exit 0 (the Go
# twin of gosleep dies of the signal, which is fine; one of ours should not). A process
# that had already died is reported as such, with its exit status, and is not an error
# here: the caller checks liveness where it matters (bench_serving).
bench_stop() {
  local rc=0
  if ! kill -TERM "$1" 2>/dev/null; then
    wait "$1" 2>/dev/null || rc=$?
    bench_forget "$1"
    echo "${2:-process $1} had already died (exit status $rc)" >&2
    return 0
  fi
  wait "$1" || rc=$?
  bench_forget "$1"
  (( rc == 0 )) || echo "${2:-process $1} exited with status $rc after SIGTERM" >&2
}

# bench_pins: sets server_pin and client_pin, the command prefixes that put the measured
# process alone on core 0 and the load and upstream on core 1 ("taskset -c 0" / "taskset
# -c 1"), or "" each where there is no taskset or only one core.
# shellcheck disable=SC2034 # set for the sourcing script
bench_pins() {
  server_pin="" client_pin=""
  if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
    server_pin="taskset -c 0" client_pin="taskset -c 1"
  fi
}

# bench_build: the release build every script measures, of the whole workspace (the
# workspace-hack crate makes a build of one package the same, and
# scripts/check-no-rebuild.sh checks it), so run_all.sh and every benchmark run the same
# binaries.
bench_build() { cargo build --release --workspace >&2; }

# bench_python_setup: makes python/.venv if needed (python/setup.sh, or the stand-in that
# BENCH_PYTHON_SETUP names: a test plays a machine without python3).
# Returns 0 when it is ready; otherwise setup.sh's status (3: no usable python3 here; 1: the
# set-up failed), with its last line in BENCH_WHY.
bench_python_setup() {
  local rc=0
  "${BENCH_PYTHON_SETUP:-python/setup.sh}" 2>"$BENCH_TMP/python-setup.err" || rc=$?
  # shellcheck disable=SC2034 # read by the sourcing script
  BENCH_WHY=$(tail -1 "$BENCH_TMP/python-setup.err" | sed 's/^python: //')
  (( rc == 0 )) || cat "$BENCH_TMP/python-setup.err" >&2
  return "$rc"
}

# bench_servers_setup DELAY_MS SERVER...: the common start of the server benchmarks: the
# fd limit raised to the hard limit, the release build (bench_build), the pinning
# (bench_pins), and gosleep (DELAY_MS, one thread) on the client core. Sets upstream (its
# URL), upstream_addr and gosleep_pid. The SERVERs are the ones the script will run.
# shellcheck disable=SC2034 # set for the sourcing script
bench_servers_setup() {
  local delay=$1 s
  shift
  ulimit -n "$(ulimit -Hn)"
  bench_build
  for s in "$@"; do
    [[ -x $(bench_server_bin "$s") ]] || { echo "no server named $s ($(bench_server_bin "$s"))" >&2; exit 2; }
    if bench_is_python "$s" && [[ -z ${python_ready:-} ]]; then
      bench_python_setup || { echo "$s needs python/.venv: $BENCH_WHY" >&2; exit 1; }
      python_ready=1
    fi
  done
  bench_pins
  bench_start gosleep "$client_pin" target/release/gosleep --listen 127.0.0.1:0 --delay-ms "$delay" --threads 1
  upstream="http://$ADDR" upstream_addr=$ADDR gosleep_pid=$PID
}

# bench_quota_setup CORES: a cgroup of this script's own with a CPU quota of CORES (e.g.
# 0.5), for bench_quota_add. The quota is enforced every 10 ms, so a throttled server
# stalls at most a few ms at a time, not the 100 ms of the default period. Sets
# BENCH_QUOTA_DIR; returns 1 with the reason in BENCH_WHY where no cgroup can be made (not
# root, no cpu controller), and nothing is changed. The EXIT trap removes the cgroup.
BENCH_QUOTA_DIR=""
bench_quota_setup() {
  local period=10000 quota dir v2
  quota=$(awk -v c="$1" -v p="$period" 'BEGIN {printf "%d", c * p}')
  if [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
    dir=/sys/fs/cgroup/cpu/slow-upstream-bench.$$
    if mkdir "$dir" 2>/dev/null && echo "$period" >"$dir/cpu.cfs_period_us" 2>/dev/null \
      && echo "$quota" >"$dir/cpu.cfs_quota_us" 2>/dev/null; then
      BENCH_QUOTA_DIR=$dir
      return 0
    fi
  elif v2=$(sed -n 's/^0:://p' /proc/self/cgroup) && [[ -f /sys/fs/cgroup$v2/cgroup.controllers ]]; then
    dir=/sys/fs/cgroup${v2%/}/slow-upstream-bench.$$
    if mkdir "$dir" 2>/dev/null && echo "$quota $period" >"$dir/cpu.max" 2>/dev/null; then
      BENCH_QUOTA_DIR=$dir
      return 0
    fi
  fi
  if [[ -n ${dir:-} ]]; then rmdir "$dir" 2>/dev/null || true; fi
  # shellcheck disable=SC2034 # read by the sourcing script
  BENCH_WHY="cannot make a cgroup with a CPU quota${dir:+ at $dir} (needs root and the cpu controller)"
  return 1
}

# bench_descendants PID: the PIDs of the process's children, theirs, and so on.
bench_descendants() {
  local child
  # shellcheck disable=SC2013 # the file is one line of space-separated PIDs
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    echo "$child"
    bench_descendants "$child"
  done
}

# bench_quota_add PID: moves the process and its descendants (all their threads, and the
# processes they start later) into the quota's cgroup. A server may be a process tree
# (gunicorn forks its worker before it answers), and a child stays in the cgroup it was
# forked in.
bench_quota_add() {
  local pid
  for pid in "$1" $(bench_descendants "$1"); do echo "$pid" >"$BENCH_QUOTA_DIR/cgroup.procs"; done
}

# bench_tls_upstream DELAY_MS: after bench_servers_setup (its pinning), a second gosleep
# (DELAY_MS, one thread, on the client core) serving HTTPS with a CA of its own
# (--tls-self-signed) written to $BENCH_TMP/upstream-ca.pem, which the servers get as
# --upstream-ca and curl's probes and /stats reads trust from then on (bench_trust). Sets
# tls_upstream (https://HOST:PORT) and tls_gosleep_pid.
# shellcheck disable=SC2034 # set for the sourcing script
bench_tls_upstream() {
  bench_need curl
  bench_trust "$BENCH_TMP/upstream-ca.pem"
  bench_start gosleep-tls "$client_pin" target/release/gosleep --listen 127.0.0.1:0 --delay-ms "$1" --threads 1 \
    --tls-self-signed "$BENCH_TMP/upstream-ca.pem"
  tls_upstream="https://$ADDR" tls_gosleep_pid=$PID
}

# gosleep_handshakes_per_call STATS REQUESTS CALLS: gosleep's TLS handshakes per upstream
# call over a window that gosleep_reset opened and STATS (its /stats, JSON, read as the
# window ended) closed, for REQUESTS requests of CALLS upstream calls each: "FULL RESUMED"
# (3 decimals), "- -" when no request completed. The one full handshake of the /stats read
# itself is not counted.
gosleep_handshakes_per_call() {
  local full resumed
  full=$(loadgen_field - tls_handshakes_full <<<"$1") || return 1
  resumed=$(loadgen_field - tls_handshakes_resumed <<<"$1") || return 1
  awk -v f="$full" -v r="$resumed" -v n="$2" -v c="$3" \
    'BEGIN { if (n > 0) printf "%.3f %.3f\n", (f - 1) / (n * c), r / (n * c); else print "- -" }'
}
