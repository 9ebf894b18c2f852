#!/usr/bin/env bash
# CI step for the optional rust-bert engine (cargo feature `rust-bert`): lint it, then check that it
# agrees with transformers' goldens and with the default candle engine on every fixture model.
#
# libtorch comes from the PyPI torch wheel via scripts/with-libtorch.sh (first run: ~3.5 GB download
# into .venv, then cached). The feature shares the default target dir: cargo keeps the artifacts of
# both feature sets side by side, so the candle dependencies compiled by scripts/test.sh are reused.
set -euo pipefail
cd "$(dirname "$0")/.."

run() {
    echo "+ $*" >&2
    scripts/with-libtorch.sh "$@"
}

start=$SECONDS
run cargo clippy --features rust-bert --all-targets -- -D warnings
run cargo test --features rust-bert --lib engine::rust_bert
run cargo test --features rust-bert --test cross_engine
echo "ci-rust-bert: done in $((SECONDS - start)) s" >&2
