"""Numbers, durations and sizes as a Vietnamese reader expects them (1.234,5; "62,7 giây";
"3 phút 5 giây"; "1,5 MB"), and in English form on English pages.

"62.651 s" reads as sixty-two thousand seconds in Vietnamese: every number a page shows goes
through these functions (Jinja filters ``number``, ``duration``, ``filesize``)."""

from __future__ import annotations

from functools import lru_cache

from babel.numbers import format_decimal as _babel_format_decimal
from flask import g, has_request_context


@lru_cache(maxsize=8192)
def format_decimal(number, format: str, locale: str) -> str:
    """Babel's formatting, remembered: a dashboard shows the same few hundred numbers (and
    Babel parses the pattern and looks the locale up on every call)."""
    return _babel_format_decimal(number, format=format, locale=locale)


def _locale() -> str:
    from core.web import get_locale

    if has_request_context() and "number_locale" in g:  # once per request: pages show hundreds
        return g.number_locale
    try:
        locale = get_locale()
    except RuntimeError:  # outside an app context
        return "vi"
    # Khmer public pages keep the Vietnamese number form (Arabic digits, 1.234,5): what readers
    # in Sóc Trăng see on every other paper and screen
    locale = "vi" if locale == "km" else locale
    if has_request_context():
        g.number_locale = locale
    return locale


def fmt_number(value, decimals: int | None = None, locale: str | None = None) -> str:
    """1234.5 -> "1.234,5" (vi) / "1,234.5" (en). ``decimals`` fixes the digits after the
    comma; by default up to 1 for a float, none for an int."""
    if value is None or value == "":
        return ""
    try:
        number = float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        return str(value)
    loc = locale or _locale()
    if isinstance(number, int) and decimals is None:
        return format_decimal(number, format="#,##0", locale=loc)
    digits = 1 if decimals is None else decimals
    fmt = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    if decimals is None:  # trailing zeros are noise: 3,0 -> 3
        fmt = "#,##0" + ("." + "#" * digits if digits > 0 else "")
    return format_decimal(number, format=fmt, locale=loc)


_UNITS = {
    "vi": {"h": "giờ", "m": "phút", "s": "giây"},
    "en": {"h": "h", "m": "min", "s": "s"},
}


def fmt_duration(seconds, locale: str | None = None) -> str:
    """62.65 -> "62,7 giây"; 185 -> "3 phút 5 giây"; 3900 -> "1 giờ 5 phút".
    Under two minutes the seconds keep one decimal (a short clip's length matters)."""
    if seconds is None or seconds == "":
        return ""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    loc = locale or _locale()
    u = _UNITS["en" if loc == "en" else "vi"]
    if seconds < 120:
        return f"{fmt_number(seconds, locale=loc)} {u['s']}"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} {u['h']}" + (f" {minutes} {u['m']}" if minutes else "")
    return f"{minutes} {u['m']}" + (f" {secs} {u['s']}" if secs else "")


def fmt_filesize(size, locale: str | None = None) -> str:
    """Bytes -> "820 KB", "1,5 MB", "2,1 GB" (1024-based, as file managers show them)."""
    if size is None or size == "":
        return ""
    try:
        size = float(size)
    except (TypeError, ValueError):
        return str(size)
    loc = locale or _locale()
    if size < 1024:
        return f"{fmt_number(int(size), locale=loc)} B"
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            return f"{fmt_number(size, 0 if unit == 'KB' else 1, locale=loc)} {unit}"
    return ""  # pragma: no cover


def init_app(app) -> None:
    app.jinja_env.filters["number"] = fmt_number
    app.jinja_env.filters["duration"] = fmt_duration
    app.jinja_env.filters["filesize"] = fmt_filesize
