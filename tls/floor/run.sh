#!/usr/bin/env bash
# The floor, measured: builds tls-floor with each provider (each in a target dir of its
# own), runs them pinned to one CPU, alternated ABBA in short runs (seconds each) so the
# shared machine's drift falls on both alike, and prints the medians' Markdown table.
# docs/benchmarks/tls.md quotes its output.
#   PAIRS=10 ROUNDS=2 HANDSHAKES=500 CPU=1 tls/floor/run.sh
set -euo pipefail
cd "$(dirname "$0")"
PAIRS=${PAIRS:-10}
ROUNDS=${ROUNDS:-2}
HANDSHAKES=${HANDSHAKES:-500}
CPU=${CPU:-1}

cargo build --release --locked --quiet --target-dir target/ring
cargo build --release --locked --quiet --no-default-features --features aws-lc-rs --target-dir target/aws-lc-rs

samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
for pair in $(seq "$PAIRS"); do
    # Odd pairs start with ring, even ones with aws-lc-rs.
    if (( pair % 2 )); then order="ring aws-lc-rs"; else order="aws-lc-rs ring"; fi
    for provider in $order; do
        taskset -c "$CPU" "target/$provider/release/tls-floor" \
            --rounds "$ROUNDS" --handshakes "$HANDSHAKES" --csv >>"$samples"
    done
done
target/ring/release/tls-floor summarize <"$samples"
