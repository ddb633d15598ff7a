# shellcheck shell=bash
# The roster part of scripts/bench-lib.sh (which sources it): servers/roster.toml loaded once,
# and the functions that answer from it.

# The servers and their settings come from servers/roster.toml, which the runner reads and
# checks (`bench roster --table`: one line per server, its columns in order), loaded here
# once: BENCH_SERVERS is every name in roster order, and BENCH_SETTING[NAME,COLUMN] each
# setting. The runner is built first (quietly; nothing to do once it is).
BENCH_ROSTER_COLUMNS=(name runs model threads default floor start)
BENCH_SERVERS=()
declare -gA BENCH_SETTING=()
bench_roster_load() {
  local root row i table
  root=$(dirname "${BASH_SOURCE[0]}")/..
  (cd "$root" && cargo build --release --quiet -p bench) >&2
  table=$("$root/target/release/bench" roster --table) || exit 2
  while read -r -a row; do
    BENCH_SERVERS+=("${row[0]}")
    for i in "${!BENCH_ROSTER_COLUMNS[@]}"; do
      BENCH_SETTING[${row[0]},${BENCH_ROSTER_COLUMNS[$i]}]=${row[$i]}
    done
  done <<<"$table"
}
bench_roster_load

# bench_known NAME: NAME is a server of the roster.
bench_known() { [[ -n ${BENCH_SETTING[$1,name]:-} ]]; }

# bench_roster [COLUMN=VALUE]...: the servers (space-separated, in roster order) whose
# settings match every COLUMN=VALUE given, e.g. `bench_roster runs=rust model=async`.
bench_roster() {
  local s filter picked=()
  for s in "${BENCH_SERVERS[@]}"; do
    for filter in "$@"; do
      [[ ${BENCH_SETTING[$s,${filter%%=*}]} == "${filter#*=}" ]] || continue 2
    done
    picked+=("$s")
  done
  echo "${picked[*]}"
}

# The server every other one's CPU is set against in the scripts' tables ("CPU vs hyper"):
# the bare async floor.
# shellcheck disable=SC2034 # read by the sourcing scripts
BENCH_BASE_SERVER=hyper

# bench_is_python NAME: the server is one of the Python baselines (python/).
bench_is_python() { [[ ${BENCH_SETTING[$1,runs]} == python ]]; }

# bench_server_bin NAME: the executable of server NAME.
bench_server_bin() {
  if bench_is_python "$1"; then echo "python/bin/server-$1"; else echo "target/release/server-$1"; fi
}


# bench_threads NAME: the server's --threads.
bench_threads() { echo "${BENCH_SETTING[$1,threads]}"; }

# bench_threads_line SERVER...: "--threads: rouille 256, axum 1, ...", for a report's header.
bench_threads_line() {
  local s line=""
  for s in "$@"; do line+="${line:+, }$s $(bench_threads "$s")"; done
  echo "--threads: $line"
}


