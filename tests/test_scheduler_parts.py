"""Retry policy, background jobs, recurring schedules, credential refresh and
the ticker process (APScheduler) of the scheduler."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from scheduler.jobs import JobError, JobRunner, enqueue_job, register_job
from scheduler.models import BackgroundJob, ChannelAccount, Delivery, RecurringSchedule
from scheduler.policy import PolicyError, RetryPolicy
from scheduler.recurring import RecurrenceError, expand_recurring, validate_rule
from scheduler.runner import SchedulerProcess, dispatch_due, run_forever
from tests.scheduler_helpers import (
    FrozenClock,
    make_accounts,
    start_receiver,
    status_counts,
    wait_until,
)

# -- retry policy --------------------------------------------------------------------------


def test_policy_from_config_is_frozen_and_validated():
    p = RetryPolicy.from_config({"LANTOA_RETRY_MAX_ATTEMPTS": "4", "LANTOA_RETRY_BASE_SECONDS": "2",
                                 "LANTOA_RETRY_MAX_SECONDS": "10", "LANTOA_RETRY_JITTER": "0.5"})
    assert (p.max_attempts, p.base, p.max, p.jitter) == (4, 2.0, 10.0, 0.5)
    with pytest.raises(AttributeError):
        p.base = 3  # type: ignore[misc]
    with pytest.raises(PolicyError) as exc:
        RetryPolicy.from_config({"LANTOA_RETRY_MAX_ATTEMPTS": "năm", "LANTOA_RETRY_JITTER": "x"})
    assert set(exc.value.fields) == {"LANTOA_RETRY_MAX_ATTEMPTS", "LANTOA_RETRY_JITTER"}
    with pytest.raises(PolicyError) as exc:
        RetryPolicy(max_attempts=0, base=-1, max=5, jitter=1.5)
    assert set(exc.value.fields) == {"LANTOA_RETRY_MAX_ATTEMPTS", "LANTOA_RETRY_BASE_SECONDS",
                                     "LANTOA_RETRY_JITTER"}
    assert "số nguyên" in exc.value.fields["LANTOA_RETRY_MAX_ATTEMPTS"]


def test_backoff_is_exponential_capped_jittered_and_honours_retry_after():
    p = RetryPolicy(max_attempts=10, base=1, max=16, jitter=0.25)
    rng = random.Random(7)
    for attempt, raw in [(1, 1), (2, 2), (3, 4), (5, 16), (9, 16)]:
        values = [p.backoff(attempt, rng=rng) for _ in range(200)]
        assert min(values) >= raw * 0.75 and max(values) <= raw * 1.25
        assert max(values) - min(values) > raw * 0.2  # really jittered
    assert p.backoff(1, retry_after=30, rng=rng) == 30  # longer Retry-After wins
    assert 0.75 <= p.backoff(1, retry_after=0.1, rng=rng) <= 1.25  # shorter one does not
    assert not p.exhausted(9) and p.exhausted(10) and p.exhausted(2, max_attempts=2)


# -- background jobs -----------------------------------------------------------------------


def test_jobs_run_in_the_dispatch_pass_with_progress_and_dedupe(app):
    seen = []

    def build_kit(app_, payload, progress):
        for i in range(1, 5):
            assert progress(i / 4, step=i)
            seen.append(i)
        return {"files": payload["n"] * 2}

    def broken(app_, payload, progress):
        raise OSError("disk full")

    register_job("test.build_kit", build_kit)
    register_job("test.broken", broken)
    with session_scope(app) as s:
        j1 = enqueue_job(s, "test.build_kit", {"n": 21}, dedupe_key="kit-1")
        j1_again = enqueue_job(s, "test.build_kit", {"n": 99}, dedupe_key="kit-1")
        assert j1_again.id == j1.id
        j2 = enqueue_job(s, "test.broken", {})
        j3 = enqueue_job(s, "test.not_registered", {})
        ids = (j1.id, j2.id, j3.id)
    stats = dispatch_due(app)
    assert stats["jobs_done"] == 1 and stats["jobs_failed"] == 2
    with session_scope(app) as s:
        a, b, c = (s.get(BackgroundJob, i) for i in ids)
        assert (a.status, a.progress, a.result) == ("done", 1.0, {"files": 42})
        assert b.status == "failed" and "disk full" in b.error
        assert c.status == "failed" and "test.not_registered" in c.error
    assert seen == [1, 2, 3, 4]


def test_progress_is_persisted_while_running(app):
    gate = threading.Event()
    reached = threading.Event()

    def slow(app_, payload, progress):
        progress(0.5, phase="render")
        reached.set()
        gate.wait(10)
        return {}

    register_job("test.slow", slow)
    with session_scope(app) as s:
        jid = enqueue_job(s, "test.slow", {}).id
    runner = JobRunner(app, lease=30)
    ((job_id, token),) = runner.claim(5)
    t = threading.Thread(target=runner.run, args=(job_id, token))
    t.start()
    assert reached.wait(10)
    with session_scope(app) as s:
        j = s.get(BackgroundJob, jid)
        assert (j.status, j.progress, j.result) == ("running", 0.5, {"progress_info": {"phase": "render"}})
    assert runner.claim(5) == []  # leased: not claimed twice
    gate.set()
    t.join()


def test_job_with_expired_lease_returns_to_pending(app):
    clock = FrozenClock(datetime.now(UTC))
    register_job("test.noop", lambda a, p, pr: {"ok": True})
    with session_scope(app) as s:
        jid = enqueue_job(s, "test.noop", {}).id
    runner = JobRunner(app, clock=clock, lease=10)
    ((_, token),) = runner.claim()
    clock.advance(11)
    assert runner.reap() == 1
    assert runner.run(jid, token) is None  # the dead worker's token no longer counts
    assert runner.run_due()["jobs_done"] == 1


def test_job_whose_worker_keeps_dying_is_failed_after_the_limit(app):
    """A job that kills its worker (lease expires every time) is retried up to
    MAX_JOB_ATTEMPTS times, then failed with a Vietnamese reason, not retried
    forever; other jobs go on."""
    from scheduler.jobs import MAX_JOB_ATTEMPTS

    clock = FrozenClock(datetime.now(UTC))
    register_job("test.noop", lambda a, p, pr: {"ok": True})
    with session_scope(app) as s:
        poison = enqueue_job(s, "test.noop", {"n": 1}).id
    runner = JobRunner(app, clock=clock, lease=10)
    for attempt in range(1, MAX_JOB_ATTEMPTS + 1):
        claimed = runner.claim()
        assert [j for j, _ in claimed] == [poison]
        with session_scope(app) as s:
            assert s.get(BackgroundJob, poison).attempts == attempt
        clock.advance(11)  # the worker died: its lease runs out
        runner.reap()
    with session_scope(app) as s:
        j = s.get(BackgroundJob, poison)
        assert (j.status, j.leased_by) == ("failed", None)
        assert str(MAX_JOB_ATTEMPTS) in j.error and "dừng" in j.error
        other = enqueue_job(s, "test.noop", {"n": 2}).id
    assert [j for j, _ in runner.claim()] == [other]  # the failed one is not taken again


def test_enqueue_rejects_bad_input_naming_the_field(app):
    with session_scope(app) as s:
        with pytest.raises(JobError) as exc:
            enqueue_job(s, "", {"x": object()})
    assert set(exc.value.fields) == {"name", "payload"}


# -- recurring schedules -------------------------------------------------------------------


def test_recurring_expands_mon_wed_fri_0600_idempotently(app):
    acct = make_accounts(app, "http://127.0.0.1:9/hook")[0]
    # Sunday 2026-10-04 12:00 local
    clock = FrozenClock(datetime(2026, 10, 4, 5, 0, tzinfo=UTC))
    with session_scope(app) as s:
        s.add(RecurringSchedule(channel_account_id=acct, content={"text": "Phát thanh DVCTT"},
                                weekdays=[1, 3, 5], times=["06:00"], starts_on="2026-10-01",
                                ends_on="2026-10-31", held=True))
    counts = expand_recurring(app, clock=clock, horizon=timedelta(days=14))
    assert counts["created"] == 6  # 5,7,9,12,14,16 October
    with session_scope(app) as s:
        rows = s.exec(select(Delivery).order_by(Delivery.scheduled_at)).all()
        assert [r.scheduled_at for r in rows][:2] == [datetime(2026, 10, 4, 23, 0, tzinfo=UTC),
                                                      datetime(2026, 10, 6, 23, 0, tzinfo=UTC)]
        assert all(r.held and r.recurrence_id for r in rows)
    assert expand_recurring(app, clock=clock)["created"] == 0  # nothing new
    clock.advance(7 * 86400)
    counts = expand_recurring(app, clock=clock, horizon=timedelta(days=14))
    assert counts["created"] == 3  # 19, 21, 23 October; the rest already exist
    clock.advance(7 * 86400)
    assert expand_recurring(app, clock=clock)["created"] == 3  # 26, 28, 30 October, then ends_on
    clock.advance(30 * 86400)
    assert expand_recurring(app, clock=clock)["created"] == 0
    with session_scope(app) as s:
        assert len(s.exec(select(Delivery)).all()) == 12


def test_recurring_rule_validation_names_fields():
    with pytest.raises(RecurrenceError) as exc:
        validate_rule([0, 8], ["6h"], "2026-13-01", "2026-10-01")
    assert set(exc.value.fields) == {"weekdays", "times", "starts_on"}
    with pytest.raises(RecurrenceError) as exc:
        validate_rule([1], ["06:00"], "2026-10-31", "2026-10-01")
    assert "ends_on" in exc.value.fields


# -- ticker process -------------------------------------------------------------------------


def test_ticker_jobs_are_fixed_ids_with_deliberate_settings(app):
    proc = SchedulerProcess(app)
    proc.start()
    try:
        jobs = {j.id: j for j in proc.scheduler.get_jobs()}
        assert set(jobs) == {"dispatch", "reap-leases", "refresh-credentials", "expand-recurring", "run-jobs", "daily"}
        for j in jobs.values():
            assert j.coalesce is True and j.max_instances == 1 and j.misfire_grace_time >= 5
        assert jobs["dispatch"].trigger.interval == timedelta(seconds=1)
        from apscheduler.jobstores.memory import MemoryJobStore

        assert isinstance(proc.scheduler._jobstores["default"], MemoryJobStore)
    finally:
        proc.stop()


def test_run_forever_sends_due_deliveries_and_stops_cleanly(app):
    receiver = start_receiver()
    try:
        accts = make_accounts(app, receiver.hook_url, 2)
        from tests.scheduler_helpers import bulk_deliveries

        bulk_deliveries(app, accts, 30, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
        stop = threading.Event()
        t = threading.Thread(target=run_forever, args=(app,), kwargs={"stop_event": stop})
        t.start()
        try:
            assert wait_until(lambda: status_counts(app).get("sent") == 30, 20)
        finally:
            stop.set()
            t.join(15)
        assert not t.is_alive()
        assert len(receiver.delivered) == 30 and max(receiver.counts.values()) == 1
    finally:
        receiver.stop()


def test_refresh_credentials_calls_adapters_that_have_it(app, monkeypatch):
    from channels import registry
    from tests import scheduler_helpers as h

    class Refreshing(h.ScriptedAdapter):
        refreshed = []

        def refresh_credentials(self) -> bool:
            Refreshing.refreshed.append(self.config["label"])
            return True

    monkeypatch.setattr(h, "Refreshing", Refreshing, raising=False)
    monkeypatch.setitem(registry.CHANNELS, "refreshing", "tests.scheduler_helpers:Refreshing")
    with session_scope(app) as s:
        s.add(ChannelAccount(channel="refreshing", name="z", config={"label": "oa-1"}, status="active"))
        s.add(ChannelAccount(channel="refreshing", name="z2", config={"label": "oa-2"}, status="needs_auth"))
        s.add(ChannelAccount(channel="webhook", name="w", config={"url": "http://127.0.0.1:9/"}))
    from scheduler.runner import refresh_credentials

    assert refresh_credentials(app) == {"checked": 1, "refreshed": 1, "errors": 0}
    assert Refreshing.refreshed == ["oa-1"]


def test_cli_reports_bad_settings_in_one_vietnamese_line(app):
    app.config["LANTOA_RETRY_MAX_ATTEMPTS"] = "nhiều"
    result = app.test_cli_runner().invoke(args=["dispatch-due"])
    assert result.exit_code == 1
    assert "Cấu hình không hợp lệ" in result.output and "LANTOA_RETRY_MAX_ATTEMPTS" in result.output
    assert "Traceback" not in result.output
    app.config["LANTOA_RETRY_MAX_ATTEMPTS"] = "5"
    app.config["LANTOA_SEND_THREADS"] = "0"
    result = app.test_cli_runner().invoke(args=["dispatch-due"])
    assert result.exit_code == 1 and "LANTOA_SEND_THREADS" in result.output
    app.config["LANTOA_SEND_THREADS"] = "4"
    result = app.test_cli_runner().invoke(args=["dispatch-due"])
    assert result.exit_code == 0 and "claimed=0" in result.output
