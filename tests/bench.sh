#!/usr/bin/env bash
# The load benchmark (see BENCHMARKS.md): builds sigild, the kms-soft plugin and the load generator in release
# mode, then runs them. Extra arguments go to sigil-load (e.g. --seconds 15).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p sigil-daemon -p sigil-kms-soft -p sigil-load
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/sigil-load" --sigild "$target_dir/release/sigild" "$@"
