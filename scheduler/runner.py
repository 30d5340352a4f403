"""One dispatch pass (``dispatch_due``) and the scheduler process (``run_forever``).

``run_forever`` runs APScheduler 3.x in this one process with a memory job
store (the database, not the job store, holds every delivery) and a few
fixed-id ticker jobs:

==================== ============ ==========================================
id                   every        what
==================== ============ ==========================================
dispatch             1 s          expire overdue, claim due deliveries, hand
                                  them to the executor (drains the backlog)
reap-leases          lease/3      queued -> scheduled, sending -> unknown ->
                                  lookup; running jobs -> pending
refresh-credentials  10 min       adapters' ``refresh_credentials()``
expand-recurring     15 min       recurring schedules -> deliveries (14 days)
run-jobs             2 s          due background jobs
==================== ============ ==========================================

Each is ``replace_existing=True, coalesce=True, max_instances=1`` with a
deliberate ``misfire_grace_time`` (APScheduler's default of 1 s would drop
runs on a busy machine; a late tick of a ticker is always still useful, so the
grace is generous and coalescing folds the backlog into one run).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from core.timeutil import utcnow
from scheduler.dispatcher import Dispatcher, real_app
from scheduler.executors import CeleryExecutor, InlineExecutor, _int_config, make_executor
from scheduler.jobs import JobRunner

log = logging.getLogger(__name__)

CLAIM_BATCH = 200


def dispatch_pass(dispatcher: Dispatcher, executor, *, budget: float | None = None) -> int:
    """Claim due deliveries and hand them to ``executor`` while there is
    capacity, until nothing is due (or ``budget`` seconds passed)."""
    start = time.monotonic()
    claimed = 0
    # claim in batches of at least half of the executor's room: many tiny
    # claims cost more than they gain
    need = max(1, getattr(executor, "limit", 4) // 2)
    while True:
        if budget is not None and time.monotonic() - start > budget:
            break
        cap = executor.capacity()
        if cap < need:
            executor.wait_capacity(0.5, need)
            continue
        busy = executor.busy_accounts()
        batch = dispatcher.claim(min(cap, CLAIM_BATCH), per_account=executor.per_account,
                                 skip_accounts=busy)
        if not batch:
            if busy:  # what is left belongs to accounts with enough in flight
                executor.wait_any(0.5)
                continue
            break
        submit_many = getattr(executor, "submit_many", None)
        if submit_many is not None:
            submit_many(batch)
        else:
            for c in batch:
                executor.submit(c)
        claimed += len(batch)
    return claimed


def dispatch_due(app: Flask, *, clock: Callable[[], datetime] | None = None,
                 executor=None, wait_timeout: float | None = None) -> dict:
    """One pass: reap expired leases, mark overdue deliveries missed, claim and
    send what is due, wait for those sends, run due background jobs.
    Returns counts (failed deliveries are data, not errors)."""
    app = real_app(app)
    dispatcher = Dispatcher(app, clock=clock)
    jobs = JobRunner(app, clock=dispatcher.clock, worker=dispatcher.worker,
                     lease=dispatcher.lease.total_seconds())
    own = executor is None
    executor = executor or make_executor(app, dispatcher)
    stats: dict[str, int] = {}
    try:
        reaped = dispatcher.reap()
        stats["reaped_queued"] = reaped["requeued"]
        stats["reaped_unknown"] = reaped["unknown"]
        stats["jobs_reaped"] = jobs.reap()
        stats["missed"] = dispatcher.expire_overdue()
        stats["claimed"] = dispatch_pass(dispatcher, executor)
        if wait_timeout is None:
            wait_timeout = max(60.0, 2 * dispatcher.lease.total_seconds())
        executor.wait_idle(wait_timeout)
        for status, n in sorted(executor.results().items()):
            stats[status] = stats.get(status, 0) + n
        if isinstance(executor, CeleryExecutor):
            ids = jobs.mark_enqueued(limit=100)
            for job_id in ids:
                executor.submit_job(job_id)
            stats["jobs_enqueued"] = len(ids)
        else:
            while True:
                done = jobs.run_due(limit=10)
                stats["jobs_done"] = stats.get("jobs_done", 0) + done["jobs_done"]
                stats["jobs_failed"] = stats.get("jobs_failed", 0) + done["jobs_failed"]
                if not done["jobs_done"] and not done["jobs_failed"]:
                    break
    finally:
        if own:
            executor.shutdown(wait=True)
    return stats


def refresh_credentials(app: Flask) -> dict[str, int]:
    """Call ``refresh_credentials()`` on every active account whose adapter has one."""
    from sqlmodel import select

    from channels import registry
    from channels.base import Adapter
    from core.db import session_scope
    from scheduler.accounts import build_adapter
    from scheduler.models import ChannelAccount

    app = real_app(app)
    counts = {"checked": 0, "refreshed": 0, "errors": 0}
    with session_scope(app) as session:
        accounts = session.exec(select(ChannelAccount).where(ChannelAccount.status == "active")).all()
    for account in accounts:
        try:
            cls = registry.adapter_class(account.channel)
        except (KeyError, ImportError):
            continue
        if cls.refresh_credentials is Adapter.refresh_credentials:
            continue
        counts["checked"] += 1
        try:
            if build_adapter(account, app).refresh_credentials():
                counts["refreshed"] += 1
        except Exception:  # noqa: BLE001 - one account must not stop the others
            counts["errors"] += 1
            log.exception("refreshing credentials of account %s failed", account.id)
    return counts


def _guard(name: str, fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - a ticker must survive any one failure
            log.exception("ticker job %s failed", name)

    run.__name__ = f"lantoa_{name.replace('-', '_')}"
    return run


class SchedulerProcess:
    """The long-running scheduler: APScheduler tickers + an executor."""

    def __init__(self, app: Flask, *, clock: Callable[[], datetime] | None = None):
        app = real_app(app)
        self.app = app
        self.dispatcher = Dispatcher(app, clock=clock)
        self.executor = make_executor(app, self.dispatcher)
        lease = self.dispatcher.lease.total_seconds()
        self.jobs = JobRunner(app, clock=self.dispatcher.clock, worker=self.dispatcher.worker, lease=lease)
        self.job_threads = _int_config(app, "LANTOA_JOB_THREADS", 2)
        self._job_sem = threading.BoundedSemaphore(self.job_threads)
        self._job_pool: Any = None
        self.stop_event = threading.Event()
        self.scheduler = None

    # ticker bodies ------------------------------------------------------------------

    def tick_dispatch(self) -> None:
        self.dispatcher.expire_overdue()
        dispatch_pass(self.dispatcher, self.executor, budget=30.0)

    def tick_reap(self) -> None:
        self.dispatcher.reap()
        self.jobs.reap()

    def tick_refresh(self) -> None:
        refresh_credentials(self.app)

    def tick_expand(self) -> None:
        from scheduler.recurring import expand_recurring

        expand_recurring(self.app, clock=self.dispatcher.clock)

    def tick_daily(self) -> None:
        from scheduler.jobs import run_daily

        run_daily(self.app, self.dispatcher.clock())

    def tick_jobs(self) -> None:
        if isinstance(self.executor, CeleryExecutor):
            for job_id in self.jobs.mark_enqueued(limit=100):
                self.executor.submit_job(job_id)
            return
        from concurrent.futures import ThreadPoolExecutor

        if self._job_pool is None:
            self._job_pool = ThreadPoolExecutor(self.job_threads, thread_name_prefix="lantoa-job")
        free = 0
        while self._job_sem.acquire(blocking=False):
            free += 1
        if not free:
            return
        claimed = self.jobs.claim(free)
        for _ in range(free - len(claimed)):
            self._job_sem.release()
        for job_id, token in claimed:
            self._job_pool.submit(self._run_job, job_id, token)

    def _run_job(self, job_id: int, token: str) -> None:
        try:
            self.jobs.run(job_id, token)
        except Exception:  # noqa: BLE001
            log.exception("job %s crashed", job_id)
        finally:
            self._job_sem.release()

    # lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor as APThreadPool
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        # A long dispatch tick makes APScheduler skip (coalesce) the next ones and
        # say so at WARNING every second; that is by design here. Ticker errors
        # are logged by _guard.
        logging.getLogger("apscheduler.executors.default").setLevel(logging.ERROR)
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        sched = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": APThreadPool(6)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC",
        )
        lease = self.dispatcher.lease.total_seconds()
        now = utcnow()
        tickers: list[tuple[str, Callable[[], None], dict[str, Any], int]] = [
            ("dispatch", self.tick_dispatch, {"seconds": 1}, 5),
            ("reap-leases", self.tick_reap, {"seconds": max(1.0, min(15.0, lease / 3.0))}, 30),
            ("refresh-credentials", self.tick_refresh, {"minutes": 10}, 300),
            ("expand-recurring", self.tick_expand, {"minutes": 15}, 600),
            ("run-jobs", self.tick_jobs, {"seconds": 2}, 10),
            ("daily", self.tick_daily, {"minutes": 30}, 1800),
        ]
        for job_id, fn, every, grace in tickers:
            sched.add_job(
                _guard(job_id, fn), "interval", id=job_id, name=job_id, replace_existing=True,
                coalesce=True, max_instances=1, misfire_grace_time=grace,
                next_run_time=now + timedelta(milliseconds=100), **every,
            )
        sched.start()
        self.scheduler = sched
        log.info("scheduler started (%s executor, worker %s)", self.executor.name, self.dispatcher.worker)

    def stop(self, wait: bool = True) -> None:
        self.stop_event.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.executor.shutdown(wait=wait)
        if self._job_pool is not None:
            self._job_pool.shutdown(wait=wait)
        log.info("scheduler stopped")


def run_forever(app: Flask, *, clock: Callable[[], datetime] | None = None,
                stop_event: threading.Event | None = None) -> None:
    """Run the scheduler until SIGTERM/SIGINT (or ``stop_event``) arrives, then
    stop cleanly: no new claims, in-flight sends finish."""
    app = real_app(app)
    proc = SchedulerProcess(app, clock=clock)
    stop = stop_event or proc.stop_event

    def on_signal(signum, _frame) -> None:
        log.info("signal %s: stopping the scheduler", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    proc.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        proc.stop(wait=True)


__all__ = ["dispatch_due", "run_forever", "dispatch_pass", "refresh_credentials", "SchedulerProcess",
           "InlineExecutor"]
