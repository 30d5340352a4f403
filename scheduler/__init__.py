"""Deliveries: the state machine, the dispatcher, executors and the ticker jobs.

Knows no campaigns: what to send is frozen onto each Delivery. Higher layers
register background work by name (``register_job``) at start-up.
"""

from __future__ import annotations

from flask import Flask


def _move_channel_accounts(session, mapping: dict[int, int]) -> dict[str, int]:
    """A reorganisation took effect: the old units' channel accounts serve the successor."""
    from sqlmodel import col, select

    from scheduler.models import ChannelAccount

    accounts = session.exec(select(ChannelAccount).where(col(ChannelAccount.unit_id).in_(list(mapping)))).all()
    for account in accounts:
        account.unit_id = mapping[account.unit_id]
        session.add(account)
    return {"channel_accounts": len(accounts)}


def _end_old_units_broadcasts(session, mapping: dict[int, int]) -> dict[str, int]:
    """Recurring broadcasts of a unit that ended stop the day before it ended, and
    their waiting slots from that day are cancelled (the successor gets its own
    schedule, built for the units valid then); what was sent before stays."""
    from datetime import datetime, timedelta

    from sqlmodel import col, select

    from core.models import OrgUnit
    from core.timeutil import LOCAL_TZ
    from scheduler.models import Delivery, RecurringSchedule
    from scheduler.states import Status, transition

    ended = {u.id: u.valid_to for u in session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(list(mapping))))
             if u.valid_to is not None}
    rules = session.exec(select(RecurringSchedule).where(col(RecurringSchedule.unit_id).in_(list(ended)))).all()
    clipped = cancelled = 0
    for rule in rules:
        end = ended[rule.unit_id]
        last = (end - timedelta(days=1)).isoformat()
        if rule.ends_on > last:  # ISO dates compare as text; a rule wholly after the end expands nothing
            rule.ends_on = last
            session.add(rule)
            clipped += 1
        start = datetime.combine(end, datetime.min.time(), tzinfo=LOCAL_TZ)
        for d in session.exec(select(Delivery).where(Delivery.recurrence_id == rule.id,
                                                     Delivery.status == Status.scheduled,
                                                     col(Delivery.scheduled_at) >= start)).all():
            transition(d, Status.cancelled)
            d.last_error = "Đơn vị đã kết thúc do sắp xếp đơn vị hành chính."
            session.add(d)
            cancelled += 1
    return {"broadcast_rules_ended": clipped, "broadcasts_cancelled": cancelled} if rules else {}


def _apply_reorganisations(app: Flask, today) -> None:
    from core.db import session_scope
    from core.units import apply_due_reorganisations

    with session_scope(app) as session:
        apply_due_reorganisations(session, today)
        session.commit()


def init_app(app: Flask) -> None:
    from core.units import UNIT_MOVE_HOOKS
    from scheduler import cli
    from scheduler.jobs import register_daily

    cli.init_app(app)
    for hook in (_move_channel_accounts, _end_old_units_broadcasts):
        if hook not in UNIT_MOVE_HOOKS:
            UNIT_MOVE_HOOKS.append(hook)
    register_daily("units.reorganisations", _apply_reorganisations)
    from core import backup

    backup.register()  # the nightly backup job (core/backup.py)
