"""One way to check text and integers that come from outside (web forms, the JSON
API, the CLI and imports).

- Text is NFC; it holds no NUL and no C0/C1 control character, except tab and
  newline where the field is multi-line (``\\r\\n`` becomes ``\\n``).
- Integers are bounded by the column that stores them (``INT32``: ids and counts
  on PostgreSQL's ``integer``; SQLite's limit is wider, the narrower one is used
  everywhere so both databases answer the same).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

INT32_MAX = 2**31 - 1
#: C0 (but tab, LF, CR), DEL and C1 controls
_CONTROLS_ANY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROLS_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class TextError(ValueError):
    """A text that no field can hold; ``message`` is Vietnamese."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def has_controls(text: str, *, multiline: bool = True) -> bool:
    pattern = _CONTROLS_ANY if multiline else _CONTROLS_SINGLE_LINE
    return bool(pattern.search(text or ""))


def strip_controls(text: str, *, multiline: bool = True) -> str:
    """``text`` without the control characters a field cannot hold (for writers of
    files made from text stored before this check existed)."""
    pattern = _CONTROLS_ANY if multiline else _CONTROLS_SINGLE_LINE
    return pattern.sub("", text or "")


def clean_text(value: Any, *, multiline: bool = False, max_length: int | None = None,
               label: str = "Trường") -> str:
    """NFC text without forbidden controls, or ``TextError`` saying what is wrong."""
    text = "" if value is None else str(value)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if has_controls(text, multiline=multiline):
        raise TextError(f"{label} có ký tự điều khiển không hợp lệ (không in được).")
    text = unicodedata.normalize("NFC", text)
    if max_length is not None and len(text) > max_length:
        raise TextError(f"{label} dài quá {max_length} ký tự.")
    return text


def bounded_int(value: Any, *, lo: int = 0, hi: int = INT32_MAX, label: str = "Giá trị") -> int:
    """An integer in [lo, hi] from an int or a decimal string, or ``ValueError`` (Vietnamese)."""
    if isinstance(value, bool):
        raise ValueError(f"{label} phải là số nguyên.")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not re.fullmatch(r"[+-]?\d{1,20}", text):
            raise ValueError(f"{label} phải là số nguyên.")
        number = int(text)
    if not lo <= number <= hi:
        raise ValueError(f"{label} phải trong khoảng {lo:,}–{hi:,}.".replace(",", "."))
    return number


def find_bad_string(data: Any, path: str = "") -> str | None:
    """The JSON path of the first string (key or value) holding a NUL or a control
    character other than tab/newline, or None."""
    if isinstance(data, str):
        return path or "_" if has_controls(data) else None
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and has_controls(key):
                return where
            found = find_bad_string(value, where)
            if found:
                return found
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found = find_bad_string(value, f"{path}[{i}]")
            if found:
                return found
    return None


def db_int(value: Any) -> int:
    """``type=`` for ``request.args.get``/``request.form.get``: an id or count the
    database's integer column can hold; anything else raises ValueError, which
    werkzeug turns into the default (None), like any unknown id."""
    return bounded_int(value, lo=-INT32_MAX, hi=INT32_MAX)
