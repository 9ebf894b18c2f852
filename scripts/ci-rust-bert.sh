#!/usr/bin/env bash
# The optional rust-bert engine (cargo feature `rust-bert`): lint it, then check that it agrees with
# transformers' goldens and with the default candle engine on every fixture model, and that
# `de2en translate --engine rust-bert` writes the same articles as the default engine.
# scripts/test.sh runs this after the default checks; DE2EN_SKIP_RUST_BERT=1 skips it there.
#
# libtorch comes from the PyPI torch wheel via scripts/with-libtorch.sh (first run: ~3.5 GB download
# into .venv, then cached). The feature shares the target dir with the default build: cargo keeps
# the artifacts of both feature sets side by side.
set -euo pipefail
cd "$(dirname "$0")/.."

run() {
    echo "+ $*" >&2
    scripts/with-libtorch.sh "$@"
}

start=$SECONDS
run cargo clippy --features rust-bert --all-targets -- -D warnings
run cargo test --features rust-bert --lib engine::rust_bert
run cargo test --features rust-bert --test cross_engine --test cli_rust_bert
echo "ci-rust-bert: done in $((SECONDS - start)) s" >&2
