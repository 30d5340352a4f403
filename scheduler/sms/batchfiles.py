"""Per-carrier batch files for telecom partners, and their delivery reports.

Batch file columns: ``message_id, phone, text`` (E.164 phone), following the
app's one rule for served tables (``core/tabular.py``): the CSV starts with a
UTF-8 BOM and ends its lines with CRLF; a CSV text cell that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is
neutralised with a leading ``'``. In XLSX the text is a plain string cell
without any prefix (a partner that sends the cell as is must not send an
apostrophe). Phones are validated E.164 numbers we generated, so they are
written as they are (string cells in XLSX) -- a partner must get ``+849…``
exactly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple
from zoneinfo import ZoneInfo

from core.tabular import csv_cell, csv_writer, open_csv, xlsx_text

BATCH_COLUMNS = ("message_id", "phone", "text")
REPORT_STATUSES = ("delivered", "failed", "not_our_subscriber")
MAX_REPORT_BYTES = 50 * 1024 * 1024
MAX_REPORT_ERRORS = 100
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_STATUS_ALIASES = {
    "delivered": "delivered",
    "delivrd": "delivered",
    "success": "delivered",
    "thanhcong": "delivered",
    "dagui": "delivered",
    "failed": "failed",
    "fail": "failed",
    "undeliv": "failed",
    "undelivered": "failed",
    "error": "failed",
    "thatbai": "failed",
    "loi": "failed",
    "notoursubscriber": "not_our_subscriber",
    "notsubscriber": "not_our_subscriber",
    "ported": "not_our_subscriber",
    "khongphaithuebao": "not_our_subscriber",
}


#: a CSV cell value that no spreadsheet will run as a formula
neutralise = csv_cell


@dataclass(frozen=True)
class BatchFile:
    path: Path
    rows: int
    sha256: str


def _row(row: Any) -> tuple[int, str, str]:
    if isinstance(row, Mapping):
        mid, phone, text = row["message_id"], row["phone"], row["text"]
    elif isinstance(row, (tuple, list)):
        mid, phone, text = row[0], row[1], row[2]
    else:
        mid, phone, text = row.id, row.phone, row.text
    if not _E164.match(str(phone)):
        raise ValueError(f"phone is not E.164: {phone!r}")
    return int(mid), str(phone), unicodedata.normalize("NFC", str(text))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_batch_csv(rows: Iterable[Any], path: str | Path) -> BatchFile:
    """Write a batch as UTF-8 CSV (BOM, CRLF); rows are (message_id, phone,
    text) tuples, mappings or objects with id/phone/text."""
    path = Path(path)
    count = 0
    with open_csv(path) as fh:
        w = csv_writer(fh)
        w.writerow(BATCH_COLUMNS)
        write = w.writerow
        for row in rows:
            mid, phone, text = _row(row)
            write((mid, phone, neutralise(text)))
            count += 1
    return BatchFile(path, count, _sha256(path))


def write_batch_xlsx(rows: Iterable[Any], path: str | Path) -> BatchFile:
    """Write a batch as XLSX (XlsxWriter in constant-memory mode: rows go to
    disk as they come; about 2.4x faster than openpyxl's write-only mode here).
    Phone and text are written as string cells, so nothing in them is ever
    evaluated; the text carries no apostrophe prefix."""
    import xlsxwriter

    path = Path(path)
    wb = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    count = 0
    try:
        ws = wb.add_worksheet("batch")
        ws.write_row(0, 0, list(BATCH_COLUMNS))
        write_number, write_string = ws.write_number, ws.write_string
        for row in rows:
            mid, phone, text = _row(row)
            count += 1
            write_number(count, 0, mid)
            write_string(count, 1, phone)
            write_string(count, 2, xlsx_text(text))
    finally:
        wb.close()  # also on error: XlsxWriter's temp files go away
    return BatchFile(path, count, _sha256(path))


class ReportRow(NamedTuple):
    line: int  # CSV line (header = 1) or JSON list index + 1
    message_id: int
    status: str  # delivered | failed | not_our_subscriber
    at: datetime | None  # aware UTC
    reason: str | None


class PartnerReport(NamedTuple):
    rows: list[ReportRow]
    errors: list[dict[str, Any]]  # {"line", "value", "reason"} (Vietnamese)


class ReportFileError(ValueError):
    """The whole report file is unusable; ``message`` is Vietnamese."""

    def __init__(self, message: str, code: str = "validation_error"):
        super().__init__(message)
        self.message = message
        self.field = "file"
        self.code = code


def _status(value: Any) -> str | None:
    key = re.sub(r"[^a-z]", "", _plain(str(value or "")).lower())
    return _STATUS_ALIASES.get(key)


def _plain(s: str) -> str:
    from scheduler.sms.encoding import strip_diacritics

    return strip_diacritics(s)


def _when(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    s = str(value).strip().replace("Z", "+00:00")
    dt: datetime | None = None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"):
            try:
                dt = datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
    if dt is None:
        raise ValueError(s)
    if dt.tzinfo is None:  # a time without offset is Vietnam's civil time
        dt = dt.replace(tzinfo=_VN_TZ)
    return dt.astimezone(UTC)


def _parse_item(
    line: int, item: Mapping[str, Any], errors: list[dict[str, Any]], rows: list[ReportRow]
) -> None:
    def err(value: Any, reason: str) -> None:
        if len(errors) < MAX_REPORT_ERRORS:
            errors.append(
                {"line": line, "value": "" if value is None else str(value)[:200], "reason": reason}
            )

    raw_id = item.get("message_id")
    try:
        if isinstance(raw_id, bool) or raw_id in (None, ""):
            raise ValueError
        mid = int(str(raw_id).strip())
        if mid <= 0:
            raise ValueError
    except ValueError:
        return err(raw_id, "message_id phải là số nguyên dương.")
    status = _status(item.get("status"))
    if status is None:
        return err(item.get("status"), "status phải là delivered, failed hoặc not_our_subscriber.")
    try:
        at = _when(item.get("at"))
    except (ValueError, OverflowError, OSError):
        return err(item.get("at"), "Thời điểm 'at' không đúng định dạng ISO 8601.")
    reason = item.get("reason")
    reason = unicodedata.normalize("NFC", str(reason)).strip()[:500] if reason else None
    rows.append(ReportRow(line, mid, status, at, reason))


def parse_partner_report(
    stream: BinaryIO, filename: str = "", *, max_bytes: int = MAX_REPORT_BYTES
) -> PartnerReport:
    """Parse a partner's delivery report: a JSON list (or ``{"items": [...]}``)
    or a CSV with a header of ``message_id, status, at, reason``.

    Bad rows go to ``errors`` (line, value, reason); a file that is not a report
    at all raises ``ReportFileError``. Whether each message_id belongs to the
    batch is the caller's check.
    """
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ReportFileError(
            f"Tệp báo cáo quá lớn: giới hạn {max_bytes // (1024 * 1024)} MB.", code="too_large"
        )
    if not data.strip():
        raise ReportFileError("Tệp báo cáo trống.")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16").encode("utf-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ReportFileError("Tệp báo cáo phải là văn bản UTF-8 (JSON hoặc CSV).") from None
    if "\x00" in text:
        raise ReportFileError("Tệp báo cáo chứa dữ liệu nhị phân.")
    rows: list[ReportRow] = []
    errors: list[dict[str, Any]] = []
    stripped = text.lstrip()
    if filename.lower().endswith(".json") or stripped[:1] in "[{":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReportFileError(f"JSON không hợp lệ (dòng {exc.lineno}).") from None
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            doc = doc["items"]
        if not isinstance(doc, list):
            raise ReportFileError("Báo cáo JSON phải là một danh sách các đối tượng.")
        for i, item in enumerate(doc, start=1):
            if not isinstance(item, dict):
                errors.append(
                    {
                        "line": i,
                        "value": str(item)[:200],
                        "reason": "Mỗi phần tử phải là một đối tượng JSON.",
                    }
                )
                continue
            _parse_item(i, item, errors, rows)
        return PartnerReport(rows, errors)
    first = text.splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [re.sub(r"[^a-z_]", "", _plain(h).strip().lower()) for h in next(reader)]
    missing = [c for c in ("message_id", "status") if c not in header]
    if missing:
        raise ReportFileError(
            "Tệp CSV thiếu cột " + ", ".join(missing) + " (cần message_id, status, at, reason)."
        )
    line = 2
    for record in reader:
        if any(cell.strip() for cell in record):
            _parse_item(line, dict(zip(header, record, strict=False)), errors, rows)
        line = reader.line_num + 1
    return PartnerReport(rows, errors)
