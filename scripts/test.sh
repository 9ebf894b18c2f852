#!/usr/bin/env bash
# The README's test command: everything CI checks. The default build first (no libtorch needed),
# then the rust-bert engine (scripts/ci-rust-bert.sh installs libtorch on first use, ~3.5 GB);
# DE2EN_SKIP_RUST_BERT=1 skips the second part.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
if [ -n "${DE2EN_SKIP_RUST_BERT:-}" ]; then
    echo "test.sh: DE2EN_SKIP_RUST_BERT is set: the rust-bert engine was not checked" >&2
else
    bash scripts/ci-rust-bert.sh
fi
