"""Executors: who actually runs a claimed delivery's send.

- ``InlineExecutor``: a thread pool inside the scheduler process
  (``LANTOA_SEND_THREADS``).
- ``CeleryExecutor``: enqueues ``send_delivery(delivery_id, lease_token)`` and
  ``run_job(job_id)`` tasks; Celery workers re-check the lease token before
  sending, so a task that arrives late (after its lease was reaped and the
  delivery claimed again) does nothing.

Both bound the work in flight, so a claim never takes more than can be sent
within a lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import func, select

from scheduler.dispatcher import RECORDING, Claimed, D, Dispatcher
from scheduler.states import Status

log = logging.getLogger(__name__)


def _int_config(app: Flask, key: str, default: int, low: int = 1) -> int:
    from scheduler.settings import setting

    raw = setting(app, key, default)
    try:
        value = int(str(raw).strip())
        if value < low:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{key}: giá trị '{raw}' không hợp lệ (số nguyên ≥ {low}).") from None
    return value


#: seconds the inline executor's outcomes gather before the writer records them
OUTCOME_GATHER = 0.02


class InlineExecutor:
    name = "inline"

    def __init__(self, dispatcher: Dispatcher, threads: int):
        self.dispatcher = dispatcher
        self.threads = threads
        # outcomes are recorded behind while the send threads go on: let them
        # gather into larger batches (the capacity is freed when the send is done)
        dispatcher.outcome_gather = OUTCOME_GATHER
        #: claimed but unfinished deliveries at most (queued in the pool + sending)
        self.limit = threads * 8
        #: in flight per channel account at most (pacing sleeps must not hold every thread)
        self.per_account = max(1, threads // 4)
        self._by_account: Counter[int | None] = Counter()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="lantoa-send")
        self._cond = threading.Condition()
        #: claimed deliveries not yet sent (what the capacity limits)
        self._inflight = 0
        #: claimed deliveries whose outcome is not yet recorded (what wait_idle waits for);
        #: on PostgreSQL an outcome is recorded behind, after its send thread moved on
        self._unsettled = 0
        #: what the dispatcher waits for: capacity for ``_need``, any send (``_any``), idle
        self._need: int | None = None
        self._any = 0
        self._idle_waiters = 0
        self.counts: Counter[str] = Counter()

    def capacity(self) -> int:
        with self._cond:
            return self.limit - self._inflight

    def wait_capacity(self, timeout: float, need: int = 1) -> None:
        with self._cond:
            self._need = need
            try:
                self._cond.wait_for(lambda: self.limit - self._inflight >= need, timeout)
            finally:
                self._need = None

    def busy_accounts(self) -> set[int]:
        with self._cond:
            return {a for a, n in self._by_account.items() if a is not None and n >= self.per_account}

    def wait_any(self, timeout: float) -> None:
        """Wait until some send finishes (or ``timeout``)."""
        with self._cond:
            if self._inflight:
                self._any += 1
                try:
                    self._cond.wait(timeout)
                finally:
                    self._any -= 1

    def submit(self, claimed: Claimed) -> None:
        with self._cond:
            self._inflight += 1
            self._unsettled += 1
            self._by_account[claimed.account_id] += 1
        try:
            self.pool.submit(self._run, claimed)
        except RuntimeError:  # pool shut down: the lease reaper returns the delivery
            self._sent(claimed)
            self._settled("not_started")

    def submit_many(self, claimed: list[Claimed]) -> None:
        for c in claimed:
            self.submit(c)

    def _run(self, claimed: Claimed) -> None:
        status: str | None = "error"

        def recorded(final: str | None) -> None:
            self._settled(final or "lease_lost")

        try:
            with self.dispatcher.app.app_context():
                # the outcome may be recorded behind (PostgreSQL): the send is
                # done (its capacity free), the delivery unsettled until
                # ``recorded`` is called
                status = self.dispatcher.send(claimed.id, claimed.token, on_recorded=recorded)
        except Exception:  # noqa: BLE001 - the lease reaper recovers the delivery
            log.exception("sending delivery %s failed", claimed.id)
        finally:
            self._sent(claimed)
            if status != RECORDING:
                self._settled(status or "lease_lost")

    def _sent(self, claimed: Claimed) -> None:
        """The delivery's send is over: its thread and capacity are free."""
        with self._cond:
            self._inflight -= 1
            self._by_account[claimed.account_id] -= 1
            if self._by_account[claimed.account_id] <= 0:
                del self._by_account[claimed.account_id]
            # wake the dispatcher only when what it waits for may have come
            # (each needless wake-up costs the send threads the GIL)
            if self._any or (self._need is not None and self.limit - self._inflight >= self._need):
                self._cond.notify_all()

    def _settled(self, status: str) -> None:
        """The delivery's outcome is recorded (or it was given up to the reaper)."""
        with self._cond:
            self._unsettled -= 1
            self.counts[status] += 1
            if self._idle_waiters and self._unsettled == 0:
                self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        self.dispatcher.flush_soon()
        with self._cond:
            self._idle_waiters += 1
            try:
                return self._cond.wait_for(lambda: self._unsettled == 0, timeout)
            finally:
                self._idle_waiters -= 1

    def results(self) -> dict[str, int]:
        with self._cond:
            return dict(self.counts)

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=not wait)
        self.dispatcher.close()


class CeleryExecutor:
    name = "celery"

    def __init__(self, dispatcher: Dispatcher, app: Flask):
        from scheduler.celery_app import make_celery, queue_name

        self.dispatcher = dispatcher
        self.app = app
        self.celery = make_celery(app)
        self.queue = queue_name(app)
        self.limit = _int_config(app, "LANTOA_CELERY_INFLIGHT", 2000)
        self.per_account = _int_config(app, "LANTOA_CELERY_ACCOUNT_INFLIGHT", 64)
        #: delivery ids per task
        self.batch = _int_config(app, "LANTOA_CELERY_BATCH", 16)
        self._submitted: list[int] = []
        self._lock = threading.Lock()

    def _inflight(self) -> int:
        with self.dispatcher.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(D).where(
                    D.c.status.in_([Status.queued.value, Status.sending.value]))
            ).scalar_one()

    def capacity(self) -> int:
        return self.limit - self._inflight()

    def busy_accounts(self) -> set[int]:
        with self.dispatcher.engine.connect() as conn:
            return {a for a, n in conn.execute(
                select(D.c.channel_account_id, func.count())
                .where(D.c.status.in_([Status.queued.value, Status.sending.value]))
                .group_by(D.c.channel_account_id)
            ) if n >= self.per_account}

    def wait_any(self, timeout: float) -> None:
        time.sleep(min(timeout, 0.1))

    def wait_capacity(self, timeout: float, need: int = 1) -> None:
        time.sleep(min(timeout, 0.1))

    def submit(self, claimed: Claimed) -> None:
        self.submit_many([claimed])

    def submit_many(self, claimed: list[Claimed]) -> None:
        """One ``lantoa.send_deliveries`` task per ``batch`` ids of one lease
        token (a claim has one token), instead of a task per delivery."""
        by_token: dict[str, list[int]] = {}
        for c in claimed:
            by_token.setdefault(c.token, []).append(c.id)
        for token, ids in by_token.items():
            for i in range(0, len(ids), self.batch):
                self.celery.send_task("lantoa.send_deliveries", args=[ids[i:i + self.batch], token],
                                      queue=self.queue)
        with self._lock:
            self._submitted.extend(c.id for c in claimed)

    def submit_job(self, job_id: int) -> None:
        self.celery.send_task("lantoa.run_job", args=[job_id], queue=self.queue)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every delivery enqueued by this executor left queued/sending."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            ids = list(self._submitted)
        while ids:
            with self.dispatcher.engine.connect() as conn:
                busy: set[int] = set()
                for i in range(0, len(ids), 500):
                    busy.update(r[0] for r in conn.execute(
                        select(D.c.id).where(D.c.id.in_(ids[i:i + 500]),
                                             D.c.status.in_([Status.queued.value, Status.sending.value]))
                    ))
            ids = [i for i in ids if i in busy]
            if not ids:
                break
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def results(self) -> dict[str, int]:
        with self._lock:
            ids = list(self._submitted)
        counts: Counter[str] = Counter()
        with self.dispatcher.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                for status, in conn.execute(select(D.c.status).where(D.c.id.in_(ids[i:i + 500]))):
                    counts[status] += 1
        return dict(counts)

    def shutdown(self, wait: bool = True) -> None:
        pass


def make_executor(app: Flask, dispatcher: Dispatcher):
    kind = str(app.config.get("LANTOA_EXECUTOR", "inline")).strip().lower()
    if kind == "celery":
        return CeleryExecutor(dispatcher, app)
    if kind != "inline":
        raise ValueError(f"LANTOA_EXECUTOR: '{kind}' không hợp lệ (inline hoặc celery).")
    return InlineExecutor(dispatcher, _int_config(app, "LANTOA_SEND_THREADS", 16))
