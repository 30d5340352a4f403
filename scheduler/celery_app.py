"""The Celery executor's entry module: ``celery -A scheduler.celery_app worker``.

Built as in Flask's Celery example: tasks run inside the Flask app context.
This is the one module that imports ``app.create_app``, and only lazily, when
the Celery CLI asks for ``scheduler.celery_app.app`` (a worker); the scheduler
process calls ``make_celery(its_app)`` to get a client for enqueueing.

Tasks:

- ``lantoa.send_deliveries(delivery_ids, lease_token)``: sends a batch of
  deliveries the dispatcher claimed (``LANTOA_CELERY_BATCH`` ids a task), one
  after the other; each is re-checked against the lease token first (a late or
  repeated task finds the token changed and does nothing for that id).
- ``lantoa.send_delivery(delivery_id, lease_token)``: the same for one
  delivery (kept for tasks enqueued by older versions).
- ``lantoa.run_job(job_id)``: claims a pending background job and runs it.

Broker: ``LANTOA_BROKER_URL`` (``redis://127.0.0.1:6379/0`` or
``amqp://guest:guest@127.0.0.1:5672//``); queue ``LANTOA_CELERY_QUEUE``
(default ``lantoa``). Workers need the same ``LANTOA_DATABASE_URL`` (PostgreSQL)
and ``LANTOA_SECRET_KEY`` as the scheduler.
"""

from __future__ import annotations

import logging

from celery import Celery, Task
from celery.signals import worker_process_init
from flask import Flask

log = logging.getLogger(__name__)

_worker_app: Celery | None = None
_flask_apps: list[Flask] = []


def queue_name(flask_app: Flask) -> str:
    from scheduler.settings import setting

    return str(setting(flask_app, "LANTOA_CELERY_QUEUE", "lantoa"))


#: seconds a worker's outcomes gather before they are recorded (unless a task waits for them)
OUTCOME_GATHER = 0.02


def _dispatcher(flask_app: Flask):
    from scheduler.dispatcher import Dispatcher

    disp = flask_app.extensions.get("lantoa_dispatcher")
    if disp is None:
        disp = flask_app.extensions["lantoa_dispatcher"] = Dispatcher(flask_app)
        # the outcomes of the worker's concurrent tasks gather into larger
        # records; a task that waits for its own cuts the gathering short
        disp.outcome_gather = OUTCOME_GATHER
    return disp


def make_celery(flask_app: Flask) -> Celery:
    """The Celery app bound to ``flask_app`` (created once per Flask app)."""
    existing = flask_app.extensions.get("celery")
    if existing is not None:
        return existing

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with flask_app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(flask_app.import_name, task_cls=FlaskTask)
    queue = queue_name(flask_app)
    celery.conf.update(
        broker_url=flask_app.config["LANTOA_BROKER_URL"],
        task_ignore_result=True,
        result_backend=None,
        # A task is acknowledged after it ran: a worker killed mid-task has its
        # task redelivered, and the lease token makes the repeat a no-op.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # tasks carry batches of ids (LANTOA_CELERY_BATCH): a small prefetch
        # keeps the batches spread over the workers
        worker_prefetch_multiplier=2,
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )

    @celery.task(name="lantoa.send_delivery")
    def send_delivery(delivery_id: int, lease_token: str) -> str | None:
        return _dispatcher(flask_app).send(int(delivery_id), str(lease_token))

    @celery.task(name="lantoa.send_deliveries")
    def send_deliveries(delivery_ids: list[int], lease_token: str) -> dict[str, int]:
        """Send a batch of deliveries claimed under one lease token, one after
        the other. Each is re-checked against the token, so a redelivered or
        repeated batch sends only what is still queued under that token (each
        id at most once). Returns when every outcome is recorded: the task is
        acknowledged (late) only then."""
        return send_batch(_dispatcher(flask_app), delivery_ids, lease_token)

    @celery.task(name="lantoa.run_job")
    def run_job(job_id: int) -> str | None:
        from scheduler.jobs import JobRunner

        disp = _dispatcher(flask_app)
        runner = JobRunner(flask_app, worker=disp.worker, lease=disp.lease.total_seconds())
        token = runner.claim_one(int(job_id))
        if token is None:
            return None
        return runner.run(int(job_id), token)

    flask_app.extensions["celery"] = celery
    _flask_apps.append(flask_app)
    return celery


def send_batch(dispatcher, delivery_ids, lease_token: str) -> dict[str, int]:
    """The body of ``lantoa.send_deliveries``: each id once, in order; outcomes
    recorded behind (one statement for many) and waited for before returning."""
    import threading
    from collections import Counter

    from scheduler.dispatcher import RECORDING

    counts: Counter[str] = Counter()
    lock = threading.Lock()
    pending = threading.Semaphore(0)
    deferred = 0

    def recorded(status: str | None) -> None:
        with lock:
            counts[status or "lease_lost"] += 1
        pending.release()

    seen: set[int] = set()
    for raw in delivery_ids:
        delivery_id = int(raw)
        if delivery_id in seen:  # a repeated id in one batch is sent once
            continue
        seen.add(delivery_id)
        try:
            status = dispatcher.send(delivery_id, str(lease_token), on_recorded=recorded)
        except Exception:  # noqa: BLE001 - the lease reaper recovers this one; go on with the rest
            log.exception("sending delivery %s failed", delivery_id)
            status = "error"
        if status == RECORDING:
            deferred += 1
        else:
            with lock:
                counts[status or "lease_lost"] += 1
    if deferred:
        flush_soon = getattr(dispatcher, "flush_soon", None)
        if flush_soon is not None:
            flush_soon()
    for _ in range(deferred):
        pending.acquire()
    return dict(counts)


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    """Prefork children must not share the parent's database connections."""
    from core.db import get_engine

    for flask_app in _flask_apps:
        get_engine(flask_app).dispose(close=False)
        flask_app.extensions.pop("lantoa_dispatcher", None)


def __getattr__(name: str):
    """``celery -A scheduler.celery_app`` looks up ``app``: build it on demand."""
    global _worker_app
    if name in ("app", "celery"):
        if _worker_app is None:
            import sys
            from pathlib import Path

            # Celery's CLI imports ``-A`` from the current directory but removes
            # it from sys.path again; app.py lives in the project root.
            root = str(Path(__file__).resolve().parent.parent)
            if root not in sys.path:
                sys.path.insert(0, root)
            from app import create_app

            _worker_app = make_celery(create_app())
        return _worker_app
    raise AttributeError(name)
