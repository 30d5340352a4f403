"""Reading-time estimate from the normalised text's syllable count."""

from __future__ import annotations

import re

from .errors import SpeechError
from .normalize import is_vietnamese_syllable, normalize_for_reading

DEFAULT_SYLLABLES_PER_MINUTE = 180
_WORD = re.compile(r"[^\W_]+")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+", re.IGNORECASE)


_COENG = "\u17d2"


def _is_khmer_base(ch: str) -> bool:  # consonants and independent vowels
    return "\u1780" <= ch <= "\u17b3"


def _is_khmer_vowel_or_sign(ch: str) -> bool:  # dependent vowels and diacritics
    return "\u17b6" <= ch <= "\u17d1" or ch == "\u17dd"


def _khmer_syllables(token: str) -> int:
    """Count Khmer orthographic syllables: a base letter starts one unless it
    is subscripted (after COENG) or is a final consonant (after a vowel or
    sign, and not itself carrying a vowel or a subscript)."""
    count = 0
    for i, ch in enumerate(token):
        if not _is_khmer_base(ch):
            continue
        prev = token[i - 1] if i else ""
        nxt = token[i + 1] if i + 1 < len(token) else ""
        if prev == _COENG:
            continue
        if (
            prev
            and _is_khmer_vowel_or_sign(prev)
            and not (_is_khmer_vowel_or_sign(nxt) or nxt == _COENG)
        ):
            continue
        count += 1
    return count


def _token_syllables(token: str) -> int:
    if token.isdigit():
        return len(token)
    if is_vietnamese_syllable(token):
        return 1
    uppers = sum(1 for c in token if c.isupper())
    if uppers >= 2:  # an unexpanded abbreviation is spelled letter by letter
        return len(token)
    return max(1, len(_VOWEL_GROUPS.findall(token)))


_KHMER_RUN = re.compile("[\u1780-\u17ff\u19e0-\u19ff]+")


def count_syllables(reading_text: str) -> int:
    """Syllables in an already normalised text (Vietnamese words are one syllable each).

    Khmer runs are counted whole (their vowel signs are combining marks, which
    a word pattern would split on).
    """
    khmer = 0
    for run in _KHMER_RUN.findall(reading_text):
        khmer += _khmer_syllables(run) + sum(1 for c in run if "\u17e0" <= c <= "\u17e9")
    rest = _KHMER_RUN.sub(" ", reading_text)
    return khmer + sum(_token_syllables(t) for t in _WORD.findall(rest))


def estimate_duration(
    text: str, *, syllables_per_minute: int = DEFAULT_SYLLABLES_PER_MINUTE
) -> float:
    """Seconds needed to read ``text`` aloud, counted on its normalised form.

    The default rate (180 syllables per minute) is a calm announcer's pace;
    the espeak engine is driven at the same rate, so synthesised audio lasts
    about this long.
    """
    if isinstance(syllables_per_minute, bool) or not isinstance(syllables_per_minute, int | float):
        raise SpeechError("Tốc độ đọc (âm tiết/phút) phải là một số.", field="syllables_per_minute")
    if not 60 <= syllables_per_minute <= 400:
        raise SpeechError(
            "Tốc độ đọc phải trong khoảng 60–400 âm tiết/phút.", field="syllables_per_minute"
        )
    reading = normalize_for_reading(text).text
    return round(count_syllables(reading) * 60.0 / syllables_per_minute, 2)
