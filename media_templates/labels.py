"""Fixed template labels in several languages (``labels.yaml``).

Templates call ``tr(key, lang)`` in their Jinja text (the name ``label``
is a field of some templates); ``lang`` is "vi" or
"km". The table is the single place these words live, so a bilingual or a
Khmer-only print carries its labels in the reader's language.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from .errors import TemplateError

LANGS = ("vi", "km")
_PATH = Path(__file__).with_name("labels.yaml")


@functools.lru_cache(maxsize=1)
def table() -> dict[str, dict[str, str]]:
    import yaml

    raw = yaml.safe_load(_PATH.read_text(encoding="utf-8")) or {}
    return {
        str(k): {str(lang): unicodedata.normalize("NFC", str(v)) for lang, v in row.items()}
        for k, row in raw.items()
    }


def label(key: str, lang: str = "vi") -> str:
    """The label ``key`` in ``lang``; an unknown key or language is a bad_spec error."""
    row = table().get(key)
    if row is None:
        raise TemplateError(f"Nhãn cố định '{key}' không có trong bảng nhãn.", code="bad_spec")
    if lang not in row:
        raise TemplateError(
            f"Nhãn cố định '{key}' chưa có bản dịch cho ngôn ngữ '{lang}'.", code="bad_spec"
        )
    return row[lang]


def lang_of(data: dict) -> str:
    """The language of a single-language render's fixed labels: "km" when the
    title is written in Khmer only (no Latin/Vietnamese letters), else "vi"."""
    from .fonts import is_khmer

    title = data.get("title")
    if isinstance(title, str) and is_khmer(title):
        latin = (ch.isalpha() and (ch < "\u0250" or "\u1e00" <= ch <= "\u1eff") for ch in title)
        if not any(latin):
            return "km"
    return "vi"
