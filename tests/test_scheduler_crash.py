"""Crash and concurrency: a real ``flask --app app scheduler`` process killed
with SIGKILL mid-wave, and four dispatcher processes racing on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.db import get_engine
from scheduler.dispatcher import Dispatcher
from scheduler.models import Delivery, DeliveryAttempt
from tests.conftest import make_app
from tests.scheduler_helpers import (
    bulk_deliveries,
    flask_cmd,
    flask_env,
    make_accounts,
    spawn,
    start_receiver,
    status_counts,
    stop,
    wait_until,
)

SETTLED = {"sent", "failed", "needs_review", "missed"}


def keys_by_status(app) -> dict[str, str]:
    d = Delivery.__table__
    with get_engine(app).connect() as conn:
        return {k: s for k, s in conn.execute(select(d.c.idempotency_key, d.c.status))}


def test_kill_9_mid_wave_then_restart_loses_nothing_and_duplicates_nothing(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    app = make_app(db_url, tmp_path)
    receiver = start_receiver()
    procs: list[subprocess.Popen] = []
    try:
        accounts = make_accounts(app, receiver.hook_url, 20)
        bulk_deliveries(app, accounts, 1000, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
        env = flask_env(db_url, tmp_path, LANTOA_LEASE_SECONDS="3", LANTOA_SEND_THREADS="16")
        first = spawn(flask_cmd("scheduler"), env, tmp_path / "scheduler-1.log")
        procs.append(first)
        assert wait_until(lambda: sum(receiver.counts.values()) >= 300, 60), (
            (tmp_path / "scheduler-1.log").read_text()[-3000:])
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        at_kill = status_counts(app)
        assert at_kill["sent"] < 1000, "the wave finished before the kill: nothing was tested"

        second = spawn(flask_cmd("scheduler"), env, tmp_path / "scheduler-2.log")
        procs.append(second)

        def settled() -> bool:
            counts = status_counts(app)
            return sum(n for s, n in counts.items() if s in SETTLED) == 1000

        assert wait_until(settled, 120, 0.25), (status_counts(app),
                                                (tmp_path / "scheduler-2.log").read_text()[-3000:])
        second.send_signal(signal.SIGTERM)  # clean shutdown
        assert second.wait(30) == 0
    finally:
        for p in procs:
            stop(p)
        receiver.stop()

    counts = status_counts(app)
    assert set(counts) <= SETTLED
    assert counts["sent"] + counts["failed"] + counts["needs_review"] + counts["missed"] == 1000
    # no duplicate at the receiver
    assert max(receiver.counts.values()) == 1
    statuses = keys_by_status(app)
    for key in receiver.delivered:
        assert statuses[key] in ("sent", "needs_review")
    for key, status in statuses.items():
        if status == "sent":
            assert key in receiver.delivered  # "sent" is never claimed without the receiver having it
    # the interrupted sends were reconciled, not resent
    assert counts["needs_review"] <= 32
    with get_engine(app).connect() as conn:
        workers = conn.execute(select(func.count(func.distinct(DeliveryAttempt.__table__.c.worker)))).scalar()
    assert workers == 2


@pytest.mark.postgres
def test_concurrent_claims_on_postgres_are_disjoint(pg_app):
    receiver = start_receiver()
    try:
        accounts = make_accounts(pg_app, receiver.hook_url, 4)
        bulk_deliveries(pg_app, accounts, 2000, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
        dispatchers = [Dispatcher(pg_app, worker=f"w{i}") for i in range(4)]
        claimed: list[list[int]] = [[] for _ in dispatchers]
        barrier = threading.Barrier(4)

        def race(i: int) -> None:
            barrier.wait()
            while True:
                got = dispatchers[i].claim(25)
                if not got:
                    return
                claimed[i].extend(c.id for c in got)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        every = [i for ids in claimed for i in ids]
        assert len(every) == 2000 and len(set(every)) == 2000
        assert sum(1 for ids in claimed if ids) >= 2  # they really competed
    finally:
        receiver.stop()


@pytest.mark.postgres
def test_four_dispatcher_processes_on_postgres_send_each_delivery_once(pg_url, tmp_path):
    app = make_app(pg_url, tmp_path)
    # 50 ms per request: one process alone would need ~10 s, longer than the
    # others take to start, so all four really race for the same due set
    receiver = start_receiver(delay=0.05)
    procs = []
    try:
        accounts = make_accounts(app, receiver.hook_url, 20)
        bulk_deliveries(app, accounts, 1600, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
        env = flask_env(pg_url, tmp_path, LANTOA_SEND_THREADS="8")
        procs = [spawn(flask_cmd("dispatch-due"), env, tmp_path / f"d{i}.log") for i in range(4)]
        for i, p in enumerate(procs):
            assert p.wait(120) == 0, (tmp_path / f"d{i}.log").read_text()[-2000:]
    finally:
        for p in procs:
            stop(p)
        receiver.stop()
    # a delivery claimed by nobody (all four finished early) would stay scheduled
    counts = status_counts(app)
    assert counts == Counter({"sent": 1600})
    assert len(receiver.counts) == 1600 and max(receiver.counts.values()) == 1
    a = DeliveryAttempt.__table__
    with get_engine(app).connect() as conn:
        per_worker = dict(conn.execute(select(a.c.worker, func.count()).group_by(a.c.worker)).all())
        assert conn.execute(select(func.count()).select_from(a)).scalar() == 1600
    assert len(per_worker) >= 2, per_worker
    get_engine(app).dispose()
