"""Citizens' feedback (plan IV.3e, IV.6d): validation, routing, handling, retention.

Personal data (name, contact) is optional and kept only with consent, for the
purpose shown on the form, and erased after the retention period
(``LANTOA_FEEDBACK_RETENTION_DAYS``, default 365) per Decree 13/2023/NĐ-CP.
Comments are stored exactly as typed and escaped wherever they are shown.
"""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import date, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext
from sqlalchemy import func
from sqlmodel import Session, select

from campaigns.measure.models import Feedback, FeedbackStatus
from campaigns.models import Campaign
from core.models import OrgUnit, User, audit
from core.timeutil import utcnow

#: service key -> label (the public form's choices)
SERVICES = {
    "ho-tich": "Hộ tịch (khai sinh, khai tử, kết hôn...)",
    "cu-tru": "Cư trú (đăng ký thường trú, tạm trú)",
    "dat-dai": "Đất đai",
    "xay-dung": "Xây dựng (cấp phép xây dựng)",
    "dau-tu": "Đầu tư",
    "kinh-doanh": "Đăng ký kinh doanh, hộ kinh doanh",
    "bhxh-bhyt": "Bảo hiểm xã hội, bảo hiểm y tế",
    "giao-thong": "Giấy phép lái xe, đăng ký xe",
    "tu-phap": "Lý lịch tư pháp, chứng thực",
    "giao-duc": "Giáo dục (tuyển sinh, văn bằng)",
    "khac": "Dịch vụ khác",
}

#: shown only on web pages (translated when rendered)
SATISFACTION_LABELS = {
    1: lazy_gettext("Rất không hài lòng"),
    2: lazy_gettext("Không hài lòng"),
    3: lazy_gettext("Bình thường"),
    4: lazy_gettext("Hài lòng"),
    5: lazy_gettext("Rất hài lòng"),
}

COMMENT_MAX = 2000
NAME_MAX = 120
CONTACT_MAX = 160
NOTE_MAX = 4000


def N_(message: str) -> str:
    """Mark a message for extraction (``pybabel`` knows ``N_``); it is translated when shown."""
    return message


PURPOSE = N_("Thông tin cá nhân (không bắt buộc) chỉ dùng để cơ quan phản hồi ý kiến của bạn, không dùng "
             "cho mục đích khác, và được xóa sau %(days)d ngày theo Nghị định 13/2023/NĐ-CP về bảo vệ dữ "
             "liệu cá nhân.")

_CONTACT_RE = re.compile(r"^(?:[^@\s]+@[^@\s]+\.[^@\s]+|\+?[0-9 .\-]{8,15})$")


class FeedbackError(ValueError):
    """``fields``: field -> message, Vietnamese (the JSON API returns them); ``messages``:
    field -> (msgid, params), for pages that show them in the page's language
    (:func:`translated_errors`)."""

    def __init__(self, fields: dict[str, str], messages: dict[str, tuple[str, dict]] | None = None):
        super().__init__("Dữ liệu không hợp lệ.")
        self.fields = fields
        self.messages = messages or {k: (v, {}) for k, v in fields.items()}
        self.message = "Dữ liệu không hợp lệ."


class _Errors(dict):
    """field -> (msgid, params) while validating; ``raise_if_any`` formats the Vietnamese."""

    def add(self, field: str, msgid: str, **params) -> None:
        self[field] = (msgid, params)

    def raise_if_any(self) -> None:
        if self:
            fields = {k: (msgid % params if params else msgid) for k, (msgid, params) in self.items()}
            raise FeedbackError(fields, dict(self))


def translated_errors(exc: FeedbackError) -> dict[str, str]:
    """The error messages in the current page's language (Vietnamese, English or Khmer)."""
    from flask_babel import gettext

    return {k: gettext(msgid, **params) for k, (msgid, params) in exc.messages.items()}


def retention_days() -> int:
    raw = None
    if has_app_context():
        raw = current_app.config.get("LANTOA_FEEDBACK_RETENTION_DAYS")
    raw = raw or os.environ.get("LANTOA_FEEDBACK_RETENTION_DAYS") or 365
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return 365


def purpose_text() -> str:
    """The purpose of the personal data, in the current page's language."""
    from flask_babel import gettext

    return gettext(PURPOSE, days=retention_days())


def _nfc(value) -> str:
    return unicodedata.normalize("NFC", str(value or "")).strip()


def clean_feedback(session: Session, data: dict) -> dict:
    """Validate a public form (dict of strings); return clean values or raise FeedbackError."""
    errors = _Errors()
    out: dict = {}
    service = _nfc(data.get("service"))
    if not service:
        errors.add("service", N_("Vui lòng chọn dịch vụ bạn đã sử dụng."))
    elif service not in SERVICES:
        errors.add("service", N_("Dịch vụ không có trong danh sách."))
    else:
        out["service"] = service
    raw = data.get("satisfaction")
    try:
        score = int(str(raw).strip())
    except (TypeError, ValueError):
        score = None
    if raw in (None, ""):
        errors.add("satisfaction", N_("Vui lòng chọn mức độ hài lòng (1 đến 5)."))
    elif score is None or not 1 <= score <= 5:
        errors.add("satisfaction", N_("Mức độ hài lòng phải là số từ 1 đến 5."))
    else:
        out["satisfaction"] = score
    comment = _nfc(data.get("comment"))
    if len(comment) > COMMENT_MAX:
        errors.add("comment", N_("Góp ý tối đa %(max)d ký tự (hiện có %(count)d)."), max=COMMENT_MAX,
                   count=len(comment))
    out["comment"] = comment
    name, contact = _nfc(data.get("name")), _nfc(data.get("contact"))
    if len(name) > NAME_MAX:
        errors.add("name", N_("Họ tên tối đa %(max)d ký tự."), max=NAME_MAX)
    if len(contact) > CONTACT_MAX:
        errors.add("contact", N_("Thông tin liên hệ tối đa %(max)d ký tự."), max=CONTACT_MAX)
    elif contact and not _CONTACT_RE.match(contact):
        errors.add("contact", N_("Liên hệ phải là số điện thoại hoặc địa chỉ email."))
    consent = str(data.get("consent", "")).lower() in ("1", "true", "on", "yes", "y")
    if (name or contact) and not consent:
        errors.add("consent", N_("Bạn cần đồng ý cho phép sử dụng thông tin cá nhân, hoặc để trống họ tên "
                                 "và liên hệ."))
    out.update(name=name or None, contact=contact or None, consent=consent and bool(name or contact))
    unit_code = _nfc(data.get("unit"))
    if unit_code:
        unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
        if unit is None or unit.kind == "telecom":
            errors.add("unit", N_("Không tìm thấy cơ quan, đơn vị đã chọn."))
        else:
            out["unit_id"] = unit.id
    campaign_raw = data.get("campaign")
    if campaign_raw not in (None, ""):
        from core.validate import bounded_int

        try:  # an id the column cannot hold is no campaign (never a database error)
            campaign = session.get(Campaign, bounded_int(campaign_raw, lo=1))
        except (TypeError, ValueError):
            campaign = None
        out["campaign_id"] = campaign.id if campaign else None
        if campaign and "unit_id" not in out and campaign.owner_unit_id:
            out["unit_id"] = campaign.owner_unit_id
    errors.raise_if_any()
    return out


def default_unit_id(session: Session) -> int | None:
    """Unrouted feedback goes to the unit that monitors the plan (report_to), else the province."""
    from campaigns.measure.models import Plan

    plan = session.exec(select(Plan).order_by(Plan.year.desc())).first()  # type: ignore[union-attr]
    code = plan.report_to if plan and plan.report_to else None
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).first() if code else None
    if unit is None:
        unit = session.exec(select(OrgUnit).where(OrgUnit.kind == "province")).first()
    return unit.id if unit else None


FORM_LANGUAGES = ("vi", "km", "en")


def submit_feedback(session: Session, data: dict, *, language: str = "vi") -> Feedback:
    """Store a citizen's feedback; ``language`` is the language the form was shown in."""
    clean = clean_feedback(session, data)
    clean["language"] = language if language in FORM_LANGUAGES else "vi"
    if not clean.get("unit_id"):
        clean["unit_id"] = default_unit_id(session)
    now = utcnow()
    fb = Feedback(created_at=now, **clean)
    if fb.consent:
        fb.personal_purge_after = now.date() + timedelta(days=retention_days())
    session.add(fb)
    session.flush()
    return fb


def handle_feedback(session: Session, fb: Feedback, user: User, status: str, note: str) -> Feedback:
    errors = {}
    if status not in FeedbackStatus.__members__:
        errors["status"] = "Trạng thái xử lý không hợp lệ."
    note = _nfc(note)
    if len(note) > NOTE_MAX:
        errors["note"] = f"Nội dung xử lý tối đa {NOTE_MAX} ký tự."
    if status == FeedbackStatus.handled and not note:
        errors["note"] = "Vui lòng ghi cách đã tiếp thu, xử lý ý kiến."
    if errors:
        raise FeedbackError(errors)
    fb.status = status
    fb.handling_note = note
    fb.handled_by = user.id
    fb.handled_at = utcnow() if status == FeedbackStatus.handled else None
    session.add(fb)
    audit(session, user.id, "feedback.handle", "feedback", fb.id, status=status)
    return fb


def purge_personal_data(session: Session, today: date | None = None) -> int:
    """Erase name and contact of feedback past its retention date; returns how many."""
    today = today or utcnow().date()
    rows = session.exec(select(Feedback).where(Feedback.personal_purge_after.is_not(None),  # type: ignore[union-attr]
                                               Feedback.personal_purge_after <= today)).all()
    for fb in rows:
        fb.name = fb.contact = None
        fb.personal_purge_after = None
        session.add(fb)
    if rows:
        audit(session, None, "feedback.purge_personal", "feedback", None, count=len(rows))
    return len(rows)


def public_summary(session: Session, year: int | None = None) -> dict:
    """Aggregates without personal data or comments: per service counts and satisfaction."""
    from campaigns.measure.compute import year_bounds

    query = select(Feedback.service, Feedback.satisfaction, Feedback.status, func.count(Feedback.id))
    if year:
        start, end = year_bounds(year)
        query = query.where(Feedback.created_at >= start, Feedback.created_at < end)  # type: ignore[operator]
    rows = session.exec(query.group_by(Feedback.service, Feedback.satisfaction, Feedback.status)).all()
    services: dict[str, dict] = {}
    total = satisfied = handled = 0
    score_sum = 0
    dist = {s: 0 for s in range(1, 6)}
    for service, score, status, n in rows:
        row = services.setdefault(service, {"service": service, "label": SERVICES.get(service, service),
                                            "count": 0, "satisfied": 0, "score_sum": 0})
        row["count"] += n
        row["score_sum"] += score * n
        if score >= 4:
            row["satisfied"] += n
            satisfied += n
        if status == FeedbackStatus.handled:
            handled += n
        total += n
        score_sum += score * n
        dist[score] = dist.get(score, 0) + n
    for row in services.values():
        row["satisfied_pct"] = round(100 * row["satisfied"] / row["count"], 1)
        row["average"] = round(row.pop("score_sum") / row["count"], 2)
    return {
        "total": total,
        "satisfied_pct": round(100 * satisfied / total, 1) if total else None,
        "handled_pct": round(100 * handled / total, 1) if total else None,
        "average": round(score_sum / total, 2) if total else None,
        "distribution": dist,
        "services": sorted(services.values(), key=lambda r: -r["count"]),
    }
