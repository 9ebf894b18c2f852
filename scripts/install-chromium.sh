#!/usr/bin/env bash
# Chromium for the browser tests (tests/review_browser.rs), from Debian: installed with apt-get
# when it is missing and this runs as root. Prints the browser's path on stdout when there is one;
# otherwise says on stderr why there is none and exits 0 all the same — the browser tests then
# print SKIPPED with the reason (scripts/test.sh calls this before `cargo test`).
set -euo pipefail

find_chromium() {
    local name
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        command -v "$name" && return 0
    done
    return 1
}

if [ -n "${DE2EN_CHROMIUM:-}" ]; then
    echo "$DE2EN_CHROMIUM"
    exit 0
fi
find_chromium && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-chromium.sh: no Chromium and not root: the browser tests will be skipped" \
        "(install it with \`apt-get install chromium\`)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-chromium.sh: no Chromium and no apt-get: the browser tests will be skipped" >&2
    exit 0
fi
echo "install-chromium.sh: installing chromium with apt-get (first run only, ~300 MB)" >&2
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2; then
    echo "install-chromium.sh: apt-get could not install chromium: the browser tests will be skipped" >&2
    exit 0
fi
find_chromium || echo "install-chromium.sh: chromium installed but not on PATH" >&2
