"""The scheduler's daily ticker: measure's reminders are queued from 1 December, once a day."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from core.db import session_scope
from scheduler.jobs import run_daily
from scheduler.models import BackgroundJob


def _reminder_jobs(app) -> list:
    with app.app_context(), session_scope(app) as s:
        return s.exec(select(BackgroundJob).where(BackgroundJob.name == "measure.reminders")).all()


def test_daily_ticker_queues_reminders_once_from_december(app, runner):
    runner.invoke(args=["seed-demo"])
    with app.app_context(), session_scope(app) as s:
        from campaigns.measure import plans

        plans.ensure_default_plans(s)
    assert run_daily(app, datetime(2025, 11, 20, 3, tzinfo=UTC)) >= 1
    assert _reminder_jobs(app) == []  # before the reminder period
    run_daily(app, datetime(2025, 12, 2, 1, tzinfo=UTC))
    run_daily(app, datetime(2025, 12, 2, 9, tzinfo=UTC))  # same local day: no second job
    jobs = _reminder_jobs(app)
    assert len(jobs) == 1 and jobs[0].payload["day"] == "2025-12-02"
