"""Reminders from 1 December: what each unit still owes before the 15/12 deadline.

An in-app Notice (one per unit per day) and an e-mail to the unit's active
users. Mail goes through ``LANTOA_SMTP_URL`` (``smtp://user:pass@host:port``,
``smtps://`` for TLS); when unset it is written to the log. Run daily by the
scheduler job ``measure.reminders`` (enqueued once a day when a dashboard is
opened in the reminder period) or by cron: ``flask --app app report remind``.
"""

from __future__ import annotations

import logging
import os
import smtplib
from datetime import date
from email.message import EmailMessage
from urllib.parse import unquote, urlparse

from flask import Flask, current_app, has_app_context
from sqlmodel import Session, select

from campaigns.measure.compute import Owed, responsible_units, unit_owes
from campaigns.measure.models import Notice, Plan, PlanStatus
from core.models import User
from core.timeutil import utcnow

log = logging.getLogger(__name__)
JOB_NAME = "measure.reminders"


def in_reminder_period(plan: Plan, today: date) -> bool:
    return plan.remind_from <= today <= date(plan.year, 12, 31)


def reminder_text(owed: Owed, today: date) -> str:
    parts = []
    if owed.tasks:
        parts.append(f"{len(owed.tasks)} nhiệm vụ chưa hoàn thành")
    if owed.broadcasts:
        parts.append(f"{len(owed.broadcasts)} buổi phát thanh chưa xác nhận")
    if owed.kits:
        parts.append(f"{len(owed.kits)} bộ tài liệu chưa tải về")
    if owed.figures:
        parts.append(f"{len(owed.figures)} chỉ tiêu chưa nhập số liệu ({', '.join(t.code for t in owed.figures)})")
    days = (owed.plan.deadline - today).days
    when = (f"còn {days} ngày đến hạn {owed.plan.deadline.strftime('%d/%m/%Y')}" if days >= 0
            else f"đã quá hạn {owed.plan.deadline.strftime('%d/%m/%Y')}")
    return f"Nhắc việc năm {owed.plan.year} ({when}): {owed.unit.name} còn " + "; ".join(parts) + "."


def send_mail(to: list[str], subject: str, text: str) -> bool:
    url = current_app.config.get("LANTOA_SMTP_URL", "") if has_app_context() else ""
    if not url:
        log.info("mail (no LANTOA_SMTP_URL) to %s: %s — %s", ", ".join(to), subject, text[:300])
        return False
    parsed = urlparse(url)
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = (current_app.config.get("LANTOA_MAIL_FROM") or os.environ.get("LANTOA_MAIL_FROM")
                   or "lantoa@localhost")
    msg["To"] = ", ".join(to)
    msg.set_content(text)
    cls = smtplib.SMTP_SSL if parsed.scheme == "smtps" else smtplib.SMTP
    with cls(parsed.hostname or "localhost", parsed.port or (465 if parsed.scheme == "smtps" else 25),
             timeout=20) as smtp:
        if parsed.username:
            smtp.login(unquote(parsed.username), unquote(parsed.password or ""))
        smtp.send_message(msg)
    return True


def send_reminders(session: Session, plan: Plan, today: date, *, mail: bool = True) -> list[Notice]:
    """Create today's notices (idempotent per unit and day) and e-mail them."""
    if not in_reminder_period(plan, today) or plan.status != PlanStatus.published:
        return []
    out = []
    for unit in responsible_units(session, plan):
        key = f"{plan.key}:{unit.code}:{today.isoformat()}"
        if session.exec(select(Notice.id).where(Notice.dedupe_key == key)).first() is not None:
            continue
        owed = unit_owes(session, plan, unit, today=today)
        if not owed.count:
            continue
        text = reminder_text(owed, today)
        users = session.exec(select(User).where(User.unit_id == unit.id, User.active == True)).all()  # noqa: E712
        emails = [u.email for u in users]
        notice = Notice(unit_id=unit.id, year=plan.year, message=text, dedupe_key=key, emailed_to=emails,
                        created_at=utcnow())
        session.add(notice)
        session.flush()
        if mail and emails:
            try:
                send_mail(emails, f"[Lan Tỏa] Nhắc việc báo cáo năm {plan.year}", text)
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("reminder mail to %s failed: %s", unit.code, exc)
        out.append(notice)
    return out


def _job(app: Flask, payload: dict, progress) -> dict:
    from core.db import session_scope

    today = date.fromisoformat(payload["day"])
    with app.app_context(), session_scope(app) as session:
        from campaigns.measure.plans import plan_for_year

        plan = plan_for_year(session, int(payload["year"]))
        sent = send_reminders(session, plan, today) if plan else []
        return {"notices": len(sent)}


def register(app: Flask) -> None:
    try:
        from scheduler.jobs import register_job
    except ImportError:  # pragma: no cover - scheduler jobs absent
        return
    register_job(JOB_NAME, _job)
    from scheduler.jobs import register_daily

    register_daily("measure.daily", daily)


def enqueue_today(session: Session, plan: Plan, today: date) -> None:
    """Queue today's reminder run once (the scheduler runs it)."""
    if not in_reminder_period(plan, today):
        return
    try:
        from scheduler.jobs import enqueue_job
    except ImportError:  # pragma: no cover
        send_reminders(session, plan, today)
        return
    enqueue_job(session, JOB_NAME, {"year": plan.year, "day": today.isoformat()},
                dedupe_key=f"{JOB_NAME}:{plan.key}:{today.isoformat()}")


def daily(app: Flask, today: date) -> None:
    """Run from the scheduler's daily ticker: queue today's reminders (from
    1 December) and erase feedback personal data past its retention period."""
    from campaigns.measure import plans
    from campaigns.measure.feedback import purge_personal_data
    from core.db import session_scope

    with app.app_context(), session_scope(app) as session:
        plan = plans.plan_for_year(session, today.year)
        if plan is not None:
            enqueue_today(session, plan, today)
        purge_personal_data(session, today)
