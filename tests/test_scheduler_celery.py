"""The Celery executor for real: worker processes started with
``celery -A scheduler.celery_app worker``, Redis or RabbitMQ as the broker,
PostgreSQL as the shared database. No eager mode."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.db import get_engine
from scheduler.models import DeliveryAttempt
from scheduler.runner import dispatch_due
from tests._require import require_port
from tests.conftest import make_app
from tests.scheduler_helpers import (
    bulk_deliveries,
    celery_cmd,
    flask_env,
    make_accounts,
    spawn,
    start_receiver,
    status_counts,
    stop,
    wait_until,
)

REDIS = "redis://127.0.0.1:6379/0"
RABBIT = "amqp://guest:guest@127.0.0.1:5672//"


def start_workers(n: int, pg_url: str, tmp_path, broker: str, queue: str) -> list[subprocess.Popen]:
    env = flask_env(pg_url, tmp_path, LANTOA_BROKER_URL=broker, LANTOA_CELERY_QUEUE=queue,
                    LANTOA_EXECUTOR="celery")
    procs = [
        spawn(celery_cmd("worker", "--pool", "threads", "--concurrency", "8", "-Q", queue,
                         "-n", f"w{i}-{queue}@%h", "--without-gossip", "--without-mingle",
                         "--loglevel", "INFO"),
              env, tmp_path / f"worker{i}.log")
        for i in range(n)
    ]

    def ready() -> bool:
        for i, p in enumerate(procs):
            log = (tmp_path / f"worker{i}.log").read_text(errors="replace")
            assert p.poll() is None, log[-3000:]
            if "ready." not in log:
                return False
        return True

    assert wait_until(ready, 60), "celery workers did not become ready"
    return procs


def run_through_celery(pg_url: str, tmp_path, broker: str, n: int, workers: int) -> None:
    queue = f"lantoa-test-{uuid.uuid4().hex[:8]}"
    app = make_app(pg_url, tmp_path, LANTOA_EXECUTOR="celery", LANTOA_BROKER_URL=broker,
                   LANTOA_CELERY_QUEUE=queue)
    receiver = start_receiver()
    procs = start_workers(workers, pg_url, tmp_path, broker, queue)
    try:
        accounts = make_accounts(app, receiver.hook_url, 20)
        bulk_deliveries(app, accounts, n, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
        stats = dispatch_due(app, wait_timeout=180)
        assert stats["claimed"] == n
        for i, p in enumerate(procs):
            assert p.poll() is None, (tmp_path / f"worker{i}.log").read_text()[-2000:]
    finally:
        for p in procs:
            stop(p)
        receiver.stop()
    counts = status_counts(app)
    logs = "\n".join((tmp_path / f"worker{i}.log").read_text()[-1500:] for i in range(workers))
    assert counts == {"sent": n}, (counts, logs)  # zero lost
    assert len(receiver.counts) == n and max(receiver.counts.values()) == 1  # zero duplicates
    a = DeliveryAttempt.__table__
    with get_engine(app).connect() as conn:
        per_worker = dict(conn.execute(select(a.c.worker, func.count()).group_by(a.c.worker)).all())
    assert sum(per_worker.values()) == n
    assert len(per_worker) == workers, per_worker  # every worker process took a share
    get_engine(app).dispose()


@pytest.mark.postgres
@pytest.mark.redis
def test_celery_two_workers_redis_1000_no_duplicates_none_lost(pg_url, tmp_path):
    require_port("Redis", 6379)
    run_through_celery(pg_url, tmp_path, REDIS, 1000, 2)


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_celery_rabbitmq_smaller_run(pg_url, tmp_path):
    require_port("RabbitMQ", 5672)
    run_through_celery(pg_url, tmp_path, RABBIT, 200, 2)


@pytest.mark.postgres
@pytest.mark.redis
def test_celery_stale_lease_token_does_nothing_and_jobs_run_in_workers(pg_url, tmp_path):
    """A redelivered or late task re-checks the lease token before sending."""
    require_port("Redis", 6379)
    queue = f"lantoa-test-{uuid.uuid4().hex[:8]}"
    app = make_app(pg_url, tmp_path, LANTOA_EXECUTOR="celery", LANTOA_BROKER_URL=REDIS,
                   LANTOA_CELERY_QUEUE=queue)
    receiver = start_receiver()
    procs = start_workers(1, pg_url, tmp_path, REDIS, queue)
    try:
        from scheduler.celery_app import make_celery
        from scheduler.dispatcher import Dispatcher
        accounts = make_accounts(app, receiver.hook_url, 1)
        (did,) = bulk_deliveries(app, accounts, 1, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
        disp = Dispatcher(app)
        (c,) = disp.claim(1)
        celery = make_celery(app)
        celery.send_task("lantoa.send_delivery", args=[did, c.token + "-stale"], queue=queue)
        celery.send_task("lantoa.send_delivery", args=[did, c.token], queue=queue)
        celery.send_task("lantoa.send_delivery", args=[did, c.token], queue=queue)  # repeated
        assert wait_until(lambda: status_counts(app) == {"sent": 1}, 60)
        import time

        time.sleep(1.0)  # let the repeated task run too

        # background jobs go through the worker too (lantoa.run_job)
        from core.db import session_scope
        from scheduler.jobs import enqueue_job
        from scheduler.models import BackgroundJob

        with session_scope(app) as s:
            job_id = enqueue_job(s, "test.not_registered_in_the_worker", {"x": 1}).id
        assert dispatch_due(app, wait_timeout=30)["jobs_enqueued"] == 1

        def job_status():
            with session_scope(app) as s:
                j = s.get(BackgroundJob, job_id)
                return j.status, j.error

        assert wait_until(lambda: job_status()[0] == "failed", 30)
        assert "test.not_registered_in_the_worker" in job_status()[1]
        assert dispatch_due(app, wait_timeout=30)["jobs_enqueued"] == 0  # not enqueued twice
    finally:
        for p in procs:
            stop(p)
        receiver.stop()
    assert sum(receiver.counts.values()) == 1
    get_engine(app).dispose()
