#!/usr/bin/env bash
# Clean release builds of tls-floor with each provider, alternated ABBA, each into a fresh
# temporary target dir (removed after), with the crates already downloaded: compile and link
# time only. Prints one line a build: provider, wall s, user s, sys s.
#   REPEATS=2 tls/floor/build-time.sh
set -euo pipefail
cd "$(dirname "$0")"
REPEATS=${REPEATS:-2}

cargo fetch --locked --quiet
TIMEFORMAT='%R %U %S'
echo "provider wall_s user_s sys_s"
for repeat in $(seq "$REPEATS"); do
    if (( repeat % 2 )); then order="ring aws-lc-rs"; else order="aws-lc-rs ring"; fi
    for provider in $order; do
        features=()
        [[ $provider == aws-lc-rs ]] && features=(--no-default-features --features aws-lc-rs)
        dir=$(mktemp -d)
        times=$( { time cargo build --release --locked --quiet --offline "${features[@]}" \
            --target-dir "$dir" >/dev/null 2>&1; } 2>&1 )
        rm -rf "$dir"
        echo "$provider $times"
    done
done
