#!/usr/bin/env bash
# check-no-rebuild.sh: after the release build of the workspace, building any one binary
# package alone compiles nothing.
#
# Why: cargo turns on a dependency's features for the packages it is asked to build only, so
# after `cargo build --release --workspace` (what run_all.sh does) `cargo run --release -p
# gosleep` used to recompile dependencies with fewer features for half a minute, and put a
# second build of them in target/. The workspace-hack crate (cargo-hakari, .config/hakari.toml)
# and the feature lists in the root Cargo.toml make each package's build the workspace's; this
# script holds them to it.
#
# Builds the release workspace (a no-op when it is built), then for each package with a binary
# runs `cargo build --release -p P --message-format=json`: if any compiler-artifact message says
# `"fresh": false`, prints one line naming the package and the crates it compiled, and exits 1
# once every package has been checked; otherwise one line per package. First, if cargo-hakari is
# installed, `cargo hakari verify` (the workspace-hack is up to date); if not, a line saying it
# is skipped (this script installs nothing: CI has only the toolchain).
#
# Usage: scripts/check-no-rebuild.sh   (the first release build takes minutes; then seconds)
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v cargo-hakari >/dev/null 2>&1; then
  echo "== cargo hakari verify"
  cargo hakari verify
else
  echo "== cargo hakari verify: skipped, cargo-hakari is not installed (cargo install cargo-hakari --locked)"
fi

echo "== cargo build --release --workspace"
cargo build --release --workspace

# The workspace's packages that have a binary target, by name.
mapfile -t packages < <(cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if any("bin" in t["kind"] for t in p["targets"]):
        print(p["name"])
')
if [[ ${#packages[@]} -eq 0 ]]; then
  echo "check-no-rebuild: cargo metadata lists no package with a binary" >&2
  exit 1
fi

# Reads cargo's JSON messages on stdin; prints the crates (name@version) compiled, not fresh.
not_fresh='
import json, sys
seen = []
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    msg = json.loads(line)
    if msg.get("reason") != "compiler-artifact" or msg.get("fresh", True):
        continue
    # "registry+https://...#tokio@1.54.1", "path+file:///.../contract#contract@0.1.0",
    # or "path+file:///.../gosleep#0.1.0" when the directory is named as the package.
    source, _, fragment = msg["package_id"].partition("#")
    name = fragment if "@" in fragment else source.rstrip("/").rsplit("/", 1)[-1] + "@" + fragment
    if name not in seen:
        seen.append(name)
print(" ".join(seen))
'

echo "== cargo build --release -p P, for each binary package: nothing compiled"
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for package in "${packages[@]}"; do
  if ! json=$(cargo build --release -p "$package" --message-format=json 2>"$log"); then
    cat "$log" >&2
    echo "check-no-rebuild: cargo build --release -p $package failed" >&2
    exit 1
  fi
  compiled=$(python3 -c "$not_fresh" <<<"$json")
  if [[ -n $compiled ]]; then
    echo "FAIL $package: cargo build --release -p $package compiled: $compiled"
    failed=1
  else
    echo "ok   $package: nothing compiled"
  fi
done
exit "$failed"
