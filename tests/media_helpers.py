"""Helpers for the media_templates tests (OCR, PDF read-back, video probing)."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

from tests._require import missing

BRAND = {
    "primary": "#0b5cab",
    "secondary": "#f2a900",
    "logo_path": None,
    "unit_name": "Sở Văn hóa, Thể thao và Du lịch tỉnh Sóc Trăng",
}


def squash(text: str) -> str:
    """NFC, lower case, whitespace and punctuation removed: OCR/PDF comparisons."""
    text = unicodedata.normalize("NFC", text).lower()
    return re.sub(r"[\W_]+", "", text)


def require_tesseract_vie() -> str:
    exe = shutil.which("tesseract")
    if not exe:
        missing(
            "tesseract not found: install the Debian packages 'tesseract-ocr' and 'tesseract-ocr-vie'"
        )
    langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True).stdout.split()
    if "vie" not in langs:
        missing("tesseract has no Vietnamese data: install the Debian package 'tesseract-ocr-vie'")
    return exe


def require_tesseract_khm() -> str:
    exe = require_tesseract_vie()
    langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True).stdout.split()
    if "khm" not in langs:
        missing("tesseract has no Khmer data: install the Debian package 'tesseract-ocr-khm'")
    return exe


def ocr(
    png: Path, *, crop=None, invert: bool = False, scale: float = 1.0, lang: str = "vie"
) -> str:
    """OCR of ``png`` (Vietnamese by default; optionally a crop box, inverted for
    light-on-dark)."""
    from PIL import Image, ImageOps

    exe = require_tesseract_vie()
    im = Image.open(png).convert("L")
    if crop:
        im = im.crop(crop)
    if scale != 1.0:
        im = im.resize((int(im.width * scale), int(im.height * scale)), Image.Resampling.LANCZOS)
    if invert:
        im = ImageOps.invert(im)
    tmp = Path(png).with_suffix(".ocr.png")
    im.save(tmp)
    out = subprocess.run(
        [exe, str(tmp), "-", "-l", lang, "--psm", "6"], capture_output=True, text=True, timeout=120
    )
    return unicodedata.normalize("NFC", out.stdout)


def similarity(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, squash(a), squash(b)).ratio()
