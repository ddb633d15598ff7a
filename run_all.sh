#!/usr/bin/env bash
# run_all.sh: reproduce every table of results.md with one command.
#
# A launcher: it builds the runner (bench/, quietly) and hands it the flags. The runner
# builds the workspace (release), starts gosleep, measures each server in every cell
# (connections reused or not x /single or /multiple, over HTTPS too with --tls), searches
# each server's capacity, and writes results/<UTC date-time>/ (results/latest points at
# it): run.json, each cell's loadgen result, results.md and its charts. It stops every
# process it started, by PID, however it ends. `./run_all.sh --help` lists every flag;
# docs/reading-results.md says what a run writes.
#
# Exit status: 0 when every cell was measured and valid; 1 when a cell failed or was not
# a valid result, no cell was measured, or the upstream died (the run stops at once);
# 2 for a bad flag or value.
set -euo pipefail
cd "$(dirname "$0")"
# Quiet, so that a bad flag is one line; the first build of a checkout says what it does.
[[ -x target/release/bench ]] || echo "== building the runner (cargo build --release -p bench)" >&2
cargo build --release --quiet -p bench
exec target/release/bench run "$@"
