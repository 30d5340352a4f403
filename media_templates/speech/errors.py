"""Errors raised by the speech package (messages in Vietnamese, NFC)."""

from __future__ import annotations

import unicodedata


class SpeechError(ValueError):
    """A speech/reading problem the user can act on.

    ``message`` is Vietnamese (shown in the UI); ``field`` names the input
    at fault when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = unicodedata.normalize("NFC", message)
        self.field = field
        super().__init__(self.message)


class AbbreviationCycleError(SpeechError):
    """The abbreviation table expands into itself; ``cycle`` lists the keys in order."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        path = " → ".join(cycle)
        super().__init__(
            f"Bảng viết tắt có vòng lặp: {path}. Hãy sửa một trong các mục này để không tự mở rộng lại.",
            field="abbreviations",
        )


class NoVoiceError(SpeechError):
    """Text in a language that the configured engine has no voice for (e.g. Khmer)."""
