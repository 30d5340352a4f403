"""Background jobs registered by name (kit builds, video renders).

Higher layers call ``register_job(name, fn)`` at start-up, so the scheduler
never imports them; ``fn(app, payload, progress) -> dict`` does the work and
calls ``progress(fraction, **info)`` now and then (persisted at once, and it
renews the job's lease). ``enqueue_job(session, name, payload)`` adds a
pending row (``dedupe_key`` makes enqueueing idempotent).

Jobs are claimed like deliveries: a guarded UPDATE pending -> running with a
lease token; a heartbeat renews the lease while the job runs; a running job
whose lease expired (its worker died) returns to pending.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import or_, select, update
from sqlmodel import Session
from sqlmodel import select as sm_select

from core.db import get_engine
from core.timeutil import utcnow
from scheduler.models import BackgroundJob

log = logging.getLogger(__name__)

J = BackgroundJob.__table__  # type: ignore[attr-defined]

JobFn = Callable[[Flask, dict, Callable[..., bool]], dict]
_registry: dict[str, JobFn] = {}
_lock = threading.Lock()


class JobError(ValueError):
    """Bad enqueue input; ``fields`` maps field -> Vietnamese message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def register_job(name: str, fn: JobFn) -> None:
    if not isinstance(name, str) or not name or len(name) > 64 or not callable(fn):
        raise ValueError("register_job needs a name (1-64 characters) and a callable")
    with _lock:
        _registry[name] = fn


DailyFn = Callable[[Flask, date], None]
_daily: dict[str, DailyFn] = {}


def register_daily(name: str, fn: DailyFn) -> None:
    """``fn(app, local_date)`` runs from the scheduler's ``daily`` ticker (every
    half hour); it must be idempotent for a day, e.g. enqueue a job with a
    dedupe key naming the date (reminders, retention purges)."""
    if not isinstance(name, str) or not name or not callable(fn):
        raise ValueError("register_daily needs a name and a callable")
    with _lock:
        _daily[name] = fn


def run_daily(app: Flask, now: datetime | None = None) -> int:
    """Call every daily callback for today's date in Asia/Ho_Chi_Minh."""
    from core.timeutil import LOCAL_TZ

    today = (now or utcnow()).astimezone(LOCAL_TZ).date()
    with _lock:
        callbacks = list(_daily.items())
    for name, fn in callbacks:
        try:
            fn(app, today)
        except Exception:  # noqa: BLE001 - one part's failure must not stop the others
            log.exception("daily callback %s failed", name)
    return len(callbacks)


def job_function(name: str) -> JobFn | None:
    with _lock:
        return _registry.get(name)


def enqueue_job(session: Session, name: str, payload: dict | None = None,
                dedupe_key: str | None = None, created_by: int | None = None) -> BackgroundJob:
    """Add a pending job (or return the existing one with the same dedupe_key)."""
    errors: dict[str, str] = {}
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        errors["name"] = "Tên công việc phải có từ 1 đến 64 ký tự."
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        errors["payload"] = "Dữ liệu công việc phải là một đối tượng JSON."
    else:
        try:
            json.dumps(payload)
        except (TypeError, ValueError):
            errors["payload"] = "Dữ liệu công việc phải chuyển được sang JSON."
    if dedupe_key is not None and (not isinstance(dedupe_key, str) or not dedupe_key or len(dedupe_key) > 128):
        errors["dedupe_key"] = "Khóa chống trùng phải có từ 1 đến 128 ký tự."
    if errors:
        raise JobError(errors)
    if dedupe_key is not None:
        existing = session.exec(
            sm_select(BackgroundJob).where(BackgroundJob.dedupe_key == dedupe_key)
        ).first()
        if existing is not None:
            return existing
    job = BackgroundJob(name=name, payload=payload, dedupe_key=dedupe_key, created_by=created_by,
                        created_at=utcnow(), status="pending")
    session.add(job)
    session.flush()
    return job


#: How many times a job may be taken by a worker that then dies (lease expired).
MAX_JOB_ATTEMPTS = 3


class JobRunner:
    def __init__(self, app: Flask, *, clock: Callable[[], datetime] | None = None,
                 worker: str = "jobs", lease: float = 75.0):
        from scheduler.dispatcher import real_app

        app = real_app(app)
        self.app = app
        self.engine = get_engine(app)
        self.clock = clock or utcnow
        self.worker = worker
        self.lease = timedelta(seconds=lease)
        self.is_pg = self.engine.dialect.name == "postgresql"

    def _token(self) -> str:
        import uuid

        return f"{self.worker}/{uuid.uuid4().hex[:12]}"

    def _pending(self, now: datetime, limit: int):
        q = (
            select(J.c.id)
            .where(J.c.status == "pending", or_(J.c.lease_until.is_(None), J.c.lease_until < now))
            .order_by(J.c.id)
            .limit(limit)
        )
        if self.is_pg:
            q = q.with_for_update(skip_locked=True)
        return q.scalar_subquery()

    def claim(self, limit: int = 10) -> list[tuple[int, str]]:
        """pending -> running with a lease, atomically."""
        now = self.clock()
        token = self._token()
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(
                update(J)
                .where(J.c.id.in_(self._pending(now, limit)), J.c.status == "pending")
                .values(status="running", leased_by=token, lease_until=now + self.lease, started_at=now,
                        attempts=J.c.attempts + 1)
                .returning(J.c.id)
            )]
        return [(i, token) for i in sorted(ids)]

    def mark_enqueued(self, limit: int = 50) -> list[int]:
        """For the Celery executor: reserve pending jobs for one lease so the
        next tick does not enqueue them again (the worker claims them)."""
        now = self.clock()
        with self.engine.begin() as conn:
            return sorted(r[0] for r in conn.execute(
                update(J)
                .where(J.c.id.in_(self._pending(now, limit)), J.c.status == "pending")
                .values(leased_by="enqueued/" + self._token(), lease_until=now + self.lease)
                .returning(J.c.id)
            ))

    def claim_one(self, job_id: int) -> str | None:
        now = self.clock()
        token = self._token()
        with self.engine.begin() as conn:
            res = conn.execute(
                update(J).where(J.c.id == job_id, J.c.status == "pending")
                .values(status="running", leased_by=token, lease_until=now + self.lease, started_at=now,
                        attempts=J.c.attempts + 1)
            )
        return token if res.rowcount == 1 else None

    def renew(self, job_id: int, token: str, progress: float | None = None, **info: Any) -> bool:
        values: dict[str, Any] = {"lease_until": self.clock() + self.lease}
        if progress is not None:
            values["progress"] = max(0.0, min(1.0, float(progress)))
        if info:
            values["result"] = {"progress_info": info}
        with self.engine.begin() as conn:
            res = conn.execute(
                update(J).where(J.c.id == job_id, J.c.status == "running", J.c.leased_by == token).values(**values)
            )
        return res.rowcount == 1

    def run(self, job_id: int, token: str) -> str | None:
        """Run one claimed job; returns 'done', 'failed' or None (lease lost)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(J).where(J.c.id == job_id)).first()
        if row is None or row.status != "running" or row.leased_by != token:
            return None
        fn = job_function(row.name)
        stop = threading.Event()

        def beat() -> None:
            interval = max(0.05, self.lease.total_seconds() / 3.0)
            while not stop.wait(interval):
                try:
                    if not self.renew(job_id, token):
                        return
                except Exception:  # noqa: BLE001
                    log.exception("job %s: lease renewal failed", job_id)

        def progress(fraction: float | None = None, **info: Any) -> bool:
            return self.renew(job_id, token, fraction, **info)

        status, result, error = "failed", {}, None
        if fn is None:
            error = f"Không có công việc nền tên '{row.name}' được đăng ký."
        else:
            hb = threading.Thread(target=beat, daemon=True, name=f"job-{job_id}")
            hb.start()
            try:
                with self.app.app_context():
                    out = fn(self.app, dict(row.payload or {}), progress)
                if out is None:
                    out = {}
                if not isinstance(out, dict):
                    raise TypeError(f"job {row.name} returned {type(out).__name__}, not a dict")
                json.dumps(out)
                status, result = "done", out
            except Exception as exc:  # noqa: BLE001 - a failing job is data
                log.exception("job %s (%s) failed", job_id, row.name)
                error = f"Công việc nền thất bại: {type(exc).__name__}: {str(exc)[:500]}"
            finally:
                stop.set()
                hb.join(timeout=5)
        values: dict[str, Any] = {"status": status, "finished_at": self.clock(), "error": error,
                                  "leased_by": None, "lease_until": None}
        if status == "done":
            values.update(progress=1.0, result=result)
        with self.engine.begin() as conn:
            res = conn.execute(
                update(J).where(J.c.id == job_id, J.c.status == "running", J.c.leased_by == token).values(**values)
            )
        return status if res.rowcount == 1 else None

    def run_due(self, limit: int = 10) -> dict[str, int]:
        counts = {"jobs_done": 0, "jobs_failed": 0}
        for job_id, token in self.claim(limit):
            status = self.run(job_id, token)
            if status == "done":
                counts["jobs_done"] += 1
            elif status == "failed":
                counts["jobs_failed"] += 1
        return counts

    def reap(self) -> int:
        """Running jobs whose worker died (lease expired) go back to pending,
        unless workers died on them MAX_JOB_ATTEMPTS times: then the job is
        failed, so one job that kills its worker cannot do so forever."""
        now = self.clock()
        with self.engine.begin() as conn:
            failed = conn.execute(
                update(J).where(J.c.status == "running", J.c.lease_until < now,
                                J.c.attempts >= MAX_JOB_ATTEMPTS)
                .values(status="failed", leased_by=None, lease_until=None, finished_at=now,
                        error=f"Công việc nền bị dừng giữa chừng {MAX_JOB_ATTEMPTS} lần "
                              "(tiến trình xử lý ngừng hoạt động); đã dừng thử lại.")
            ).rowcount or 0
            if failed:
                log.warning("%d background job(s) failed after %d interrupted attempts",
                            failed, MAX_JOB_ATTEMPTS)
            return conn.execute(
                update(J).where(J.c.status == "running", J.c.lease_until < now)
                .values(status="pending", leased_by=None, lease_until=None)
            ).rowcount or 0
