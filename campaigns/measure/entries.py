"""What units enter: figures with evidence, task progress, report texts.

Scoping: a unit enters figures and progress only for itself (admin: any unit).
A unit outside the user's view answers "not found" (404), a visible unit that
is not the user's own answers "forbidden" (403).
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from datetime import date
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from flask import current_app, has_app_context
from sqlmodel import Session, select

from campaigns.measure.models import (
    EntryMode,
    KpiValue,
    OutsidePublication,
    PlanTarget,
    PlanTask,
    PublicationKind,
    ReportText,
    TargetKind,
    TaskProgress,
    TaskStatus,
)
from core.auth import visible_unit_ids
from core.models import OrgUnit, Role, User, audit
from core.timeutil import utcnow

NOTE_MAX = 2000
REPORT_SECTIONS = ("results", "highlights", "difficulties", "proposals", "direction", "number", "signer")
REPORT_TEXT_MAX = 20000

#: accepted evidence: extension -> (mime, check of the first bytes)
EVIDENCE_TYPES = {
    ".pdf": ("application/pdf", lambda b: b.startswith(b"%PDF-")),
    ".png": ("image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ".jpg": ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ".jpeg": ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ".webp": ("image/webp", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              lambda b: b.startswith(b"PK\x03\x04")),
}


class EntryError(ValueError):
    """Bad input: ``fields`` maps each field to a Vietnamese message; ``status`` the HTTP code."""

    def __init__(self, fields: dict[str, str] | None = None, status: int = 422, message: str | None = None):
        super().__init__(message or "Dữ liệu không hợp lệ.")
        self.fields = fields or {}
        self.status = status
        self.message = message or "Dữ liệu không hợp lệ."


def evidence_max_bytes() -> int:
    raw = None
    if has_app_context():
        raw = current_app.config.get("LANTOA_EVIDENCE_MAX_MB")
    raw = raw or os.environ.get("LANTOA_EVIDENCE_MAX_MB") or 10
    return int(float(raw) * 1024 * 1024)


def check_unit_access(session: Session, user: User, unit: OrgUnit | None) -> OrgUnit:
    """The unit the user may enter data for; raises EntryError 404/403."""
    if unit is None:
        raise EntryError({"unit": "Không tìm thấy đơn vị."}, status=404, message="Không tìm thấy.")
    if user.role == Role.admin:
        return unit
    visible = visible_unit_ids(session, user)
    if visible is not None and unit.id not in visible:
        raise EntryError({"unit": "Không tìm thấy đơn vị."}, status=404, message="Không tìm thấy.")
    if user.role == Role.telecom_partner or user.unit_id != unit.id:
        raise EntryError({"unit": "Bạn chỉ được nhập số liệu cho đơn vị của mình."}, status=403,
                         message="Bạn chỉ được nhập số liệu cho đơn vị của mình.")
    return unit


def _parse_value(raw, target: PlanTarget, errors: dict) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors["value"] = "Vui lòng nhập số liệu."
        return None
    if isinstance(raw, bool):
        errors["value"] = "Số liệu phải là một số."
        return None
    try:
        value = float(str(raw).strip().replace(",", ".").rstrip("%").strip())
    except ValueError:
        errors["value"] = f"'{str(raw)[:20]}' không phải là số."
        return None
    if value != value or value in (float("inf"), float("-inf")):
        errors["value"] = "Số liệu phải là một số hữu hạn."
        return None
    if target.unit == "%" and not 0 <= value <= 100:
        errors["value"] = "Tỷ lệ phần trăm phải trong khoảng 0–100."
        return None
    if value < 0:
        errors["value"] = "Số liệu không được âm."
        return None
    return value


def _parse_count(raw, field: str, errors: dict) -> int | None:
    """A whole count; "1.234" and "1 234" read as 1234 (Vietnamese digit grouping)."""
    text = str(raw if raw is not None else "").strip().replace(" ", "").replace(".", "").replace(",", "")
    if not text:
        errors[field] = "Vui lòng nhập số đếm."
        return None
    if not text.isdigit():
        errors[field] = f"'{str(raw)[:20]}' không phải là số nguyên không âm."
        return None
    value = int(text)
    if value > 10**12:
        errors[field] = "Số đếm quá lớn."
        return None
    return value


def _parse_counts(data: dict, errors: dict) -> tuple[int | None, int | None, float | None]:
    num = _parse_count(data.get("numerator"), "numerator", errors)
    den = _parse_count(data.get("denominator"), "denominator", errors)
    if den is not None and den == 0:
        errors["denominator"] = "Mẫu số phải lớn hơn 0."
        return num, None, None
    if num is not None and den is not None and num > den:
        errors["numerator"] = "Tử số không được lớn hơn mẫu số."
        return num, den, None
    if num is None or den is None:
        return num, den, None
    return num, den, round(100.0 * num / den, 2)


def _parse_day(raw, year: int, today: date, errors: dict) -> date | None:
    from core.timeutil import parse_local_date

    if isinstance(raw, date):
        day = raw
    else:
        try:
            day = parse_local_date(str(raw or ""))
        except ValueError:
            errors["as_of"] = "Ngày số liệu phải có dạng dd/mm/yyyy hoặc YYYY-MM-DD."
            return None
    if day > today:
        errors["as_of"] = "Ngày số liệu không được ở tương lai."
        return None
    if day.year != year:
        errors["as_of"] = f"Ngày số liệu phải thuộc năm {year}."
        return None
    return day


def check_evidence_file(filename: str, head: bytes, size: int) -> tuple[str, str]:
    """(extension, mime) of an acceptable evidence file, or raise EntryError on 'attachment'."""
    ext = Path(filename or "").suffix.lower()
    if ext not in EVIDENCE_TYPES:
        raise EntryError({"attachment": "Tệp minh chứng phải là PDF, ảnh (PNG, JPG, WEBP) hoặc DOCX."},
                         status=422)
    limit = evidence_max_bytes()
    if size > limit:
        raise EntryError({"attachment": f"Tệp minh chứng tối đa {limit // (1024 * 1024)} MB "
                                        f"(tệp này {size / 1024 / 1024:.1f} MB)."}, status=413)
    if size == 0:
        raise EntryError({"attachment": "Tệp minh chứng rỗng."})
    mime, check = EVIDENCE_TYPES[ext]
    if not check(head):
        raise EntryError({"attachment": f"Nội dung tệp không đúng định dạng {ext[1:].upper()}."})
    return ext, mime


def _store_file(stream: IO[bytes], filename: str) -> tuple[str, str, str]:
    data = stream.read(evidence_max_bytes() + 1)
    ext, mime = check_evidence_file(filename, data[:16], len(data))
    digest = hashlib.sha256(data).hexdigest()
    base = Path(current_app.config.get("LANTOA_MEDIA_DIR", "media")) / "evidence" / digest[:2]
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{digest}{ext}"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    safe = unicodedata.normalize("NFC", Path(filename).name)[:200]
    return str(path), safe, mime


def enter_figure(session: Session, user: User, target: PlanTarget, unit: OrgUnit, data: dict,
                 file: IO[bytes] | None = None, filename: str | None = None, *,
                 year: int, today: date) -> KpiValue:
    """Validate and store one figure; nothing is stored if anything is wrong."""
    check_unit_access(session, user, unit)
    if target.kind != TargetKind.entered:
        raise EntryError({"target": "Chỉ tiêu này do hệ thống tự tính từ hoạt động, không nhập tay."})
    errors: dict[str, str] = {}
    numerator = denominator = None
    if target.entry == EntryMode.counts:
        numerator, denominator, value = _parse_counts(data, errors)
    else:
        value = _parse_value(data.get("value"), target, errors)
    as_of = _parse_day(data.get("as_of") or today.isoformat(), year, today, errors)
    note = unicodedata.normalize("NFC", str(data.get("note") or "")).strip()
    if len(note) > NOTE_MAX:
        errors["note"] = f"Ghi chú tối đa {NOTE_MAX} ký tự."
    url = str(data.get("evidence_url") or "").strip() or None
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 500:
            errors["evidence_url"] = "Đường dẫn minh chứng phải bắt đầu bằng http:// hoặc https:// (tối đa 500 ký tự)."
    if file is None and not url and "evidence_url" not in errors:
        errors["evidence_url"] = "Vui lòng đính kèm tệp minh chứng hoặc nhập đường dẫn minh chứng."
    if errors:
        raise EntryError(errors)
    stored = (None, None, None)
    if file is not None:
        stored = _store_file(file, filename or "")
    kv = KpiValue(target_id=target.id, unit_id=unit.id, year=year, value=value, as_of=as_of, note=note,
                  numerator=numerator, denominator=denominator,
                  evidence_url=url, attachment_path=stored[0], attachment_name=stored[1],
                  attachment_mime=stored[2], entered_by=user.id, entered_at=utcnow())
    session.add(kv)
    session.flush()
    audit(session, user.id, "kpi.enter", "kpi_value", kv.id, target=target.code, unit=unit.code, value=value,
          numerator=numerator, denominator=denominator)
    return kv


def _check_url(url: str | None, field: str, errors: dict) -> None:
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 500:
            errors[field] = "Đường dẫn phải bắt đầu bằng http:// hoặc https:// (tối đa 500 ký tự)."


def record_outside(session: Session, user: User, unit: OrgUnit, data: dict, file: IO[bytes] | None = None,
                   filename: str | None = None, *, today: date) -> OutsidePublication:
    """Record something the unit published outside Lan Tỏa (a link or a file as evidence)."""
    check_unit_access(session, user, unit)
    errors: dict[str, str] = {}
    kind = str(data.get("kind") or "")
    if kind not in PublicationKind.__members__:
        errors["kind"] = "Chọn loại: cổng thông tin, báo chí, phát thanh/truyền hình, mạng xã hội hoặc khác."
    title = unicodedata.normalize("NFC", str(data.get("title") or "")).strip()
    if not title:
        errors["title"] = "Vui lòng nhập tiêu đề bài, tin hoặc buổi phát."
    elif len(title) > 300:
        errors["title"] = "Tiêu đề tối đa 300 ký tự."
    url = str(data.get("url") or "").strip() or None
    _check_url(url, "url", errors)
    if file is None and not url and "url" not in errors:
        errors["url"] = "Vui lòng nhập đường dẫn hoặc đính kèm tệp minh chứng."
    from core.timeutil import parse_local_date

    day = None
    try:
        day = parse_local_date(str(data.get("published_on") or today.isoformat()))
    except ValueError:
        errors["published_on"] = "Ngày đăng phải có dạng dd/mm/yyyy hoặc YYYY-MM-DD."
    if day is not None and day > today:
        errors["published_on"] = "Ngày đăng không được ở tương lai."
    campaign_id = data.get("campaign_id") or None
    if campaign_id is not None:
        from campaigns.models import Campaign

        try:
            campaign_id = int(campaign_id)
        except (TypeError, ValueError):
            campaign_id = None
        if campaign_id is None or not 1 <= campaign_id < 2**31 or session.get(Campaign, campaign_id) is None:
            errors["campaign_id"] = "Chiến dịch không có."
    if errors:
        raise EntryError(errors)
    stored = (None, None, None)
    if file is not None:
        stored = _store_file(file, filename or "")
    row = OutsidePublication(unit_id=unit.id, kind=kind, title=title, url=url, attachment_path=stored[0],
                             attachment_name=stored[1], attachment_mime=stored[2], published_on=day,
                             campaign_id=campaign_id, entered_by=user.id, entered_at=utcnow())
    session.add(row)
    session.flush()
    audit(session, user.id, "outside.record", "outside_publication", row.id, unit=unit.code, kind=kind)
    return row


def set_task_progress(session: Session, user: User, task: PlanTask, unit: OrgUnit, status: str,
                      note: str = "") -> TaskProgress:
    check_unit_access(session, user, unit)
    errors = {}
    if status not in (TaskStatus.not_started, TaskStatus.in_progress, TaskStatus.done):
        errors["status"] = "Trạng thái phải là: chưa bắt đầu, đang thực hiện hoặc hoàn thành."
    note = unicodedata.normalize("NFC", str(note or "")).strip()
    if len(note) > NOTE_MAX:
        errors["note"] = f"Ghi chú tối đa {NOTE_MAX} ký tự."
    if errors:
        raise EntryError(errors)
    row = session.exec(select(TaskProgress).where(TaskProgress.task_id == task.id,
                                                  TaskProgress.unit_id == unit.id)).first()
    row = row or TaskProgress(task_id=task.id, unit_id=unit.id)
    row.status, row.note, row.updated_by, row.updated_at = status, note, user.id, utcnow()
    session.add(row)
    session.flush()
    audit(session, user.id, "task.progress", "task", task.id, unit=unit.code, status=status)
    return row


def can_edit_consolidated(user: User, report_to_unit_id: int | None) -> bool:
    return user.role in (Role.admin, Role.reviewer) or (
        user.role == Role.communicator and report_to_unit_id is not None and user.unit_id == report_to_unit_id)


def report_texts(session: Session, year: int, unit_id: int | None) -> dict[str, str]:
    rows = session.exec(select(ReportText).where(ReportText.year == year, ReportText.unit_id == unit_id)).all()
    return {r.section: r.text for r in rows}


def save_report_texts(session: Session, user: User, year: int, unit_id: int | None, texts: dict) -> None:
    errors = {}
    clean = {}
    for key, value in texts.items():
        if key not in REPORT_SECTIONS:
            errors[key] = "Mục báo cáo không có."
            continue
        text = unicodedata.normalize("NFC", str(value or "")).strip()
        if len(text) > REPORT_TEXT_MAX:
            errors[key] = f"Tối đa {REPORT_TEXT_MAX} ký tự."
        clean[key] = text
    if errors:
        raise EntryError(errors)
    existing = {r.section: r for r in session.exec(
        select(ReportText).where(ReportText.year == year, ReportText.unit_id == unit_id)).all()}
    for key, text in clean.items():
        row = existing.get(key) or ReportText(year=year, unit_id=unit_id, section=key)
        row.text, row.updated_by, row.updated_at = text, user.id, utcnow()
        session.add(row)
    audit(session, user.id, "report.texts", "report", unit_id, year=year, sections=sorted(clean))
