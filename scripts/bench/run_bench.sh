#!/usr/bin/env bash
# One command for the whole benchmark: full-size random model (+ CTranslate2 conversions) if
# missing, de2en release build, then bench.py. Arguments go to bench.py (e.g. --quick).
#
#   scripts/bench/run_bench.sh            # 500 sentences, beam 1/4 x batch 1/32, every engine:
#                                         # transformers, ct2-fp32, ct2-int8, de2en, de2en-int8
#   scripts/bench/run_bench.sh --quick    # 100 sentences
#   scripts/bench/run_bench.sh --quick --natural   # outputs end by themselves (make_natural_model.py)
#   NO_BUILD=1 scripts/bench/run_bench.sh --engines transformers,ct2-fp32
#   RUST_BERT=1 scripts/bench/run_bench.sh --quick   # also build and run --engine rust-bert
#
# Environment: PYTHON (default: the repo's .venv, else /work/pyenv/venv, else python3), CARGO_TARGET_DIR,
# DE2EN_BIN (skip the build and use this binary), NO_BUILD=1 (do not run cargo), RUST_BERT=1
# (build de2en with the rust-bert feature into target/rust-bert through scripts/with-libtorch.sh),
# DE2EN_RUST_BERT_BIN (use this rust-bert build instead).
# Results: printed, and written to scripts/bench/out/results.md and results.json. The int8 quality
# check is separate and quick: scripts/bench/int8_agreement.py (see README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    for candidate in "$repo/.venv/bin/python" /work/pyenv/venv/bin/python python3; do
        if command -v "$candidate" >/dev/null; then python="$candidate"; break; fi
    done
fi

export OMP_WAIT_POLICY=PASSIVE   # without it libtorch busy-waits on these VMs (up to 10x slower)

if [[ ! -f "$here/out/opus-mt-de-en-random/model.safetensors" || ! -f "$here/out/ct2-int8/model.bin" ]]; then
    "$python" "$here/make_full_model.py"
fi

# --natural runs the variant whose outputs end by themselves; it is made from the model above.
for arg in "$@"; do
    if [[ "$arg" == "--natural" && ( ! -f "$here/out/opus-mt-de-en-natural/model.safetensors" || ! -f "$here/out/ct2-natural-int8/model.bin" ) ]]; then
        "$python" "$here/make_natural_model.py"
    fi
done

if [[ -z "${DE2EN_BIN:-}" && -z "${NO_BUILD:-}" ]]; then
    if command -v cargo >/dev/null; then
        (cd "$repo" && cargo build --release --quiet) || echo "warning: cargo build --release failed; de2en will be skipped if no binary exists" >&2
    else
        echo "warning: cargo not found; de2en will be skipped if no binary exists" >&2
    fi
fi

if [[ -n "${RUST_BERT:-}" && -z "${DE2EN_RUST_BERT_BIN:-}" && -z "${NO_BUILD:-}" ]]; then
    (cd "$repo" && CARGO_TARGET_DIR="$repo/target/rust-bert" scripts/with-libtorch.sh \
        cargo build --release --quiet --features rust-bert) ||
        echo "warning: the rust-bert build failed; de2en-rust-bert will be skipped" >&2
fi

exec "$python" "$here/bench.py" "$@"
