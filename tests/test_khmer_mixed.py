"""Mixed Vietnamese + Khmer text: script runs, Khmer line breaking, glyph
coverage, and an OCR read-back (tesseract vie+khm) of a rendered poster."""

from __future__ import annotations

import difflib
import re
import unicodedata

import pytest
from PIL import Image, ImageStat

import media_templates as mt
from media_templates import fonts, scripts_mix
from media_templates import layout as L
from media_templates.textfit import fit_text
from tests.media_helpers import BRAND, ocr, require_tesseract_khm

VI = "Ngày Chuyển đổi số quốc gia"
KM = "ថ្ងៃបំលែងឌីជីថលជាតិ"  # "national digital transformation day"
MIXED = f"{VI} {KM}"


def _norm(text: str) -> str:
    """NFC, lower case, no spaces/punctuation; Khmer vowel signs and marks kept."""
    text = unicodedata.normalize("NFC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LMN")


def _parts(text: str) -> dict[bool, str]:
    """{is_khmer: the text of that script} after normalisation."""
    out = {False: "", True: ""}
    for run, km in scripts_mix.split_runs(_norm(text)):
        out[km] += run
    return out


def test_runs_split_by_script_and_marks_stay_with_their_base():
    runs = scripts_mix.split_runs("Số ស្រុក, xã")
    assert runs == [("Số ", False), ("ស្រុក", True), (", xã", False)]
    # a combining mark after a Khmer letter stays in the Khmer run
    assert scripts_mix.split_runs("ក\u0301a") == [("ក\u0301", True), ("a", False)]
    assert scripts_mix.font_runs("a ក", "be-vietnam-pro") == [
        ("a ", "be-vietnam-pro"),
        ("ក", fonts.KHMER_FAMILY),
    ]


def test_khmer_breaks_between_words_with_the_segmenter():
    if scripts_mix._segmenter() is None:
        pytest.fail("khmer-nltk is in requirements.txt: `pip install -r requirements.txt`")
    scripts_mix.khmer_words.cache_clear()
    # "public service online": four words, never split inside one
    assert scripts_mix.break_tokens("សេវាសាធារណៈតាមអនឡាញ") == ["សេវា", "សាធារណៈ", "តាម", "អនឡាញ"]
    toks = scripts_mix.break_tokens("ស្រុកស្រែ។")
    assert toks == ["ស្រុក", "ស្រែ។"]  # the khan stays with the word before it


def test_khmer_breaks_only_between_clusters_without_the_segmenter(monkeypatch):
    monkeypatch.setattr(scripts_mix, "_segmenter", lambda: None)
    scripts_mix.khmer_words.cache_clear()
    try:
        toks = scripts_mix.break_tokens("ស្រុកស្រែ។")
        assert "".join(toks) == "ស្រុកស្រែ។"
        # coeng + subscript never separated from its base; the khan stays with the word
        assert toks == ["ស្រុ", "ក", "ស្រែ។"]
        assert all(not t.startswith(("\u17d2", "\u17bb", "\u17c2", "\u17d4")) for t in toks)
        assert scripts_mix.break_tokens("Sóc Trăng") == ["Sóc Trăng"]
        # Latin glued to Khmer without a space is not a break opportunity
        assert scripts_mix.break_tokens("(ស្រុក)")[0].startswith("(ស")
    finally:
        scripts_mix.khmer_words.cache_clear()


def test_fitting_wraps_long_khmer_and_measures_mixed_runs():
    fitted = fit_text(
        [MIXED],
        family="be-vietnam-pro",
        weight=700,
        box_w=300,
        box_h=400,
        size_min=20,
        size_max=40,
    )
    lines = [ln for ln, _ in fitted.lines]
    assert len(lines) > 1
    assert "".join(lines).replace(" ", "") == MIXED.replace(" ", "")  # nothing lost
    k = fitted.size / 64.0
    for ln in lines:  # every line fits, measured run by run
        assert scripts_mix.text_width(ln, "be-vietnam-pro", 700, 64.0) * k <= 300 * 1.002
    # the mixed width is the sum of the runs in their own fonts
    w_vi = fonts.pil_font("be-vietnam-pro", 700, 64.0).getlength(VI + " ")
    w_km = fonts.pil_font(fonts.KHMER_FAMILY, 700, 64.0).getlength(KM)
    assert scripts_mix.text_width(MIXED, "be-vietnam-pro", 700, 64.0) == pytest.approx(w_vi + w_km)


def test_glyph_coverage_passes_for_mixed_text():
    assert scripts_mix.missing_glyphs(MIXED, "be-vietnam-pro", 700) == []
    scripts_mix.check_coverage(MIXED, "be-vietnam-pro", 700, field="title")
    # each font alone lacks the other script
    assert "ị" in fonts.missing_glyphs("ị", fonts.KHMER_FAMILY)
    assert fonts.missing_glyphs(KM, "be-vietnam-pro")
    with pytest.raises(mt.TemplateError) as exc:
        scripts_mix.check_coverage(MIXED + " 中", "be-vietnam-pro", 700, field="title")
    assert exc.value.code == "missing_glyphs" and "U+4E2D" in exc.value.message


@pytest.mark.tesseract
@pytest.mark.parametrize("name", ["poster-a4", "social-square"])
def test_mixed_title_reads_back_in_both_scripts(tmp_path, name):
    require_tesseract_khm()
    tpl = mt.get_template(name)
    data = {**tpl.sample_data(), "title": MIXED}
    res = mt.render(name, "png", data, tmp_path / f"{name}.png", brand=BRAND)
    lay = L.build_layout(tpl, "png", mt.validate_data(tpl, data), BRAND)
    op = next(o for o in lay.pages[0].ops if o.kind == "text" and o.data["field"] == "title")
    assert fonts.is_khmer("".join(t for t, _x, _y in op.data["lines"]))
    k = res.width / lay.width
    box = (
        int(op.x * k) - 8,
        int(op.y * k) - 8,
        int((op.x + op.w) * k) + 8,
        int((op.y + op.h) * k) + 8,
    )
    with Image.open(res.path) as im:
        dark = ImageStat.Stat(im.convert("L").crop(box)).mean[0] < 128
    text = ocr(res.path, crop=box, invert=dark, lang="vie+khm")
    got, want = _parts(text), _parts(MIXED)
    for km, label in ((False, "Vietnamese"), (True, "Khmer")):
        ratio = difflib.SequenceMatcher(None, want[km], got[km]).ratio()
        assert ratio >= 0.85, f"{name} {label}: OCR read {text!r} (accuracy {ratio:.2f})"


@pytest.mark.tesseract
def test_mixed_title_in_pdf_reads_back(tmp_path):
    """The PDF draws each run in its font (both embedded); rasterised, both parts read back."""
    import shutil
    import subprocess

    require_tesseract_khm()
    for exe in ("pdftoppm", "pdffonts"):
        if not shutil.which(exe):
            from tests._require import missing

            missing(f"{exe} not found: install the Debian package 'poppler-utils'")
    data = {"title": MIXED, "url": "https://dichvucong.gov.vn"}
    res = mt.render("poster-a4", "pdf", data, tmp_path / "p.pdf", brand=BRAND)
    listing = subprocess.run(["pdffonts", str(res.path)], capture_output=True, text=True).stdout
    rows = [ln.split() for ln in listing.splitlines()[2:]]
    assert any("NotoSansKhmer" in r[0] for r in rows) and any("BeVietnamPro" in r[0] for r in rows)
    assert all(r[-5] == "yes" for r in rows), listing  # emb column
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "100",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            str(res.path),
            str(tmp_path / "pg"),
        ],
        check=True,
    )
    png = next(tmp_path.glob("pg*.png"))
    with Image.open(png) as im:  # the title sits in the blue top band
        box = (
            int(im.width * 0.08),
            int(im.height * 0.12),
            int(im.width * 0.92),
            int(im.height * 0.45),
        )
    text = ocr(png, crop=box, invert=True, lang="vie+khm")
    got, want = _parts(text), _parts(MIXED)
    for km in (False, True):
        ratio = difflib.SequenceMatcher(None, want[km], got[km]).ratio()
        assert ratio >= 0.85, f"PDF {'Khmer' if km else 'Vietnamese'}: {text!r} ({ratio:.2f})"
    assert re.search(r"\S", text)


def test_video_caption_slides_draw_mixed_text(tmp_path):
    """Video frames use the same layout and raster code: a bilingual caption is
    drawn run by run, the Khmer part in the Khmer font."""
    from media_templates import raster
    from media_templates.video import slide_layouts

    tpl = mt.get_template("video-vertical")
    data = {
        **tpl.sample_data(),
        "title": MIXED,
        "messages": [MIXED, *tpl.sample_data()["messages"][:2]],
    }
    slides = slide_layouts(tpl, mt.validate_data(tpl, data), BRAND)
    msg = next(lay for lay, _v, kind in slides if kind == "message")
    caption = [
        o for o in msg.pages[0].ops if o.kind == "text" and fonts.is_khmer(str(o.data["lines"]))
    ]
    assert caption, "the mixed message must be laid out as text"
    op = caption[0]
    assert op.data["family"] == "be-vietnam-pro"  # Latin runs; Khmer runs switch font
    im = raster.render_image(msg, 0.5)
    k = 0.5
    box = (int(op.x * k), int(op.y * k), int((op.x + op.w) * k), int((op.y + op.h) * k))
    crop = im.crop(box).convert("L")
    assert crop.getextrema()[0] != crop.getextrema()[1]  # ink in the caption box
    # the preview of the title card renders too
    res = mt.render("video-vertical", "png", data, tmp_path / "v.png", brand=BRAND, preview=True)
    assert res.width <= 640
