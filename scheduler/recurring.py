"""Recurring schedules -> deliveries, over a rolling horizon.

A RecurringSchedule says "on these ISO weekdays at these local times
(Asia/Ho_Chi_Minh), between starts_on and ends_on". ``expand_recurring``
creates the deliveries falling in the next ``horizon`` (14 days by default)
through ``service.create_delivery``; a slot that already has its delivery
(same idempotency key) is skipped, so expanding twice changes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from flask import Flask
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from core.db import session_scope
from core.timeutil import LOCAL_TZ, utcnow
from scheduler.models import ChannelAccount, RecurringSchedule
from scheduler.service import DuplicateDelivery, create_delivery

log = logging.getLogger(__name__)

DEFAULT_HORIZON = timedelta(days=14)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class RecurrenceError(ValueError):
    """Invalid rule; ``fields`` maps field -> Vietnamese message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def validate_rule(weekdays, times, starts_on, ends_on) -> tuple[list[int], list[time], date, date]:
    errors: dict[str, str] = {}
    days: list[int] = []
    if not isinstance(weekdays, list | tuple) or not weekdays or not all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in weekdays
    ):
        errors["weekdays"] = "Ngày trong tuần phải là danh sách số từ 1 (thứ Hai) đến 7 (Chủ nhật)."
    else:
        days = sorted(set(weekdays))
    slots: list[time] = []
    if not isinstance(times, list | tuple) or not times:
        errors["times"] = "Cần ít nhất một giờ phát dạng HH:MM."
    else:
        for t in times:
            m = _HHMM.match(t) if isinstance(t, str) else None
            if not m:
                errors["times"] = f"Giờ '{t}' không đúng dạng HH:MM (ví dụ 06:00)."
                break
            slots.append(time(int(m.group(1)), int(m.group(2))))
    start = end = None
    try:
        start = date.fromisoformat(starts_on)
    except (TypeError, ValueError):
        errors["starts_on"] = "Ngày bắt đầu phải có dạng YYYY-MM-DD."
    try:
        end = date.fromisoformat(ends_on)
    except (TypeError, ValueError):
        errors["ends_on"] = "Ngày kết thúc phải có dạng YYYY-MM-DD."
    if start and end and end < start:
        errors["ends_on"] = "Ngày kết thúc phải sau hoặc trùng ngày bắt đầu."
    if errors:
        raise RecurrenceError(errors)
    assert start is not None and end is not None
    return days, sorted(set(slots)), start, end


def occurrences(rule: RecurringSchedule, after: datetime, until: datetime) -> list[datetime]:
    """UTC times of the rule's slots in (after, until]."""
    days, slots, start, end = validate_rule(rule.weekdays, rule.times, rule.starts_on, rule.ends_on)
    first = max(start, after.astimezone(LOCAL_TZ).date())
    last = min(end, until.astimezone(LOCAL_TZ).date())
    out: list[datetime] = []
    day = first
    while day <= last:
        if day.isoweekday() in days:
            for slot in slots:
                at = datetime.combine(day, slot, tzinfo=LOCAL_TZ)
                if after < at <= until:
                    out.append(at.astimezone(after.tzinfo))
        day += timedelta(days=1)
    return out


def expand_recurring(app: Flask, *, clock: Callable[[], datetime] | None = None,
                     horizon: timedelta = DEFAULT_HORIZON) -> dict[str, int]:
    """Create the deliveries of every rule up to now + horizon. Idempotent."""
    now = (clock or utcnow)()
    until = now + horizon
    counts = {"rules": 0, "created": 0, "skipped": 0, "invalid": 0}
    with session_scope(app) as session:
        rules = session.exec(select(RecurringSchedule)).all()
        for rule in rules:
            if rule.expanded_until is not None and rule.expanded_until >= until:
                continue
            counts["rules"] += 1
            account = session.get(ChannelAccount, rule.channel_account_id)
            try:
                after = max(now, rule.expanded_until) if rule.expanded_until else now
                slots = occurrences(rule, after, until)
            except RecurrenceError as exc:
                log.warning("recurring schedule %s is invalid: %s", rule.id, exc)
                counts["invalid"] += 1
                continue
            if account is None:
                counts["invalid"] += 1
                continue
            for at in slots:
                try:
                    with session.begin_nested():
                        create_delivery(
                            session, account=account, content=dict(rule.content), scheduled_at=at,
                            campaign_id=rule.campaign_id, held=rule.held, unit_id=rule.unit_id,
                            recurrence_id=rule.id,
                        )
                    counts["created"] += 1
                except (DuplicateDelivery, IntegrityError):
                    counts["skipped"] += 1
            rule.expanded_until = until
            session.add(rule)
    return counts
