"""Print PDFs: page boxes (trim, bleed, media), crop marks, vector text with
embedded font subsets, titles readable back as PDF text, Khmer shaped."""

from __future__ import annotations

import re

import pytest
from pypdf import PdfReader

import media_templates as mt
from tests.media_helpers import BRAND, squash

MM = 72 / 25.4
PRINT = {
    "poster-a3": (297, 420, 1),
    "poster-a4": (210, 297, 1),
    "leaflet-a5": (148, 210, 2),
    "standee-rollup": (800, 1800, 1),
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = {}
    d = tmp_path_factory.mktemp("print")
    for name in PRINT:
        data = mt.get_template(name).sample_data()
        res = mt.render(name, "pdf", data, d / f"{name}.pdf", brand=BRAND)
        out[name] = (res, data)
    return out


@pytest.mark.parametrize("name", list(PRINT))
def test_page_boxes(rendered, name):
    w_mm, h_mm, pages = PRINT[name]
    res, _ = rendered[name]
    reader = PdfReader(str(res.path))
    assert len(reader.pages) == pages == res.pages
    assert res.width == round(w_mm * MM) and res.height == round(h_mm * MM)
    for page in reader.pages:
        trim, bleed, media = page.trimbox, page.bleedbox, page.mediabox
        assert float(trim.width) == pytest.approx(w_mm * MM, abs=0.05)
        assert float(trim.height) == pytest.approx(h_mm * MM, abs=0.05)
        assert float(bleed.width) == pytest.approx((w_mm + 6) * MM, abs=0.05)  # 3 mm each side
        assert float(bleed.height) == pytest.approx((h_mm + 6) * MM, abs=0.05)
        assert float(bleed.left) == pytest.approx(float(trim.left) - 3 * MM, abs=0.05)
        # the media box leaves room for crop marks beyond the bleed
        assert float(media.left) < float(bleed.left) - 5 * MM
        assert float(media.width) > float(bleed.width) + 10 * MM


@pytest.mark.parametrize("name", list(PRINT))
def test_title_is_vector_text_with_embedded_subsets(rendered, name):
    res, data = rendered[name]
    reader = PdfReader(str(res.path))
    text = reader.pages[0].extract_text()
    assert squash(data["title"]) in squash(text)
    assert squash(BRAND["unit_name"]) in squash(text)
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert fonts
    for ref in fonts.values():
        font = ref.get_object()
        assert re.match(r"/[A-Z]{6}\+", str(font["/BaseFont"])), font["/BaseFont"]  # subset tag
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor  # TrueType program embedded
    # no page is a single full-page raster image
    xobjects = reader.pages[0]["/Resources"].get("/XObject") or {}
    assert len(xobjects) == 0


def test_crop_marks_drawn_outside_the_bleed(rendered):
    res, _ = rendered["poster-a4"]
    page = PdfReader(str(res.path)).pages[0]
    content = page.get_contents().get_data().decode("latin-1")
    # lines are "x y m x y l S" in PDF user space (origin bottom-left)
    lines = re.findall(r"([\d.]+) ([\d.]+) m ([\d.]+) ([\d.]+) l S", content)
    trim = page.trimbox
    bleed = page.bleedbox
    outside = [
        tuple(map(float, ln))
        for ln in lines
        if all(
            float(v) < float(bleed.left) or float(v) > float(bleed.right) for v in (ln[0], ln[2])
        )
        or all(
            float(v) < float(bleed.bottom) or float(v) > float(bleed.top) for v in (ln[1], ln[3])
        )
    ]
    assert len(outside) >= 8  # two marks at each of the four corners
    xs = {round(x1, 1) for x1, y1, x2, y2 in outside if abs(x1 - x2) < 0.01}
    assert round(float(trim.left), 1) in xs and round(float(trim.right), 1) in xs


def test_leaflet_has_two_sides(rendered):
    res, data = rendered["leaflet-a5"]
    reader = PdfReader(str(res.path))
    back = squash(reader.pages[1].extract_text())
    assert squash(data["steps"][0]) in back and squash(data["hotline"]) in back
    assert squash(data["title"]) not in back


def test_khmer_pdf_is_shaped_vector_text(tmp_path):
    data = {"title": "ស្រុកស្រែ សេវាសាធារណៈ", "url": "https://dichvucong.gov.vn"}
    res = mt.render("poster-a4", "pdf", data, tmp_path / "km.pdf")
    reader = PdfReader(str(res.path))
    assert squash(data["title"]) in squash(reader.pages[0].extract_text())
    khmer = [
        f.get_object()
        for f in reader.pages[0]["/Resources"]["/Font"].values()
        if "NotoSansKhmer" in str(f.get_object()["/BaseFont"])
    ]
    assert khmer, "the Khmer title must be set in the embedded Noto Sans Khmer subset"
    cmap = khmer[0]["/ToUnicode"].get_object().get_data().decode("ascii")
    # shaped text: one glyph stands for a cluster (e.g. ស + coeng + រ -> one glyph)
    clusters = re.findall(r"<[0-9A-F]{4}> <((?:[0-9A-F]{4}){2,})>", cmap)
    assert any("17D2" in c for c in clusters), cmap[-400:]


def test_a3_poster_warm_render_is_fast(tmp_path):
    import time

    data = mt.get_template("poster-a3").sample_data()
    mt.render("poster-a3", "pdf", data, tmp_path / "w.pdf")
    t0 = time.perf_counter()
    mt.render("poster-a3", "pdf", data, tmp_path / "a3.pdf")
    assert time.perf_counter() - t0 < 1.0  # generous here; bench/media.py measures the 0.2 s goal
