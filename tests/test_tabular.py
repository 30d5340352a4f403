"""The one cell rule (core/tabular.py) and the download header (core/downloads.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from core.downloads import ascii_filename, content_disposition
from core.tabular import (
    BOM,
    append_row,
    csv_bytes,
    csv_cell,
    local_datetime,
    plain_text,
    xlsx_text,
)

FORMULA = '=HYPERLINK("http://evil.example","bấm vào đây")'


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (FORMULA, "'" + FORMULA),
        ("+84912345678 gọi ngay", "'+84912345678 gọi ngay"),
        ("-5 độ", "'-5 độ"),
        ("@người", "'@người"),
        ("\tthụt", "'\tthụt"),
        ("\rdòng", "'\rdòng"),
        ("Xin chào", "Xin chào"),
        ("a=b", "a=b"),
        (None, ""),
        (12, "12"),
    ],
)
def test_csv_cell_prefixes_only_formula_starts(value, cell):
    assert csv_cell(value) == cell


def test_xlsx_text_is_never_prefixed_and_has_no_controls():
    assert xlsx_text(FORMULA) == FORMULA
    assert xlsx_text("x\u0001") == "x"
    assert xlsx_text("a\x00b\x08c\x0bd\x1fe\x7ff\x85g\x9fh") == "abcdefgh"
    assert xlsx_text("dòng 1\r\ndòng 2\rdòng 3\nhết\tcột") == "dòng 1\ndòng 2\ndòng 3\nhết\tcột"
    nfd = "Chuyê\u0309n đô\u0309i sô\u0301"
    assert plain_text(nfd) == "Chuyển đổi số"


def test_append_row_writes_user_text_as_plain_strings(tmp_path):
    from openpyxl import Workbook, load_workbook

    wb = Workbook()
    ws = wb.active
    append_row(ws, [FORMULA, "x\u0001", 42, None, "+84912345678", datetime(2026, 10, 10, 8, 0)])
    buf = io.BytesIO()
    wb.save(buf)
    cells = list(load_workbook(io.BytesIO(buf.getvalue())).active.iter_rows())[0]
    assert [c.value for c in cells[:3]] == [FORMULA, "x", 42]
    assert cells[0].data_type == "s" and cells[4].data_type == "s"  # not a formula, not a number
    assert cells[4].value == "+84912345678" and cells[3].value is None
    assert cells[5].value == datetime(2026, 10, 10, 8, 0)


def test_csv_bytes_has_bom_and_crlf():
    data = csv_bytes(("a", "b"), [("1", "dòng 1\ndòng 2"), ("2", csv_cell("=1"))])
    assert data.startswith(BOM.encode()) and data.count(BOM.encode()) == 1
    assert data.decode("utf-8") == '\ufeffa,b\r\n1,"dòng 1\ndòng 2"\r\n2,\'=1\r\n'


def test_local_datetime_is_vietnam_time():
    assert local_datetime(datetime(2026, 10, 9, 18, 30, tzinfo=UTC)) == datetime(2026, 10, 10, 1, 30)
    assert local_datetime(datetime(2026, 10, 9, 18, 30)) == datetime(2026, 10, 10, 1, 30)  # naive = UTC
    assert local_datetime(None) is None


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("Chuyển đổi số.zip", "Chuyen doi so.zip"),
        ("ĐÀI TRUYỀN THANH – Đồng Nai.pdf", "DAI TRUYEN THANH - Dong Nai.pdf"),
        ("Bộ tài liệu – Xã Lạc Hòa – Ngày Chuyển đổi số – v2.zip",
         "Bo tai lieu - Xa Lac Hoa - Ngay Chuyen doi so - v2.zip"),
        ('ten "la"\\;x.csv', "ten _la___x.csv"),
        ("ភាសាខ្មែរ.txt", "tep.txt"),
        ("ភាសា", "tep"),
        ("plain-ascii.csv", "plain-ascii.csv"),
    ],
)
def test_ascii_fallback_transliterates_d(name, fallback):
    assert ascii_filename(name) == fallback


def test_content_disposition_keeps_the_real_name_and_a_readable_fallback():
    value = content_disposition("Chuyển đổi số.zip")
    assert value.startswith('attachment; filename="Chuyen doi so.zip"; ')
    assert "filename*=UTF-8''Chuy%E1%BB%83n%20%C4%91%E1%BB%95i%20s%E1%BB%91.zip" in value
    assert content_disposition("a.csv") == 'attachment; filename="a.csv"'
    assert content_disposition("ảnh.png", inline=True).startswith('inline; filename="anh.png"')


def test_no_download_bypasses_the_shared_content_disposition():
    """A ``send_file`` that names the file would set werkzeug's own fallback
    (which drops "đ"): downloads go through ``core.downloads.send_download``."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = []
    for folder in ("app.py", "campaigns", "core", "scheduler", "channels", "media_templates"):
        paths = [root / folder] if folder.endswith(".py") else (root / folder).rglob("*.py")
        for path in paths:
            if path.name == "downloads.py" and path.parent.name == "core":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                keywords = {k.arg for k in node.keywords}
                if name == "send_file" and keywords & {"download_name", "as_attachment"}:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
                if name == "set" and any(
                    isinstance(a, ast.Constant) and str(a.value).lower() == "content-disposition"
                    for a in node.args
                ):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, offenders
