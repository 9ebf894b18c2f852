#!/usr/bin/env bash
# Opens office documents in a real office suite: LibreOffice headless converts each FILE to PDF,
# then poppler writes the PDF's text and a picture of page 1, so a test can check what a user
# would see in Writer (issue 22). LibreOffice (Debian's libreoffice-writer-nogui) and poppler-utils
# are installed with apt-get when they are missing and this runs as root, like install-chromium.sh.
#
#   scripts/office-check.sh [--out DIR] FILE...
#
# For each FILE (.docx, .odt, ...) it writes into DIR (--out, else $DE2EN_OFFICE_OUT, else
# target/office-check), named after the whole file name so bericht.docx and bericht.odt do not
# collide:  NAME.pdf,  NAME.txt (pdftotext -layout: for people),  NAME.raw.txt (pdftotext in
# reading order: for scripts/office_text_check.py, as -layout sets table cells side by side and
# interleaves their lines),  NAME.page1.png (page 1 at 60 dpi).
# EPUB is skipped with a message: LibreOffice has no EPUB import (the Rust tests render an EPUB's
# XHTML in Chromium instead).
#
# Exit status: 0 all converted; 1 a file is missing or did not convert (the message names it);
# 2 usage; 77 no LibreOffice and it cannot be installed here (not root, no apt-get, apt-get failed):
# the reason is printed and a test should say SKIPPED. With DE2EN_REQUIRE_OFFICE=1 that case is a
# failure (exit 1) instead. DE2EN_SOFFICE names a soffice binary to use; DE2EN_OFFICE_TIMEOUT is
# the seconds one conversion may take (default 180: a fresh profile's first start is slow).
set -euo pipefail

SKIP=77
me=office-check.sh

usage() {
    echo "usage: $me [--out DIR] FILE..." >&2
    exit 2
}

out="${DE2EN_OFFICE_OUT:-target/office-check}"
files=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out | -o)
            [ $# -ge 2 ] || usage
            out="$2"
            shift 2
            ;;
        --out=*)
            out="${1#--out=}"
            shift
            ;;
        -h | --help) usage ;;
        --)
            shift
            files+=("$@")
            break
            ;;
        -*)
            echo "$me: unknown option $1" >&2
            usage
            ;;
        *)
            files+=("$1")
            shift
            ;;
    esac
done
[ ${#files[@]} -gt 0 ] || usage

# No office suite: a skip, or a failure where the caller asked for the real check.
unavailable() {
    if [ "${DE2EN_REQUIRE_OFFICE:-}" = 1 ]; then
        echo "$me: $1 (DE2EN_REQUIRE_OFFICE=1: this is a failure)" >&2
        exit 1
    fi
    echo "$me: $1: the office check is skipped" \
        "(install it with \`apt-get install libreoffice-writer-nogui poppler-utils\`)" >&2
    exit $SKIP
}

find_soffice() {
    if [ -n "${DE2EN_SOFFICE:-}" ]; then
        echo "$DE2EN_SOFFICE"
        return 0
    fi
    command -v soffice || command -v libreoffice
}

have_tools() {
    find_soffice >/dev/null && command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null
}

if ! have_tools; then
    if [ "$(id -u)" != 0 ]; then
        unavailable "no LibreOffice/poppler-utils and not root"
    fi
    if ! command -v apt-get >/dev/null; then
        unavailable "no LibreOffice/poppler-utils and no apt-get"
    fi
    echo "$me: installing libreoffice-writer-nogui and poppler-utils with apt-get (first run only: ~50 packages, ~200 MB)" >&2
    # Lock timeout: another engineer's or test's apt-get may hold the lock for a while.
    apt_get=(apt-get -o DPkg::Lock::Timeout=600 -qq)
    if ! { "${apt_get[@]}" update &&
        DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y --no-install-recommends \
            libreoffice-writer-nogui poppler-utils fonts-dejavu-core; } >&2; then
        unavailable "apt-get could not install libreoffice-writer-nogui poppler-utils"
    fi
    have_tools || unavailable "libreoffice-writer-nogui installed but soffice, pdftotext or pdftoppm is not on PATH"
fi
soffice=$(find_soffice)

mkdir -p "$out"
# A private profile per run: two soffice processes on one profile refuse to start or hand their
# work to each other, so parallel tests would collide.
work=$(mktemp -d "${TMPDIR:-/tmp}/office-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
profile="file://$work/profile"
timeout_s="${DE2EN_OFFICE_TIMEOUT:-180}"

failed=0
for file in "${files[@]}"; do
    name=$(basename "$file")
    if [ ! -f "$file" ]; then
        echo "$me: $file: no such file" >&2
        failed=1
        continue
    fi
    # The import filter is named, not guessed: a damaged .docx would otherwise open as plain
    # text (its bytes on a page) and pass for a converted document.
    case "${name,,}" in
        *.epub)
            echo "$me: $file: skipped: LibreOffice cannot open EPUB (check its XHTML in Chromium)" >&2
            continue
            ;;
        *.docx) filter=("--infilter=MS Word 2007 XML") ;;
        *.odt) filter=("--infilter=writer8") ;;
        *) filter=() ;;
    esac
    # Each file converts into its own folder: soffice names the PDF after the stem only.
    conv="$work/conv-$name"
    mkdir -p "$conv"
    start=$(date +%s.%N)
    if ! timeout --kill-after=10 "$timeout_s" "$soffice" -env:UserInstallation="$profile" \
        --headless --norestore "${filter[@]}" --convert-to pdf --outdir "$conv" "$file" \
        >"$conv/log" 2>&1; then
        echo "$me: $file: LibreOffice failed or ran past ${timeout_s}s; its output:" >&2
        sed 's/^/    /' "$conv/log" >&2
        failed=1
        continue
    fi
    pdf=$(find "$conv" -maxdepth 1 -name '*.pdf' | head -n 1)
    # soffice exits 0 even when it could not load the file ("Error: source file could not be
    # loaded"), so the PDF itself is the test.
    if [ -z "$pdf" ] || [ ! -s "$pdf" ]; then
        echo "$me: $file: LibreOffice wrote no PDF (a damaged or unsupported file?); its output:" >&2
        sed 's/^/    /' "$conv/log" >&2
        failed=1
        continue
    fi
    mv "$pdf" "$out/$name.pdf"
    if ! pdftotext -layout "$out/$name.pdf" "$out/$name.txt" ||
        ! pdftotext "$out/$name.pdf" "$out/$name.raw.txt" ||
        ! pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$out/$name.pdf" "$out/$name.page1"; then
        echo "$me: $file: poppler could not read the PDF LibreOffice wrote ($out/$name.pdf)" >&2
        failed=1
        continue
    fi
    end=$(date +%s.%N)
    awk -v me="$me" -v f="$file" -v o="$out/$name" -v a="$start" -v b="$end" \
        'BEGIN { printf "%s: %s -> %s.{pdf,txt,raw.txt,page1.png} (%.1fs)\n", me, f, o, b - a }' >&2
done
exit $failed
