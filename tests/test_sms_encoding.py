"""SMS text: GSM-7 / UCS-2, lengths, part counts, no-diacritics variant."""

from __future__ import annotations

import unicodedata

import pytest

from scheduler.sms.encoding import GSM7_BASIC, GSM7_EXTENSION, analyze, strip_diacritics


@pytest.mark.parametrize(
    ("text", "encoding", "length", "parts"),
    [
        ("", "GSM-7", 0, 0),
        ("Hello", "GSM-7", 5, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("[QC]", "GSM-7", 6, 1),  # [ and ] cost 2 septets each
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("Xin chào, café à la carte", "GSM-7", 25, 1),  # à é are GSM-7
        ("Sóc Trăng", "UCS-2", 9, 1),
        ("ê" * 70, "UCS-2", 70, 1),
        ("ê" * 71, "UCS-2", 71, 2),
        ("ê" * 134, "UCS-2", 134, 2),
        ("ê" * 135, "UCS-2", 135, 3),
        ("😀" * 35, "UCS-2", 70, 1),  # outside the BMP: 2 UTF-16 units each
    ],
)
def test_analyze_table(text, encoding, length, parts):
    info = analyze(text)
    assert (info.encoding, info.length, info.parts) == (encoding, length, parts)


def test_escape_pairs_are_not_split_across_parts():
    # 152 septets of "a" then "[": the pair would straddle 153 -> moves to part 2.
    info = analyze("a" * 152 + "[" + "a" * 10)
    assert info.length == 164 and info.parts == 2
    assert info.remaining == 153 - 12
    # 76 pairs fill a part (152 septets): 80 pairs need 2 parts, not ceil(160/153)
    assert analyze("{}" * 80).parts == 3  # 320 septets, 152 per part


def test_surrogate_pairs_are_not_split():
    info = analyze("ê" * 66 + "😀" + "ê")
    # 66 + 2 + 1 = 69 units <= 70: single part
    assert info.parts == 1
    info = analyze("ê" * 66 + "😀" + "ê" * 10)
    # multipart: the emoji does not fit in the 67th unit of part 1
    assert info.parts == 2 and info.remaining == 67 - 12


def test_nfc_before_counting():
    decomposed = unicodedata.normalize("NFD", "Đăng ký")
    assert len(decomposed) > 7
    info = analyze(decomposed)
    assert info.text == "Đăng ký" and info.length == 7


def test_non_gsm_characters_are_reported():
    info = analyze("Sóc Trăng đẹp")
    assert info.encoding == "UCS-2"
    assert set(info.non_gsm) == {"ó", "ă", "đ", "ẹ"}
    assert info.as_dict()["parts"] == 1


def test_gsm_tables():
    assert len(GSM7_BASIC) == 128 and GSM7_BASIC[0] == "@" and GSM7_BASIC[0x20] == " "
    for ch in GSM7_EXTENSION:
        assert analyze(ch).length == 2
    assert analyze("\x1b").encoding == "UCS-2"  # the escape itself is not text


def test_strip_diacritics():
    text = "Đăng ký DỊCH VỤ công trực tuyến ở Sóc Trăng, đừng quên!"
    plain = strip_diacritics(text)
    assert plain == "Dang ky DICH VU cong truc tuyen o Soc Trang, dung quen!"
    assert analyze(plain).encoding == "GSM-7"
    assert strip_diacritics(unicodedata.normalize("NFD", "Đồng Khởi")) == "Dong Khoi"
    assert strip_diacritics("") == ""
    assert strip_diacritics("[QC] 100%") == "[QC] 100%"


def test_no_diacritics_variant_saves_parts():
    text = (
        "Từ ngày 10/10, người dân Sóc Trăng có thể nộp hồ sơ và nhận kết quả "
        "thủ tục hành chính qua Cổng dịch vụ công quốc gia."
    )
    full, plain = analyze(text), analyze(strip_diacritics(text))
    assert full.encoding == "UCS-2" and plain.encoding == "GSM-7"
    assert full.parts == 2 and plain.parts == 1
