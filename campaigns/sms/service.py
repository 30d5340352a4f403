"""The app side of SMS: importing recipient lists and opt-out lists, partner
scoping of batches, batch files, reports, message templates and the policy a
wave is sent under. Views (web and API) stay thin and call these.

The building blocks (streaming import, COPY loader, wave expansion, batch
files, DLR/report handling) live in ``scheduler.sms``; this module adds what
needs the app: users and roles, config, files under the instance folder.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import insert, text, update
from sqlmodel import Session, select

from core.models import OrgUnit, Role, User
from core.timeutil import utcnow
from scheduler.sms.importer import ImportError_, import_report_dict, read_recipients
from scheduler.sms.models import ListStatus, RecipientList, SmsBatch
from scheduler.sms.phones import CARRIER_CODES

#: Default upload limit for recipient and opt-out lists (bytes).
DEFAULT_MAX_UPLOAD = 200 * 1024 * 1024
#: How many rejected rows the import report shows (all are in rejected.csv).
REPORT_ERRORS = 20
PROVINCE_ROLES = (Role.admin, Role.communicator, Role.reviewer)


class SmsInputError(ValueError):
    """Bad input for an SMS operation. ``message`` is Vietnamese; ``fields``
    maps the request field to its problem; ``status`` is the HTTP status."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int = 422):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status


# -- config and files -------------------------------------------------------------------


def max_upload_bytes(app=None) -> int:
    """Upload limit for lists: ``LANTOA_SMS_MAX_UPLOAD_BYTES`` or
    ``LANTOA_SMS_MAX_UPLOAD_MB`` (config or environment); default 200 MB."""
    conf = (app or current_app).config
    for key, scale in (
        ("LANTOA_SMS_MAX_UPLOAD_BYTES", 1),
        ("LANTOA_SMS_MAX_UPLOAD_MB", 1024 * 1024),
    ):
        raw = conf.get(key) or os.environ.get(key)
        if raw not in (None, ""):
            try:
                value = int(float(raw) * scale)
            except (TypeError, ValueError):
                raise ValueError(f"{key}: giá trị '{raw}' không hợp lệ.") from None
            if value > 0:
                return value
    return DEFAULT_MAX_UPLOAD


def import_limits(app=None) -> dict[str, int]:
    """XLSX limits checked before parsing (``LANTOA_IMPORT_MAX_XLSX_UNCOMPRESSED_MB``,
    ``LANTOA_IMPORT_MAX_ROWS``), as keyword arguments of ``read_recipients``."""
    from scheduler.sms.importer import DEFAULT_MAX_ROWS, DEFAULT_MAX_XLSX_UNCOMPRESSED

    conf = (app or current_app).config
    out = {"max_xlsx_uncompressed": DEFAULT_MAX_XLSX_UNCOMPRESSED, "max_rows": DEFAULT_MAX_ROWS}
    for key, arg, scale in (("LANTOA_IMPORT_MAX_XLSX_UNCOMPRESSED_MB", "max_xlsx_uncompressed", 1 << 20),
                            ("LANTOA_IMPORT_MAX_ROWS", "max_rows", 1)):
        raw = conf.get(key) or os.environ.get(key)
        if raw not in (None, ""):
            try:
                value = int(float(raw) * scale)
            except (TypeError, ValueError):
                raise ValueError(f"{key}: giá trị '{raw}' không hợp lệ.") from None
            if value > 0:
                out[arg] = value
    return out


def human_size(n: int) -> str:
    """'2 GB', '200 MB', '64 KB' (Vietnamese UI uses the same units)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            value = n / size
            return (
                f"{value:.0f} {unit}"
                if value >= 10 or value.is_integer()
                else f"{value:.1f} {unit}"
            )
    return f"{n} byte"


def too_large_message(limit: int) -> str:
    return (
        f"Tệp quá lớn: giới hạn là {human_size(limit)}. Hãy chia danh sách thành nhiều tệp "
        "nhỏ hơn rồi tải lên lần lượt."
    )


def refusal_keywords(app=None) -> tuple[str, ...]:
    """``LANTOA_SMS_REFUSAL_KEYWORDS`` (comma-separated) or the defaults."""
    from scheduler.sms.compliance import DEFAULT_REFUSAL_KEYWORDS

    raw = (app or current_app).config.get("LANTOA_SMS_REFUSAL_KEYWORDS") or os.environ.get(
        "LANTOA_SMS_REFUSAL_KEYWORDS"
    )
    if not raw:
        return DEFAULT_REFUSAL_KEYWORDS
    words = tuple(w.strip() for w in str(raw).split(",") if w.strip())
    return words or DEFAULT_REFUSAL_KEYWORDS


def sms_dir(app=None) -> Path:
    path = Path((app or current_app).instance_path) / "sms"
    path.mkdir(parents=True, exist_ok=True)
    return path


def rejects_path(list_id: int, app=None) -> Path:
    folder = sms_dir(app) / "rejects"
    folder.mkdir(exist_ok=True)
    return folder / f"list-{int(list_id)}.csv"


REJECTS_HEADER = ("line", "value", "reason")


def rejects_file(list_id: int) -> IO[bytes]:
    """The rejected rows of a list as a served CSV (BOM, CRLF; cells neutralised
    when written). A list without the file gives just the header; a file
    written before the BOM rule gets it prepended."""
    import io

    from core.tabular import BOM_BYTES, csv_bytes

    path = rejects_path(list_id)
    if not path.exists():
        return io.BytesIO(csv_bytes(REJECTS_HEADER, []))
    fh = open(path, "rb")  # noqa: SIM115 - handed to send_file, closed by it
    if fh.read(len(BOM_BYTES)) == BOM_BYTES:
        fh.seek(0)
        return fh
    with fh:
        fh.seek(0)
        return io.BytesIO(BOM_BYTES + fh.read())


# -- recipient lists --------------------------------------------------------------------


def _clean_name(name: str | None, filename: str) -> str:
    value = unicodedata.normalize("NFC", (name or "").strip())
    if not value:
        value = unicodedata.normalize("NFC", Path(filename or "danh-sach").stem or "danh-sach")
    return value[:200]


def import_recipient_list(
    session: Session,
    stream: IO[bytes],
    filename: str,
    user: User,
    *,
    name: str | None = None,
    phone_column: str | None = None,
    name_column: str | None = None,
    consent_source: str | None = None,
    max_bytes: int | None = None,
) -> tuple[RecipientList, dict[str, Any]]:
    """Import one upload into a new list in one transaction; returns the list
    and the API report ``{"id", "rows", ...}``.

    A whole-file problem raises ``SmsInputError`` (413 for too large) and
    leaves the database as it was: the list row, its recipients and its
    rejected-rows file are created together or not at all.
    """
    limit = max_bytes or max_upload_bytes()
    fields: dict[str, str] = {}
    if name is not None and len(name) > 200:
        fields["name"] = "Tên danh sách tối đa 200 ký tự."
    if consent_source is not None and len(consent_source) > 500:
        fields["consent_source"] = "Nguồn đồng ý tối đa 500 ký tự."
    for key, value in (("phone_column", phone_column), ("name_column", name_column)):
        if value is not None and len(value) > 200:
            fields[key] = "Tên cột tối đa 200 ký tự."
    if fields:
        raise SmsInputError("Dữ liệu không hợp lệ.", fields)
    from core.db import get_engine
    from scheduler.sms.importer import copy_recipients

    folder = sms_dir() / "rejects"
    folder.mkdir(exist_ok=True)
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below
        "w", encoding="utf-8-sig", newline="", dir=folder, suffix=".part", delete=False
    )  # a served CSV: the BOM first (core/tabular.py); the reader writes CRLF rows
    engine = get_engine()
    try:
        try:
            reader = read_recipients(
                stream,
                filename,
                phone_column=phone_column,
                name_column=name_column,
                max_bytes=limit,
                rejects=tmp,
                **import_limits(),
            )
            with engine.begin() as conn:
                list_id = conn.execute(
                    insert(RecipientList.__table__)
                    .values(
                        name=_clean_name(name, filename),
                        unit_code=_unit_code(session, user),
                        consent_source=unicodedata.normalize("NFC", consent_source.strip())
                        if consent_source and consent_source.strip()
                        else None,
                        created_at=utcnow(),
                        created_by=user.id,
                        by_carrier={},
                        errors_preview=[],
                        status=ListStatus.IMPORTING.value,
                    )
                    .returning(RecipientList.__table__.c.id)
                ).scalar_one()
                # a CSV upload goes to the importer's block path (whole blocks of the file as
                # COPY text, its parse errors are ImportError_ already); other files row by row
                copy_recipients(conn, list_id, reader if reader.can_copy_text() else _guarded(reader))
                report = reader.report
                conn.execute(
                    update(RecipientList.__table__)
                    .where(RecipientList.__table__.c.id == list_id)
                    .values(
                        rows=report.rows,
                        valid=report.valid,
                        invalid=report.invalid,
                        duplicates=report.duplicates,
                        converted=report.converted,
                        by_carrier=dict(report.by_carrier),
                        errors_preview=report.errors[:REPORT_ERRORS],
                        status=ListStatus.READY.value,
                    )
                )
                tmp.close()
                os.replace(tmp.name, rejects_path(list_id))
        except ImportError_ as exc:
            if exc.code == "too_large":
                raise SmsInputError(
                    too_large_message(limit), {exc.field: too_large_message(limit)}, status=413
                ) from None
            status = 413 if exc.code == "too_large_content" else 422
            raise SmsInputError(exc.message, {exc.field: exc.message}, status=status) from None
    finally:
        if not tmp.closed:
            tmp.close()
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
    rl = session.get(RecipientList, list_id)
    session.refresh(rl)
    out = {"id": list_id, **import_report_dict(report)}
    out["errors"] = out["errors"][:REPORT_ERRORS]
    out["by_carrier"] = {c: out["by_carrier"].get(c, 0) for c in CARRIER_CODES}
    return rl, out


def _guarded(reader) -> Iterator[Any]:
    """The reader's rows; a file that breaks part-way (a corrupt sheet inside
    an XLSX, say) becomes a clear whole-file error instead of a crash."""
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except ImportError_:
            raise
        except Exception as exc:  # noqa: BLE001 - any parser error is the file's
            raise ImportError_(
                f"Tệp bị hỏng sau {reader.report.rows} dòng dữ liệu, không đọc tiếp được "
                f"({type(exc).__name__}). Chưa có dòng nào được nhập; hãy lưu lại tệp rồi thử lại."
            ) from None
        yield row


def _unit_code(session: Session, user: User) -> str | None:
    if user.unit_id is None:
        return None
    unit = session.get(OrgUnit, user.unit_id)
    return unit.code if unit else None


def list_json(rl: RecipientList) -> dict[str, Any]:
    return {
        "id": rl.id,
        "name": rl.name,
        "status": rl.status,
        "unit": rl.unit_code,
        "consent_source": rl.consent_source,
        "created_at": rl.created_at.isoformat() if rl.created_at else None,
        "rows": rl.rows,
        "valid": rl.valid,
        "invalid": rl.invalid,
        "duplicates": rl.duplicates,
        "converted": rl.converted,
        "by_carrier": {c: (rl.by_carrier or {}).get(c, 0) for c in CARRIER_CODES},
        "errors": list(rl.errors_preview or []),
    }


def list_fields(session: Session, list_id: int) -> list[str]:
    """Names usable in a message template for this list (from its first rows)."""
    names = {"phone", "carrier", "name"}
    rows = session.execute(
        text("SELECT fields FROM recipient WHERE list_id = :l ORDER BY id LIMIT 20"), {"l": list_id}
    ).all()
    for (fields,) in rows:
        if isinstance(fields, str):
            import json

            fields = json.loads(fields or "{}")
        names.update((fields or {}).keys())
    return sorted(names)


def sample_recipient(session: Session, list_id: int) -> dict[str, Any] | None:
    row = session.execute(
        text(
            "SELECT phone, carrier, name, fields FROM recipient WHERE list_id = :l ORDER BY id LIMIT 1"
        ),
        {"l": list_id},
    ).first()
    if row is None:
        return None
    fields = row[3]
    if isinstance(fields, str):
        import json

        fields = json.loads(fields or "{}")
    values = dict(fields or {})
    values.update(phone=row[0], carrier=row[1], name=row[2] or "")
    return values


# -- opt-outs ---------------------------------------------------------------------------


OPT_OUT_SOURCES = ("import", "dnc", "manual")


def import_opt_outs(
    stream: IO[bytes] | None,
    filename: str,
    phones: list | None,
    source: str,
    note: str | None,
    *,
    phone_column: str | None = None,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """Add numbers to the opt-out list from a file (CSV/XLSX, phone column
    found by header) or a JSON list; returns {"added", "already", "invalid",
    "rows", "errors"}."""
    from core.db import get_engine
    from scheduler.sms.waves import add_opt_outs

    if source not in OPT_OUT_SOURCES:
        raise SmsInputError(
            "Nguồn không hợp lệ.", {"source": "Nguồn phải là import, dnc hoặc manual."}
        )
    if note is not None and len(note) > 500:
        raise SmsInputError("Ghi chú quá dài.", {"note": "Ghi chú tối đa 500 ký tự."})
    limit = max_bytes or max_upload_bytes()
    errors: list[dict[str, Any]] = []
    if stream is not None:
        try:
            reader = read_recipients(stream, filename, phone_column=phone_column, max_bytes=limit,
                                     **import_limits())
            numbers = (r.phone for r in _guarded(reader))
            with get_engine().begin() as conn:
                counts = add_opt_outs(conn, numbers, source, note)
        except ImportError_ as exc:
            if exc.code == "too_large":
                raise SmsInputError(
                    too_large_message(limit), {"file": too_large_message(limit)}, status=413
                ) from None
            status = 413 if exc.code == "too_large_content" else 422
            raise SmsInputError(exc.message, {exc.field: exc.message}, status=status) from None
        report = reader.report
        counts["invalid"] = report.invalid
        counts["rows"] = report.rows
        errors = report.errors[:REPORT_ERRORS]
    else:
        if (
            not isinstance(phones, list)
            or not phones
            or len(phones) > 100_000
            or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in phones)
        ):
            raise SmsInputError(
                "Cần tệp hoặc danh sách số điện thoại.",
                {"phones": "Cần danh sách (1 đến 100.000) số điện thoại dạng chuỗi."},
            )
        from scheduler.sms.phones import normalize_phone

        good = []
        for i, p in enumerate(phones, start=1):
            r = normalize_phone(p)
            if r.e164 is None:
                if len(errors) < REPORT_ERRORS:
                    errors.append({"line": i, "value": str(p)[:100], "reason": r.reason})
            else:
                good.append(r.e164)
        with get_engine().begin() as conn:
            counts = add_opt_outs(conn, good, source, note)
        counts["invalid"] = len(phones) - len(good)
        counts["rows"] = len(phones)
    counts["errors"] = errors
    return counts


# -- batches and partners ---------------------------------------------------------------


def partner_carrier(session: Session, user: User) -> str | None:
    """The carrier (telecom unit code) of a partner user; None for others."""
    if user.role != Role.telecom_partner:
        return None
    if user.unit_id is None:
        return ""
    unit = session.get(OrgUnit, user.unit_id)
    if unit is None or str(unit.kind) != "telecom":
        return ""
    return unit.code


def batch_query_for(session: Session, user: User):
    """Batches the user may see: a partner only its carrier's, province roles all."""
    query = select(SmsBatch)
    if user.role in PROVINCE_ROLES:
        return query
    carrier = partner_carrier(session, user)
    if carrier:
        return query.where(SmsBatch.carrier == carrier)
    return query.where(SmsBatch.id == -1)


def load_batch(session: Session, user: User, batch_id: int) -> SmsBatch | None:
    """The batch if the user may see it, else None (the caller answers 404)."""
    return session.exec(batch_query_for(session, user).where(SmsBatch.id == batch_id)).first()


def batch_json(b: SmsBatch) -> dict[str, Any]:
    def iso(v):
        return v.isoformat() if v else None

    return {
        "id": b.id,
        "delivery_id": b.delivery_id,
        "carrier": b.carrier,
        "status": b.status,
        "message_count": b.message_count,
        "created_at": iso(b.created_at),
        "downloaded_at": iso(b.downloaded_at),
        "acknowledged_at": iso(b.acknowledged_at),
        "reported_at": iso(b.reported_at),
        "file_sha256": b.file_sha256,
    }


@dataclass
class BatchDownload:
    fileobj: IO[bytes]
    filename: str
    mimetype: str
    rows: int
    sha256: str


def batch_download(session: Session, user: User, batch: SmsBatch, fmt: str) -> BatchDownload:
    """Write the batch file (formula-neutralised) to an unlinked temp file,
    mark the batch downloaded and log the download."""
    from core.db import get_engine
    from core.models import audit
    from scheduler.sms.waves import set_batch_status, write_batch_file

    if fmt not in ("csv", "xlsx"):
        raise SmsInputError(
            "Định dạng không hợp lệ.", {"format": "Định dạng phải là csv hoặc xlsx."}
        )
    folder = sms_dir() / "tmp"
    folder.mkdir(exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, suffix="." + fmt)
    os.close(fd)
    try:
        with get_engine().begin() as conn:
            info = write_batch_file(conn, batch.id, path, fmt)
            set_batch_status(conn, batch.id, "downloaded")
        fh = open(path, "rb")  # noqa: SIM115 - handed to send_file, closed by it
    finally:
        os.unlink(path)
    audit(
        session,
        user.id,
        "sms_batch.download",
        "sms_batch",
        batch.id,
        format=fmt,
        rows=info.rows,
        sha256=info.sha256,
        carrier=batch.carrier,
    )
    session.commit()
    mimetype = (
        "text/csv"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return BatchDownload(
        fh, f"lo-tin-{batch.id}-{batch.carrier}.{fmt}", mimetype, info.rows, info.sha256
    )


def acknowledge_batch(session: Session, user: User, batch: SmsBatch) -> SmsBatch:
    from core.db import get_engine
    from core.models import audit
    from scheduler.sms.waves import set_batch_status

    with get_engine().begin() as conn:
        ok = set_batch_status(conn, batch.id, "acknowledged")
    if not ok:
        raise SmsInputError(
            f"Lô tin đang ở trạng thái '{batch.status}', không thể xác nhận.", status=409
        )
    audit(session, user.id, "sms_batch.ack", "sms_batch", batch.id, carrier=batch.carrier)
    session.commit()
    session.refresh(batch)
    return batch


def apply_report(
    session: Session, user: User, batch: SmsBatch, stream: IO[bytes], filename: str = ""
) -> dict[str, Any]:
    """Parse and apply a partner's delivery report; bad rows are reported,
    good rows kept. Returns {"applied", "errors", "batch"}."""
    from core.db import get_engine
    from core.models import audit
    from scheduler.sms.batchfiles import ReportFileError, parse_partner_report
    from scheduler.sms.waves import apply_partner_report

    try:
        parsed = parse_partner_report(stream, filename)
    except ReportFileError as exc:
        raise SmsInputError(
            exc.message, {"file": exc.message}, status=413 if exc.code == "too_large" else 422
        ) from None
    with get_engine().begin() as conn:
        result = apply_partner_report(conn, batch.id, parsed.rows)
    errors = sorted(parsed.errors + result["errors"], key=lambda e: e["line"])
    audit(
        session,
        user.id,
        "sms_batch.report",
        "sms_batch",
        batch.id,
        applied=result["applied"],
        errors=len(errors),
        carrier=batch.carrier,
    )
    session.commit()
    session.refresh(batch)
    return {
        "applied": result["applied"],
        "errors": errors[:100],
        "error_count": len(errors),
        "batch": batch_json(batch),
    }


def rebatch(session: Session, user: User, delivery_id: int, carrier: str) -> list[dict[str, Any]]:
    from core.db import get_engine
    from core.models import audit
    from scheduler.sms.waves import rebatch_not_our_subscriber

    if carrier not in CARRIER_CODES:
        raise SmsInputError(
            "Nhà mạng không hợp lệ.",
            {"carrier": "Nhà mạng phải là một trong: " + ", ".join(CARRIER_CODES) + "."},
        )
    with get_engine().begin() as conn:
        batches = rebatch_not_our_subscriber(conn, delivery_id, carrier)
    audit(
        session,
        user.id,
        "sms.rebatch",
        "delivery",
        delivery_id,
        carrier=carrier,
        batches=[b["id"] for b in batches],
    )
    session.commit()
    return batches


def wave_counts_for(delivery_id: int) -> dict[str, Any]:
    from core.db import get_engine
    from scheduler.sms.waves import wave_counts

    with get_engine().connect() as conn:
        counts = wave_counts(conn, delivery_id)
    batches = conn_batches(delivery_id)
    counts["batches"] = batches
    return counts


def conn_batches(delivery_id: int) -> list[dict[str, Any]]:
    from core.db import get_session

    rows = (
        get_session()
        .exec(select(SmsBatch).where(SmsBatch.delivery_id == delivery_id).order_by(SmsBatch.id))
        .all()
    )
    return [batch_json(b) for b in rows]
