"""Bilingual Vietnamese/Khmer print templates: the A4 poster and the A5 leaflet
of the 10/10 preset render with Khmer text and Khmer fixed labels (from
media_templates/labels.yaml), with both fonts embedded."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata

import pytest
from pypdf import PdfReader

import media_templates as mt
from campaigns.presets import get_preset
from media_templates import fonts, labels
from tests.media_helpers import BRAND, squash


def _preset_item(template: str) -> dict:
    preset = get_preset("ngay-cds-10-10")
    return next(i for i in preset["items"] if i.get("template") == template)


def _headline(title: str) -> str:
    """'Áp phích: Dịch vụ công …' -> 'Dịch vụ công …' (the kind prefix is not printed)."""
    return title.split(":", 1)[1].strip() if ":" in title else title


def poster_data() -> dict:
    """The 10/10 preset's poster item, with its Khmer translation."""
    item = _preset_item("poster_a3")
    km = mt.get_template("poster-a4-bilingual").sample_data()
    return {
        **km,
        "title": _headline(item["title"]),
        "body": item["body"],
        "url": get_preset("ngay-cds-10-10")["target_url"],
    }


def leaflet_data() -> dict:
    item = _preset_item("leaflet_a5")
    steps = [s.strip(" .") for s in re.split(r"Bước \d+:", item["body"]) if s.strip(" .")]
    km = mt.get_template("leaflet-a5-bilingual").sample_data()
    return {**km, "title": _headline(item["title"]), "steps": steps}


def khmer_only(text: str) -> str:
    """The Khmer characters of ``text``: the PDF text layer of shaped Khmer carries
    stray characters for some ligature glyphs (fpdf2's ToUnicode), so Khmer is
    compared on its own letters, vowel signs and marks."""
    return "".join(ch for ch in unicodedata.normalize("NFC", text) if fonts.is_khmer(ch))


def test_label_table_has_every_label_in_both_languages():
    table = labels.table()
    assert {"scan_qr_submit", "scan_to_start", "hotline", "steps_heading"} <= set(table)
    for key, row in table.items():
        assert set(row) >= {"vi", "km"}, key
        assert not fonts.is_khmer(row["vi"]), key
        if re.search(r"[^\d/\s]", row["vi"]):  # words, not just "24/7"
            assert fonts.is_khmer(row["km"]), key
    assert labels.label("scan_to_start", "vi") == "Quét mã để bắt đầu"
    with pytest.raises(mt.TemplateError) as exc:
        labels.label("no_such_label", "km")
    assert exc.value.code == "bad_spec"
    with pytest.raises(mt.TemplateError) as exc:
        labels.label("hotline", "fr")
    assert exc.value.code == "bad_spec"


def test_bilingual_templates_have_no_hard_coded_labels():
    """Every fixed word of the bilingual templates comes from the label table."""
    bilingual = [t.name for t in mt.list_templates() if t.name.endswith("-bilingual")]
    assert len(bilingual) >= 6
    for name in bilingual:
        tpl = mt.get_template(name)
        files = [tpl.path / "template.yaml", *tpl.path.glob("*.j2")]
        text = "\n".join(p.read_text(encoding="utf-8") for p in files)
        for row in labels.table().values():
            if row["vi"] != row["km"]:
                assert row["km"] not in text and f"text: {row['vi']}" not in text


@pytest.mark.parametrize(
    "name,data_of,pages",
    [("poster-a4-bilingual", poster_data, 1), ("leaflet-a5-bilingual", leaflet_data, 2)],
)
def test_bilingual_print_of_the_10_10_preset(tmp_path, name, data_of, pages):
    data = data_of()
    assert fonts.is_khmer(data["title_km"]) and not fonts.is_khmer(data["title"])
    res = mt.render(name, "pdf", data, tmp_path / f"{name}.pdf", brand=BRAND)
    assert res.pages == pages
    reader = PdfReader(str(res.path))
    raw = "".join(p.extract_text() for p in reader.pages)
    text, km_text = squash(raw), khmer_only(raw)
    # Vietnamese and Khmer content
    assert squash(data["title"]) in text and khmer_only(data["title_km"]) in km_text
    list_field = "bullets_km" if "bullets_km" in data else "steps_km"
    for line in data[list_field]:
        assert khmer_only(line) in km_text
    # Khmer fixed labels next to the Vietnamese ones
    keys = (
        ["scan_qr_submit", "icon_result"]
        if name.startswith("poster")
        else ["steps_heading", "scan_or_visit"]
    )
    for key in keys:
        assert khmer_only(labels.label(key, "km")) in km_text, key
        assert squash(labels.label(key, "vi")) in text, key
    # both fonts embedded (pdffonts, as a print shop checks)
    pdffonts = shutil.which("pdffonts")
    if not pdffonts:
        from tests._require import missing

        missing("pdffonts not found: install the Debian package 'poppler-utils'")
    listing = subprocess.run(
        [pdffonts, str(res.path)], capture_output=True, text=True, check=True
    ).stdout
    rows = [ln.split() for ln in listing.splitlines()[2:] if ln.strip()]
    names = {r[0].split("+", 1)[-1] for r in rows}
    assert any(n.startswith("NotoSansKhmer") for n in names), listing
    assert any(n.startswith("BeVietnamPro") for n in names), listing
    assert all(r[-5] == "yes" for r in rows), listing  # emb column
    # and the PNG proof renders the same content
    png = mt.render(
        name, "png", data, tmp_path / f"{name}.png", brand=BRAND, options={"scale": 0.5}
    )
    assert png.width > 0


@pytest.mark.parametrize(
    "name,layer,key",
    [
        ("poster-a4", "qr_caption", "scan_qr_submit"),
        ("poster-a3", "qr_caption", "scan_qr_submit"),
        ("leaflet-a5", "steps_heading", "steps_heading"),
        ("story", "cta", "scan_to_start"),
        ("facebook-link", "qr_hint", "scan_to_open"),
    ],
)
def test_khmer_only_render_prints_its_fixed_labels_in_khmer(name, layer, key):
    from media_templates import layout as L

    tpl = mt.get_template(name)
    sample = {k: v for k, v in tpl.sample_data().items() if k != "cta"}
    vi = L.build_layout(tpl, "png", mt.validate_data(tpl, sample), BRAND)
    assert vi.texts[layer].startswith(labels.label(key, "vi"))
    km_data = {**sample, "title": "សេវាសាធារណៈតាមអនឡាញ"}
    km = L.build_layout(tpl, "png", mt.validate_data(tpl, km_data), BRAND)
    assert km.texts[layer].startswith(labels.label(key, "km"))
    # a mixed Vietnamese + Khmer title keeps the Vietnamese labels
    mixed = {**sample, "title": "Dịch vụ công សេវាសាធារណៈ"}
    assert (
        L.build_layout(tpl, "png", mt.validate_data(tpl, mixed), BRAND)
        .texts[layer]
        .startswith(labels.label(key, "vi"))
    )


def test_bilingual_social_square_has_khmer_text_and_labels(tmp_path):
    from media_templates import layout as L

    tpl = mt.get_template("social-square-bilingual")
    data = tpl.sample_data()
    lay = L.build_layout(tpl, "png", mt.validate_data(tpl, data), BRAND)
    assert fonts.is_khmer(lay.texts["title_km"]) and not fonts.is_khmer(lay.texts["title"])
    cta = lay.texts["cta"]
    assert labels.label("scan_to_start", "vi") in cta and labels.label("scan_to_start", "km") in cta
    res = mt.render(tpl.name, "png", data, tmp_path / "sq.png", brand=BRAND)
    assert (res.width, res.height) == (1080, 1080)


def test_every_print_template_and_the_main_social_ones_have_a_bilingual_variant():
    from campaigns.khmer import bilingual_template

    names = {t.name for t in mt.list_templates()}
    prints = [n for n in names if mt.get_template(n).kind == "print" and not n.endswith("-bilingual")]
    assert {"poster-a3", "poster-a4", "leaflet-a5", "standee-rollup"} <= set(prints)
    for name in [*prints, "social-square", "social-portrait"]:
        twin = bilingual_template(name)
        assert twin == f"{name}-bilingual", name
        fields = {f["name"] for f in mt.get_template(twin).fields}
        assert "title_km" in fields, twin


@pytest.mark.parametrize("name", ["poster-a3-bilingual", "standee-rollup-bilingual"])
def test_new_bilingual_print_templates_carry_both_languages_and_fonts(tmp_path, name):
    tpl = mt.get_template(name)
    data = tpl.sample_data()
    res = mt.render(name, "pdf", data, tmp_path / f"{name}.pdf", brand=BRAND)
    assert res.pages == 1
    raw = "".join(p.extract_text() for p in PdfReader(str(res.path)).pages)
    assert squash(data["title"]) in squash(raw)
    assert khmer_only(data["title_km"]) in khmer_only(raw)
    for line in data["bullets_km"]:
        assert khmer_only(line) in khmer_only(raw)
    assert khmer_only(labels.label("scan_qr_submit", "km")) in khmer_only(raw)
    assert squash(labels.label("scan_qr_submit", "vi")) in squash(raw)
    fonts_used = {f.split("+", 1)[-1] for p in PdfReader(str(res.path)).pages
                  for f in (p["/Resources"]["/Font"].get_object() and
                            [p["/Resources"]["/Font"][k]["/BaseFont"] for k in p["/Resources"]["/Font"]])}
    assert any(f.startswith("NotoSansKhmer") for f in fonts_used), fonts_used
    assert any(f.startswith("BeVietnamPro") for f in fonts_used), fonts_used


def test_bilingual_portrait_has_khmer_points_and_labels(tmp_path):
    from media_templates import layout as L

    tpl = mt.get_template("social-portrait-bilingual")
    data = tpl.sample_data()
    lay = L.build_layout(tpl, "png", mt.validate_data(tpl, data), BRAND)
    assert fonts.is_khmer(lay.texts["title_km"]) and not fonts.is_khmer(lay.texts["title"])
    res = mt.render(tpl.name, "png", data, tmp_path / "p.png", brand=BRAND)
    assert (res.width, res.height) == (1080, 1350)
