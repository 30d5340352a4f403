"""Script outputs: DOCX read back with python-docx, PDF text, TXT, WAV/MP3."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import unicodedata

import pytest

from media_templates.scripts import (
    ScriptError,
    format_duration,
    get_script_template,
    render_script,
    script_audio,
    script_to_docx,
    script_to_pdf,
    script_to_txt,
)
from media_templates.speech import NoVoiceError, measure_loudness, read_wav, wav_duration, write_wav
from tests._require import require_executable

META = {
    "unit_name": "Ủy ban nhân dân xã Đại Ân 2",
    "campaign_title": "Ngày Chuyển đổi số quốc gia 10/10",
    "date": dt.date(2025, 10, 10),
    "slots": ["Thứ 2, 4, 6 lúc 06:00 và 17:00"],
}
KHMER = "សូមប្រើប្រាស់សេវាសាធារណៈតាមអ៊ីនធឺណិត។"


@pytest.fixture(scope="module")
def script():
    return render_script(get_script_template("loudspeaker_default").sample())


@pytest.fixture(scope="module")
def bilingual():
    tpl = get_script_template("loudspeaker_bilingual")
    return render_script({**tpl.sample(), "key_message_km": KHMER}, template=tpl.name)


def test_docx_header_facts_and_script_read_back(script):
    from docx import Document

    doc = Document(io.BytesIO(script_to_docx(script, META)))
    header = "\n".join(p.text for p in doc.sections[0].header.paragraphs)
    assert "Ủy ban nhân dân xã Đại Ân 2" in header
    assert "Ngày Chuyển đổi số quốc gia 10/10" in header
    assert "10/10/2025" in header
    facts = {row.cells[0].text: row.cells[1].text for row in doc.tables[0].rows}
    assert facts["Đơn vị"] == "Ủy ban nhân dân xã Đại Ân 2"
    assert facts["Chiến dịch"] == "Ngày Chuyển đổi số quốc gia 10/10"
    assert facts["Ngày"] == "10/10/2025"
    assert facts["Thời lượng ước tính"] == f"khoảng {format_duration(script.estimated_seconds)}"
    assert facts["Lịch phát"] == "Thứ 2, 4, 6 lúc 06:00 và 17:00"
    body = [p.text for p in doc.paragraphs]
    for line in script.text.split("\n"):
        if line.strip():
            assert line in body
    for section in script.sections:
        assert f"{section.title} ({format_duration(section.estimated_seconds)})" in body
    # the reading version follows, written out for the announcer
    assert any("dịch vụ công chấm gov chấm vn" in p for p in body)
    assert all(unicodedata.is_normalized("NFC", p) for p in body)
    assert doc.core_properties.author == "Ủy ban nhân dân xã Đại Ân 2"


def test_docx_falls_back_to_script_data_and_marks_khmer_runs(bilingual):
    from docx import Document
    from docx.oxml.ns import qn

    doc = Document(io.BytesIO(script_to_docx(bilingual, {"date": "2025-10-10"})))
    facts = {row.cells[0].text: row.cells[1].text for row in doc.tables[0].rows}
    assert facts["Đơn vị"] == "xã Vĩnh Hải" and facts["Ngày"] == "10/10/2025"
    khmer_runs = [r for p in doc.paragraphs for r in p.runs if KHMER in r.text]
    assert khmer_runs
    fonts = khmer_runs[0]._element.rPr.find(qn("w:rFonts"))
    assert fonts.get(qn("w:cs")) == "Khmer UI"
    assert any("Khmer" in p.text for p in doc.paragraphs)  # the no-voice note


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (dt.date(2025, 12, 15), "15/12/2025"),
        (dt.datetime(2026, 1, 2, 9, 0), "02/01/2026"),
        ("2025-10-10", "10/10/2025"),
        ("01/07/2025", "01/07/2025"),
    ],  # fmt: skip
)
def test_dates_are_dd_mm_yyyy(script, value, shown):
    assert f"Ngày: {shown}".encode() in script_to_txt(script, {"date": value})


def test_bad_date_and_meta_are_clear_errors(script):
    with pytest.raises(ScriptError) as info:
        script_to_docx(script, {"date": "mai nhé"})
    assert info.value.field == "date" and "dd/mm/yyyy" in info.value.message
    with pytest.raises(ScriptError) as info:
        script_to_pdf(script, ["x"])  # type: ignore[arg-type]
    assert info.value.field == "meta"


def test_txt_is_windows_friendly_utf8(script):
    raw = script_to_txt(script, META)
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw[3:].decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert "Đơn vị: Ủy ban nhân dân xã Đại Ân 2" in lines
    assert "Ngày: 10/10/2025" in lines
    assert f"Thời lượng ước tính: khoảng {format_duration(script.estimated_seconds)}" in lines
    assert script.sections[1].text.split("\n")[0] in lines
    assert script.sections[1].reading_text.split("\n")[0] in lines


def test_pdf_has_vector_vietnamese_text_and_embedded_fonts(script):
    pdf = script_to_pdf(script, META)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"BeVietnamPro" in pdf
    pdftotext = require_executable("pdftotext", "poppler-utils")
    out = subprocess.run(
        [pdftotext, "-", "-"], input=pdf, capture_output=True, timeout=60, check=True
    )
    text = unicodedata.normalize("NFC", out.stdout.decode("utf-8"))
    flat = " ".join(text.split())
    assert "KỊCH BẢN PHÁT THANH" in flat
    assert "Ủy ban nhân dân xã Đại Ân 2" in flat and "10/10/2025" in flat
    assert "Đây là Đài truyền thanh xã Đại Ân 2. Kính thưa bà con nhân dân!" in flat
    assert "Trang 1/2" in flat


def test_pdf_embeds_the_khmer_font_for_khmer_text(bilingual, tmp_path):
    pdf = script_to_pdf(bilingual, {"date": "2025-10-10"})
    assert b"NotoSansKhmer" in pdf and b"BeVietnamPro" in pdf
    pdffonts = require_executable("pdffonts", "poppler-utils")
    path = tmp_path / "song-ngu.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([pdffonts, str(path)], capture_output=True, timeout=60, check=True)
    listing = out.stdout.decode()
    assert "NotoSansKhmer" in listing and "BeVietnamPro" in listing
    assert all(
        " yes yes yes " in ln for ln in listing.splitlines()[2:] if ln.strip()
    )  # embedded subsets, unicode


def test_script_audio_wav_and_mp3(script):
    audio = script_audio(script)
    assert set(audio) == {"wav", "mp3"}
    seconds = wav_duration(audio["wav"])
    assert abs(seconds - script.estimated_seconds) <= 0.2 * script.estimated_seconds
    assert measure_loudness(audio["wav"]) == pytest.approx(-16.0, abs=0.5)
    assert audio["mp3"][:2] in (b"\xff\xf3", b"\xff\xf2", b"\xff\xfb", b"\xff\xe3")
    assert script_audio(script, mp3=False).keys() == {"wav"}


def test_script_audio_with_jingle_is_longer_and_level(script):
    import numpy as np

    rate = 22050
    t = np.arange(rate * 2) / rate
    jingle = write_wav(0.5 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, t), rate)
    plain = script_audio(script, mp3=False)["wav"]
    mixed = script_audio(script, mp3=False, jingle=jingle)["wav"]
    assert wav_duration(mixed) > wav_duration(plain) + 2
    y, _ = read_wav(mixed)
    assert np.abs(y[: rate // 2]).max() > 0.05  # the jingle opens the file
    assert measure_loudness(mixed) == pytest.approx(-16.0, abs=0.5)


def test_script_audio_refuses_khmer_with_a_note(bilingual):
    with pytest.raises(NoVoiceError) as info:
        script_audio(bilingual)
    assert "Khmer" in info.value.message
    # the text outputs still carry the Khmer text
    assert KHMER.encode() in script_to_txt(bilingual, {})


def test_script_files_bundle_for_a_kit():
    from media_templates.scripts import script_files

    data = get_script_template("loudspeaker_short").sample()
    files, script, notes = script_files(
        data, META, template="loudspeaker_short", basename="loa-30s"
    )
    assert sorted(files) == [
        "loa-30s.docx",
        "loa-30s.mp3",
        "loa-30s.pdf",
        "loa-30s.txt",
        "loa-30s.wav",
    ]
    assert files["loa-30s.pdf"].startswith(b"%PDF") and files["loa-30s.docx"].startswith(b"PK")
    assert (
        abs(wav_duration(files["loa-30s.wav"]) - script.estimated_seconds)
        <= 0.2 * script.estimated_seconds
    )
    assert notes == []


def test_script_files_skips_khmer_audio_with_a_note_and_keeps_text():
    from media_templates.scripts import script_files

    tpl = get_script_template("loudspeaker_bilingual")
    data = {**tpl.sample(), "key_message_km": KHMER}
    data.pop("office_address")
    files, _, notes = script_files(data, {"date": "2025-10-10"}, template=tpl.name)
    assert sorted(files) == [
        "kich-ban-phat-thanh.docx",
        "kich-ban-phat-thanh.pdf",
        "kich-ban-phat-thanh.txt",
    ]
    assert any("Khmer" in n for n in notes)
    assert any("office_address" in n for n in notes)  # unit without an address: warned, not a crash
    assert KHMER.encode() in files["kich-ban-phat-thanh.txt"]
    with pytest.raises(ScriptError) as info:
        script_files(data, template=tpl.name, formats=("docx", "ogg"))
    assert info.value.field == "formats"


def test_template_public_description():
    public = get_script_template("loudspeaker_default").to_public()
    assert public["kind"] == "loudspeaker_script" and "docx" in public["formats"]
    fields = {f["name"]: f for f in public["fields"]}
    assert fields["unit_name"]["required"] is True and fields["unit_name"]["max_length"] == 120
    assert fields["office_address"]["required"] is False
