"""Speech for Lan Tỏa: reading normalisation, reading-time estimates and
offline Vietnamese text-to-speech (WAV/MP3, loudness, jingle).

Public API (imports here are light; numpy/lameenc load on first use)::

    normalize_for_reading(text, *, abbreviations=None, dialect="standard") -> ReadingResult
    load_abbreviations(path=None) -> dict[str, str]
    estimate_duration(text, *, syllables_per_minute=180) -> float
    synthesize(text, voice="vi", *, engine=None, syllables_per_minute=180, normalise=True) -> bytes  # WAV
    get_engine(name=None) -> TtsEngine

    normalize_loudness(wav, target_lufs=-16.0, *, true_peak_db=-1.5) -> bytes   # EBU R128
    measure_loudness(wav) -> LUFS; measure_true_peak(wav) -> dBTP
    wav_to_mp3(wav, bitrate_kbps=64, *, true_peak_db=-2.5) -> bytes  # room for MP3 overshoot
    mix_jingle(speech_wav, jingle_wav) -> bytes
    SpeechError(ValueError)   # .message in Vietnamese, .field
"""

from __future__ import annotations

from .audio import (
    measure_loudness,
    measure_true_peak,
    mix_jingle,
    normalize_loudness,
    read_wav,
    wav_duration,
    wav_to_mp3,
    write_wav,
)
from .duration import DEFAULT_SYLLABLES_PER_MINUTE, count_syllables, estimate_duration
from .engines import EspeakEngine, HttpEngine, TtsEngine, get_engine, has_khmer, khmer_note
from .errors import AbbreviationCycleError, NoVoiceError, SpeechError
from .normalize import ReadingResult, load_abbreviations, normalize_for_reading


def synthesize(
    text: str,
    voice: str = "vi",
    *,
    engine: str | TtsEngine | None = None,
    syllables_per_minute: int = DEFAULT_SYLLABLES_PER_MINUTE,
    normalise: bool = True,
) -> bytes:
    """Speak ``text`` (normalised for reading first) and return WAV bytes, mono 16-bit.

    ``normalise=False`` skips the normaliser for text that already is a
    reading text (a rendered script's ``reading_text``).
    Khmer text with an engine that has no Khmer voice raises
    :class:`NoVoiceError` (a :class:`SpeechError`) with a Vietnamese note.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpeechError("Không có nội dung để đọc.", field="text")
    eng = engine if engine is not None and not isinstance(engine, str) else get_engine(engine)
    if has_khmer(text) and not any(v.startswith("km") for v in eng.voices):
        raise NoVoiceError(khmer_note(eng.name), field="text")
    reading = normalize_for_reading(text).text if normalise else text
    reading = _sentences_for_speech(reading)
    if isinstance(eng, EspeakEngine):
        return eng.synthesize(reading, voice, syllables_per_minute=syllables_per_minute)
    return eng.synthesize(reading, voice)


def _sentences_for_speech(text: str) -> str:
    """Paragraph/line breaks become sentence ends so the voice pauses there."""
    lines = [ln.strip() for ln in text.splitlines()]
    out = []
    for ln in lines:
        if not ln:
            continue
        out.append(ln if ln[-1] in ".!?:;," else ln + ".")
    return " ".join(out)


__all__ = [
    "AbbreviationCycleError",
    "DEFAULT_SYLLABLES_PER_MINUTE",
    "EspeakEngine",
    "HttpEngine",
    "NoVoiceError",
    "ReadingResult",
    "SpeechError",
    "TtsEngine",
    "count_syllables",
    "estimate_duration",
    "get_engine",
    "has_khmer",
    "khmer_note",
    "load_abbreviations",
    "measure_loudness",
    "measure_true_peak",
    "mix_jingle",
    "normalize_for_reading",
    "normalize_loudness",
    "read_wav",
    "synthesize",
    "wav_duration",
    "wav_to_mp3",
    "write_wav",
]
