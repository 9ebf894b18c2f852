#!/usr/bin/env python3
"""Write scripts/bench/sentences.de.txt: 500 distinct German news-style sentences for the benchmark.

Built from the fixture generator's templates (scripts/make_test_model.py), one to three clauses
joined like news prose, so lengths vary (about 5 to 40 words). Seeded: a rerun writes the same file.

    /work/pyenv/venv/bin/python scripts/bench/make_sentences.py
"""

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import make_test_model as fixtures  # noqa: E402

CONNECTORS = [", und ", ", aber ", "; ", ", während ", ", doch ", " – "]
LEADS = ["", "", "", "Wie die Polizei mitteilte: ", "Laut einem Bericht: ", "Nach Angaben der Stadt: "]


def sentence(rng: random.Random) -> str:
    clauses = [fixtures.make_pair(rng)[0] for _ in range(rng.choice([1, 1, 2, 2, 3]))]
    text = clauses[0].rstrip(".?")
    for clause in clauses[1:]:
        text += rng.choice(CONNECTORS) + clause[0].lower() + clause[1:].rstrip(".?")
    return rng.choice(LEADS) + text + "."


def main() -> int:
    rng = random.Random(58101)
    seen: list[str] = []
    while len(seen) < 500:
        s = sentence(rng)
        if s not in seen:
            seen.append(s)
    (HERE / "sentences.de.txt").write_text("".join(s + "\n" for s in seen), encoding="utf-8")
    print(f"wrote {HERE / 'sentences.de.txt'} ({len(seen)} sentences)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
