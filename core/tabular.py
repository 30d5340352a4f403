"""One rule for the cells and files the app serves as tables (CSV, XLSX, DOCX).

* **CSV** files start with a UTF-8 BOM and end their lines with CRLF, so Excel
  on Windows reads Vietnamese right. A cell that comes from a user and starts
  with ``=`` ``+`` ``-`` ``@``, tab or CR gets a leading apostrophe
  (:func:`csv_cell`), so no spreadsheet runs it as a formula. Validated columns
  (E.164 phones, ids, numbers we generate) are written as they are: a partner
  must get ``+849…`` exactly.
* **XLSX**: user text is always a plain string cell without any prefix
  (:func:`xlsx_text`; openpyxl: :func:`text_cell` / :func:`append_row`,
  XlsxWriter: ``write_string``); phone numbers are string cells too.
* **XLSX and DOCX**: C0/C1 control characters other than tab and newline are
  stripped (CR and CRLF become a newline): XML cannot hold them, and openpyxl or
  python-docx would raise on them (:func:`plain_text`).

Times in exports are Vietnam's civil time (Asia/Ho_Chi_Minh), ``dd/mm/yyyy HH:MM``
(:func:`local_datetime`, :func:`fmt_local`).

Nothing here imports Flask: ``scheduler/`` uses it too.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from core.timeutil import fmt_datetime, to_local

#: written once at the start of every CSV the app serves
BOM = "\ufeff"
BOM_BYTES = BOM.encode("utf-8")
#: the line ending of every CSV the app serves
CRLF = "\r\n"
#: first characters a spreadsheet may treat as the start of a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_NEWLINES = re.compile(r"\r\n?")
#: C0 and C1 controls except tab (\x09) and newline (\x0a); DEL too
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def csv_cell(value: Any) -> str:
    """A CSV cell from user text that no spreadsheet will run as a formula."""
    s = "" if value is None else str(value)
    return "'" + s if s[:1] in FORMULA_START else s


def plain_text(value: Any) -> str:
    """User text fit for an XML document (XLSX, DOCX): NFC, CR/CRLF as newline,
    no control characters except tab and newline."""
    s = "" if value is None else str(value)
    s = unicodedata.normalize("NFC", s)
    if "\r" in s:
        s = _NEWLINES.sub("\n", s)
    return _CONTROLS.sub("", s)


#: an XLSX cell holds user text as it is: never prefixed, only cleaned
xlsx_text = plain_text


def csv_writer(fh: IO[str], **kwargs: Any) -> Any:
    """A ``csv.writer`` with CRLF line endings (write :data:`BOM` first)."""
    return csv.writer(fh, lineterminator=CRLF, **kwargs)


def open_csv(path: Any, mode: str = "w") -> IO[str]:
    """A text file for a served CSV: ``utf-8-sig`` writes the BOM once."""
    return open(path, mode, encoding="utf-8-sig", newline="")  # noqa: SIM115 - caller closes


def csv_bytes(header: Iterable[Any], rows: Iterable[Iterable[Any]]) -> bytes:
    """A whole small CSV (BOM, CRLF) as bytes; cells are written as given:
    pass user text through :func:`csv_cell` first."""
    import io

    buf = io.StringIO(newline="")
    buf.write(BOM)
    w = csv_writer(buf)
    w.writerow(list(header))
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def text_cell(ws: Any, value: Any) -> Any:
    """An openpyxl cell holding ``value`` as a plain string (never a formula),
    for ``ws.append``; ``None`` stays an empty cell."""
    from openpyxl.cell.cell import Cell

    if value is None:
        return None
    cell = Cell(ws, value=xlsx_text(value))
    cell.data_type = "s"  # openpyxl makes any "=…" string a formula otherwise
    return cell


def append_row(ws: Any, values: Iterable[Any]) -> None:
    """``ws.append`` where every ``str`` is a plain string cell (see :func:`text_cell`);
    numbers, dates and ``None`` are appended as they are."""
    ws.append([text_cell(ws, v) if isinstance(v, str) else v for v in values])


def local_datetime(value: datetime | None) -> datetime | None:
    """A stored (UTC) time as a naive Vietnam-time datetime for a spreadsheet cell."""
    local = to_local(value)
    return local.replace(tzinfo=None) if local is not None else None


def fmt_local(value: datetime | None) -> str:
    """A stored (UTC) time as Vietnam time text, ``dd/mm/yyyy HH:MM``."""
    return fmt_datetime(value)


#: the number format for :func:`local_datetime` cells
XLSX_DATETIME_FORMAT = "DD/MM/YYYY HH:MM"
