"""Mixed-script text: split a line into script runs, measure and check them.

A text layer may mix Vietnamese/Latin and Khmer (a bilingual title). No single
font has both (Be Vietnam Pro has no Khmer, Noto Sans Khmer has no Vietnamese
letters), so every line is drawn as a sequence of *runs*, each in a font that
has its glyphs, on one baseline. Khmer runs are shaped with raqm (Pillow) or
uharfbuzz (fpdf2).

Runs: characters of the Khmer blocks (U+1780-U+17FF, U+19E0-U+19FF) form Khmer
runs; everything else (Latin, Vietnamese, digits, spaces, punctuation) forms
Latin runs. Combining marks and ZWJ/ZWNJ stay with the run of their base.

Line breaking (``break_tokens``): Khmer writes no spaces between words, so
Khmer text may break at a zero-width space (handled by the caller), between
words found by khmer-nltk's segmenter (PyPI ``khmer-nltk``, CRF model in the
wheel), and -- only for a word wider than the line, or without the segmenter --
between two Khmer clusters (a base with its vowel signs, diacritics and coeng +
subscript consonant); never inside a cluster, never before Khmer punctuation
(khan ``។`` etc.), and never between Khmer and Latin text written without a
space.
"""

from __future__ import annotations

import functools
import threading
import unicodedata

from . import fonts
from .errors import TemplateError

_JOINERS = "\u200c\u200d"
_COENG = "\u17d2"


def is_khmer_char(ch: str) -> bool:
    return "\u1780" <= ch <= "\u17ff" or "\u19e0" <= ch <= "\u19ff"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch in _JOINERS


def split_runs(text: str) -> list[tuple[str, bool]]:
    """[(run text, is_khmer)] in order; marks stay with their base's run."""
    runs: list[tuple[str, bool]] = []
    for ch in text:
        km = is_khmer_char(ch)
        if runs and (_is_mark(ch) or runs[-1][1] == km):
            runs[-1] = (runs[-1][0] + ch, runs[-1][1])
        else:
            runs.append((ch, km))
    return runs


def latin_family(preferred: str | None) -> str:
    """The family of the non-Khmer runs (the layer's or brand's font)."""
    if preferred in fonts.families() and preferred != fonts.KHMER_FAMILY:
        return preferred  # type: ignore[return-value]
    return fonts.DEFAULT_FAMILY


def font_runs(text: str, family: str) -> list[tuple[str, str]]:
    """[(run text, family)] for drawing ``text`` whose Latin family is ``family``."""
    return [(t, fonts.KHMER_FAMILY if km else family) for t, km in split_runs(text)]


def clusters(text: str) -> list[str]:
    """Grapheme-like clusters: base + marks; Khmer coeng + consonant stays joined."""
    out: list[str] = []
    for ch in text:
        if out and (_is_mark(ch) or out[-1].endswith(_COENG)):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _is_khmer_punct(cluster: str) -> bool:
    return "\u17d4" <= cluster[0] <= "\u17da"


@functools.lru_cache(maxsize=1)
def _segmenter():
    """khmer-nltk's word_tokenize (CRF model inside the wheel), or None.

    Loading the model takes about 4 s once per process; segmenting a title
    takes about a millisecond."""
    try:
        import logging

        from khmernltk import word_tokenize

        # the package logs the model load at INFO on its own console handler
        logging.getLogger("khmer-nltk").setLevel(logging.WARNING)
    except Exception:  # not installed or broken: cluster boundaries only
        return None
    return word_tokenize


_SEG_LOCK = threading.Lock()


@functools.lru_cache(maxsize=2048)
def khmer_words(run: str) -> tuple[str, ...]:
    """A Khmer run split into words by the segmenter; clusters without one."""
    seg = _segmenter()
    if seg is not None:
        try:
            with _SEG_LOCK:  # the CRF tagger is not known to be thread-safe
                words = tuple(w for w in seg(run) if w)
        except Exception:
            words = ()
        if "".join(words) == run:
            return words
    return tuple(clusters(run))


def break_tokens(piece: str) -> list[str]:
    """Split a space-free piece at its Khmer break opportunities.

    Khmer runs break between words (``khmer_words``: khmer-nltk's segmenter,
    else every cluster boundary); a word still wider than the line is split
    between clusters by the wrapper. Never before Khmer punctuation, never
    between Khmer and Latin written without a space."""
    if not fonts.is_khmer(piece):
        return [piece]
    units: list[tuple[str, bool]] = []
    for run, km in split_runs(piece):
        if km:
            units.extend((w, True) for w in khmer_words(run))
        else:
            units.append((run, False))
    out: list[str] = []
    prev_km = False
    for text, km in units:
        if out and km and prev_km and not _is_khmer_punct(text):
            out.append(text)
        elif out:
            out[-1] += text
        else:
            out.append(text)
        prev_km = km
    return out


@functools.lru_cache(maxsize=8192)
def text_width(text: str, family: str, weight: int, px: float) -> float:
    """Advance width of ``text`` at ``px`` with each run in its own font."""
    total = 0.0
    for run, fam in font_runs(text, family):
        total += fonts.pil_font(fam, weight, px).getlength(run)
    return total


def missing_glyphs(text: str, family: str, weight: int = 400) -> list[str]:
    """Characters no run font can show (each run checked against its own font)."""
    missing: list[str] = []
    for run, fam in font_runs(unicodedata.normalize("NFC", text), family):
        for ch in fonts.missing_glyphs(run, fam, weight):
            if ch not in missing:
                missing.append(ch)
    return missing


def check_coverage(text: str, family: str, weight: int = 400, *, field: str | None = None) -> None:
    """Refuse text that some run's font cannot show (no tofu boxes)."""
    missing = missing_glyphs(text, family, weight)
    if missing:
        shown = " ".join(f"'{c}' (U+{ord(c):04X})" for c in missing[:8])
        names = fonts.display_name(family)
        if fonts.is_khmer(text):
            names += " / " + fonts.display_name(fonts.KHMER_FAMILY)
        raise TemplateError(
            f"Phông chữ {names} không có ký tự: {shown}"
            + (f" trong trường '{field}'." if field else "."),
            field=field,
            code="missing_glyphs",
        )


def ascent(family: str, weight: int, text: str) -> float:
    """Ascender/em of the fonts ``text`` uses (the largest)."""
    asc = fonts.ascent_descent(family, weight)[0]
    if fonts.is_khmer(text):
        asc = max(asc, fonts.ascent_descent(fonts.KHMER_FAMILY, weight)[0])
    return asc
