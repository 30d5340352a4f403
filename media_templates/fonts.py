"""Fonts from pip packages (fontpkg-*), glyph coverage and raqm checks.

Fonts never come from the system, so a fresh machine renders the same.
Families are named by slug: ``be-vietnam-pro`` (Vietnamese/Latin) and
``noto-sans-khmer`` (Khmer, variable font).
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from pathlib import Path

from .errors import TemplateError

DEFAULT_FAMILY = "be-vietnam-pro"
KHMER_FAMILY = "noto-sans-khmer"

_FAMILY_NAMES = {
    "be-vietnam-pro": "Be Vietnam Pro",
    "noto-sans-khmer": "Noto Sans Khmer",
}

# Characters that need no glyph (control and formatting characters).
_IGNORABLE = {"\n", "\r", "\t", "\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad"}


def families() -> list[str]:
    return list(_FAMILY_NAMES)


def display_name(family: str) -> str:
    return _FAMILY_NAMES.get(family, family)


def is_khmer(text: str) -> bool:
    return any("\u1780" <= ch <= "\u17ff" or "\u19e0" <= ch <= "\u19ff" for ch in text)


def family_for(text: str, preferred: str | None = None) -> str:
    """The single family of ``text`` (Khmer script forces the Khmer font).

    Text layers use ``scripts_mix`` instead: one font per script run."""
    if is_khmer(text):
        return KHMER_FAMILY
    fam = preferred or DEFAULT_FAMILY
    return fam if fam in _FAMILY_NAMES else DEFAULT_FAMILY


@functools.lru_cache(maxsize=64)
def font_file(family: str, weight: int = 400) -> tuple[Path, bool]:
    """(path, is_variable) of the installed file closest to ``weight``."""
    import fontpkg

    if family not in _FAMILY_NAMES:
        raise TemplateError(
            f"Phông chữ '{family}' chưa được cài đặt (có: {', '.join(_FAMILY_NAMES)}).",
            field="font",
            code="unknown_font",
        )
    fam = fontpkg.family(_FAMILY_NAMES[family])
    chosen = fontpkg.select_file(fam, fontpkg.normalize_weight(weight), "normal", True)
    return Path(chosen.path), bool(chosen.variable)


@functools.lru_cache(maxsize=16)
def _font_info(path: str) -> tuple[frozenset[int], float, float]:
    """(covered code points, ascender/em, descender/em) read with fontTools."""
    from fontTools.ttLib import TTFont

    tt = TTFont(path, lazy=True)
    cmap = frozenset(tt.getBestCmap().keys())
    em = tt["head"].unitsPerEm
    hhea = tt["hhea"]
    return cmap, hhea.ascent / em, -hhea.descent / em


def coverage(family: str, weight: int = 400) -> frozenset[int]:
    return _font_info(str(font_file(family, weight)[0]))[0]


def ascent_descent(family: str, weight: int = 400) -> tuple[float, float]:
    info = _font_info(str(font_file(family, weight)[0]))
    return info[1], info[2]


def missing_glyphs(text: str, family: str, weight: int = 400) -> list[str]:
    cov = coverage(family, weight)
    missing: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in _IGNORABLE or ord(ch) in cov:
            continue
        if ch not in missing:
            missing.append(ch)
    return missing


def check_coverage(text: str, family: str, weight: int = 400, *, field: str | None = None) -> None:
    """Refuse text the font cannot show (no tofu boxes)."""
    missing = missing_glyphs(text, family, weight)
    if missing:
        shown = " ".join(f"'{c}' (U+{ord(c):04X})" for c in missing[:8])
        raise TemplateError(
            f"Phông chữ {_FAMILY_NAMES.get(family, family)} không có ký tự: {shown}"
            + (f" trong trường '{field}'." if field else "."),
            field=field,
            code="missing_glyphs",
        )


def raqm_available() -> bool:
    from PIL import features

    return bool(features.check("raqm"))


def require_complex_shaping(text: str, *, field: str | None = None) -> None:
    """Khmer needs raqm (and the system library libfribidi0) to shape."""
    if is_khmer(text) and not raqm_available():
        raise TemplateError(
            "Không thể hiển thị chữ Khmer: thiếu bộ dàn chữ phức tạp raqm của Pillow "
            "(cần cài gói Debian 'libfribidi0'). Liên hệ quản trị hệ thống.",
            field=field,
            code="shaping_unavailable",
        )


def pil_font(family: str, weight: int, size: float):
    """A cached Pillow font (raqm layout when available).

    FreeType faces are not thread-safe, so each thread gets its own objects."""
    return _pil_font(family, weight, size, threading.get_ident())


@functools.lru_cache(maxsize=512)
def _pil_font(family: str, weight: int, size: float, _thread: int):
    from PIL import ImageFont

    path, variable = font_file(family, weight)
    engine = ImageFont.Layout.RAQM if raqm_available() else ImageFont.Layout.BASIC
    font = ImageFont.truetype(str(path), size=max(1.0, float(size)), layout_engine=engine)
    if variable:
        values = []
        for axis in font.get_variation_axes():
            name = axis["name"]
            name = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
            values.append(
                float(weight)
                if name.strip().lower() in ("weight", "wght")
                else float(axis["default"])
            )
        font.set_variation_by_axes(values)
    return font
