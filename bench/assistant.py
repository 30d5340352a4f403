"""Citizens' assistant: retrieval quality and speed on the evaluation set.

    .venv/bin/python bench/assistant.py [--threshold 0.45] [--misses]

Builds the index from the seed knowledge base (campaigns/assistant/kb/*.yaml, approved and
valid today) and runs tests/data/assistant_eval.tsv. Goals: top-1 >= 85 % on covered
questions, wrong answers <= 3 %, uncovered questions handed off >= 90 %, median <= 50 ms.
The last line holds the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from campaigns.assistant import kb  # noqa: E402
from campaigns.assistant.engine import THRESHOLD, build_index  # noqa: E402
from campaigns.assistant.evaluate import evaluate, read_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--data", default=str(ROOT / "tests" / "data" / "assistant_eval.tsv"))
    parser.add_argument("--misses", action="store_true", help="list the questions answered wrong")
    args = parser.parse_args()
    t0 = time.perf_counter()
    entries = kb.answerable(kb.load_files(), date.today())
    for i, e in enumerate(entries, start=1):
        e["id"] = i
    index = build_index(entries)
    build_s = time.perf_counter() - t0
    rows = read_rows(Path(args.data))
    r = evaluate(index, rows, args.threshold)
    # the covered questions whose wording is not merely a KB phrasing without its diacritics
    from campaigns.assistant.retrieval import normalize

    own = {" ".join(normalize(q)) for e in entries for q in e["questions"]}
    other = [row for row in rows if row[0] is not None and " ".join(normalize(row[1])) not in own]
    r_other = evaluate(index, other, args.threshold)
    if args.misses:
        for expected, q, got, conf in r["misses"]:
            print(f"{expected or '-':32} {got or '-':32} {conf:.2f}  {q}")
    print(f"entries {len(entries)}, index built in {build_s:.1f} s, threshold {args.threshold}")
    print(f"other wordings only (not a KB phrasing once folded): top1 {r_other['top1'] * 100:.1f} % "
          f"({r_other['covered']}) | wrong {r_other['wrong'] * 100:.1f} %")
    print(f"top1 {r['top1'] * 100:.1f} % ({r['covered']} covered) | wrong {r['wrong'] * 100:.1f} % | "
          f"uncovered handed off {r['handoff_uncovered'] * 100:.1f} % ({r['uncovered']}) | "
          f"median {r['median_ms']:.2f} ms")


if __name__ == "__main__":
    main()
