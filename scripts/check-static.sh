#!/usr/bin/env bash
# Static checks beyond fmt and clippy, run by .ci/run: shellcheck on every shell script of
# the repository, the API docs with rustdoc's warnings as errors (a broken intra-doc link is
# a doc that points nowhere), and no unused dependency (cargo-machete).
#
# A tool that is missing is installed when it can be (shellcheck from Debian's packages as
# root, cargo-machete from crates.io); where it cannot, that check prints why it was skipped.
# Exits 1 when a check that ran failed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every tracked shell script: *.sh, and files whose #! line runs bash or sh (.ci/run,
# python/bin/*). third_party/ is upstream code, kept as released.
shell_scripts() {
  local f
  git ls-files | while IFS= read -r f; do
    [[ -f $f && $f != third_party/* ]] || continue
    if [[ $f == *.sh ]] || head -n 1 "$f" | grep -qE '^#!.*[/ ](ba)?sh( |$)'; then
      printf '%s\n' "$f"
    fi
  done
}

echo "== shellcheck (every shell script)"
if ! command -v shellcheck >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y shellcheck >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y shellcheck >/dev/null 2>&1; }) || true
fi
if command -v shellcheck >/dev/null 2>&1; then
  mapfile -t scripts < <(shell_scripts)
  shellcheck -x "${scripts[@]}"
  echo "shellcheck: ${#scripts[@]} scripts clean"
else
  echo "shellcheck: skipped: not installed, and not root with apt-get to install it (apt-get install shellcheck)"
fi

echo "== cargo doc (rustdoc warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --quiet

echo "== cargo machete (unused dependencies)"
if ! cargo machete --version >/dev/null 2>&1; then
  cargo install cargo-machete --locked --quiet || true
fi
if cargo machete --version >/dev/null 2>&1; then
  # Every crate's directory but workspace-hack/, whose dependencies are there for the
  # features they turn on, not for code (cargo-hakari writes it; .config/hakari.toml).
  crates=(servers)
  for manifest in */Cargo.toml; do
    [[ $manifest == workspace-hack/* ]] || crates+=("${manifest%/Cargo.toml}")
  done
  cargo machete "${crates[@]}"
else
  echo "cargo machete: skipped: cargo install cargo-machete --locked failed (no crates.io?)"
fi
