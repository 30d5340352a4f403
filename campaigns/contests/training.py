"""Training and conferences (plan IV.5a-b): events, registration, QR check-in with
a signed, expiring, single-use code, materials, the attendance list, and the counts
the measure part adds to T01 (officials) and T02 (system operators)."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from campaigns.contests.models import AUDIENCE_TARGETS, TrainingAttendee, TrainingEvent
from campaigns.contests.service import ContestError, normalise_phone
from core.models import OrgUnit
from core.timeutil import utcnow

SALT = "training-check-in"
#: seconds a ticket's QR code stays valid (the ticket page makes a new one on each load)
QR_MAX_AGE = 600


def _signer() -> TimestampSigner:
    return TimestampSigner(current_app.config["SECRET_KEY"], salt=SALT)


def register(session: Session, event: TrainingEvent, name: str, raw_phone: str, unit_id: int | None,
             now: datetime | None = None) -> TrainingAttendee:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ContestError(lazy_gettext("Nhập họ và tên (tối đa 120 ký tự)."))
    phone, _carrier = normalise_phone(raw_phone)
    unit = session.get(OrgUnit, unit_id) if unit_id else None
    if unit is None:
        raise ContestError(lazy_gettext("Chọn đơn vị công tác."))
    existing = session.exec(select(TrainingAttendee).where(
        TrainingAttendee.event_id == event.id, TrainingAttendee.phone == phone)).first()
    if existing is not None:
        return existing  # registering twice gives the same ticket
    row = TrainingAttendee(event_id=event.id, token=secrets.token_urlsafe(24), name=name, phone=phone,
                           unit_id=unit.id, registered_at=now or utcnow())
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ContestError(lazy_gettext("Số điện thoại này đã đăng ký."), 409) from None
    return row


def check_in_code(attendee: TrainingAttendee) -> str:
    """A signed code naming the attendee, valid ``QR_MAX_AGE`` seconds; a random
    part makes every code different."""
    return _signer().sign(f"{attendee.event_id}.{attendee.id}.{secrets.token_hex(4)}").decode()


def qr_max_age() -> int:
    """Seconds a check-in code stays valid (``LANTOA_TRAINING_QR_MAX_AGE``; the
    environment gives text)."""
    try:
        return max(1, int(current_app.config.get("LANTOA_TRAINING_QR_MAX_AGE") or QR_MAX_AGE))
    except (TypeError, ValueError):
        return QR_MAX_AGE


def check_in(session: Session, code: str, user_id: int | None, now: datetime | None = None,
             max_age: int | None = None) -> TrainingAttendee:
    """Mark attendance once. An expired, forged or replayed code is refused."""
    try:
        value = _signer().unsign(code, max_age=max_age if max_age is not None else qr_max_age()).decode()
        event_id, attendee_id, _nonce = (int(value.split(".")[0]), int(value.split(".")[1]), value.split(".")[2])
    except SignatureExpired:
        raise ContestError(lazy_gettext("Mã QR đã hết hạn. Người tham dự mở lại trang vé để có mã mới."), 410) from None
    except (BadSignature, ValueError, IndexError):
        raise ContestError(lazy_gettext("Mã QR không hợp lệ."), 400) from None
    row = session.get(TrainingAttendee, attendee_id)
    if row is None or row.event_id != event_id:
        raise ContestError(lazy_gettext("Mã QR không hợp lệ."), 400)
    if row.checked_in_at is not None:
        raise ContestError(lazy_gettext("Người này đã được điểm danh, mã không dùng lại được."), 409)
    # one statement: two scans of the same code at once cannot both mark it
    from sqlalchemy import update

    done = session.execute(update(TrainingAttendee).where(
        TrainingAttendee.id == row.id, TrainingAttendee.checked_in_at.is_(None))
        .values(checked_in_at=now or utcnow(), checked_in_by=user_id)).rowcount
    if not done:
        raise ContestError(lazy_gettext("Người này đã được điểm danh, mã không dùng lại được."), 409)
    session.flush()
    session.refresh(row)
    return row


def qr_svg(data: str) -> str:
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return img.to_string(encoding="unicode")


def attendance_rows(session: Session, start: datetime, end: datetime) -> list[tuple[int, str, datetime, int]]:
    """(attendee's unit, target code, checked_in_at, event id) of check-ins in [start, end)
    at events whose audience counts for a plan target."""
    rows = session.exec(select(TrainingAttendee.unit_id, TrainingEvent.audience, TrainingAttendee.checked_in_at,
                               TrainingEvent.id)
                        .join(TrainingEvent, TrainingEvent.id == TrainingAttendee.event_id)
                        .where(TrainingAttendee.checked_in_at >= start, TrainingAttendee.checked_in_at < end,
                               TrainingEvent.audience.in_(list(AUDIENCE_TARGETS)))).all()
    return [(u, AUDIENCE_TARGETS[a], at, e) for u, a, at, e in rows]


def attendance_csv(session: Session, event: TrainingEvent) -> bytes:
    from core.tabular import csv_bytes, fmt_local

    units = {u.id: u.name for u in session.exec(select(OrgUnit)).all()}
    rows = session.exec(select(TrainingAttendee).where(TrainingAttendee.event_id == event.id)
                        .order_by(TrainingAttendee.name)).all()
    return csv_bytes(["Họ tên", "Số điện thoại", "Đơn vị", "Đăng ký lúc", "Điểm danh lúc"],
                     [[r.name, "0" + r.phone[3:] if r.phone.startswith("+84") else r.phone, units.get(r.unit_id, ""),
                       fmt_local(r.registered_at), fmt_local(r.checked_in_at)] for r in rows])


def evidence_text(events: list[int]) -> str:
    """For the measure part: which attendance lists the T01/T02 figure counted."""
    if not events:
        return ""
    return "; danh sách điểm danh: " + ", ".join(f"/tap-huan/{e}/diem-danh.csv" for e in sorted(set(events)))


