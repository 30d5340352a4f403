"""Batch files for partners (CSV/XLSX, formulas neutralised) and their reports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from scheduler.sms.batchfiles import (
    ReportFileError,
    neutralise,
    parse_partner_report,
    write_batch_csv,
    write_batch_xlsx,
)

ROWS = [
    (1, "+84912345678", "UBND Sóc Trăng: Đăng ký dịch vụ công"),
    {"message_id": 2, "phone": "+84987654321", "text": '=HYPERLINK("http://evil","x")'},
    (3, "+84901234567", "-1+1"),
    (4, "+84991234567", "@SUM(A1)"),
    (5, "+84921234567", 'Dòng 1\nDòng 2, có "ngoặc"'),
]


def test_neutralise():
    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("+84") == "'+84" and neutralise("-x") == "'-x"
    assert neutralise("@x") == "'@x" and neutralise("\tx") == "'\tx"
    assert neutralise("Xin chào") == "Xin chào" and neutralise(None) == ""


def test_write_batch_csv(tmp_path):
    info = write_batch_csv(ROWS, tmp_path / "b.csv")
    assert info.rows == 5
    raw = (tmp_path / "b.csv").read_bytes()
    assert info.sha256 == hashlib.sha256(raw).hexdigest()
    # a served CSV: BOM once, CRLF after the header and every record (the newline
    # inside the quoted text of record 5 stays as the user wrote it)
    assert raw.startswith(b"\xef\xbb\xbfmessage_id,phone,text\r\n")
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == 6 and raw.count(b"\xef\xbb\xbf") == 1
    assert 'Dòng 1\nDòng 2'.encode() in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["message_id", "phone", "text"]
    assert rows[1] == ["1", "+84912345678", "UBND Sóc Trăng: Đăng ký dịch vụ công"]
    assert rows[2][2] == '\'=HYPERLINK("http://evil","x")'
    assert rows[3][2] == "'-1+1" and rows[4][2] == "'@SUM(A1)"
    assert rows[5][2] == 'Dòng 1\nDòng 2, có "ngoặc"'
    assert all(r[1].startswith("+84") for r in rows[1:])  # phones stay exact


def test_write_batch_xlsx(tmp_path):
    info = write_batch_xlsx(ROWS, tmp_path / "b.xlsx")
    assert info.rows == 5 and len(info.sha256) == 64
    ws = load_workbook(tmp_path / "b.xlsx").active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert values[0] == ["message_id", "phone", "text"]
    assert values[1] == [1, "+84912345678", "UBND Sóc Trăng: Đăng ký dịch vụ công"]
    for row in ws.iter_rows(min_row=2):
        assert row[1].data_type == "s" and row[2].data_type == "s"  # never a formula
    # a string cell is safe as it is: no apostrophe a partner would send along
    assert values[2][2] == '=HYPERLINK("http://evil","x")'
    assert values[3][2] == "-1+1" and values[4][2] == "@SUM(A1)"
    assert values[5][2] == 'Dòng 1\nDòng 2, có "ngoặc"'


def test_write_batch_xlsx_strips_control_characters(tmp_path):
    write_batch_xlsx([(1, "+84912345678", "Xin\u0001 chào\r\nbà con\u0085")], tmp_path / "c.xlsx")
    ws = load_workbook(tmp_path / "c.xlsx").active
    assert ws.cell(2, 3).value == "Xin chào\nbà con"


def test_writers_refuse_non_e164(tmp_path):
    with pytest.raises(ValueError):
        write_batch_csv([(1, "0912345678", "x")], tmp_path / "x.csv")
    with pytest.raises(ValueError):
        write_batch_xlsx([(1, "=1+1", "x")], tmp_path / "x.xlsx")


def test_parse_report_csv():
    data = (
        "\ufeffmessage_id;status;at;reason\n"
        "1;delivered;2026-10-10T08:00:00+07:00;\n"
        "2;DELIVRD;2026-10-10 08:00:00;\n"  # no offset = Vietnam time
        "3;not_our_subscriber;;chuyển mạng giữ số\n"
        "\n"
        "4;lost;;\n"
        "x;failed;;\n"
        "5;failed;yesterday;\n"
        "6;Thất bại;10/10/2026 09:30;Thuê bao không liên lạc được\n"
    ).encode()
    rows, errors = parse_partner_report(io.BytesIO(data), "r.csv")
    assert [(r.message_id, r.status) for r in rows] == [
        (1, "delivered"),
        (2, "delivered"),
        (3, "not_our_subscriber"),
        (6, "failed"),
    ]
    assert rows[0].at == datetime(2026, 10, 10, 1, 0, tzinfo=UTC)
    assert rows[1].at == rows[0].at
    assert rows[2].at is None and rows[2].reason == "chuyển mạng giữ số"
    assert rows[3].at == datetime(2026, 10, 10, 2, 30, tzinfo=UTC)
    assert [(e["line"], e["value"]) for e in errors] == [(6, "lost"), (7, "x"), (8, "yesterday")]
    assert rows[0].line == 2 and rows[3].line == 9


def test_parse_report_csv_in_the_shape_we_serve():
    """A report saved by Excel from our own file shape (BOM, CRLF, quoted
    newline) reads back like any other."""
    data = (
        "\ufeffmessage_id,status,at,reason\r\n"
        "1,delivered,10/10/2026 08:00,\r\n"
        '2,failed,,"Thuê bao\r\nngoài vùng phủ sóng"\r\n'
    ).encode()
    rows, errors = parse_partner_report(io.BytesIO(data), "bao-cao.csv")
    assert errors == []
    assert [(r.line, r.message_id, r.status) for r in rows] == [(2, 1, "delivered"), (3, 2, "failed")]
    assert rows[0].at == datetime(2026, 10, 10, 1, 0, tzinfo=UTC)
    assert rows[1].reason == "Thuê bao\r\nngoài vùng phủ sóng"


def test_parse_report_json():
    doc = [
        {"message_id": 1, "status": "delivered", "at": "2026-10-10T01:00:00Z"},
        {"message_id": "2", "status": "failed", "reason": "Hết hạn"},
        {"message_id": True, "status": "failed"},
        "junk",
    ]
    rows, errors = parse_partner_report(io.BytesIO(json.dumps(doc).encode()), "r.json")
    assert [(r.line, r.message_id, r.status) for r in rows] == [
        (1, 1, "delivered"),
        (2, 2, "failed"),
    ]
    assert [e["line"] for e in errors] == [3, 4]
    rows, _ = parse_partner_report(io.BytesIO(json.dumps({"items": doc[:1]}).encode()))
    assert len(rows) == 1


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "trống"),
        (b"[1, 2", "JSON"),
        (b'{"a": 1}', "danh sách"),
        (b"id,state\n1,delivered\n", "message_id"),
        (b"\xff\x00\x01garbage\xfe", "UTF-8"),
    ],
)
def test_parse_report_file_errors(data, needle):
    with pytest.raises(ReportFileError) as exc:
        parse_partner_report(io.BytesIO(data), "r")
    assert needle in exc.value.message


def test_parse_report_too_large():
    with pytest.raises(ReportFileError) as exc:
        parse_partner_report(io.BytesIO(b"x" * 2000), "r.csv", max_bytes=1000)
    assert exc.value.code == "too_large"
