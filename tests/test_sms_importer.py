"""Recipient import: encodings, delimiters, XLSX, header mapping, counting
rules, whole-file errors, streaming, and bulk loading (SQLite + PostgreSQL)."""

from __future__ import annotations

import csv
import io
import os
import tracemalloc

import pytest
from openpyxl import Workbook
from sqlalchemy import create_engine, text

from scheduler.sms.importer import (
    ImportError_,
    copy_recipients,
    import_report_dict,
    read_recipients,
)
from scheduler.sms.models import sms_metadata
from tests.helpers import ChunkStream

SAMPLE = (
    "Họ và tên;Số điện thoại;Xã/Phường;Ghi chú\n"
    "Nguyễn Văn An;0912345678;Phường 1;\n"  # 2
    "Trần Thị Bình;0912 345 678;Phường 2;trùng\n"  # 3 duplicate of line 2
    "Lê Văn Cường;abc;Phường 3;\n"  # 4 letters
    "\n"  # 5 blank line: not a data row
    "Phạm Thị Dung;01213456789;Phường 4;số cũ\n"  # 6 converted 0121 -> 079
    "Hồ Văn Em;;Phường 5;\n"  # 7 blank phone: invalid
    "Đỗ Thị Giang;+1 415 555 2671;Phường 6;\n"  # 8 foreign
    "Võ Văn Hải;0991234567;Phường 7;\n"  # 9 gmobile
    'Huỳnh Thị Kim;=HYPERLINK("http://x","0912");Phường 8;\n'  # 10 formula
)


def report_of(data: bytes, filename: str = "ds.csv", **kw):
    reader = read_recipients(io.BytesIO(data), filename, **kw)
    rows = list(reader)
    return rows, import_report_dict(reader.report), reader.report


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom"])
def test_csv_encodings_give_the_same_report(encoding):
    if encoding == "utf-16-le-bom":  # Excel's "Unicode text": UTF-16LE + BOM, tabs
        data = b"\xff\xfe" + SAMPLE.replace(";", "\t").encode("utf-16-le")
    else:
        data = SAMPLE.encode(encoding)
    rows, report, full = report_of(data)
    assert report["rows"] == 8
    assert report["rows"] == report["valid"] + report["invalid"] + report["duplicates"]
    assert (report["valid"], report["invalid"], report["duplicates"]) == (3, 4, 1)
    assert report["converted"] == 1
    assert report["by_carrier"] == {
        "viettel": 0,
        "vinaphone": 1,
        "mobifone": 1,
        "vietnamobile": 0,
        "gmobile": 1,
        "other": 0,
    }
    assert [(e["line"], e["value"]) for e in report["errors"]] == [
        (4, "abc"),
        (7, ""),
        (8, "+1 415 555 2671"),
        (10, '=HYPERLINK("http://x","0912")'),
    ]
    assert all(e["reason"] for e in report["errors"])
    assert [r.line for r in rows] == [2, 6, 9]
    first = rows[0]
    assert (first.phone, first.carrier, first.name) == (
        "+84912345678",
        "vinaphone",
        "Nguyễn Văn An",
    )
    assert first.fields == {"xa_phuong": "Phường 1", "ghi_chu": ""}
    assert rows[1].converted and rows[1].phone == "+84793456789"
    assert full.columns == {"Xã/Phường": "xa_phuong", "Ghi chú": "ghi_chu"}
    assert full.phone_column == "Số điện thoại" and full.name_column == "Họ và tên"


def test_comma_csv_with_english_headers_and_quotes():
    data = (
        b'name,phone,commune\n"Nguyen, Van A","+84 987 654 321","Phuong ""1"""\nB,0987.654.321,x\n'
    )
    rows, report, _ = report_of(data)
    assert (report["valid"], report["duplicates"]) == (1, 1)
    assert rows[0].name == "Nguyen, Van A" and rows[0].fields == {"commune": 'Phuong "1"'}
    assert rows[0].carrier == "viettel"


@pytest.mark.parametrize(
    "header",
    ["SĐT", "sdt", "Điện thoại", "Số ĐT", "Mobile", "MSISDN", "Phone number", "Số di động"],
)
def test_phone_header_synonyms(header):
    _, report, _ = report_of(f"STT,{header},Họ tên\n1,0912345678,An\n".encode())
    assert report["valid"] == 1


def test_explicit_column_mapping():
    data = "STT,Liên lạc,Người nhận\n1,0912345678,An\n".encode()
    with pytest.raises(ImportError_) as exc:
        report_of(data)
    assert exc.value.field == "phone_column"
    assert "'Liên lạc'" in exc.value.message and "'Người nhận'" in exc.value.message
    rows, report, _ = report_of(data, phone_column="Liên lạc", name_column="nguoi nhan")
    assert rows[0].name == "An" and rows[0].fields == {"stt": "1"}
    with pytest.raises(ImportError_) as exc:
        report_of(data, phone_column="Không có")
    assert exc.value.field == "phone_column" and "Không có" in exc.value.message
    with pytest.raises(ImportError_) as exc:
        report_of(data, phone_column="Liên lạc", name_column="Tên")
    assert exc.value.field == "name_column"


def _xlsx(rows) -> bytes:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_numbers_formulas_and_blank_rows():
    data = _xlsx(
        [
            ["Họ và tên", "Số điện thoại", "Xã"],
            ["An", 912345678, "Phường 1"],  # number cell without the leading 0
            ["Bình", '=HYPERLINK("http://evil","0987654321")', "x"],
            [None, None, None],
            ["=1+1", "0987654321", "Phường 3"],
            ["Dung", 1213456789.0, None],
        ]
    )
    rows, report, full = report_of(data, "danh sach.xlsx")
    assert full.format == "xlsx"
    assert (report["rows"], report["valid"], report["invalid"], report["converted"]) == (4, 3, 1, 1)
    assert report["errors"][0]["line"] == 3
    assert "công thức" in report["errors"][0]["reason"]
    assert [r.line for r in rows] == [2, 5, 6]
    assert rows[0].phone == "+84912345678"
    assert rows[1].name == "=1+1"  # kept as text, never evaluated
    assert rows[2].phone == "+84793456789"


def test_xlsx_even_with_a_csv_name_is_read_as_xlsx():
    rows, report, _ = report_of(_xlsx([["phone"], ["0912345678"]]), "upload.csv")
    assert report["valid"] == 1


@pytest.mark.parametrize(
    ("data", "filename", "needle"),
    [
        (b"", "a.csv", "trống"),
        (b"\n\n  \n", "a.csv", "trống"),
        (os.urandom(4096).replace(b"\n", b"\0"), "a.csv", "nhị phân"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "anh.csv", "nhị phân"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "cu.xls", ".xls"),
        (b"PK\x03\x04garbage", "a.xlsx", "Excel"),
        ("Tên,Đt\nÂn,0912345678\n".encode("cp1258"), "a.csv", "UTF-8"),  # Windows-1258
        (b"ho ten,dia chi\nAn,Soc Trang\n", "a.csv", "cột số điện thoại"),
        (b"0912345678\n0987654321\n", "a.csv", "tiêu đề"),
        (b"not,an,xlsx", "a.xlsx", "Excel"),
    ],
)
def test_whole_file_errors(data, filename, needle):
    with pytest.raises(ImportError_) as exc:
        report_of(data, filename)
    assert needle in exc.value.message
    assert exc.value.code == "validation_error"


def test_only_a_header_is_an_empty_report():
    rows, report, _ = report_of("Số điện thoại\n".encode())
    assert rows == [] and report["rows"] == 0


def _unseekable(header: bytes, line: bytes, count: int) -> ChunkStream:
    """A lazily generated upload that cannot tell its size."""
    return ChunkStream([header] + [line * 1000] * (count // 1000))


def test_too_large_is_refused_early_and_mid_stream():
    data = ("Số điện thoại\n" + "0912345678\n" * 1000).encode()
    with pytest.raises(ImportError_) as exc:
        read_recipients(io.BytesIO(data), "a.csv", max_bytes=1000)
    assert exc.value.code == "too_large" and "MB" in exc.value.message
    reader = read_recipients(
        _unseekable("SĐT\n".encode(), b"0912345678\n", 10_000), "a.csv", max_bytes=50_000
    )
    with pytest.raises(ImportError_) as exc:
        list(reader)
    assert exc.value.code == "too_large"


def test_streaming_does_not_hold_the_file():
    # ~2.2 MB of rows, read from a stream that generates them lazily
    stream = _unseekable("Họ tên,SĐT\n".encode(), b"An,0912345678\nBinh,0987654321\n", 70_000)
    tracemalloc.start()
    try:
        reader = read_recipients(stream, "big.csv")
        count = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 2 and reader.report.rows == 140_000
    assert reader.report.duplicates == 139_998
    assert peak < 1_500_000, peak


def test_rejects_file_lists_every_rejected_row_neutralised():
    out = io.StringIO()
    lines = ["SĐT"] + [f"bad{i}" for i in range(150)] + ["=cmd|' /C calc'!A0", "0912345678"]
    reader = read_recipients(io.BytesIO("\n".join(lines).encode()), "a.csv", rejects=out)
    list(reader)
    assert len(reader.report.errors) == 100  # the report keeps the first 100
    assert reader.report.invalid == 151
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["line", "value", "reason"] and len(rows) == 152
    assert rows[-1][:2] == ["152", "'=cmd|' /C calc'!A0"]


# -- loading ------------------------------------------------------------------------


def _load(engine, data: bytes) -> list[tuple]:
    md = sms_metadata(delivery_stub=True)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO recipient_list (id, name, created_at, rows, valid, invalid, duplicates, "
                "converted, by_carrier, errors_preview, status) VALUES "
                "(7, 'x', CURRENT_TIMESTAMP, 0, 0, 0, 0, 0, '{}', '[]', 'importing')"
            )
        )
        n = copy_recipients(conn, 7, read_recipients(io.BytesIO(data), "a.csv"))
        assert n == 3
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT list_id, line, phone, carrier, name, fields FROM recipient ORDER BY line"
                )
            )
        ]


TRICKY = (
    "Họ tên,SĐT,Địa chỉ\n"
    '"Tab\there",0912345678,"dòng 1\ndòng 2"\n'
    'Back\\slash,0987654321,"{""json"": true}"\n'
    ",0901234567,\\N\n"
).encode()


def _check_loaded(rows):
    import json

    def fields(v):
        return v if isinstance(v, dict) else json.loads(v)

    assert [r[:5] for r in rows] == [
        (7, 2, "+84912345678", "vinaphone", "Tab\there"),
        (7, 4, "+84987654321", "viettel", "Back\\slash"),
        (7, 5, "+84901234567", "mobifone", None),
    ]
    assert fields(rows[0][5]) == {"dia_chi": "dòng 1\ndòng 2"}
    assert fields(rows[1][5]) == {"dia_chi": '{"json": true}'}
    assert fields(rows[2][5]) == {"dia_chi": "\\N"}


def test_copy_recipients_sqlite():
    engine = create_engine("sqlite://")
    _check_loaded(_load(engine, TRICKY))


@pytest.mark.postgres
def test_copy_recipients_postgres_copy(pg_url):
    engine = create_engine(pg_url)
    try:
        _check_loaded(_load(engine, TRICKY))
    finally:
        engine.dispose()
