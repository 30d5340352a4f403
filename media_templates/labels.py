"""Fixed template labels in several languages (``labels.yaml``).

Templates call ``label(key, lang)`` in their Jinja text; ``lang`` is "vi" or
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
