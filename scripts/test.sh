#!/usr/bin/env bash
# The README's test command: everything CI checks. The default build first (no libtorch needed;
# Chromium for the browser tests is installed with apt-get when missing, see install-chromium.sh),
# then the README's SLURM job array on a real one-node cluster (scripts/slurm-e2e.sh: root only,
# installs slurm-wlm and munge on first use; DE2EN_SKIP_SLURM=1 skips it), then the rust-bert
# engine (scripts/ci-rust-bert.sh installs libtorch on first use, ~3.5 GB; DE2EN_SKIP_RUST_BERT=1
# skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# The browser tests (tests/review_browser.rs, tests/html_browser.rs) need Chromium: installed here when missing (root,
# apt-get). Once it is there, a browser test that cannot run fails instead of saying SKIPPED.
if chromium=$(bash scripts/install-chromium.sh) && [ -n "$chromium" ]; then
    export DE2EN_CHROMIUM="$chromium" DE2EN_REQUIRE_BROWSER=1
fi
# The office test (tests/office.rs) opens translated .docx/.odt files in LibreOffice:
# scripts/office-check.sh installs libreoffice-writer-nogui and poppler-utils on first use (root,
# apt-get). Where it can install them, a conversion that cannot run fails instead of SKIPPED.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DE2EN_REQUIRE_OFFICE=1
fi
# Property tests run a fixed sample here, so a CI run cannot fail by the luck of its seed; wider
# random runs are for development: PROPTEST_CASES=20000 cargo test --release --test document
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261202}"
cargo test --all-targets
echo "test.sh: browser and LibreOffice screenshots (CI artifacts) are in target/browser-artifacts/" >&2
if [ -n "${DE2EN_SKIP_SLURM:-}" ]; then
    echo "test.sh: DE2EN_SKIP_SLURM is set: the SLURM job array was not checked" >&2
elif [ "$(id -u)" != 0 ]; then
    echo "test.sh: not root: the SLURM job array was not checked (scripts/slurm-e2e.sh needs root)" >&2
elif grep -qsx slurmctld /proc/[0-9]*/comm; then # (no pgrep on a bare Debian)
    # Never start a second cluster beside a real one (ports, munge, its jobs).
    echo "test.sh: a slurmctld is running here: the SLURM job array was not checked" >&2
else
    bash scripts/slurm-e2e.sh
fi
if [ -n "${DE2EN_SKIP_RUST_BERT:-}" ]; then
    echo "test.sh: DE2EN_SKIP_RUST_BERT is set: the rust-bert engine was not checked" >&2
else
    bash scripts/ci-rust-bert.sh
fi
