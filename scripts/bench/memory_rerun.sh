#!/bin/bash
# The translation memory's measurement (README, "Translation memory"): a 60-article tree made
# from tests/data/articles (each copy with a headline and a closing line of its own), translated
# once, then again after one sentence was edited in 6 of the 60 articles (10 %), with the memory
# and without it; then the memory's size per 1000 sentences.
#
#   scripts/bench/memory_rerun.sh [MODEL_DIR]     (default: the tiny-swish fixture model)
#   DE2EN_FLAGS="--max-length 32" scripts/bench/memory_rerun.sh scripts/bench/out/opus-mt-de-en-random
#       (the full-size random model emits no EOS: cap its output length)
#
# Uses target/release/de2en (build it first: cargo build --release); DE2EN_BIN overrides.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${1:-$REPO/tests/fixtures/models/tiny-swish}
DE2EN=${DE2EN_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/de2en}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export DE2EN_CACHE_DIR=$T/cache

articles=("$REPO"/tests/data/articles/*)
make_tree() { # EDITED_INDICES… (given: only those articles are rewritten, edited)
    for i in $(seq 0 59); do
        src=${articles[$((i % ${#articles[@]}))]}
        month=Mai
        for e in "$@"; do [ "$e" = "$i" ] && month=Juni; done
        [ $# -gt 0 ] && [ "$month" = Mai ] && continue
        mkdir -p "$T/in/ressort$((i % 4))"
        {
            printf 'Meldung %d aus dem Ressort %d\n\n' "$i" "$((i % 4))"
            cat "$src"
            printf '\nDer Bericht %d wurde am %d. %s aktualisiert.\n' "$i" "$((1 + i % 28))" "$month"
        } > "$T/in/ressort$((i % 4))/artikel-$i.de.${src##*.}"
    done
}
run() { # LABEL FLAGS… → wall time and the summary line
    local start end
    start=$(date +%s.%N)
    # shellcheck disable=SC2086  # DE2EN_FLAGS is a list of flags
    "$DE2EN" translate --model "$MODEL" ${DE2EN_FLAGS:-} "${@:2}" 2> "$T/log"
    end=$(date +%s.%N)
    printf '%-34s %6.2f s  %s\n' "$1" "$(echo "$end - $start" | bc)" \
        "$(grep -o '[0-9]* sentences (.*sent to the model)' "$T/log")"
}

make_tree
run "first run, --no-memory" "$T/in" -o "$T/out-nomem" --no-memory
run "first run (empty memory)" "$T/in" -o "$T/out" --memory "$T/tm.sqlite3"
make_tree 3 14 25 36 47 58
run "6 of 60 edited, with memory" "$T/in" -o "$T/out" --memory "$T/tm.sqlite3"
run "6 of 60 edited, --no-memory" "$T/in" -o "$T/out-nomem" --no-memory
run "all 60 again, --force, memory" "$T/in" -o "$T/out" --force --memory "$T/tm.sqlite3"
run "all 60 again, --force, no memory" "$T/in" -o "$T/out-nomem" --force --no-memory
cmp -s <(cd "$T/out" && find . -name '*.en.*' -exec cat {} +) \
    <(cd "$T/out-nomem" && find . -name '*.en.*' -exec cat {} +) \
    && echo "outputs with and without the memory: identical" \
    || echo "outputs with and without the memory: DIFFER"
"$DE2EN" memory stats --memory "$T/tm.sqlite3" > "$T/stats"
entries=$(sed -n 's/^entries: //p' "$T/stats")
file_bytes=$(stat -c %s "$T/tm.sqlite3")
wal_bytes=$(stat -c %s "$T/tm.sqlite3-wal" 2>/dev/null || echo 0)
echo "memory: $entries entries, file $file_bytes bytes + WAL $wal_bytes bytes;" \
    "$(( (file_bytes + wal_bytes) * 1000 / entries )) bytes per 1000 sentences (file + WAL)," \
    "$(( file_bytes * 1000 / entries )) (file)"
# A larger sample for the size: the 500 benchmark sentences (long news sentences) as an article.
cp "$REPO/scripts/bench/sentences.de.txt" "$T/saetze.de.txt"
run "500 benchmark sentences" "$T/saetze.de.txt" -o "$T/saetze.en.txt" --memory "$T/tm2.sqlite3"
"$DE2EN" memory stats --memory "$T/tm2.sqlite3" > "$T/stats2"
entries=$(sed -n 's/^entries: //p' "$T/stats2")
file_bytes=$(stat -c %s "$T/tm2.sqlite3")
echo "memory of the 500 sentences: $entries entries, file $file_bytes bytes;" \
    "$(( file_bytes * 1000 / entries )) bytes per 1000 sentences"
