"""Print PDFs as a print shop receives them: `qpdf --check` clean, PDF >= 1.4,
nothing painted between BleedBox and MediaBox but the crop marks, and a
PDF/X-4 variant of every print template that tests/pdf_preflight.py accepts."""

from __future__ import annotations

import json
import subprocess

import pytest
from PIL import Image
from pypdf import PdfReader

import media_templates as mt
from media_templates import pdfx
from tests._require import missing, require_executable
from tests.media_helpers import BRAND
from tests.pdf_preflight import pdf_version, preflight_pdfx4, qpdf_check

# template -> pdftoppm dpi (about 500-800 px on the long side)
PRINT = {"poster-a3": 40, "poster-a4": 50, "leaflet-a5": 60, "standee-rollup": 12}
MM = 72 / 25.4


def require_profile() -> None:
    if not pdfx.available():
        missing(
            f"no CMYK output profile at {pdfx.profile_path()}: install the Debian package "
            f"'{pdfx.DEBIAN_PACKAGE}'"
        )


@pytest.fixture(scope="module")
def logo(tmp_path_factory):
    """A brand logo with transparency, so every print PDF carries an image too."""
    p = tmp_path_factory.mktemp("logo") / "logo.png"
    im = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    for x in range(20, 100):
        for y in range(20, 100):
            im.putpixel((x, y), (200, 30, 40, 255))
    im.save(p)
    return p


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory, logo):
    """{(template, variant): path}, variant '' (plain) or 'x4' (only when the
    CMYK profile is installed: the plain checks run without it)."""
    d = tmp_path_factory.mktemp("pdfx")
    brand = dict(BRAND, logo_path=str(logo))
    out = {}
    for name in PRINT:
        data = mt.get_template(name).sample_data()
        for variant in ("", "x4") if pdfx.available() else ("",):
            opts = {"pdfx": variant} if variant else None
            res = mt.render(
                name, "pdf", data, d / f"{name}{variant}.pdf", brand=brand, options=opts
            )
            out[(name, variant)] = res.path
    return out


ALL = [(n, v) for n in PRINT for v in ("", "x4")]


@pytest.mark.parametrize("name,variant", ALL)
def test_qpdf_check_clean_and_version(pdfs, name, variant):
    require_executable("qpdf", "qpdf")
    if variant:
        require_profile()
    path = pdfs[(name, variant)]
    assert qpdf_check(path) == []
    assert pdf_version(path) >= ((1, 6) if variant else (1, 4))
    # the plain PDF uses transparency (soft circles), which needs 1.4
    assert b"/ca " in path.read_bytes()


def _outside_bleed_ink(png, page, dpi: float) -> tuple[int, int]:
    """(ink pixels outside the BleedBox other than crop marks, ink pixels on the
    crop-mark lines). Crop marks may only lie on the trim lines extended
    beyond the bleed; a 2 px band around those lines is masked."""
    s = dpi / 72
    media, bleed, trim = page.mediabox, page.bleedbox, page.trimbox
    mx, mtop = float(media.left), float(media.top)

    def px(x):
        return (x - mx) * s

    def py(y):
        return (mtop - y) * s

    bl, br = px(float(bleed.left)), px(float(bleed.right))
    bt, bb = py(float(bleed.top)), py(float(bleed.bottom))
    mark_x = [px(float(trim.left)), px(float(trim.right))]
    mark_y = [py(float(trim.top)), py(float(trim.bottom))]
    im = Image.open(png).convert("L")
    w, h = im.size
    data = im.load()
    stray = marks = 0
    for y in range(h):
        for x in range(w):
            cx, cy = x + 0.5, y + 0.5
            out_x = cx < bl - 1 or cx > br + 1
            out_y = cy < bt - 1 or cy > bb + 1
            if not (out_x or out_y):
                continue
            if data[x, y] > 240:
                continue
            on_mark = (out_y and any(abs(cx - m) <= 2 for m in mark_x)) or (
                out_x and any(abs(cy - m) <= 2 for m in mark_y)
            )
            if on_mark:
                marks += 1
            else:
                stray += 1
    return stray, marks


@pytest.mark.parametrize("name,variant", ALL)
def test_nothing_painted_between_bleed_and_media_box(pdfs, name, variant, tmp_path):
    exe = require_executable("pdftoppm", "poppler-utils")
    if variant:
        require_profile()
    path = pdfs[(name, variant)]
    dpi = PRINT[name]
    subprocess.run([exe, "-r", str(dpi), "-png", str(path), str(tmp_path / "p")], check=True)
    reader = PdfReader(str(path))
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == len(reader.pages)
    for page, png in zip(reader.pages, pngs, strict=True):
        stray, marks = _outside_bleed_ink(png, page, dpi)
        assert stray == 0, f"{png.name}: {stray} painted pixels outside the BleedBox"
        assert marks > 8, "the crop marks must be there (and visible at this dpi)"


@pytest.mark.parametrize("name", list(PRINT))
def test_pdfx4_variant_passes_preflight(pdfs, name):
    require_profile()
    require_executable("qpdf", "qpdf")
    require_executable("pdffonts", "poppler-utils")
    path = pdfs[(name, "x4")]
    assert preflight_pdfx4(path) == []
    reader = PdfReader(str(path))
    intent = reader.trailer["/Root"]["/OutputIntents"][0].get_object()
    assert intent["/OutputConditionIdentifier"] == "FOGRA39"
    assert "ISO Coated v2 300%" in intent["/Info"] and "scribus-data" in intent["/Info"]
    # the same page geometry as the plain PDF
    plain = PdfReader(str(pdfs[(name, "")]))
    for a, b in zip(reader.pages, plain.pages, strict=True):
        assert [float(v) for v in a.trimbox] == [float(v) for v in b.trimbox]
        assert [float(v) for v in a.bleedbox] == [float(v) for v in b.bleedbox]


def test_preflight_rejects_the_plain_pdf(pdfs):
    """The preflight is not a rubber stamp: the plain RGB PDF fails it on
    every PDF/X point."""
    require_executable("qpdf", "qpdf")
    require_executable("pdffonts", "poppler-utils")
    problems = "\n".join(preflight_pdfx4(pdfs[("poster-a4", "")]))
    for expected in (
        "GTS_PDFX output intents",
        "Info /GTS_PDFXVersion",
        "XMP metadata",
        "DeviceRGB colour operators",
        "transparency group blends in DeviceRGB",
        "< 1.6",
    ):
        assert expected in problems


def test_pdfx4_colours_are_cmyk_of_the_output_profile(pdfs):
    """Brand blue #0b5cab comes out as a plausible CMYK mix (mostly cyan, no
    yellow); text black becomes K only; the logo stays ICC-based colour."""
    require_profile()
    from pypdf.generic import ContentStream

    conv = pdfx.CmykConverter(pdfx.output_profile())
    c, m, y, k = conv((0x0B, 0x5C, 0xAB))
    assert c > 0.8 and 0.3 < m < 0.8 and y < 0.1
    assert conv((0, 0, 0)) == (0, 0, 0, 1) and conv((255, 255, 255)) == (0, 0, 0, 0)
    reader = PdfReader(str(pdfs[("poster-a4", "x4")]))
    page = reader.pages[0]
    ops = ContentStream(page.get_contents(), reader).operations
    fills = {tuple(round(float(v), 4) for v in args) for args, op in ops if op == b"k"}
    assert tuple(round(v, 4) for v in (c, m, y, k)) in fills
    images = [x.get_object() for x in page["/Resources"]["/XObject"].values()]
    assert images, "the logo is embedded"
    for img in images:
        cs = img["/ColorSpace"]
        assert cs == "/DeviceCMYK" or cs[0] == "/ICCBased", cs


def test_opaque_photo_is_converted_to_cmyk(tmp_path):
    require_profile()
    jpg = tmp_path / "logo.jpg"
    Image.new("RGB", (1200, 1200), (30, 120, 200)).save(jpg)  # fills the square logo box
    data = mt.get_template("poster-a3").sample_data()
    res = mt.render(
        "poster-a3",
        "pdf",
        data,
        tmp_path / "a3.pdf",
        brand=dict(BRAND, logo_path=str(jpg)),
        options={"pdfx": "x4"},
    )
    page = PdfReader(str(res.path)).pages[0]
    images = [x.get_object() for x in page["/Resources"]["/XObject"].values()]
    assert [img["/ColorSpace"] for img in images] == ["/DeviceCMYK"]


def test_missing_profile_is_a_clear_vietnamese_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LANTOA_PDFX_PROFILE", str(tmp_path / "none.icc"))
    data = mt.get_template("leaflet-a5").sample_data()
    out = tmp_path / "x.pdf"
    with pytest.raises(mt.TemplateError) as err:
        mt.render("leaflet-a5", "pdf", data, out, options={"pdfx": "x4"})
    assert err.value.code == "pdfx_profile_missing"
    assert "scribus-data" in err.value.message and "PDF/X-4" in err.value.message
    assert not out.exists() and not list(tmp_path.glob(".x.pdf*"))
    # the plain PDF does not need the profile
    mt.render("leaflet-a5", "pdf", data, out)
    assert out.stat().st_size > 0


def test_another_cmyk_profile_is_a_custom_output_condition(tmp_path, monkeypatch):
    require_profile()
    require_executable("qpdf", "qpdf")
    require_executable("pdffonts", "poppler-utils")
    own = tmp_path / "print-shop.icc"
    own.write_bytes(pdfx.output_profile().data)
    monkeypatch.setenv("LANTOA_PDFX_PROFILE", str(own))
    res = mt.render(
        "poster-a4",
        "pdf",
        mt.get_template("poster-a4").sample_data(),
        tmp_path / "x.pdf",
        options={"pdfx": "x4"},
    )
    assert preflight_pdfx4(res.path) == []
    intent = PdfReader(str(res.path)).trailer["/Root"]["/OutputIntents"][0].get_object()
    assert intent["/OutputConditionIdentifier"] == "Custom"
    assert "ISO Coated v2" in intent["/Info"]  # the profile's own description


def test_rgb_profile_is_refused(tmp_path, monkeypatch):
    icc = tmp_path / "srgb.icc"
    icc.write_bytes(pdfx.srgb_bytes())
    monkeypatch.setenv("LANTOA_PDFX_PROFILE", str(icc))
    with pytest.raises(mt.TemplateError) as err:
        mt.render(
            "poster-a4",
            "pdf",
            mt.get_template("poster-a4").sample_data(),
            tmp_path / "x.pdf",
            options={"pdfx": "x4"},
        )
    assert err.value.code == "pdfx_bad_profile"


def test_unknown_pdfx_variant_is_refused(tmp_path):
    with pytest.raises(mt.TemplateError) as err:
        mt.render(
            "poster-a4",
            "pdf",
            mt.get_template("poster-a4").sample_data(),
            tmp_path / "x.pdf",
            options={"pdfx": "x1a"},
        )
    assert err.value.code == "bad_option"


def test_cache_key_differs_for_the_pdfx_variant():
    data = mt.get_template("poster-a4").sample_data()
    assert mt.cache_key("poster-a4", "pdf", data, None) != mt.cache_key(
        "poster-a4", "pdf", data, None, options={"pdfx": "x4"}
    )


def test_cli_render_pdfx4(runner, tmp_path):
    require_profile()
    require_executable("qpdf", "qpdf")
    require_executable("pdffonts", "poppler-utils")
    data = tmp_path / "d.json"
    data.write_text(json.dumps(mt.get_template("leaflet-a5").sample_data()), encoding="utf-8")
    out = tmp_path / "leaflet.pdf"
    args = ["render", "leaflet-a5", "--format", "pdf", "--data", str(data), "--out", str(out)]
    res = runner.invoke(args=[*args, "--pdfx", "x4"])
    assert res.exit_code == 0, res.output
    assert preflight_pdfx4(out) == []
    res = runner.invoke(args=[*args[:3], "png", *args[4:], "--pdfx", "x4"])
    assert res.exit_code != 0 and "--pdfx" in res.output


def test_check_environment_names_the_missing_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("LANTOA_PDFX_PROFILE", str(tmp_path / "none.icc"))
    env = mt.check_environment()
    assert env["pdfx_profile"] is None
    assert any("PDF/X-4" in p and "scribus-data" in p for p in env["problems"])
    monkeypatch.delenv("LANTOA_PDFX_PROFILE")
    require_profile()
    env = mt.check_environment()
    assert env["pdfx_profile"] == str(pdfx.DEFAULT_PROFILE)
    assert not any("PDF/X-4" in p for p in env["problems"])


def test_without_crop_marks_the_media_box_is_the_bleed_box(tmp_path):
    """A template may turn crop marks off: MediaBox = BleedBox, still PDF/X-4."""
    import shutil

    require_profile()
    require_executable("qpdf", "qpdf")
    require_executable("pdffonts", "poppler-utils")
    src = mt.get_template("poster-a4").path
    dst = tmp_path / "tpl" / "poster-a4"
    shutil.copytree(src, dst)
    spec = dst / "template.yaml"
    text = spec.read_text(encoding="utf-8")
    assert "crop_marks: true" in text
    spec.write_text(text.replace("crop_marks: true", "crop_marks: false"), encoding="utf-8")
    data = mt.get_template("poster-a4").sample_data()
    res = mt.render(
        "poster-a4",
        "pdf",
        data,
        tmp_path / "x.pdf",
        extra_dirs=[tmp_path / "tpl"],
        options={"pdfx": "x4"},
    )
    assert preflight_pdfx4(res.path) == []
    page = PdfReader(str(res.path)).pages[0]
    assert [float(v) for v in page.mediabox] == pytest.approx([float(v) for v in page.bleedbox])
    assert float(page.trimbox.width) == pytest.approx(210 * MM, abs=0.05)
