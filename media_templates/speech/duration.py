"""Reading-time estimate from the normalised text's syllable count."""

from __future__ import annotations

import re

from .errors import SpeechError
from .normalize import is_vietnamese_syllable, normalize_for_reading

DEFAULT_SYLLABLES_PER_MINUTE = 180
_WORD = re.compile(r"[^\W_]+")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+", re.IGNORECASE)


def _khmer_syllables(token: str) -> int:
    # A Khmer orthographic syllable starts at a base consonant or independent
    # vowel that is not subscripted by COENG (U+17D2).
    count = 0
    prev = ""
    for ch in token:
        if ("\u1780" <= ch <= "\u17b3") and prev != "\u17d2":
            count += 1
        prev = ch
    return count


def _token_syllables(token: str) -> int:
    if any("\u1780" <= c <= "\u17ff" for c in token):
        return max(1, _khmer_syllables(token)) + sum(1 for c in token if "\u17e0" <= c <= "\u17e9")
    if token.isdigit():
        return len(token)
    if is_vietnamese_syllable(token):
        return 1
    uppers = sum(1 for c in token if c.isupper())
    if uppers >= 2:  # an unexpanded abbreviation is spelled letter by letter
        return len(token)
    return max(1, len(_VOWEL_GROUPS.findall(token)))


def count_syllables(reading_text: str) -> int:
    """Syllables in an already normalised text (Vietnamese words are one syllable each)."""
    return sum(_token_syllables(t) for t in _WORD.findall(reading_text))


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
