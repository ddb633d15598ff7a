#!/usr/bin/env bash
# publish-run.sh: make one run_all.sh run the repository's published results.
#
# Copies the run's results.md and its charts (results.svg, results-capacity.svg) over the
# ones at the top of the repository (or --to DIR), the files the README shows. Only a
# complete run is published: one that run_all.sh finished with every cell measured and
# valid (it then writes "complete" into the run's status file); anything else is refused,
# so a failed or interrupted run never replaces a good table.
#
# Usage: scripts/publish-run.sh [RUN_DIR] [--to DIR]
#   RUN_DIR  a run_all.sh run directory [results/latest]
#   --to     where to publish [the repository's top directory]
# Then review with `git diff --stat` and commit results.md and the charts together.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
run=$repo/results/latest to=$repo
while (( $# )); do
  case $1 in
    --to) to=${2:-}; [[ -n $to ]] || { echo "publish-run.sh: --to needs a directory" >&2; exit 2; }; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "publish-run.sh: unknown flag $1 (--help lists them)" >&2; exit 2 ;;
    *) run=$1; shift ;;
  esac
done

if [[ ! -f $run/results.md ]]; then
  echo "publish-run.sh: $run has no results.md: not a run_all.sh run directory" >&2
  exit 1
fi
if [[ $(cat "$run/status" 2>/dev/null) != complete ]]; then
  echo "publish-run.sh: $run is not a complete run (a cell failed, was invalid, or the run was cut short); nothing published" >&2
  exit 1
fi
cp "$run/results.md" "$run/results.svg" "$to/"
# A run without capacity searches has no capacity chart: the published one would not match.
if [[ -f $run/results-capacity.svg ]]; then
  cp "$run/results-capacity.svg" "$to/"
else
  rm -f "$to/results-capacity.svg"
fi
echo "== published $run as $to/results.md (and its charts)"
