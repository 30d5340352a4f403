"""Rendered Vietnamese titles are machine-readable: OCR them with Debian's
tesseract (Vietnamese data) and compare with the input."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from PIL import Image, ImageStat

import media_templates as mt
from media_templates import layout as L
from tests.media_helpers import BRAND, ocr, require_tesseract_vie, similarity

pytestmark = pytest.mark.tesseract

PNG_TEMPLATES = [t.name for t in mt.list_templates() if "png" in t.formats]


def _title_box(name: str, data: dict, width_px: int):
    tpl = mt.get_template(name)
    clean = mt.validate_data(tpl, data)
    if tpl.kind == "video":
        from media_templates.video import title_layout

        lay = title_layout(tpl, "png", clean, BRAND)
    else:
        lay = L.build_layout(tpl, "png", clean, BRAND)
    k = width_px / lay.width
    op = next(o for o in lay.pages[0].ops if o.kind == "text" and o.data["field"] == "title")
    pad = 8
    return (
        max(0, int(op.x * k) - pad),
        max(0, int(op.y * k) - pad),
        int((op.x + op.w) * k) + pad,
        int((op.y + op.h) * k) + pad,
    )


@pytest.mark.parametrize("name", PNG_TEMPLATES)
def test_title_ocr_matches_input(tmp_path, name):
    require_tesseract_vie()
    data = mt.get_template(name).sample_data()
    res = mt.render(name, "png", data, tmp_path / f"{name}.png", brand=BRAND)
    box = _title_box(name, data, res.width)
    with Image.open(res.path) as im:
        dark = ImageStat.Stat(im.convert("L").crop(box)).mean[0] < 128
    scale = 1.0 if res.width >= 1000 else 2.0
    text = ocr(res.path, crop=box, invert=dark, scale=scale)
    ratio = similarity(text, data["title"])
    assert ratio >= 0.9, f"{name}: OCR read {text!r} for {data['title']!r} (similarity {ratio:.2f})"


def test_pdf_title_ocr_after_rasterising(tmp_path):
    require_tesseract_vie()
    pdftoppm = shutil.which("pdftoppm")
    if not pdftoppm:
        from tests._require import missing

        missing("pdftoppm not found: install the Debian package 'poppler-utils'")
    data = mt.get_template("poster-a4").sample_data()
    res = mt.render("poster-a4", "pdf", data, tmp_path / "a4.pdf", brand=BRAND)
    subprocess.run(
        [pdftoppm, "-r", "150", "-png", "-singlefile", str(res.path), str(tmp_path / "a4")],
        check=True,
    )
    png = tmp_path / "a4.png"
    with Image.open(png) as im:
        w, h = im.size
    # the A4 title box (12.7, 48.1, 184.6, 76.4 mm) plus the crop-mark margin (12 mm)
    k = w / (210 + 24)
    box = (
        int((12 + 12.7 - 2) * k),
        int((12 + 48.1 - 2) * k),
        int((12 + 12.7 + 184.6 + 2) * k),
        int((12 + 48.1 + 76.4 + 2) * k),
    )
    text = ocr(png, crop=box, invert=True)
    assert similarity(text, data["title"]) >= 0.9, text
