#!/usr/bin/env python3
"""Checks that each sentence of a list is (or is not) in the text of a PDF.

    office_text_check.py PDF_TEXT SENTENCES --expect present|absent

PDF_TEXT is a text file from pdftotext (scripts/office-check.sh writes NAME.raw.txt in reading
order: use that one, as NAME.txt's -layout mode sets table cells side by side and so interleaves
their lines), or a .pdf, whose text is then taken with `pdftotext` here. SENTENCES has one
sentence a line (blank lines are skipped), e.g. tests/data/office/sentences.txt.

The comparison forgives what a PDF does to text: line wraps and runs of blanks (any whitespace
is one space), hyphenation at a line end ("Wirtschafts-\\nministeriums"; any "-" with the blank after
it is dropped on both sides), soft hyphens, ligatures and other compatibility characters (NFKC).
A footnote mark after a sentence ("beschlossen.1") does not hide it.

--expect present: every sentence must be there (an untranslated document; the English of a
translated one). --expect absent: none may be there (the German of a translated document); an empty
text fails too, since nothing would be found in it anyway.

Prints each sentence that fails and a count; exit 0 when all pass, 1 when any fails, 2 on bad
arguments or an unreadable file.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import unicodedata
from pathlib import Path


def canonical(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    text = re.sub(r"[\u2010\u2011]", "-", text)  # Unicode hyphens as the ASCII one
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"- ?", "", text).strip()


def read_text(path: Path) -> str:
    if path.suffix.lower() == ".pdf":
        done = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=False
        )
        if done.returncode != 0:
            raise OSError(f"pdftotext could not read it: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode("utf-8")
    return path.read_text(encoding="utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pdf_text", type=Path, help="pdftotext output (or a .pdf)")
    parser.add_argument("sentences", type=Path, help="one sentence a line")
    parser.add_argument("--expect", choices=("present", "absent"), required=True)
    args = parser.parse_args(argv)
    try:
        text = read_text(args.pdf_text)
    except (OSError, UnicodeDecodeError) as err:
        print(f"office_text_check: {args.pdf_text}: {err}", file=sys.stderr)
        return 2
    try:
        lines = args.sentences.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        print(f"office_text_check: {args.sentences}: {err}", file=sys.stderr)
        return 2
    sentences = [line.strip() for line in lines if line.strip()]
    if not sentences:
        print(f"office_text_check: {args.sentences}: no sentences in it", file=sys.stderr)
        return 2

    haystack = canonical(text)
    if args.expect == "absent" and not haystack:
        print(f"office_text_check: {args.pdf_text}: the text is empty: nothing to check", file=sys.stderr)
        return 1
    want = args.expect == "present"
    failed = [s for s in sentences if (canonical(s) in haystack) != want]
    for sentence in failed:
        verb = "missing from" if want else "still in"
        print(f"office_text_check: {verb} {args.pdf_text}: {sentence}")
    print(
        f"office_text_check: {len(sentences) - len(failed)} of {len(sentences)} sentences "
        f"{args.expect} as expected in {args.pdf_text}",
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
