"""media_templates: template specs, validation, text fitting, fonts, uploads, QR, cache keys."""

from __future__ import annotations

import io
import json
import shutil
import unicodedata

import pytest

import media_templates as mt
from media_templates import fonts
from media_templates.textfit import fit_text

EXPECTED = {
    "social-square",
    "social-portrait",
    "story",
    "zalo-cover",
    "facebook-link",
    "poster-a3",
    "poster-a4",
    "leaflet-a5",
    "standee-rollup",
    "video-vertical",
    "video-horizontal",
    "targets-motion",
}


def test_list_templates_exposes_exact_field_shape():
    infos = {t.name: t for t in mt.list_templates()}
    assert EXPECTED <= set(infos)
    for info in infos.values():
        assert info.title and info.description
        assert info.formats and set(info.formats) <= {"png", "pdf", "mp4"}
        names = [f["name"] for f in info.fields]
        assert "title" in names
        for f in info.fields:
            assert set(f) == {"name", "type", "required", "max_length"}
            assert f["type"] in ("text", "textarea", "list", "url", "image", "number", "date")
            assert isinstance(f["required"], bool) and isinstance(f["max_length"], int)
    assert infos["poster-a3"].formats == ["png", "pdf"]
    assert "mp4" in infos["video-vertical"].formats and "mp4" in infos["targets-motion"].formats
    json.dumps([i.to_dict() for i in infos.values()], ensure_ascii=False)  # API-serialisable


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, media_templates; print(any(m in sys.modules for m in ('numpy', 'moviepy', 'fpdf', 'PIL.ImageDraw')))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"


def test_unknown_template():
    with pytest.raises(mt.TemplateError) as exc:
        mt.get_template("khong-co")
    assert exc.value.code == "unknown_template" and exc.value.field == "template"
    assert "khong-co" in exc.value.message


@pytest.mark.parametrize(
    "data, code, field",
    [
        ({"url": "https://dichvucong.gov.vn"}, "missing_field", "title"),
        ({"title": "   ", "url": "https://dichvucong.gov.vn"}, "missing_field", "title"),
        (
            {"title": "A", "url": "https://dichvucong.gov.vn", "mau_sac": "do"},
            "unknown_field",
            "mau_sac",
        ),
        ({"title": "A" * 91, "url": "https://dichvucong.gov.vn"}, "too_long", "title"),
        ({"title": "A", "url": "dichvucong.gov.vn"}, "bad_url", "url"),
        ({"title": "A", "url": "javascript:alert(1)"}, "bad_url", "url"),
        ({"title": 12, "url": "https://dichvucong.gov.vn"}, "bad_type", "title"),
    ],
)
def test_validation_errors_name_the_field(data, code, field):
    with pytest.raises(mt.TemplateError) as exc:
        mt.validate_data(mt.get_template("social-square"), data)
    assert exc.value.code == code
    assert exc.value.field == field
    assert exc.value.message == unicodedata.normalize("NFC", exc.value.message)
    assert field in exc.value.message


def test_validation_normalises_types_and_nfc():
    tpl = mt.get_template("social-portrait")
    decomposed = unicodedata.normalize("NFD", "Dịch vụ công trực tuyến")
    clean = mt.validate_data(
        tpl,
        {
            "title": "  " + decomposed + "  ",
            "stat_value": "1.250",
            "bullets": "Bước một\n\nBước hai\n",
            "url": "https://dichvucong.gov.vn",
            "date": "10/10/2025",
        },
    )
    assert clean["title"] == unicodedata.normalize("NFC", "Dịch vụ công trực tuyến")
    assert clean["stat_value"] == 1250
    assert clean["bullets"] == ["Bước một", "Bước hai"]
    assert clean["date"].isoformat() == "2025-10-10"
    assert clean["stat_label"] == ""
    with pytest.raises(mt.TemplateError) as exc:
        mt.validate_data(tpl, {**clean, "date": "31/02/2025", "stat_value": 1})
    assert exc.value.field == "date"
    with pytest.raises(mt.TemplateError) as exc:
        mt.validate_data(
            tpl, {"title": "x", "bullets": ["a", "b"], "url": "https://a.vn", "stat_value": "nhiều"}
        )
    assert exc.value.field == "stat_value"
    with pytest.raises(mt.TemplateError) as exc:
        mt.validate_data(tpl, {"title": "x", "bullets": ["chỉ một"], "url": "https://a.vn"})
    assert exc.value.code == "too_few" and exc.value.field == "bullets"


def test_html_is_text_not_an_error(tmp_path):
    res = mt.render(
        "zalo-cover", "png", {"title": "<b>Dịch vụ công</b> & <i>bạn</i>"}, tmp_path / "x.png"
    )
    assert res.size > 0


def test_text_fit_shrinks_then_fails_with_amount():
    short = fit_text(
        ["Dịch vụ công"],
        family="be-vietnam-pro",
        weight=700,
        box_w=600,
        box_h=200,
        size_min=20,
        size_max=80,
        field="title",
    )
    assert short.size == 80 and len(short.lines) == 1
    long_text = "Nộp hồ sơ trực tuyến mọi lúc mọi nơi tiết kiệm thời gian " * 3
    fitted = fit_text(
        [long_text],
        family="be-vietnam-pro",
        weight=700,
        box_w=600,
        box_h=200,
        size_min=10,
        size_max=80,
        field="title",
    )
    assert 10 <= fitted.size < 80
    assert fitted.height <= 200 + 1e-6
    for line, _ in fitted.lines:  # every line fits the width at the chosen size
        assert (
            fonts.pil_font("be-vietnam-pro", 700, 64).getlength(line) * fitted.size / 64
            <= 600 * 1.003
        )
    assert " ".join(line for line, _ in fitted.lines).split() == long_text.split()
    with pytest.raises(mt.TemplateError) as exc:
        fit_text(
            [long_text * 4],
            family="be-vietnam-pro",
            weight=700,
            box_w=600,
            box_h=200,
            size_min=40,
            size_max=80,
            field="title",
        )
    assert exc.value.code == "text_overflow" and exc.value.field == "title"
    assert "%" in exc.value.message and "ký tự" in exc.value.message


def test_render_reports_overflowing_field(tmp_path):
    # max_length lets the text through (the spec allows 1000), the box cannot hold it
    src = mt.templates_dir() / "zalo-cover"
    dst = tmp_path / "tpl" / "zalo-long"
    shutil.copytree(src, dst)
    spec = (src / "template.yaml").read_text(encoding="utf-8")
    spec = spec.replace(
        "{name: subtitle, type: text, required: false, max_length: 120",
        "{name: subtitle, type: text, required: false, max_length: 1000",
    )
    (dst / "template.yaml").write_text(spec, encoding="utf-8")
    outdir = tmp_path / "media"
    outdir.mkdir()
    out = outdir / "o.png"
    with pytest.raises(mt.TemplateError) as exc:
        mt.render(
            "zalo-long",
            "png",
            {"title": "Tiêu đề", "subtitle": "Nộp hồ sơ trực tuyến " * 30},
            out,
            extra_dirs=[tmp_path / "tpl"],
        )
    assert exc.value.field == "subtitle" and exc.value.code == "text_overflow"
    assert "subtitle" in exc.value.message
    assert list(outdir.iterdir()) == []  # nothing half-written


def test_glyph_coverage_is_checked_before_rendering(tmp_path):
    assert fonts.missing_glyphs("Chuyển đổi số – “10/10”", "be-vietnam-pro") == []
    assert fonts.missing_glyphs("✓ 中文", "be-vietnam-pro") == ["✓", "中", "文"]
    with pytest.raises(mt.TemplateError) as exc:
        mt.render("zalo-cover", "png", {"title": "Dịch vụ công ✓ 中文"}, tmp_path / "x.png")
    assert exc.value.code == "missing_glyphs" and exc.value.field == "title"
    assert "U+2713" in exc.value.message
    # Vietnamese inside a Khmer layer: each script run gets its own font (scripts_mix)
    mt.render("zalo-cover", "png", {"title": "សេវាសាធារណៈ Dịch vụ"}, tmp_path / "y.png")
    with pytest.raises(mt.TemplateError) as exc:  # a glyph neither font has is still refused
        mt.render("zalo-cover", "png", {"title": "សេវាសាធារណៈ Dịch vụ ✓"}, tmp_path / "z.png")
    assert exc.value.code == "missing_glyphs" and "U+2713" in exc.value.message


def test_raqm_shaping_is_active_for_khmer():
    from PIL import ImageFont, features

    if not fonts.raqm_available():
        from tests._require import missing

        missing("Pillow's raqm layout is not active: install the Debian package 'libfribidi0'")
    assert features.check("fribidi")
    path, _ = fonts.font_file("noto-sans-khmer", 400)
    text = "ស្រុក"  # coeng (U+17D2) makes a subscript: shaping changes the glyph run
    raqm = ImageFont.truetype(str(path), 64, layout_engine=ImageFont.Layout.RAQM)
    basic = ImageFont.truetype(str(path), 64, layout_engine=ImageFont.Layout.BASIC)
    assert raqm.getlength(text) != basic.getlength(text)
    assert raqm.getmask(text).getbbox() != basic.getmask(text).getbbox()


def test_khmer_refused_clearly_without_raqm(monkeypatch):
    monkeypatch.setattr(fonts, "raqm_available", lambda: False)
    with pytest.raises(mt.TemplateError) as exc:
        fonts.require_complex_shaping("សេវាសាធារណៈ", field="title")
    assert exc.value.code == "shaping_unavailable" and "libfribidi0" in exc.value.message
    fonts.require_complex_shaping("Dịch vụ công", field="title")  # Vietnamese needs no raqm


def test_cache_key_stable_and_sensitive(tmp_path):
    data = mt.get_template("social-square").sample_data()
    k1 = mt.cache_key("social-square", "png", data, {"unit_name": "A"})
    k2 = mt.cache_key(
        "social-square", "png", dict(reversed(list(data.items()))), {"unit_name": "A"}
    )
    assert k1 == k2 and len(k1) == 64
    nfd = {**data, "title": unicodedata.normalize("NFD", data["title"])}
    assert mt.cache_key("social-square", "png", nfd, {"unit_name": "A"}) == k1
    assert mt.cache_key("social-square", "png", data, {"unit_name": "B"}) != k1
    assert mt.cache_key("social-square", "png", {**data, "title": "Khác"}, {"unit_name": "A"}) != k1
    # a logo file's content is part of the key
    logo = tmp_path / "logo.png"
    from PIL import Image

    Image.new("RGB", (10, 10), "red").save(logo)
    ka = mt.cache_key("social-square", "png", data, {"logo_path": str(logo)})
    Image.new("RGB", (10, 10), "blue").save(logo)
    assert mt.cache_key("social-square", "png", data, {"logo_path": str(logo)}) != ka


def _jpeg_with_exif(orientation: int, size=(60, 30)) -> bytes:
    from PIL import Image

    im = Image.new("RGB", size, (200, 30, 30))
    im.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "CameraMaker"
    gps = {1: "N", 2: (9.0, 36.0, 10.0), 3: "E", 4: (105.0, 58.0, 30.0)}
    exif[0x8825] = gps
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes())
    return buf.getvalue()


def test_upload_applies_orientation_and_strips_exif():
    from PIL import Image

    raw = _jpeg_with_exif(6)  # rotate 90° when displayed
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # GPS present before
    clean = mt.check_upload_image(raw)
    im = Image.open(io.BytesIO(clean))
    assert im.format == "JPEG"
    assert im.size == (30, 60)  # orientation applied
    exif = im.getexif()
    assert len(exif) == 0 and not exif.get_ifd(0x8825)
    assert b"Exif" not in clean[:4096]


def test_upload_rejections():
    with pytest.raises(mt.TemplateError) as exc:
        mt.check_upload_image(b"%PDF-1.7 not an image at all")
    assert exc.value.code == "not_an_image" and exc.value.field == "image"
    with pytest.raises(mt.TemplateError) as exc:
        mt.check_upload_image(b"x" * 2000, max_bytes=1000)
    assert exc.value.code == "too_large"
    from PIL import Image

    gif = io.BytesIO()
    Image.new("P", (4, 4)).save(gif, format="GIF")
    with pytest.raises(mt.TemplateError) as exc:
        mt.check_upload_image(gif.getvalue())
    assert exc.value.code == "bad_image_type"


def test_upload_refuses_decompression_bomb():
    import struct
    import zlib

    # a real PNG header claiming 20000x20000 pixels, with a tiny (truncated) body
    def chunk(tag, data):
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (20000 * 3 + 1) * 4)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    with pytest.raises(mt.TemplateError) as exc:
        mt.check_upload_image(png)
    assert exc.value.code == "too_many_pixels"
    assert "20000×20000" in exc.value.message or "bom" in exc.value.message


def test_upload_png_with_alpha_stays_png():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (20, 10), (0, 0, 0, 0)).save(buf, format="PNG")
    out = mt.check_upload_image(buf.getvalue())
    im = Image.open(io.BytesIO(out))
    assert im.format == "PNG" and im.mode == "RGBA" and im.size == (20, 10)


def test_make_qr_raster_and_vector():
    url = "https://lantoa.soctrang.gov.vn/r/7/xa-dai-tam"
    im = mt.make_qr(url, 300)
    assert im.size == (300, 300)
    vec = mt.make_qr(url, 300, vector=True)
    assert vec.size >= 21 and vec.url == url
    dark = sum(n for _, _, n in vec.runs())
    assert dark == sum(c for row in vec.modules for c in row)
    # the raster follows the module matrix: the finder pattern's top-left module is dark
    n = vec.size
    module = 300 // n
    off = (300 - n * module) // 2
    first_dark = next(c for c in range(n) if vec.modules[2][c])
    assert im.getpixel(
        (off + first_dark * module + module // 2, off + 2 * module + module // 2)
    ) == (0, 0, 0)
    with pytest.raises(mt.TemplateError):
        mt.make_qr("ftp://x", 100)


def test_extra_dirs_override_and_bad_spec(tmp_path):
    src = mt.templates_dir() / "zalo-cover"
    dst = tmp_path / "tpls" / "zalo-cover"
    shutil.copytree(src, dst)
    (dst / "template.yaml").write_text(
        (src / "template.yaml")
        .read_text(encoding="utf-8")
        .replace("title: Ảnh bìa bài viết Zalo 16:9", "title: Bìa Zalo riêng"),
        encoding="utf-8",
    )
    info = {t.name: t for t in mt.list_templates([tmp_path / "tpls"])}
    assert info["zalo-cover"].title == "Bìa Zalo riêng"
    bad = tmp_path / "bad" / "no-title"
    bad.mkdir(parents=True)
    (bad / "template.yaml").write_text(
        "title: X\nfields: [{name: body}]\nformats: {png: {}}\n", encoding="utf-8"
    )
    with pytest.raises(mt.TemplateError) as exc:
        mt.get_template("no-title", [tmp_path / "bad"])
    assert exc.value.code == "bad_spec"


def test_check_environment_reports_what_rendering_needs():
    env = mt.check_environment()
    assert env["raqm"] is fonts.raqm_available()
    assert env["ffmpeg"] and env["fonts"]["be-vietnam-pro"] and env["fonts"]["noto-sans-khmer"]
    assert isinstance(env["problems"], list)
    if not env["raqm"]:
        assert any("libfribidi0" in p for p in env["problems"])


def test_tracked_url_for_unit_qr_codes(tmp_path):
    url = mt.tracked_url("https://lantoa.soctrang.gov.vn/", 12, "tx-vinh-chau")
    assert url == "https://lantoa.soctrang.gov.vn/r/12/tx-vinh-chau"
    res = mt.render("poster-a4", "pdf", {"title": "Dịch vụ công", "url": url}, tmp_path / "p.pdf")
    from pypdf import PdfReader

    assert url in PdfReader(str(res.path)).pages[0].extract_text()
    for bad in (("https://x.vn", 0, "a"), ("https://x.vn", 3, "Vĩnh Châu"), ("x.vn", 3, "a")):
        with pytest.raises(mt.TemplateError):
            mt.tracked_url(*bad)
