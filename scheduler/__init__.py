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
    if _move_channel_accounts not in UNIT_MOVE_HOOKS:
        UNIT_MOVE_HOOKS.append(_move_channel_accounts)
    register_daily("units.reorganisations", _apply_reorganisations)
    from core import backup

    backup.register()  # the nightly backup job (core/backup.py)
