#!/usr/bin/env bash
# The socket floor, measured: builds tls-floor (ring, the workspace's provider), starts
# `tls-floor serve` pinned to one core, runs the client `tls-floor sockets` pinned to the
# other (RUNS runs of ROUNDS rounds, the cases alternated within each round, forward then
# backward), and prints the medians' Markdown tables: the bare rustls client's CPU per
# not-reused call over loopback, plain TCP against TLS 1.3, and what TLS adds against the
# in-memory handshake measured in the same rounds. The server is stopped by its PID on exit.
#   RUNS=1 ROUNDS=6 CALLS=1000 SERVER_CPU=0 CLIENT_CPU=1 tls/floor/sockets.sh
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-1}
ROUNDS=${ROUNDS:-6}
CALLS=${CALLS:-1000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

cargo build --release --locked --quiet --target-dir target/ring
bin=target/ring/release/tls-floor

work=$(mktemp -d)
server=
stop() {
    if [[ -n $server ]]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop EXIT

# taskset execs the binary: $! is the server's own PID.
taskset -c "$SERVER_CPU" "$bin" serve --endpoints "$work/endpoints" &
server=$!
for _ in $(seq 100); do
    [[ -s $work/endpoints ]] && break
    if ! kill -0 "$server" 2>/dev/null; then
        echo "sockets.sh: the server exited before it wrote its endpoints" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ ! -s $work/endpoints ]]; then
    echo "sockets.sh: the server wrote no endpoints in 10 s" >&2
    exit 1
fi

for _ in $(seq "$RUNS"); do
    taskset -c "$CLIENT_CPU" "$bin" sockets --endpoints "$work/endpoints" \
        --rounds "$ROUNDS" --calls "$CALLS" --csv >>"$work/samples"
done
"$bin" summarize-sockets <"$work/samples"
