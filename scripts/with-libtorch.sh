#!/usr/bin/env bash
# Runs a command with libtorch set up for the `rust-bert` feature (tch 0.17 / torch-sys 0.17).
#
#   scripts/with-libtorch.sh cargo build --release --features rust-bert
#   scripts/with-libtorch.sh target/release/de2en translate --engine rust-bert ...
#
# libtorch comes from the PyPI `torch` wheel, installed on first use into a project-local
# virtual environment (.venv, git-ignored; override with DE2EN_TORCH_VENV). Why each setting:
# - LIBTORCH_USE_PYTORCH=1: rust-bert turns on tch's `download-libtorch`, whose download server is
#   often unreachable (CI, sandboxes); with this, torch-sys asks the venv's python where torch is.
# - LIBTORCH_BYPASS_VERSION_CHECK=1: torch-sys 0.17 insists on exactly 2.4.0; we install 2.4.1, the
#   bug-fix release with the same C++ API that scripts/requirements.txt pins, so one venv serves both.
# - LD_LIBRARY_PATH: the built binary has no rpath to torch/lib, so the loader must be told.
# - OMP_WAIT_POLICY=PASSIVE: libtorch's OpenMP threads otherwise busy-wait between operations,
#   which makes small-batch decoding up to 10x slower on shared or virtual machines.
# Note: the PyPI wheel is a CUDA build; pip pulls ~2.7 GB of nvidia-* libraries even for CPU use.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${DE2EN_TORCH_VENV:-$root/.venv}"
torch_version="2.4.1"
python_bin="${PYTHON:-python3}"

torch_ok() {
    [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" -c 'import sys, torch; sys.exit(0 if torch.__version__.startswith("2.4.") else 1)' \
            >/dev/null 2>&1
}

if ! torch_ok; then
    echo "with-libtorch: installing torch==$torch_version into $venv (about 3.5 GB with CUDA libraries)" >&2
    if [ ! -x "$venv/bin/python" ]; then
        "$python_bin" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$torch_version"
    torch_ok || {
        echo "with-libtorch: torch 2.4.x still not importable from $venv" >&2
        exit 1
    }
fi

torch_lib="$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"

export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
export LIBTORCH_BYPASS_VERSION_CHECK=1
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_WAIT_POLICY=PASSIVE

exec "$@"
