"""Reading normaliser: a table of written -> spoken cases, plus the table file rules."""

from __future__ import annotations

import unicodedata

import pytest

from media_templates.speech import (
    AbbreviationCycleError,
    SpeechError,
    estimate_duration,
    load_abbreviations,
    normalize_for_reading,
)
from media_templates.speech.duration import count_syllables
from media_templates.speech.numbers import SOUTHERN, read_number

NUMBERS = [
    (0, "không"),
    (1, "một"),
    (4, "bốn"),
    (5, "năm"),
    (10, "mười"),
    (11, "mười một"),
    (14, "mười bốn"),
    (15, "mười lăm"),
    (20, "hai mươi"),
    (21, "hai mươi mốt"),
    (24, "hai mươi tư"),
    (25, "hai mươi lăm"),
    (55, "năm mươi lăm"),
    (91, "chín mươi mốt"),
    (100, "một trăm"),
    (101, "một trăm linh một"),
    (105, "một trăm linh năm"),
    (110, "một trăm mười"),
    (115, "một trăm mười lăm"),
    (121, "một trăm hai mươi mốt"),
    (1000, "một nghìn"),
    (1001, "một nghìn không trăm linh một"),
    (1010, "một nghìn không trăm mười"),
    (2025, "hai nghìn không trăm hai mươi lăm"),
    (15_000, "mười lăm nghìn"),
    (1_000_000, "một triệu"),
    (1_000_005, "một triệu không trăm linh năm"),
    (2_500_000, "hai triệu năm trăm nghìn"),
    (1_000_000_000, "một tỷ"),
    (1_000_000_000_000, "một nghìn tỷ"),
]


@pytest.mark.parametrize(("n", "spoken"), NUMBERS)
def test_read_number(n, spoken):
    assert read_number(n) == spoken


def test_southern_reading_uses_ngan_and_le():
    assert read_number(1005, SOUTHERN) == "một ngàn không trăm lẻ năm"
    r = normalize_for_reading("105 hộ", dialect="south")
    assert r.text == "một trăm lẻ năm hộ"


# (written, spoken) — the whole normalised string must match.
CASES = [
    # plain numbers in running text
    ("Xã có 105 hộ", "Xã có một trăm linh năm hộ"),
    ("Có 21 ấp và 24 khóm", "Có hai mươi mốt ấp và hai mươi tư khóm"),
    ("năm 2025", "năm hai nghìn không trăm hai mươi lăm"),
    ("1.000.000 người", "một triệu người"),
    ("Mục tiêu 1.500 hồ sơ", "Mục tiêu một nghìn năm trăm hồ sơ"),
    ("trong 05 ngày làm việc", "trong năm ngày làm việc"),
    ("từ 2 - 3 ngày", "từ hai đến ba ngày"),
    ("3,5 tỷ đồng", "ba phẩy năm tỷ đồng"),
    ("Cách mạng 4.0", "Cách mạng bốn chấm không"),
    # money and units
    ("Lệ phí 50.000đ", "Lệ phí năm mươi nghìn đồng"),
    ("1.200.000 VNĐ", "một triệu hai trăm nghìn đồng"),
    ("cách 3 km", "cách ba ki lô mét"),
    ("diện tích 12 ha", "diện tích mười hai héc ta"),
    # dates
    ("10/10/2025", "ngày mười tháng mười năm hai nghìn không trăm hai mươi lăm"),
    ("ngày 10/10/2025", "ngày mười tháng mười năm hai nghìn không trăm hai mươi lăm"),
    ("01/7/2025", "ngày một tháng bảy năm hai nghìn không trăm hai mươi lăm"),
    ("17-12-2024", "ngày mười bảy tháng mười hai năm hai nghìn không trăm hai mươi tư"),
    ("hạn chót 15/12", "hạn chót ngày mười lăm tháng mười hai"),
    ("ngày 30/4", "ngày ba mươi tháng tư"),
    ("tháng 10/2025", "tháng mười năm hai nghìn không trăm hai mươi lăm"),
    ("tháng 4", "tháng tư"),
    ("32/13/2025", None),  # not a date: must not read as one
    ("Ngày Chuyển đổi số quốc gia 10/10", "Ngày Chuyển đổi số quốc gia mười tháng mười"),
    ("Ngày 10/10 hằng năm", "Ngày mười tháng mười hằng năm"),
    ("nhà số 19/5 đường Lê Lợi", "nhà số mười chín trên năm đường Lê Lợi"),
    ("phục vụ 24/7", "phục vụ hai mươi tư trên bảy"),
    (
        "giai đoạn 2021 - 2025",
        "giai đoạn hai nghìn không trăm hai mươi mốt đến hai nghìn không trăm hai mươi lăm",
    ),
    # times
    ("06:30", "sáu giờ ba mươi phút"),
    ("lúc 17:00", "lúc mười bảy giờ"),
    ("7h30", "bảy giờ ba mươi phút"),
    ("17h", "mười bảy giờ"),
    ("từ 7h30 - 11h30", "từ bảy giờ ba mươi phút đến mười một giờ ba mươi phút"),
    ("08:15:30", "tám giờ mười lăm phút ba mươi giây"),
    # weekdays and ordinals
    ("Thứ 2 - Thứ 6", "Thứ hai đến Thứ sáu"),
    ("thứ 4", "thứ tư"),
    ("lần thứ 1", "lần thứ nhất"),
    # percentages
    ("80%", "tám mươi phần trăm"),
    ("đạt 100 %", "đạt một trăm phần trăm"),
    ("2,5%", "hai phẩy năm phần trăm"),
    # phone numbers, digit by digit
    ("0299 3822 222", "không hai chín chín, ba tám hai hai, hai hai hai"),
    ("gọi 0912.345.678", "gọi không chín một hai, ba bốn năm, sáu bảy tám"),
    ("0912345678", "không chín một hai ba bốn năm sáu bảy tám"),
    ("+84 912 345 678", "cộng tám bốn, chín một hai, ba bốn năm, sáu bảy tám"),
    ("Tổng đài 1022", "Tổng đài một không hai hai"),
    ("đường dây nóng 1900 1234", "đường dây nóng một chín không không, một hai ba bốn"),
    # abbreviations from the maintained table
    ("DVCTT", "dịch vụ công trực tuyến"),
    ("TTHC", "thủ tục hành chính"),
    ("UBND xã", "Ủy ban nhân dân xã"),
    ("ứng dụng VNeID", "ứng dụng vê en e ai đi"),
    ("thẻ CCCD", "thẻ căn cước công dân"),
    ("Sở KH&CN", "Sở khoa học và công nghệ"),
    ("HĐND tỉnh", "Hội đồng nhân dân tỉnh"),
    ("TP. Sóc Trăng", "thành phố Sóc Trăng"),
    ("Quyết định 1588/QĐ-TTg", "Quyết định một nghìn năm trăm tám mươi tám quyết định Thủ tướng"),
    ("quét mã QR", "quét mã kiu a"),
    # web addresses and e-mail
    ("dichvucong.gov.vn", "dịch vụ công chấm gov chấm vn"),
    ("Truy cập https://dichvucong.gov.vn.", "Truy cập dịch vụ công chấm gov chấm vn."),
    ("www.soctrang.gov.vn", "vê kép vê kép vê kép chấm Sóc Trăng chấm gov chấm vn"),
    ("dichvucong.gov.vn/p/home", "dịch vụ công chấm gov chấm vn gạch chéo p gạch chéo home"),
    ("ubnd@soctrang.gov.vn", "ubnd a còng Sóc Trăng chấm gov chấm vn"),
    # Roman numerals and symbols
    ("quý IV", "quý bốn"),
    ("xã Đại Ân II", "xã Đại Ân hai"),
    ("nông thôn & đô thị", "nông thôn và đô thị"),
    # text that must stay as it is
    ("THÔNG BÁO KHẨN", "THÔNG BÁO KHẨN"),
    ("Kính thưa bà con", "Kính thưa bà con"),
    ("សេវាសាធារណៈ ១២៣", "សេវាសាធារណៈ ១២៣"),
    ("- Bước một\n- Bước hai", "Bước một\nBước hai"),
]


@pytest.mark.parametrize(("written", "spoken"), CASES, ids=[c[0][:30] for c in CASES])
def test_normalise_table(written, spoken):
    result = normalize_for_reading(written)
    if spoken is None:
        assert "ngày" not in result.text
    else:
        assert result.text == spoken
    assert unicodedata.is_normalized("NFC", result.text)


def test_table_has_at_least_fifty_cases():
    assert len(CASES) + len(NUMBERS) >= 80 and len(CASES) >= 50


UNKNOWN = [
    ("Liên hệ XYZ ngay", ["XYZ"]),
    ("Tài khoản eKYC và DVCTT", ["eKYC"]),
    ("PCCC và PCCC", ["PCCC"]),
    ("THÔNG BÁO của UBND", []),
    ("ឃុំ ABCD", ["ABCD"]),
]


@pytest.mark.parametrize(("written", "unknown"), UNKNOWN)
def test_unknown_all_caps_tokens_are_flagged_not_expanded(written, unknown):
    result = normalize_for_reading(written)
    assert result.unknown_tokens == unknown
    for token in unknown:
        assert token in result.text


def test_nfd_input_is_normalised():
    nfd = unicodedata.normalize("NFD", "Ủy ban nhân dân xã 10/10/2025")
    result = normalize_for_reading(nfd)
    assert result.text.startswith("Ủy ban nhân dân xã ngày mười tháng mười")
    assert unicodedata.is_normalized("NFC", result.text)


def test_normalising_twice_is_stable():
    once = normalize_for_reading("UBND xã 10/10/2025 lúc 7h30, gọi 0299 3822 222.").text
    assert normalize_for_reading(once).text == once


def test_custom_abbreviations_are_used_and_expanded_recursively():
    table = {"TTPVHCC": "Trung tâm phục vụ HCC", "HCC": "hành chính công"}
    result = normalize_for_reading("Đến TTPVHCC", abbreviations=table)
    assert result.text == "Đến Trung tâm phục vụ hành chính công"


def test_custom_abbreviations_with_a_loop_are_refused():
    with pytest.raises(AbbreviationCycleError) as info:
        normalize_for_reading("AB", abbreviations={"AB": "xem CD", "CD": "xem AB"})
    assert "AB → CD → AB" in info.value.message or "CD → AB → CD" in info.value.message


def test_load_default_table():
    table = load_abbreviations()
    assert table["DVCTT"] == "dịch vụ công trực tuyến"
    assert table["UBND"] == "Ủy ban nhân dân"
    assert "VNeID" in table and "TTHC" in table and "CCCD" in table


def test_load_table_with_loop_names_the_cycle(tmp_path):
    path = tmp_path / "bang.yaml"
    path.write_text(
        "abbreviations:\n  UBND: Ủy ban nhân dân\n  XA: xem YB\n  YB: xem ZC\n  ZC: lại XA\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError) as info:
        load_abbreviations(path)
    err = info.value
    assert isinstance(err, AbbreviationCycleError)
    assert err.cycle[0] == err.cycle[-1]
    assert set(err.cycle) == {"XA", "YB", "ZC"}
    assert "vòng lặp" in err.message and "XA" in err.message


def test_load_table_self_reference_is_a_loop(tmp_path):
    path = tmp_path / "bang.yaml"
    path.write_text("TTHC: TTHC và giấy tờ\n", encoding="utf-8")
    with pytest.raises(AbbreviationCycleError, match="TTHC → TTHC"):
        load_abbreviations(path)


def test_load_flat_table_and_bad_files(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("PCCC: phòng cháy chữa cháy\n", encoding="utf-8")
    assert load_abbreviations(flat) == {"PCCC": "phòng cháy chữa cháy"}
    broken = tmp_path / "broken.yaml"
    broken.write_text("abbreviations: [\n", encoding="utf-8")
    with pytest.raises(SpeechError, match="YAML"):
        load_abbreviations(broken)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(SpeechError, match="bảng"):
        load_abbreviations(listy)
    with pytest.raises(SpeechError, match="Không tìm thấy"):
        load_abbreviations(tmp_path / "missing.yaml")


def test_non_text_and_bad_dialect_are_clear_errors():
    with pytest.raises(SpeechError) as info:
        normalize_for_reading(None)  # type: ignore[arg-type]
    assert info.value.field == "text"
    with pytest.raises(SpeechError) as info:
        normalize_for_reading("1", dialect="klingon")
    assert info.value.field == "dialect"


def test_estimate_duration_counts_syllables_of_the_normalised_text():
    # "10/10/2025" -> 12 syllables: ngày mười tháng mười năm hai nghìn không trăm hai mươi lăm
    assert count_syllables(normalize_for_reading("10/10/2025").text) == 12
    assert estimate_duration("10/10/2025", syllables_per_minute=120) == pytest.approx(6.0)
    assert estimate_duration("Kính thưa bà con") == pytest.approx(4 * 60 / 180, abs=0.01)
    slow = estimate_duration("Kính thưa bà con xã Đại Ân", syllables_per_minute=120)
    fast = estimate_duration("Kính thưa bà con xã Đại Ân", syllables_per_minute=240)
    assert slow == pytest.approx(2 * fast, rel=0.01)
    # an unexpanded abbreviation is spelled letter by letter
    assert count_syllables("XYZ") == 3


def test_estimate_duration_rejects_bad_rate():
    with pytest.raises(SpeechError) as info:
        estimate_duration("abc", syllables_per_minute=0)
    assert info.value.field == "syllables_per_minute"


def test_long_text_with_thousands_of_numbers():
    result = normalize_for_reading("Ngày 10/10/2025 lúc 7h30, 80% hộ. " * 2500)
    assert result.text.count("bảy giờ ba mươi phút") == 2500
    assert result.text.endswith("tám mươi phần trăm hộ.")
    assert not any("\ue000" <= c <= "\uf8ff" or c >= "\U000f0000" for c in result.text)


def test_private_use_characters_in_input_do_not_leak_placeholders():
    assert normalize_for_reading("a\ue000b 5").text == "ab năm"


def test_khmer_syllables_are_counted_per_orthographic_syllable():
    # សូម ប្រើ ប្រាស់ សេ វា សា ធា រ ណៈ តាម អ៊ីន ធឺ ណិត = 13
    assert count_syllables("សូមប្រើប្រាស់សេវាសាធារណៈតាមអ៊ីនធឺណិត") == 13
    assert count_syllables("Xin chào សួស្តី") == 4
    assert estimate_duration("សួស្តី", syllables_per_minute=120) == pytest.approx(1.0)
