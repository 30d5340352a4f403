"""Evaluation of the retrieval on a labelled set (used by bench/assistant.py and the tests).

A row is (expected entry key or None, question). Figures: top-1 accuracy on covered
questions (answered, not handed off, with the right entry), wrong-answer rate on covered
questions (answered confidently with another entry), handoff rate on uncovered questions,
median answer time (ms).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from campaigns.assistant.retrieval import Index


def read_rows(path: Path) -> list[tuple[str | None, str]]:
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, question = line.partition("\t")
        rows.append((None if key.strip() in ("-", "") else key.strip(), question.strip()))
    return rows


def evaluate(index: Index, rows: list[tuple[str | None, str]], threshold: float) -> dict:
    covered = right = wrong = uncovered = handed = 0
    times: list[float] = []
    misses: list[tuple[str | None, str, str | None, float]] = []
    for expected, question in rows:
        t0 = time.perf_counter()
        best = index.query(question)[0]
        times.append((time.perf_counter() - t0) * 1000)
        answered = best.key is not None and best.confidence >= threshold
        if expected is None:
            uncovered += 1
            handed += not answered
            if answered:
                misses.append((expected, question, best.key, best.confidence))
        else:
            covered += 1
            if answered and best.key == expected:
                right += 1
            else:
                wrong += answered
                misses.append((expected, question, best.key, best.confidence))
    return {"covered": covered, "uncovered": uncovered,
            "top1": right / covered if covered else 0.0,
            "wrong": wrong / covered if covered else 0.0,
            "handoff_uncovered": handed / uncovered if uncovered else 1.0,
            "median_ms": statistics.median(times) if times else 0.0,
            "misses": misses}
