"""Recipient list import: CSV (UTF-8, UTF-8 with BOM, UTF-16 as Excel writes
it; ``,`` ``;`` or tab) and XLSX (openpyxl, read-only), streamed row by row.

    reader = read_recipients(upload, "danh-sach.csv", rejects=rejects_file)
    copy_recipients(conn, list_id, reader)     # or: for row in reader: ...
    counts = import_report_dict(reader.report)

Whole-file problems (empty, binary, too large, no phone column) raise
``ImportError_`` with a Vietnamese ``.message`` and the ``field`` it concerns;
row problems go into the report (line, value, reason) and never stop the import.

Counting (DESIGN.md "Semantics"): rows = data rows (header excluded, fully
blank lines skipped) = valid + invalid + duplicates; converted numbers are
counted inside valid; a blank phone is invalid; ``line`` is the 1-based line
of the file (first data row = 2).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import operator
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _json_str  # C-accelerated
from typing import IO, Any, BinaryIO

from core.tabular import csv_cell, csv_writer
from scheduler.sms.phones import CARRIER_CODES, PhoneNormalizer, PhoneResult

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: How many rejected rows the report keeps (all of them go to ``rejects``).
MAX_ERRORS_KEPT = 100
#: Longest cell we keep (characters); longer values are cut.
MAX_CELL_CHARS = 1000
MAX_COLUMNS = 200
#: XLSX: the parts of the ZIP together, uncompressed (a 1 MB "bomb" can expand to
#: gigabytes), and rows of the sheet; checked before openpyxl parses anything.
#: The app passes LANTOA_IMPORT_MAX_XLSX_UNCOMPRESSED_MB / LANTOA_IMPORT_MAX_ROWS.
DEFAULT_MAX_XLSX_UNCOMPRESSED = 500 * 1024 * 1024
DEFAULT_MAX_ROWS = 2_000_000
_XLSX_MAX_PARTS = 10_000

_PHONE_HEADERS = {
    "sodienthoai",
    "sdt",
    "dienthoai",
    "sodt",
    "didong",
    "sodidong",
    "dtdd",
    "sdtdd",
    "phone",
    "phonenumber",
    "mobile",
    "mobilephone",
    "msisdn",
    "tel",
    "telephone",
    "cellphone",
    "sothuebao",
    "thuebao",
    "sodienthoaididong",
}
_NAME_HEADERS = {
    "hovaten",
    "hoten",
    "ten",
    "tennguoinhan",
    "hotennguoinhan",
    "name",
    "fullname",
    "khachhang",
    "tenkhachhang",
    "congdan",
    "hotencongdan",
}


class ImportError_(ValueError):  # noqa: N801 - name fixed by the API
    """A whole-file problem. ``message`` is Vietnamese, for the UI and API;
    ``field`` names the request field it concerns (``file``, ``phone_column``...);
    ``code`` is ``too_large`` for oversized files, else ``validation_error``."""

    def __init__(self, message: str, field: str = "file", code: str = "validation_error"):
        # code "too_large": over the upload limit (the caller words it);
        # "too_large_content": an XLSX that expands past its limit (``message`` says so)
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


@dataclass(slots=True)
class ImportRow:
    line: int
    phone: str  # E.164
    carrier: str
    name: str | None
    fields: dict[str, str]
    converted: bool = False


@dataclass
class ImportReport:
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    converted: int = 0
    by_carrier: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CARRIER_CODES, 0))
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: header text -> field key (slug) of the extra columns, for templates
    columns: dict[str, str] = field(default_factory=dict)
    phone_column: str | None = None
    name_column: str | None = None
    format: str = ""  # "csv" | "xlsx"
    encoding: str = ""
    delimiter: str = ""
    finished: bool = False

    def reject(self, line: int, value: str, reason: str) -> None:
        self.invalid += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append({"line": line, "value": value, "reason": reason})


def import_report_dict(report: ImportReport) -> dict[str, Any]:
    """The report as the API returns it (without ``id``)."""
    return {
        "rows": report.rows,
        "valid": report.valid,
        "invalid": report.invalid,
        "duplicates": report.duplicates,
        "converted": report.converted,
        "by_carrier": dict(report.by_carrier),
        "errors": list(report.errors),
    }


# -- header handling ----------------------------------------------------------


def header_key(text: Any) -> str:
    """Comparable form of a header: no diacritics, lower case, letters/digits only."""
    from scheduler.sms.encoding import strip_diacritics

    s = strip_diacritics(str(text or "")).lower()
    return re.sub(r"[^a-z0-9]+", "", s)


def field_slug(text: Any) -> str:
    """A template-friendly field name: "Xã/Phường" -> "xa_phuong"."""
    from scheduler.sms.encoding import strip_diacritics

    s = strip_diacritics(str(text or "")).lower()
    s = re.sub(r"[^a-z0-9]+", "_", s).strip("_")
    if not s:
        s = "cot"
    if s[0].isdigit():
        s = "cot_" + s
    return s


def _clean_cell(value: Any) -> str:
    if type(value) is str:  # the common case (every CSV cell): keep it cheap
        s = value.strip()
        if not s.isascii() and not unicodedata.is_normalized("NFC", s):
            s = unicodedata.normalize("NFC", s)
        return s if len(s) <= MAX_CELL_CHARS else s[:MAX_CELL_CHARS]
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    s = unicodedata.normalize("NFC", str(value)).strip()
    return s[:MAX_CELL_CHARS]


def _find_column(
    headers: list[str], wanted: str | None, known: set[str], what: str, field_name: str
) -> int | None:
    keys = [header_key(h) for h in headers]
    if wanted is not None:
        want = wanted.strip()
        for i, h in enumerate(headers):
            if h == want:
                return i
        wk = header_key(want)
        for i, k in enumerate(keys):
            if wk and k == wk:
                return i
        if want.isdigit() and 1 <= int(want) <= len(headers):  # 1-based column number
            return int(want) - 1
        raise ImportError_(
            f"Không có cột '{want}' trong tệp. Các cột có trong tệp: "
            + ", ".join(f"'{h}'" for h in headers if h)
            + ".",
            field=field_name,
        )
    for i, k in enumerate(keys):
        if k in known:
            return i
    return None


# -- streaming the bytes ------------------------------------------------------


class _LimitedReader(io.RawIOBase):
    """Reads from ``stream`` and fails with a clear message past ``limit`` bytes."""

    def __init__(self, stream: BinaryIO, limit: int):
        self._stream = stream
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        if not data:
            return 0
        n = len(data)
        self.count += n
        if self.count > self._limit:
            raise ImportError_(_too_large(self._limit), code="too_large")
        buffer[:n] = data
        return n


def _too_large(limit: int) -> str:
    return f"Tệp quá lớn: giới hạn là {limit // (1024 * 1024)} MB."


def _size(n: int) -> str:
    """'1,5 GB', '500 MB' (Vietnamese decimal comma)."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB".replace(".", ",")
    return f"{n / (1 << 20):,.0f} MB".replace(",", ".")


def _too_many_rows(limit: int) -> str:
    return (f"Trang tính có quá nhiều dòng: tối đa {limit:,} dòng. ".replace(",", ".")
            + "Hãy chia danh sách thành nhiều tệp nhỏ hơn.")


_ROW_TAGS = (b"<row ", b"<row>", b"<row/", b":row ", b":row>", b":row/")
_ROW_R = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr=\"(\d{1,12})\"")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\sref=\"[A-Z]{0,3}\d*:?[A-Z]{1,3}(\d{1,12})\"")


def _first_sheet_part(zf: Any) -> str | None:
    """The ZIP name of the workbook's first sheet (what openpyxl reads as worksheets[0])."""
    names = set(zf.namelist())
    if "xl/workbook.xml" not in names:
        return None
    with zf.open("xl/workbook.xml") as fh:
        workbook = fh.read(1 << 20)
    m = re.search(rb"<(?:\w+:)?sheet\b[^>]*?\s(?:\w+:)?id=\"([^\"]+)\"", workbook)
    if not m or "xl/_rels/workbook.xml.rels" not in names:
        return None
    with zf.open("xl/_rels/workbook.xml.rels") as fh:
        rels = fh.read(1 << 20)
    for rel in re.finditer(rb"<(?:\w+:)?Relationship\b[^>]*>", rels):
        tag = rel.group(0)
        if re.search(rb"\sId=\"" + re.escape(m.group(1)) + rb"\"", tag):
            target = re.search(rb"\sTarget=\"([^\"]+)\"", tag)
            if target:
                path = target.group(1).decode("utf-8", "replace").lstrip("/")
                return path if path.startswith("xl/") else "xl/" + path
    return None


def check_xlsx(fh: BinaryIO, *, max_uncompressed: int = DEFAULT_MAX_XLSX_UNCOMPRESSED,
               max_rows: int = DEFAULT_MAX_ROWS) -> int:
    """Refuse an XLSX before parsing it: the uncompressed size of its parts (the
    ZIP directory; zipfile never inflates a part past its declared size) and the
    rows of its first sheet (the sheet's dimension, then a streamed count of
    ``<row`` elements and of the last row number; no XML is parsed). Returns the
    row count. Raises ``ImportError_`` (``too_large_content`` or validation)."""
    import zipfile

    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if len(infos) > _XLSX_MAX_PARTS:
            raise ImportError_("Tệp Excel có quá nhiều phần bên trong, không phải bảng tính thông thường.")
        total = sum(max(i.file_size, 0) for i in infos)
        if total > max_uncompressed:
            raise ImportError_(
                f"Tệp Excel khi giải nén quá lớn ({_size(total)}; tối đa {_size(max_uncompressed)}). "
                "Hãy lưu danh sách thành CSV (UTF-8) hoặc chia thành nhiều tệp.",
                code="too_large_content")
        sheet = _first_sheet_part(zf)
        if sheet is None or sheet not in zf.namelist():
            candidates = sorted(n for n in zf.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml"))
            sheet = candidates[0] if candidates else None
        if sheet is None:
            return 0
        count = last = 0
        carry = b""
        first = True
        with zf.open(sheet) as part:
            while True:
                chunk = part.read(1 << 20)
                if not chunk and not carry:
                    break
                buf = carry + chunk
                if chunk:  # keep the last (maybe cut) tag for the next round
                    cut = buf.rfind(b"<")
                    cut = cut if cut > 0 else len(buf)
                    buf, carry = buf[:cut], buf[cut:]
                    if len(carry) > 1 << 20:  # one tag longer than 1 MB: not a sheet we read
                        raise ImportError_("Tệp Excel có cấu trúc bất thường, không đọc được.")
                else:
                    carry = b""
                if first:
                    first = False
                    dim = _DIMENSION.search(buf, 0, 4096)
                    if dim and int(dim.group(1)) > max_rows:
                        raise ImportError_(_too_many_rows(max_rows))
                count += sum(buf.count(tag) for tag in _ROW_TAGS)
                tail = max(buf.rfind(b"<row "), buf.rfind(b":row "))
                if tail >= 0:
                    m = _ROW_R.match(buf, buf.rfind(b"<", 0, tail + 1))
                    if m:
                        last = max(last, int(m.group(1)))
                if max(count, last) > max_rows:
                    raise ImportError_(_too_many_rows(max_rows))
                if not chunk:
                    break
    return max(count, last)


def _stream_size(stream: BinaryIO) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size - stream.tell()
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        pass
    try:
        pos = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(pos)
        return end - pos
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return None


def _looks_binary(sample: bytes) -> bool:
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return controls > len(sample) // 100 + 1


# -- the reader ---------------------------------------------------------------


#: copy_text(): characters of the CSV read per block; how far a block may
#: grow while looking for a line break outside quotes (then one csv reader
#: takes the rest of the file)
_BLOCK = 1 << 18
_MAX_CARRY = 16 << 20


_CC_STRIP_FIRST = frozenset("1356789")  # as in phones.py: "84" + 9 digits read as +84


def _national(d: str) -> str | None:
    """The 9-digit national number of a phone without spaces, dots and dashes,
    for the spellings ``PhoneNormalizer`` computes itself (``0``, ``+84``,
    ``84`` or nothing + 9 digits), else None (old 11-digit numbers too: the
    general path converts them). The caller checks digits and prefix."""
    n = len(d)
    if n == 10:
        return d[1:] if d[0] == "0" else None
    if n == 12:
        return d[3:] if d[:3] == "+84" else None
    if n == 11:
        return d[2:] if d[:2] == "84" and d[2] in _CC_STRIP_FIRST else None
    if n == 9:
        return d if d[:2] != "84" else None
    return None


_no_tab = operator.methodcaller("replace", "\t", "")


class _CsvLineError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class RecipientReader:
    """Iterates the valid, de-duplicated recipients of one upload and builds
    ``report`` while doing so. Headers are read on construction, so column
    problems raise ``ImportError_`` before any row is consumed. Iterate once."""

    def __init__(
        self,
        stream: BinaryIO,
        filename: str,
        *,
        phone_column: str | None = None,
        name_column: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        rejects: IO[str] | None = None,
        normalizer: Callable[[Any], PhoneResult] | None = None,
        max_xlsx_uncompressed: int = DEFAULT_MAX_XLSX_UNCOMPRESSED,
        max_rows: int = DEFAULT_MAX_ROWS,
    ):
        self.filename = filename or ""
        self._max_xlsx_uncompressed = max_xlsx_uncompressed
        self._max_rows = max_rows
        self.report = ImportReport()
        self._normalize: Callable[[Any], PhoneResult] = normalizer or PhoneNormalizer()
        #: the same answer as a plain tuple, cheaper per row when available
        self._parts: Callable[[Any], tuple[Any, ...]] = getattr(
            self._normalize, "parts", self._normalize
        )
        # a served CSV (core/tabular.py): CRLF; the caller's file writes the BOM
        self._rejects = csv_writer(rejects) if rejects is not None else None
        if self._rejects is not None:
            self._rejects.writerow(["line", "value", "reason"])
        self._phone_column = phone_column
        self._name_column = name_column
        self._tmp: Any = None
        self._workbook: Any = None
        self._text: Any = None
        self._csv: Any = None
        self._started = False  # rows have been read (iterate once)
        size = _stream_size(stream)
        if size is not None and size > max_bytes:
            raise ImportError_(_too_large(max_bytes), code="too_large")
        raw = io.BufferedReader(_LimitedReader(stream, max_bytes), buffer_size=1 << 16)
        try:
            self._open(raw)
        except BaseException:
            self.close()
            raise

    def _open(self, raw: Any) -> None:
        head = raw.peek(8)[:8]
        if not head:
            raise ImportError_("Tệp trống: không có dữ liệu.")
        if head.startswith(b"PK\x03\x04"):
            self._rows = self._open_xlsx(raw)
        elif head.startswith(b"\xd0\xcf\x11\xe0"):
            raise ImportError_(
                "Tệp Excel dạng .xls cũ không được hỗ trợ: hãy lưu lại thành .xlsx hoặc CSV (UTF-8)."
            )
        elif self.filename.lower().endswith((".xlsx", ".xlsm")):
            raise ImportError_("Tệp .xlsx bị hỏng hoặc không phải tệp Excel.")
        else:
            self._rows = self._open_csv(raw)
        self._read_header()

    # -- opening --

    def _open_csv(self, raw: io.BufferedReader) -> Iterator[tuple[int, list[Any]]]:
        head = raw.peek(4)
        if head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        else:
            sample = raw.peek(1 << 16)[: 1 << 16]
            if _looks_binary(sample):
                raise ImportError_(
                    "Tệp không phải văn bản CSV hay Excel (.xlsx): có dữ liệu nhị phân."
                )
            try:
                sample.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.start < len(sample) - 4:  # not just a character cut at the end
                    raise ImportError_(
                        "Tệp CSV không ở bảng mã UTF-8: hãy lưu lại với bảng mã UTF-8 "
                        "(Excel: CSV UTF-8)."
                    ) from None
            encoding = "utf-8"
        text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
        first = text.readline()
        if "\x00" in first:
            raise ImportError_("Tệp không phải văn bản CSV hay Excel (.xlsx): có dữ liệu nhị phân.")
        delimiter = max((",", ";", "\t"), key=lambda d: first.count(d))
        if first.count(delimiter) == 0:
            delimiter = ","
        self.report.format = "csv"
        self.report.encoding = encoding
        self.report.delimiter = delimiter

        reader = csv.reader(itertools.chain((first,), text), delimiter=delimiter, strict=False)
        #: for copy_text(): the text stream and the csv reader (the header is
        #: read through the reader, which never reads past the record it returns)
        self._text, self._csv = text, reader

        def rows() -> Iterator[tuple[int, list[Any]]]:
            line = 1
            try:
                for record in reader:
                    yield line, record
                    line = reader.line_num + 1
            except csv.Error as exc:
                raise ImportError_(f"Tệp CSV lỗi ở dòng {reader.line_num}: {exc}.") from None

        return rows()

    def _open_xlsx(self, raw: io.BufferedReader) -> Iterator[tuple[int, list[Any]]]:
        import zipfile

        import openpyxl

        # openpyxl needs a seekable file: spool the upload to disk (still
        # counted against max_bytes), never into memory.
        self._tmp = tempfile.TemporaryFile()
        while True:
            chunk = raw.read(1 << 20)
            if not chunk:
                break
            self._tmp.write(chunk)
        self._tmp.seek(0)
        try:
            check_xlsx(self._tmp, max_uncompressed=self._max_xlsx_uncompressed, max_rows=self._max_rows)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
            if isinstance(exc, ImportError_):
                raise
            raise ImportError_(
                f"Tệp Excel bị hỏng hoặc không đọc được ({type(exc).__name__})."
            ) from None
        self._tmp.seek(0)
        try:
            wb = openpyxl.load_workbook(self._tmp, read_only=True, data_only=False)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise ImportError_(
                f"Tệp Excel bị hỏng hoặc không đọc được ({type(exc).__name__})."
            ) from None
        self._workbook = wb
        ws = wb.worksheets[0] if wb.worksheets else None
        if ws is None:
            raise ImportError_("Tệp Excel không có trang tính nào.")
        self.report.format = "xlsx"
        self.report.encoding = "xlsx"

        max_rows = self._max_rows

        def rows() -> Iterator[tuple[int, list[Any]]]:
            # read_only rows carry their own row number, so blank rows keep lines right
            for count, row in enumerate(ws.iter_rows(), 1):
                if count > max_rows:  # the check before parsing counted fewer: never past the limit
                    raise ImportError_(_too_many_rows(max_rows))
                cells = list(row)
                line = next((c.row for c in cells if getattr(c, "row", None)), None)
                yield (line or 0), [c.value for c in cells]

        return rows()

    def _read_header(self) -> None:
        for line, record in self._rows:  # noqa: B007 - line is used below
            header = [_clean_cell(v) for v in record]
            if any(header):
                break
        else:
            raise ImportError_("Tệp trống: không có dòng tiêu đề và dữ liệu.")
        while header and not header[-1]:
            header.pop()
        if len(header) > MAX_COLUMNS:
            raise ImportError_(f"Tệp có {len(header)} cột, tối đa {MAX_COLUMNS} cột.")
        self._header_line = line
        phone_idx = _find_column(
            header,
            _none_if_blank(self._phone_column),
            _PHONE_HEADERS,
            "số điện thoại",
            "phone_column",
        )
        if phone_idx is None:
            if self._normalize(header[0]).e164 is not None:
                raise ImportError_(
                    "Dòng đầu tiên phải là dòng tiêu đề (ví dụ: 'Số điện thoại', 'Họ và tên'), "
                    "nhưng đang là một số điện thoại.",
                    field="phone_column",
                )
            raise ImportError_(
                "Không tìm thấy cột số điện thoại (ví dụ 'Số điện thoại', 'SĐT', 'phone'). "
                "Các cột có trong tệp: "
                + ", ".join(f"'{h}'" for h in header if h)
                + ". Hãy chọn cột số điện thoại (phone_column).",
                field="phone_column",
            )
        name_idx = _find_column(
            header, _none_if_blank(self._name_column), _NAME_HEADERS, "họ tên", "name_column"
        )
        if name_idx == phone_idx:
            name_idx = None
        self._phone_idx = phone_idx
        self._name_idx = name_idx
        self._extra: list[tuple[int, str]] = []
        used: set[str] = set()
        for i, h in enumerate(header):
            if i in (phone_idx, name_idx) or not h:
                continue
            slug = base = field_slug(h)
            n = 2
            while slug in used:
                slug = f"{base}_{n}"
                n += 1
            used.add(slug)
            self._extra.append((i, slug))
            self.report.columns[h] = slug
        self.report.phone_column = header[phone_idx]
        self.report.name_column = header[name_idx] if name_idx is not None else None

    def __iter__(self) -> Iterator[ImportRow]:
        for t in self.tuples():
            yield ImportRow(*t)

    def tuples(self, *, fields_json: bool = False) -> Iterator[tuple[Any, ...]]:
        """The same rows as plain tuples (line, phone, carrier, name, fields,
        converted): the bulk loader's cheaper path. With ``fields_json`` the
        fields come as their JSON object text (what the COPY loader writes)."""
        self._started = True
        report = self.report
        normalize = self._parts
        # Numbers already taken: one bit per 9-digit national number (a
        # 125 MB anonymous mapping whose pages exist only once written, so
        # memory is bounded whatever the row count; a set of a million ints
        # took ~60 MB and grew with the list). Longer numbers (none valid
        # today) go to a set.
        seen = _NumberBitmap()
        phone_idx, name_idx, extra = self._phone_idx, self._name_idx, self._extra
        by_carrier = report.by_carrier
        rows = valid = duplicates = converted = 0
        clean = _clean_cell
        keyed = [(i, _json_str(slug) + ":") for i, slug in extra]  # for fields_json
        single = keyed[0] if len(keyed) == 1 else None
        try:
            for line, record in self._rows:
                if not any(record) and all(v is None or v == "" for v in record):
                    continue  # blank line: not a data row
                rows += 1
                n = len(record)
                raw = record[phone_idx] if phone_idx < n else None
                e164, carrier, was_old, reason = normalize(raw)
                if e164 is None:
                    self._reject(line, raw, reason)
                    continue
                if seen.test_and_set(int(e164[3:])):
                    duplicates += 1
                    continue
                valid += 1
                if was_old:
                    converted += 1
                carrier = carrier or "other"
                by_carrier[carrier] = by_carrier.get(carrier, 0) + 1
                name = (
                    (clean(record[name_idx]) or None)
                    if name_idx is not None and name_idx < n
                    else None
                )
                fields: dict[str, str] | str
                if not fields_json:
                    fields = {slug: clean(record[i]) for i, slug in extra if i < n}
                elif single is not None:  # the usual case: one extra column
                    fields = (
                        "{" + single[1] + _json_str(clean(record[single[0]])) + "}"
                        if single[0] < n
                        else "{}"
                    )
                else:
                    fields = (
                        "{"
                        + ",".join([key + _json_str(clean(record[i])) for i, key in keyed if i < n])
                        + "}"
                    )
                yield line, e164, carrier, name, fields, was_old
            report.finished = True
        finally:
            report.rows += rows
            report.valid += valid
            report.duplicates += duplicates
            report.converted += converted
            self.close()

    def _reject(self, line: int, raw: Any, reason: str | None) -> None:
        """A row whose phone is not valid: in the report and the rejected-rows file."""
        value = _clean_cell(raw)
        self.report.reject(line, value, reason or "")
        if self._rejects is not None:
            self._rejects.writerow([line, _neutralise(value), reason or ""])

    def can_copy_text(self) -> bool:
        """True when ``copy_text`` applies: a CSV upload, the stock normaliser,
        no row read yet."""
        return (
            self._csv is not None
            and type(self._normalize) is PhoneNormalizer
            and not self._started
        )

    def copy_text(self, prefix: str) -> Iterator[str]:
        """The valid, unique rows of a CSV upload as COPY text (``prefix`` +
        line, phone, carrier, name, fields as JSON), about ``_BLOCK``
        characters of input at a time: the same rows, report and rejected rows
        as ``tuples(fields_json=True)`` formatted by ``_copy_rows``.

        The file is read in blocks cut at a line break outside quotes. A block
        without quotes, backslashes, control characters other than CRLF/LF,
        over-long lines or text that NFC would change (nearly every block of a
        real list) is split with ``str.split`` and its common rows -- the phone
        ``0``/``+84``/``84``/nothing + 9 digits (spaces, dots, dashes
        removed) on a 4-digit prefix already seen valid -- take the prefix's
        verdict and skip the per-cell checks, which the block-level checks
        already answered; every other row (and every row of other blocks, read
        with the csv module) takes the general path. A block whose quotes are
        not those of well-formed CSV sends the rest of the file through one csv
        reader, as ``tuples`` reads it."""
        self._started = True
        report = self.report
        norm = self._normalize
        assert isinstance(norm, PhoneNormalizer)
        parts = norm.parts
        by_prefix = norm._by_prefix
        #: "0" + 4 digits -> carrier, for the valid prefixes seen so far
        zero: dict[str, str] = {}
        bits = _NumberBitmap()
        bitmap = bits._bits
        phone_idx, name_idx, extra = self._phone_idx, self._name_idx, self._extra
        delim = self.report.delimiter or ","
        need = max([phone_idx, -1 if name_idx is None else name_idx] + [i for i, _ in extra]) + 1
        keyed = [(i, _json_str(slug) + ":") for i, slug in extra]
        by_carrier = report.by_carrier
        clean = _clean_cell
        counts = [0, 0, 0, 0]  # rows, valid, duplicates, converted (general path)
        fast_valid = fast_dup = 0
        line = self._csv.line_num + 1  # the line of the next record

        def general(record: list[str], line: int) -> str | None:
            """One row the long way (what tuples() + _copy_rows do)."""
            if not any(record):
                return None  # blank line: not a data row
            counts[0] += 1
            n = len(record)
            raw = record[phone_idx] if phone_idx < n else None
            e164, carrier, was_old, reason = parts(raw)
            if e164 is None:
                self._reject(line, raw, reason)
                return None
            if len(e164) == 12:  # the prefix's verdict, for the plain path
                verdict = by_prefix.get(e164[3:7])
                if verdict is not None and verdict[1] is None:
                    zero["0" + e164[3:7]] = verdict[0] or "other"
            if bits.test_and_set(int(e164[3:])):
                counts[2] += 1
                return None
            counts[1] += 1
            if was_old:
                counts[3] += 1
            carrier = carrier or "other"
            by_carrier[carrier] = by_carrier.get(carrier, 0) + 1
            name = (clean(record[name_idx]) or None) if name_idx is not None and name_idx < n else None
            fields = "{" + ",".join([key + _json_str(clean(record[i])) for i, key in keyed if i < n]) + "}"
            return (
                f"{prefix}{line}\t{e164}\t{carrier}\t"
                f"{_copy_text(name) if name is not None else chr(92) + 'N'}\t"
                f"{_copy_text(fields)}\n"
            )

        single = keyed[0] if len(keyed) == 1 else None
        split = operator.methodcaller("split", delim)
        carrier_counts: dict[str, int] = {}
        rest_base: int | None = None
        try:
            for kind, block in self._csv_blocks():
                out: list[str] = []
                append = out.append
                if kind == "plain":
                    for record in map(split, block):
                        if len(record) >= need:
                            raw = record[phone_idx]
                            carrier = zero.get(raw[:5]) if len(raw) == 10 else None
                            if carrier is not None:  # "0" + 9 digits, the commonest
                                nat = raw[1:]
                            elif len(raw) <= 20:  # spaces, dots, dashes, +84/84, no 0, old
                                nat = _national(
                                    raw.replace(" ", "").replace(".", "").replace("-", "")
                                )
                                if nat is not None:
                                    carrier = zero.get("0" + nat[:4])
                            if carrier is not None and nat.isascii() and nat.isdigit():
                                key = int(nat)
                                i, bit = key >> 3, 1 << (key & 7)
                                b = bitmap[i]
                                if b & bit:
                                    fast_dup += 1
                                    line += 1
                                    continue
                                bitmap[i] = b | bit
                                fast_valid += 1
                                carrier_counts[carrier] = carrier_counts.get(carrier, 0) + 1
                                name = record[name_idx].strip() if name_idx is not None else ""
                                if single is not None:
                                    fields = "{" + single[1] + '"' + record[single[0]].strip() + '"}'
                                else:
                                    fields = (
                                        "{"
                                        + ",".join([k + '"' + record[j].strip() + '"' for j, k in keyed])
                                        + "}"
                                    )
                                append(
                                    f"{prefix}{line}\t+84{nat}\t{carrier}\t"
                                    f"{name or chr(92) + 'N'}\t{fields}\n"
                                )
                                line += 1
                                continue
                        row = general(record, line)
                        if row is not None:
                            append(row)
                        line += 1
                elif kind == "csv":  # read with the csv module, lines as it counts them
                    reader = csv.reader(io.StringIO(block, newline=""), delimiter=delim, strict=False)
                    base = line
                    start = base
                    try:
                        for record in reader:
                            row = general(record, start)
                            if row is not None:
                                append(row)
                            start = base + reader.line_num
                    except csv.Error as exc:
                        raise ImportError_(
                            f"Tệp CSV lỗi ở dòng {base - 1 + reader.line_num}: {exc}."
                        ) from None
                    line = base + reader.line_num
                else:  # "records": the rest of a file with odd quotes, one csv reader
                    if rest_base is None:
                        rest_base = line
                    for record, lines in block:
                        row = general(record, line)
                        if row is not None:
                            append(row)
                        line += lines
                if out:
                    yield "".join(out)
            report.finished = True
        except _CsvLineError as exc:
            raise ImportError_(
                f"Tệp CSV lỗi ở dòng {(rest_base or 1) - 1 + exc.line}: {exc.message}."
            ) from None
        finally:
            for carrier, n in carrier_counts.items():
                by_carrier[carrier] = by_carrier.get(carrier, 0) + n
            report.rows += counts[0] + fast_valid + fast_dup
            report.valid += counts[1] + fast_valid
            report.duplicates += counts[2] + fast_dup
            report.converted += counts[3]
            bits.close()
            self.close()

    def _csv_blocks(self) -> Iterator[tuple[str, Any]]:
        """("plain" | "csv", text) blocks of whole records from the text
        stream, after the header. A block is cut at the last line break with an
        even number of quotes before it (outside any quoted field, for
        well-formed CSV); a block with a quote that well-formed CSV cannot have
        (inside an unquoted field) ends the blocks: the rest of the file then
        comes as one "csv" block per line read by one csv reader, exactly as
        ``tuples`` would read it ("records" batches)."""
        text = self._text
        delim = re.escape(self.report.delimiter or ",")
        stray = re.compile(f'[^{delim}\n"]"(?=[^{delim}\r\n"])')
        tabs = self.report.delimiter == "\t"
        carry = ""
        while True:
            chunk = text.read(_BLOCK)
            buf = carry + chunk if carry else chunk
            if not chunk:
                if buf:
                    yield from self._classify(buf, stray, tabs)
                return
            cut = buf.rfind("\n") + 1
            quotes = buf.count('"', 0, cut)
            while cut and quotes % 2:  # back to a line break outside quotes
                prev = buf.rfind("\n", 0, cut - 1) + 1
                quotes -= buf.count('"', prev, cut)
                cut = prev
            if cut == 0:  # no complete record yet (a long line, a long quoted cell)
                if len(buf) > _MAX_CARRY:
                    yield from self._rest_as_csv(buf)
                    return
                carry = buf
                continue
            block, carry = buf[:cut], buf[cut:]
            if '"' in block and stray.search(block):
                yield from self._rest_as_csv(block + carry)
                return
            yield from self._classify(block, stray, tabs)

    def _rest_as_csv(self, pending: str) -> Iterator[tuple[str, Any]]:
        """Everything left (``pending`` + the stream) through one csv reader,
        as ("records", [(record, physical lines), ...]) batches; the first
        batch is empty (it marks where these lines start)."""
        if pending and pending[-1] != "\n":
            # complete the last line: the csv reader ends a record at the end
            # of each string it is given, newline or not
            pending += self._text.readline()
        reader = csv.reader(
            itertools.chain(io.StringIO(pending, newline=""), self._text),
            delimiter=self.report.delimiter or ",",
            strict=False,
        )
        yield "records", []
        batch: list[tuple[list[str], int]] = []
        start = 0
        try:
            for record in reader:
                batch.append((record, reader.line_num - start))
                start = reader.line_num
                if len(batch) >= 4096:
                    yield "records", batch
                    batch = []
        except csv.Error as exc:
            if batch:
                yield "records", batch
            raise _CsvLineError(reader.line_num, str(exc)) from None
        if batch:
            yield "records", batch

    def _classify(self, block: str, stray: Any, tabs: bool) -> Iterator[tuple[str, Any]]:
        """One block as ("plain", its lines) or ("csv", its text); a last
        block whose quotes are not well-formed goes to ``_rest_as_csv``."""
        if '"' in block and stray.search(block):
            yield from self._rest_as_csv(block)
            return
        plain = block.replace("\r\n", "\n") if "\r" in block else block
        if (
            '"' in plain
            or "\\" in plain
            or (not plain.isascii() and not unicodedata.is_normalized("NFC", plain))
        ):
            yield "csv", block
            return
        lines = plain.split("\n")
        if plain.endswith("\n"):
            lines.pop()
        if lines and (
            # control characters, a CR outside CRLF, tabs (unless the delimiter)
            not all(map(str.isprintable, map(_no_tab, lines) if tabs else lines))
            or max(map(len, lines)) > MAX_CELL_CHARS
        ):
            yield "csv", block
            return
        yield "plain", lines

    def close(self) -> None:
        if self._workbook is not None:
            try:
                self._workbook.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real error
                pass
            self._workbook = None
        if self._tmp is not None:
            self._tmp.close()
            self._tmp = None


class _NumberBitmap:
    """Set of non-negative ints, one bit each below 10**9 (national numbers
    of 9 digits), in an anonymous mmap: untouched pages cost no memory."""

    __slots__ = ("_bits", "_more")
    LIMIT = 10**9

    def __init__(self) -> None:
        import mmap

        self._bits = mmap.mmap(-1, self.LIMIT // 8)
        self._more: set[int] = set()

    def test_and_set(self, key: int) -> bool:
        """True if ``key`` was already there; adds it."""
        if key < self.LIMIT:
            i, bit = key >> 3, 1 << (key & 7)
            b = self._bits[i]
            if b & bit:
                return True
            self._bits[i] = b | bit
            return False
        if key in self._more:
            return True
        self._more.add(key)
        return False

    def close(self) -> None:
        self._bits.close()


#: spreadsheet formula injection guard for exported cells (the one rule of core/tabular.py)
_neutralise = csv_cell


def read_recipients(
    stream: BinaryIO,
    filename: str,
    *,
    phone_column: str | None = None,
    name_column: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    rejects: IO[str] | None = None,
    max_xlsx_uncompressed: int = DEFAULT_MAX_XLSX_UNCOMPRESSED,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> RecipientReader:
    """Open an upload and return an iterator of valid, unique ``ImportRow``s;
    ``.report`` fills in while iterating. ``rejects`` (a text stream) receives
    every rejected row as CSV (line, value, reason) for the downloadable file."""
    return RecipientReader(
        stream,
        filename,
        phone_column=phone_column,
        name_column=name_column,
        max_bytes=max_bytes,
        rejects=rejects,
        max_xlsx_uncompressed=max_xlsx_uncompressed,
        max_rows=max_rows,
    )


def _as_tuples(rows: Any, *, fields_json: bool = False) -> Iterator[tuple[Any, ...]]:
    if isinstance(rows, RecipientReader):
        yield from rows.tuples(fields_json=fields_json)
        return
    for r in rows:
        yield (
            (r.line, r.phone, r.carrier, r.name, r.fields, r.converted)
            if isinstance(r, ImportRow)
            else tuple(r)
        )


def copy_recipients(conn: Any, list_id: int, rows: Iterable[ImportRow]) -> int:
    """Bulk-insert recipients into ``recipient``; returns how many.

    PostgreSQL (psycopg 3): ``COPY ... FROM STDIN`` in ~1 MB chunks (a CSV
    reader given itself takes the block path, ``copy_text``). Other
    databases: executemany in chunks. ``conn`` is a SQLAlchemy Connection; the
    caller owns the transaction.
    """
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return _copy_pg(conn, list_id, rows)
    from sqlalchemy import insert
    from sqlmodel import SQLModel

    from scheduler.sms.models import Recipient

    table = SQLModel.metadata.tables[Recipient.__tablename__]
    count = 0
    batch: list[dict[str, Any]] = []
    for line, phone, carrier, name, fields, _ in _as_tuples(rows):
        batch.append(
            {
                "list_id": list_id,
                "line": line,
                "phone": phone,
                "carrier": carrier,
                "name": name,
                "fields": fields,
            }
        )
        if len(batch) >= 5000:
            conn.execute(insert(table), batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)
        count += len(batch)
    return count


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def _json_object(fields: dict[str, str]) -> str:
    """JSON of a str -> str dict (what the importer produces), built directly."""
    return "{" + ",".join(f"{_json_str(k)}:{_json_str(v)}" for k, v in fields.items()) + "}"


#: 1 MB COPY chunks waiting for the sender thread, at most (psycopg's
#: QueuedLibpqWriter queues up to 1,024 x 128 kB: at 5 M rows on a loaded
#: machine that took the peak RSS from ~140 MB to 361 MB)
_COPY_QUEUE = 8


class _Sender:
    """Sends COPY chunks from a thread through a short queue: parsing goes on
    while PostgreSQL takes the previous chunks, and at most ``_COPY_QUEUE``
    chunks wait (memory bounded whatever the row count)."""

    def __init__(self, copy: Any) -> None:
        import queue
        import threading

        self._copy = copy
        self._queue: Any = queue.Queue(maxsize=_COPY_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._copy.write(data)
                except BaseException as exc:  # noqa: BLE001 - re-raised by close()
                    self._error = exc  # keep draining so put() never blocks

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def _copy_pg(conn: Any, list_id: int, rows: Iterable[ImportRow]) -> int:
    raw = conn.connection.driver_connection
    prefix = f"{int(list_id)}\t"
    count = 0
    with raw.cursor() as cur:
        with cur.copy(
            "COPY recipient (list_id, line, phone, carrier, name, fields) FROM STDIN"
        ) as pg_copy:
            copy = _Sender(pg_copy)
            try:
                count = _copy_rows(copy, prefix, rows)
            finally:
                copy.close()
    return count


def _copy_rows(copy: Any, prefix: str, rows: Iterable[ImportRow]) -> int:
    """Format the rows as COPY text (a CSV reader: ``copy_text``) and hand it
    over in ~1 MB chunks."""
    if isinstance(rows, RecipientReader) and rows.can_copy_text():
        before = rows.report.valid
        pending: list[bytes] = []
        size = 0
        for chunk in rows.copy_text(prefix):
            data = chunk.encode("utf-8")
            pending.append(data)
            size += len(data)
            if size > (1 << 20):  # ~1 MB writes, as the row path's
                copy.write(b"".join(pending))
                pending, size = [], 0
        if pending:
            copy.write(b"".join(pending))
        return rows.report.valid - before
    count = 0
    buf: list[str] = []
    size = 0
    for number, phone, carrier, name, fields, _ in _as_tuples(rows, fields_json=True):
        if type(fields) is not str:  # rows given as ImportRow / plain tuples
            fields = _json_object(fields) if fields else "{}"
        line = (
            f"{prefix}{number}\t{phone}\t{carrier}\t"
            f"{_copy_text(name) if name is not None else chr(92) + 'N'}\t"
            f"{_copy_text(fields)}\n"
        )
        buf.append(line)
        size += len(line)
        count += 1
        if size > (1 << 20):
            copy.write("".join(buf).encode("utf-8"))
            buf, size = [], 0
    if buf:
        copy.write("".join(buf).encode("utf-8"))
    return count


def _none_if_blank(value: str | None) -> str | None:
    return value if value and value.strip() else None
