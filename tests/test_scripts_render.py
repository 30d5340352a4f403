"""Loudspeaker script rendering: templates as data, clear errors, warnings."""

from __future__ import annotations

import re
import unicodedata

import pytest

from media_templates.scripts import (
    ScriptError,
    format_duration,
    get_script_template,
    list_script_templates,
    render_script,
)
from media_templates.speech import estimate_duration

DATA = {
    "unit_name": "xã Đại Ân 2",
    "campaign_title": "Ngày Chuyển đổi số quốc gia",
    "key_message": "Từ ngày 10/10/2025, bà con có thể nộp hồ sơ TTHC trực tuyến. Đã có 80% hồ sơ xử lý trực tuyến.",
    "call_to_action": "Hãy kích hoạt tài khoản VNeID mức 2 và dùng DVCTT.",
    "office_address": "ấp Phú Hữu, xã Đại Ân 2",
    "office_hours": "Thứ 2 - Thứ 6, 7h00 - 11h00",
    "hotline": "0299 3822 222",
}


def test_every_template_renders_its_sample():
    templates = list_script_templates()
    names = {t.name for t in templates}
    assert {"loudspeaker_default", "loudspeaker_short", "loudspeaker_bilingual"} <= names
    for tpl in templates:
        script = render_script(tpl.sample(), template=tpl.name)
        assert script.text and script.reading_text and script.estimated_seconds > 5
        assert script.template == tpl.name and script.title == tpl.title
        assert unicodedata.is_normalized("NFC", script.text)


def test_default_script_has_the_four_parts_and_the_units_facts():
    script = render_script(DATA)
    assert [s.title for s in script.sections] == [
        "Mở đầu",
        "Nội dung chính",
        "Hướng dẫn và kêu gọi",
        "Kết thúc",
    ]
    assert "Đài truyền thanh xã Đại Ân 2" in script.sections[0].text
    assert "địa chỉ: ấp Phú Hữu, xã Đại Ân 2." in script.text
    assert "Thời gian làm việc: Thứ 2 - Thứ 6, 7h00 - 11h00." in script.text
    assert "##" not in script.text and "{{" not in script.text
    # reading version: everything written out, nothing left in digits
    assert not re.search(r"[0-9]", script.reading_text)
    assert "dịch vụ công chấm gov chấm vn" in script.reading_text  # the template's default portal
    assert "không hai chín chín, ba tám hai hai, hai hai hai" in script.reading_text
    assert "Thứ hai đến Thứ sáu, bảy giờ đến mười một giờ" in script.reading_text
    assert script.language == "vi" and script.unknown_tokens == [] and script.warnings == []


def test_duration_is_the_sum_of_sections_and_matches_the_estimate():
    script = render_script(DATA)
    assert script.estimated_seconds == pytest.approx(
        sum(s.estimated_seconds for s in script.sections)
    )
    assert script.estimated_seconds == pytest.approx(estimate_duration(script.text), rel=0.02)
    slower = render_script(DATA, syllables_per_minute=120)
    assert slower.estimated_seconds == pytest.approx(script.estimated_seconds * 1.5, rel=0.01)


def test_missing_required_variables_are_named():
    data = dict(DATA)
    del data["call_to_action"]
    del data["key_message"]
    with pytest.raises(ScriptError) as info:
        render_script(data)
    err = info.value
    assert set(err.fields) == {"call_to_action", "key_message"}
    assert "call_to_action" in err.message and "key_message" in err.message
    assert err.field in {"call_to_action", "key_message"}
    with pytest.raises(ScriptError, match="unit_name"):
        render_script({**DATA, "unit_name": "   "})


def _custom_template(tmp_path, body: str, fields: str = "") -> str:
    folder = tmp_path / "loa_thu"
    folder.mkdir()
    (folder / "spec.yaml").write_text(
        "title: Thử\nlanguage: vi\nfields:\n  - {name: unit_name, required: true}\n" + fields,
        encoding="utf-8",
    )
    (folder / "script.txt.j2").write_text(body, encoding="utf-8")
    return "loa_thu"


def test_template_using_an_undeclared_variable_names_it(tmp_path):
    name = _custom_template(tmp_path, "## Mở đầu\n{{ unit_name }} xin thông báo {{ su_kien }}.\n")
    with pytest.raises(ScriptError) as info:
        render_script({"unit_name": "xã A"}, template=name, extra_dirs=[tmp_path])
    assert info.value.field == "su_kien"
    assert "'su_kien'" in info.value.message and "loa_thu" in info.value.message
    # the same template works once the variable is given
    ok = render_script(
        {"unit_name": "xã A", "su_kien": "lịch tiêm"}, template=name, extra_dirs=[tmp_path]
    )
    assert ok.text == "xã A xin thông báo lịch tiêm."


def test_template_syntax_error_and_unknown_template(tmp_path):
    name = _custom_template(tmp_path, "{% if unit_name %}không đóng khối\n")
    with pytest.raises(ScriptError) as info:
        render_script({"unit_name": "xã A"}, template=name, extra_dirs=[tmp_path])
    assert info.value.field == "template" and "cú pháp" in info.value.message
    with pytest.raises(ScriptError) as info:
        render_script(DATA, template="khong_co")
    assert info.value.field == "template" and "khong_co" in info.value.message
    with pytest.raises(ScriptError):
        get_script_template("../etc")


def test_bad_data_shapes_are_clear_errors():
    with pytest.raises(ScriptError) as info:
        render_script(["not", "a", "dict"])  # type: ignore[arg-type]
    assert info.value.field == "data"
    with pytest.raises(ScriptError) as info:
        render_script({**DATA, "key_message": {"nested": 1}})
    assert info.value.field == "key_message"
    with pytest.raises(ScriptError) as info:
        render_script({**DATA, "unit_name": "x" * 500})
    assert info.value.field == "unit_name" and "tối đa 120" in info.value.message
    with pytest.raises(ScriptError) as info:
        render_script(DATA, syllables_per_minute=0)
    assert info.value.field == "syllables_per_minute"


def test_unit_without_address_renders_with_a_visible_warning():
    data = {k: v for k, v in DATA.items() if k != "office_address"}
    script = render_script(data)
    assert "Bà con cần hỗ trợ có thể đến Bộ phận Một cửa xã Đại Ân 2." in script.text
    assert "địa chỉ:" not in script.text
    assert any("office_address" in w for w in script.warnings)


def test_long_segment_and_long_script_warnings():
    long_body = " ".join(["Bà con hãy dùng dịch vụ công trực tuyến khi làm thủ tục."] * 30)
    script = render_script({**DATA, "key_message": long_body}, max_segment_seconds=60)
    seg = [w for w in script.warnings if "Nội dung chính" in w]
    assert seg and "vượt mức tối đa 1 phút" in seg[0]
    script = render_script(DATA, max_total_seconds=20)
    assert any(w.startswith("Cả kịch bản dài khoảng") for w in script.warnings)
    assert not any("Nội dung chính" in w for w in render_script(DATA).warnings)


def test_unknown_abbreviations_are_flagged_in_warnings():
    script = render_script({**DATA, "call_to_action": "Liên hệ tổ PCCC và tổ CNSCĐ của ấp."})
    assert script.unknown_tokens == ["PCCC", "CNSCĐ"]
    assert any("PCCC" in w and "bảng viết tắt" in w for w in script.warnings)
    fixed = render_script(
        {**DATA, "call_to_action": "Liên hệ tổ PCCC."},
        abbreviations={"PCCC": "phòng cháy chữa cháy"},
    )
    assert "tổ phòng cháy chữa cháy" in fixed.reading_text and fixed.unknown_tokens == []


def test_abbreviation_loop_surfaces_as_a_script_error():
    with pytest.raises(ScriptError) as info:
        render_script(DATA, abbreviations={"AA": "BB", "BB": "AA"})
    assert info.value.field == "abbreviations" and "vòng lặp" in info.value.message


def test_khmer_text_is_kept_and_noted():
    tpl = get_script_template("loudspeaker_bilingual")
    khmer = "សូមប្រើប្រាស់សេវាសាធារណៈតាមអ៊ីនធឺណិត។"
    script = render_script({**tpl.sample(), "key_message_km": khmer}, template=tpl.name)
    assert khmer in script.text and khmer in script.reading_text
    assert script.has_khmer and script.language == "vi+km"
    assert script.sections[-1].title == "Tiếng Khmer" and script.sections[-1].estimated_seconds > 0
    assert any("Khmer" in w for w in script.warnings)


def test_nfd_input_comes_out_nfc():
    nfd = {k: unicodedata.normalize("NFD", v) for k, v in DATA.items()}
    script = render_script(nfd)
    assert unicodedata.is_normalized("NFC", script.text)
    assert "xã Đại Ân 2" in script.text


def test_format_duration():
    assert format_duration(85.2) == "1 phút 25 giây"
    assert format_duration(120) == "2 phút"
    assert format_duration(9.6) == "10 giây"


def test_command_line_renders_files_and_reports_errors(tmp_path, capsys):
    import json

    from media_templates.scripts.__main__ import main

    assert main(["--list"]) == 0
    assert "loudspeaker_default" in capsys.readouterr().out
    out = tmp_path / "out"
    assert (
        main(["--template", "loudspeaker_short", "--out", str(out), "--formats", "txt,docx"]) == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "kich-ban-phat-thanh.docx",
        "kich-ban-phat-thanh.txt",
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"unit_name": "xã A"}), encoding="utf-8")
    assert main(["--data", str(bad), "--out", str(out)]) == 2
    assert "campaign_title" in capsys.readouterr().err
