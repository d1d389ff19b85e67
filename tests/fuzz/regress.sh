#!/usr/bin/env bash
# Replays every fuzz corpus file through its target's entry function, on stable and without libFuzzer
# (tests/corpus.rs). Respects CARGO_TARGET_DIR; tests/run-all.sh calls it. Not --locked: the crate has its own
# lock file, which follows the path dependencies under daemon/ and plugin-api/ as they gain crates.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --manifest-path Cargo.toml --no-default-features "$@"
