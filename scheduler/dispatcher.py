"""The dispatcher: claim due deliveries with a lease, send them, apply outcomes.

Ownership is by lease only. A claim is one guarded ``UPDATE`` (status,
``held``, due time, account active) that moves rows to ``queued`` and stamps
them with a lease token (``leased_by``) and ``lease_until``; on PostgreSQL the
candidate rows are picked with ``FOR UPDATE SKIP LOCKED`` so concurrent
dispatchers never wait on each other. Every later move of that delivery is a
guarded ``UPDATE ... WHERE status=... AND leased_by=<token>``, so a worker that
lost its lease can never overwrite what the reaper or another worker did.

Status changes follow ``scheduler.states``: the guarded statements take their
allowed source statuses from the transition table (``states.sources``) and
every single-row move is checked with ``check_transition``.

Time comes from an injected clock (``clock() -> aware UTC datetime``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import false, func, insert, or_, select, text, true, update
from sqlalchemy.engine import Connection

from channels.base import MediaFile, Message, Outcome, SendResult
from core.db import get_engine
from core.timeutil import utcnow
from scheduler.models import ChannelAccount, Delivery, DeliveryAttempt
from scheduler.policy import RetryPolicy
from scheduler.states import CLAIMABLE, WAITING, Status, check_transition
from scheduler.waves import wave_sender_for

log = logging.getLogger(__name__)

D = Delivery.__table__  # type: ignore[attr-defined]
A = ChannelAccount.__table__  # type: ignore[attr-defined]
ATT = DeliveryAttempt.__table__  # type: ignore[attr-defined]

Clock = Callable[[], datetime]

#: Why a delivery is where it is, in plain Vietnamese (shown in the UI).
REASONS = {
    "transient": "Nhà cung cấp tạm thời không nhận được tin; hệ thống sẽ tự gửi lại.",
    "rate_limited": "Nhà cung cấp yêu cầu gửi chậm lại; hệ thống sẽ tự gửi lại sau.",
    "exhausted": "Đã thử gửi nhiều lần nhưng không thành công.",
    "permanent": "Nhà cung cấp từ chối nội dung hoặc yêu cầu; gửi lại sẽ không giúp được.",
    "auth_expired": "Tài khoản kênh hết hạn đăng nhập hoặc mất quyền; cần kết nối lại tài khoản.",
    "parked": "Tạm dừng vì tài khoản kênh cần kết nối lại.",
    "ambiguous": "Không rõ tin đã đến nơi hay chưa; cần cán bộ kiểm tra trước khi gửi lại.",
    "unknown": "Quá trình gửi bị gián đoạn; không xác định được kết quả, cần kiểm tra.",
    "deferred": "Chưa đến khung giờ được phép gửi; đã dời lịch.",
    "missed": "Đã quá hạn gửi cho phép (lỡ lịch).",
    "config": "Cấu hình tài khoản kênh không hợp lệ.",
}


def real_app(app: Flask) -> Flask:
    """The Flask app behind ``current_app`` (threads cannot use the proxy)."""
    getter = getattr(app, "_get_current_object", None)
    return getter() if getter is not None else app


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def lease_seconds(app: Flask) -> float:
    raw = app.config.get("LANTOA_LEASE_SECONDS", "75")
    try:
        value = float(raw)
        if value <= 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"LANTOA_LEASE_SECONDS: giá trị '{raw}' không hợp lệ (số giây > 0).") from None
    return value


def _error_text(reason: str, result: SendResult | None) -> str:
    text = REASONS[reason]
    if result is not None and result.message:
        text += f" ({result.message[:300]})"
    return text


#: The claimable statuses as literal SQL (matches the partial index's predicate).
CLAIMABLE_SQL = text("delivery.status IN (" + ", ".join(f"'{s.value}'" for s in sorted(CLAIMABLE)) + ")")


@dataclass
class Claimed:
    id: int
    token: str
    account_id: int | None = None


class Dispatcher:
    """One process's view of the send side. Thread-safe: one per process is enough."""

    def __init__(
        self,
        app: Flask,
        *,
        clock: Clock | None = None,
        worker: str | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        lease: float | None = None,
    ):
        app = real_app(app)
        self.app = app
        self.engine = get_engine(app)
        self.clock: Clock = clock or utcnow
        self.worker = worker or default_worker_id()
        self.policy = policy or RetryPolicy.from_config(app.config)
        self.rng = rng or random.Random()
        self.lease = timedelta(seconds=lease if lease is not None else lease_seconds(app))
        self.is_pg = self.engine.dialect.name == "postgresql"
        #: SQLite file path for the raw hot path (None: in-memory or not SQLite)
        self.sqlite_path = None
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            self.sqlite_path = self.engine.url.database
        #: account id -> (built at, adapter, channel, encrypted secrets it was built with)
        self._adapters: dict[int, tuple[float, Any, str, str | None]] = {}
        self._adapters_lock = threading.Lock()
        self.adapter_ttl = 10.0
        self._local = threading.local()
        self._conns: list = []

    # -- time and tokens ---------------------------------------------------------------

    def now(self) -> datetime:
        value = self.clock()
        if value.tzinfo is None:
            raise ValueError("the dispatcher's clock must return aware datetimes")
        return value.astimezone(UTC)

    def new_token(self) -> str:
        return f"{self.worker}/{uuid.uuid4().hex[:12]}"

    # -- claiming ----------------------------------------------------------------------

    def expire_overdue(self) -> int:
        """Released deliveries still waiting past their ``not_after`` -> missed."""
        now = self.now()
        frm = [s.value for s in CLAIMABLE]
        for s in CLAIMABLE:
            check_transition(s, Status.missed)
        with self.engine.begin() as conn:
            # rows written by other code without a next_attempt_at become claimable
            conn.execute(
                update(D)
                .where(CLAIMABLE_SQL, D.c.next_attempt_at.is_(None))
                .values(next_attempt_at=D.c.scheduled_at)
            )
            # only rows already due are looked at (the partial index keeps this
            # cheap every second); a row deferred past its deadline becomes
            # missed when its time comes
            res = conn.execute(
                update(D)
                .where(
                    CLAIMABLE_SQL,
                    D.c.status.in_(frm),
                    D.c.next_attempt_at <= now,
                    D.c.held == false(),
                    D.c.not_after.is_not(None),
                    D.c.not_after < now,
                )
                .values(
                    status=Status.missed.value, last_outcome="missed", leased_by=None,
                    lease_until=None, last_error=REASONS["missed"], updated_at=now,
                )
            )
            return res.rowcount or 0

    def claim(self, limit: int, *, per_account: int | None = None,
              skip_accounts: Collection[int] = ()) -> list[Claimed]:
        """Atomically take up to ``limit`` due deliveries (oldest due first).

        ``per_account`` caps how many of one channel account one claim takes and
        ``skip_accounts`` leaves out accounts that already have enough in flight:
        a big wave on one account is paced by its token bucket, and must not
        fill every send thread while other accounts' deliveries wait."""
        if limit <= 0:
            return []
        now = self.now()
        token = self.new_token()
        frm = [s.value for s in CLAIMABLE]
        with self.engine.connect() as conn:
            inactive = [r[0] for r in conn.execute(select(A.c.id).where(A.c.status != "active"))]
        skip = sorted(set(skip_accounts) | set(inactive))
        conditions = [
            # literal, so the planner can use the partial index ix_delivery_claimable
            CLAIMABLE_SQL,
            D.c.held == false(),
            D.c.next_attempt_at <= now,
            or_(D.c.not_after.is_(None), D.c.not_after >= now),
        ]
        if skip:
            conditions.append(D.c.channel_account_id.not_in(skip))
        due = select(D.c.id).where(*conditions)
        if per_account:
            # rank per account only among the oldest due rows (bounded work per claim)
            window = due.add_columns(D.c.channel_account_id, D.c.next_attempt_at).order_by(
                D.c.next_attempt_at).limit(limit * 8).subquery("window")
            ranked = select(
                window.c.id,
                func.row_number().over(
                    partition_by=window.c.channel_account_id,
                    order_by=(window.c.next_attempt_at, window.c.id),
                ).label("rank"),
                window.c.next_attempt_at.label("due_at"),
            ).subquery("ranked")
            picked = (
                select(ranked.c.id).where(ranked.c.rank <= per_account)
                .order_by(ranked.c.due_at, ranked.c.id).limit(limit)
            )
            candidates = select(D.c.id).where(D.c.id.in_(picked.scalar_subquery()))
            if self.is_pg:
                candidates = candidates.with_for_update(skip_locked=True)
        else:
            candidates = due.order_by(D.c.next_attempt_at).limit(limit)
            if self.is_pg:
                candidates = candidates.with_for_update(skip_locked=True)
        stmt = (
            update(D)
            .where(D.c.id.in_(candidates.scalar_subquery()), D.c.status.in_(frm), D.c.held == false())
            .values(
                status=Status.queued.value, leased_by=token, lease_until=now + self.lease,
                updated_at=now,
            )
            .returning(D.c.id, D.c.channel_account_id)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(stmt).all()
        return [Claimed(i, token, acct) for i, acct in sorted(rows)]

    # -- sending -----------------------------------------------------------------------

    def renew_lease(self, delivery_id: int, token: str) -> bool:
        """Extend a sending delivery's lease; False if the lease was lost."""
        now = self.now()
        with self.engine.begin() as conn:
            res = conn.execute(
                update(D)
                .where(D.c.id == delivery_id, D.c.status == Status.sending.value, D.c.leased_by == token)
                .values(lease_until=now + self.lease)
            )
            return res.rowcount == 1

    def _account_adapter(self, account_id: int):
        """(adapter, channel) for an account, cached briefly per process."""
        from scheduler.accounts import build_adapter

        mono = time.monotonic()
        with self._adapters_lock:
            hit = self._adapters.get(account_id)
            if hit is not None and mono - hit[0] < self.adapter_ttl:
                return hit[1], hit[2]
        with self.engine.connect() as conn:
            row = conn.execute(select(A).where(A.c.id == account_id)).first()
        if row is None:
            raise LookupError(f"channel account {account_id} not found")
        account = ChannelAccount(
            id=row.id, channel=row.channel, name=row.name, config=row.config,
            secrets_encrypted=row.secrets_encrypted, status=row.status,
        )
        adapter = build_adapter(account, self.app, clock=self.clock)
        with self._adapters_lock:
            self._adapters[account_id] = (mono, adapter, account.channel, account.secrets_encrypted)
        return adapter, account.channel

    def _credentials_changed(self, account_id: int) -> bool:
        """True when the account's secrets differ from those the cached adapter
        was built with (reconnected meanwhile): an auth failure then says
        nothing about the new credentials."""
        with self._adapters_lock:
            hit = self._adapters.get(account_id)
        if hit is None:
            return False
        with self.engine.connect() as conn:
            current = conn.execute(select(A.c.secrets_encrypted).where(A.c.id == account_id)).scalar()
        return current != hit[3]

    def forget_adapter(self, account_id: int) -> None:
        with self._adapters_lock:
            self._adapters.pop(account_id, None)

    def build_message(self, row) -> Message:
        content = row.content or {}
        base = str(self.app.config.get("LANTOA_PUBLIC_BASE_URL", "")).rstrip("/")
        media = []
        for m in content.get("media") or []:
            url = m.get("url")
            if not url and m.get("public_token") and base:
                # unguessable public path, for providers that fetch media by URL
                url = f"{base}/m/{m['public_token']}"
            media.append(
                MediaFile(
                    path=m.get("path", ""), mime=m.get("mime", "application/octet-stream"), url=url,
                    size=m.get("size"), width=m.get("width"), height=m.get("height"),
                    duration=m.get("duration"),
                )
            )
        return Message(
            idempotency_key=row.idempotency_key,
            text=content.get("text") or "",
            title=content.get("title"),
            media=tuple(media),
            options=content.get("options") or {},
            to=content.get("to"),
            delivery_id=row.id,
            campaign_id=row.campaign_id,
            scheduled_at=row.scheduled_at,
            not_after=row.not_after,
        )

    def send(self, delivery_id: int, token: str) -> str | None:
        """Send one claimed delivery. Returns its new status, or None when the
        lease was no longer ours (someone else owns it now: do nothing)."""
        now = self.now()
        started = self._start(delivery_id, token, now)
        if started is None:
            return self._release_held(delivery_id, token, now)
        row, attempt_id = started
        if row.not_after is not None and now > row.not_after:
            result = SendResult(Outcome.EXPIRED, message="deadline passed before the worker got to it")
            return self.apply(delivery_id, token, attempt_id, row, result)

        try:
            adapter, channel = self._account_adapter(row.channel_account_id)
            message = self.build_message(row)
        except Exception as exc:  # noqa: BLE001 - bad account config is data, not a crash
            log.warning("delivery %s: cannot build adapter: %s", delivery_id, exc)
            result = SendResult(Outcome.PERMANENT, message=f"{type(exc).__name__}: {exc}")
            return self.apply(delivery_id, token, attempt_id, row, result, config_error=True)

        wave = wave_sender_for(channel)
        heartbeat = None
        if wave is not None or getattr(adapter, "long_running", False):
            heartbeat = _Heartbeat(self, delivery_id, token)
            heartbeat.start()
        try:
            if wave is not None:
                try:
                    result = wave(self.app, row, adapter, lambda: self.renew_lease(delivery_id, token))
                except Exception as exc:  # noqa: BLE001 - part of a wave may have gone out
                    log.exception("wave sender for %s crashed", channel)
                    result = SendResult(Outcome.AMBIGUOUS, message=f"wave error: {type(exc).__name__}: {exc}")
                if not isinstance(result, SendResult):
                    result = SendResult(Outcome.AMBIGUOUS, message="wave sender returned no SendResult")
            else:
                result = adapter.deliver(message)
            lookup_result = None
            if result.outcome == Outcome.AUTH_EXPIRED and self._credentials_changed(row.channel_account_id):
                self.forget_adapter(row.channel_account_id)
                result = SendResult(
                    Outcome.TRANSIENT, http_status=result.http_status, provider_code=result.provider_code,
                    message="credentials were renewed during the send; retrying with the new ones",
                )
            if result.outcome == Outcome.AMBIGUOUS:
                lookup_result = self._lookup(adapter, message, result)
        finally:
            if heartbeat is not None:
                heartbeat.stop()
        return self.apply(delivery_id, token, attempt_id, row, result, lookup_result=lookup_result,
                          account_id=row.channel_account_id)

    def _release_held(self, delivery_id: int, token: str, now: datetime) -> str | None:
        """A claimed delivery whose campaign was paused (or sent back) before a
        worker got to it: back to ``scheduled``, still held, nothing sent and
        no attempt spent. None when the row is not ours for another reason."""
        check_transition(Status.queued, Status.scheduled)
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(D)
                .where(D.c.id == delivery_id, D.c.status == Status.queued.value,
                       D.c.leased_by == token, D.c.held == true())
                .values(status=Status.scheduled.value, leased_by=None, lease_until=None, updated_at=now)
            ).rowcount
        return Status.scheduled.value if moved else None

    _SEND_COLUMNS = ("id", "channel_account_id", "campaign_id", "content", "idempotency_key",
                     "scheduled_at", "not_after", "attempts", "max_attempts")

    def _start(self, delivery_id: int, token: str, now: datetime):
        """queued -> sending (guarded by the lease token) and the attempt row,
        in one transaction. Returns (row, attempt_id) or None if not ours."""
        check_transition(Status.queued, Status.sending)
        if self.is_pg:
            # One round trip: both writes as data-modifying CTEs of one statement.
            row = self._raw(_PG_START, {"id": delivery_id, "token": token, "now": now,
                                        "lease_until": now + self.lease, "worker": self.worker})
            return None if row is None else (row, row.attempt_id)
        if self.sqlite_path:
            return self._sqlite_start(delivery_id, token, now)
        move = (
            update(D)
            .where(D.c.id == delivery_id, D.c.status == Status.queued.value, D.c.leased_by == token,
                   D.c.held == false())
            .values(status=Status.sending.value, lease_until=now + self.lease, updated_at=now)
        )
        cols = [D.c[name] for name in self._SEND_COLUMNS]
        number = (
            select(func.coalesce(func.max(ATT.c.number), 0) + 1)
            .where(ATT.c.delivery_id == delivery_id)
            .scalar_subquery()
        )
        with self.engine.begin() as conn:
            row = conn.execute(move.returning(*cols)).first()
            if row is None:
                return None
            attempt_id = conn.execute(
                insert(ATT)
                .values(delivery_id=delivery_id, number=number, worker=self.worker, started_at=now)
                .returning(ATT.c.id)
            ).scalar_one()
        return row, attempt_id

    def _raw(self, sql: str, params: dict):
        """One statement on this thread's own autocommit psycopg connection, first
        row as a named tuple (PostgreSQL hot path: no pool checkout, no
        BEGIN/COMMIT round trips, no statement building)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # a dedicated connection per send thread, outside the pool (which
            # stays free for claims, the reaper and the web side)
            import psycopg
            from psycopg.rows import namedtuple_row

            url = self.engine.url.set(drivername="postgresql")
            driver = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            conn = self._local.conn = (driver, driver.cursor(row_factory=namedtuple_row))
            with self._adapters_lock:
                self._conns.append(conn)
        try:
            cur = conn[1]
            cur.execute(sql, params, prepare=True)
            return cur.fetchone()
        except Exception:
            self._local.conn = None
            try:
                conn[0].close()
            except Exception:  # noqa: BLE001
                pass
            raise

    # -- SQLite hot path: the same two transactions on a per-thread sqlite3
    # connection, without building SQLAlchemy statements for every delivery.

    def _sqlite(self):
        conn = getattr(self._local, "sqlite", None)
        if conn is None:
            import sqlite3

            conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.sqlite = conn
            with self._adapters_lock:
                self._conns.append((conn, None))
        return conn

    def _sqlite_tx(self, work):
        conn = self._sqlite()
        try:
            conn.execute("BEGIN IMMEDIATE")
            out = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the connection is dropped below
                self._local.sqlite = None
            raise
        return out

    def _sqlite_start(self, delivery_id: int, token: str, now: datetime):
        stamp = _sqlite_time(now)

        def work(conn):
            row = conn.execute(_SQLITE_START_MOVE, (_sqlite_time(now + self.lease), stamp, delivery_id,
                                                    token)).fetchone()
            if row is None:
                return None
            attempt_id = conn.execute(_SQLITE_START_ATTEMPT,
                                      (delivery_id, delivery_id, self.worker, stamp)).fetchone()[0]
            return row, attempt_id

        out = self._sqlite_tx(work)
        if out is None:
            return None
        raw, attempt_id = out
        row = _SendRow(
            id=raw[0], channel_account_id=raw[1], campaign_id=raw[2],
            content=json.loads(raw[3]) if raw[3] else {}, idempotency_key=raw[4],
            scheduled_at=_sqlite_parse(raw[5]), not_after=_sqlite_parse(raw[6]), attempts=raw[7],
            max_attempts=raw[8], attempt_id=attempt_id,
        )
        return row, attempt_id

    def _sqlite_apply(self, delivery_id: int, token: str, attempt_id: int, target: Status, values: dict,
                      result: SendResult, ext: str | None, now: datetime) -> bool:
        stamp = _sqlite_time(now)
        cols = sorted(values)
        sets = "".join(f", {c} = ?" for c in cols)
        assert set(cols) <= _APPLY_COLUMNS, cols
        params: list[Any] = [target.value, stamp]
        for c in cols:
            v = values[c]
            params.append(_sqlite_time(v) if isinstance(v, datetime) else v)
        params += [delivery_id, token]

        def work(conn):
            conn.execute(_SQLITE_RECORD, (stamp, result.outcome.value, result.provider_code,
                                          result.http_status, result.retry_after,
                                          result.message or None, ext, attempt_id))
            return conn.execute(
                "UPDATE delivery SET status = ?, leased_by = NULL, lease_until = NULL, updated_at = ?"
                + sets + " WHERE id = ? AND status = 'sending' AND leased_by = ? RETURNING id", params
            ).fetchone()

        return self._sqlite_tx(work) is not None

    def close(self) -> None:
        """Return the send threads' connections to the pool."""
        with self._adapters_lock:
            conns, self._conns = self._conns, []
        for driver, cur in conns:
            try:
                if cur is not None:
                    cur.close()
                driver.close()
            except Exception:  # noqa: BLE001
                pass

    def _lookup(self, adapter, message: Message, last: SendResult | None) -> SendResult | None:
        try:
            return adapter.lookup(message, last)
        except Exception as exc:  # noqa: BLE001 - no answer is an answer: needs review
            log.warning("lookup failed for delivery %s: %s", message.delivery_id, exc)
            return None

    def _move(self, conn: Connection, delivery_id: int, frm: Status, to: Status, token: str | None,
              **values) -> bool:
        """One guarded single-row move that the transition table allows."""
        check_transition(frm, to)
        cond = [D.c.id == delivery_id, D.c.status == frm.value]
        if token is not None:
            cond.append(D.c.leased_by == token)
        values.setdefault("updated_at", self.now())
        if to not in (Status.queued, Status.sending):
            values.setdefault("leased_by", None)
            values.setdefault("lease_until", None)
        res = conn.execute(update(D).where(*cond).values(status=to.value, **values))
        return res.rowcount == 1

    def decide(self, result: SendResult, lookup_result: SendResult | None, attempts: int,
               max_attempts: int | None, now: datetime, *, config_error: bool = False
               ) -> tuple[Status, dict]:
        """The status a sending delivery moves to for this outcome, and the
        column values that go with it (pure: no database)."""
        outcome = result.outcome
        spent = attempts + 1
        base = {"last_outcome": outcome.value}
        delivered = result.delivered or (lookup_result is not None and lookup_result.delivered)
        if delivered:
            ext = result.external_id if result.delivered or lookup_result is None else lookup_result.external_id
            return Status.sent, {**base, "sent_at": now, "external_id": ext, "attempts": spent,
                                 "last_error": None}
        reason = outcome.value
        if outcome == Outcome.AMBIGUOUS:
            if lookup_result is None or lookup_result.outcome not in (Outcome.PERMANENT, Outcome.TRANSIENT):
                return Status.needs_review, {**base, "attempts": spent,
                                             "last_error": _error_text("ambiguous", result)}
            reason = "transient"  # the provider surely does not have it: an ordinary retry is safe
        if outcome in (Outcome.TRANSIENT, Outcome.RATE_LIMITED, Outcome.AMBIGUOUS):
            if self.policy.exhausted(spent, max_attempts):
                return Status.failed, {**base, "attempts": spent,
                                       "last_error": _error_text("exhausted", result)}
            delay = self.policy.backoff(spent, result.retry_after, self.rng)
            return Status.retry_wait, {**base, "attempts": spent,
                                       "next_attempt_at": now + timedelta(seconds=delay),
                                       "last_error": _error_text(reason, result)}
        if outcome == Outcome.AUTH_EXPIRED:  # spends no attempt
            return Status.needs_auth, {**base, "last_error": _error_text("auth_expired", result)}
        if outcome == Outcome.DEFERRED:  # spends no attempt
            retry_at = result.retry_at or (now + timedelta(seconds=self.policy.base))
            return Status.scheduled, {**base, "next_attempt_at": retry_at,
                                      "last_error": _error_text("deferred", result)}
        if outcome == Outcome.EXPIRED:
            return Status.missed, {**base, "last_error": _error_text("missed", result)}
        return Status.failed, {**base, "attempts": spent,
                               "last_error": _error_text("config" if config_error else "permanent", result)}

    def apply(self, delivery_id: int, token: str, attempt_id: int, row, result: SendResult,
              *, lookup_result: SendResult | None = None, config_error: bool = False,
              account_id: int | None = None) -> str | None:
        """Record the attempt and move the delivery according to the outcome.

        ``row`` is what the queued -> sending move returned; while the lease is
        ours nobody else changes the row, so its ``attempts`` is current."""
        now = self.now()
        target, values = self.decide(result, lookup_result, row.attempts, row.max_attempts, now,
                                     config_error=config_error)
        ext = result.external_id or (lookup_result.external_id if lookup_result else None)
        record: Any = True
        if self.is_pg and target != Status.needs_auth:
            # One round trip: the attempt and the guarded move in one statement.
            check_transition(Status.sending, target)
            cols = sorted(values)
            params = {f"v_{c}": values[c] for c in cols}
            params.update(id=delivery_id, token=token, now=now, to=target.value, aid=attempt_id,
                          outcome=result.outcome.value, pc=result.provider_code, hs=result.http_status,
                          ra=result.retry_after, err=(result.message or None), ext=ext)
            if self._raw(_pg_apply_sql(tuple(cols)), params) is not None:
                return target.value
            record = None  # already written
        elif self.sqlite_path and target != Status.needs_auth:
            check_transition(Status.sending, target)
            if self._sqlite_apply(delivery_id, token, attempt_id, target, values, result, ext, now):
                return target.value
            record = None  # already written
        with self.engine.begin() as conn:
            if record is not None:
                conn.execute(update(ATT).where(ATT.c.id == attempt_id).values(
                    ended_at=now, outcome=result.outcome.value, provider_code=result.provider_code,
                    http_status=result.http_status, retry_after=result.retry_after,
                    error=(result.message or None), external_id=ext,
                ))
            if self._move(conn, delivery_id, Status.sending, target, token, updated_at=now, **values):
                if target == Status.needs_auth:
                    self._park_account(conn, account_id or row.channel_account_id, now)
                return target.value
            # The lease was lost (the reaper moved it to unknown). A delivered
            # answer still settles an unknown delivery; nothing else may.
            if target == Status.sent and self._move(conn, delivery_id, Status.unknown, Status.sent, None,
                                                    updated_at=now, **values):
                return Status.sent.value
        log.warning("delivery %s: lease lost before the outcome (%s) was applied",
                    delivery_id, result.outcome.value)
        return None

    def _park_account(self, conn: Connection, account_id: int, now: datetime) -> int:
        """The account needs re-authorising: stop claiming for it and park its
        waiting deliveries as needs_auth (no attempt spent)."""
        conn.execute(update(A).where(A.c.id == account_id).values(status="needs_auth"))
        for s in WAITING:
            check_transition(s, Status.needs_auth)
        res = conn.execute(
            update(D)
            .where(D.c.channel_account_id == account_id, D.c.status.in_([s.value for s in WAITING]))
            .values(status=Status.needs_auth.value, leased_by=None, lease_until=None,
                    last_error=REASONS["parked"], updated_at=now)
        )
        self.forget_adapter(account_id)
        return res.rowcount or 0

    # -- recovery ----------------------------------------------------------------------

    def reap(self) -> dict[str, int]:
        """Expired leases: queued -> scheduled (nothing was sent); sending ->
        unknown -> lookup() -> sent | needs_review (never a blind resend)."""
        now = self.now()
        check_transition(Status.queued, Status.scheduled)
        check_transition(Status.sending, Status.unknown)
        with self.engine.begin() as conn:
            requeued = conn.execute(
                update(D)
                .where(D.c.status == Status.queued.value, D.c.lease_until < now)
                .values(status=Status.scheduled.value, leased_by=None, lease_until=None, updated_at=now)
            ).rowcount or 0
            stale = [
                (r.id, r.leased_by)
                for r in conn.execute(
                    update(D)
                    .where(D.c.status == Status.sending.value, D.c.lease_until < now)
                    .values(status=Status.unknown.value, lease_until=None, updated_at=now,
                            last_outcome="unknown", last_error=REASONS["unknown"])
                    .returning(D.c.id, D.c.leased_by)
                )
            ]
        counts = {"requeued": requeued, "unknown": len(stale), "reconciled_sent": 0, "needs_review": 0}
        for delivery_id, _token in stale:
            status = self.reconcile_unknown(delivery_id)
            if status == Status.sent.value:
                counts["reconciled_sent"] += 1
            elif status == Status.needs_review.value:
                counts["needs_review"] += 1
        # unknown rows left over by a crash of the reaper itself
        with self.engine.connect() as conn:
            leftover = [r[0] for r in conn.execute(
                select(D.c.id).where(D.c.status == Status.unknown.value, D.c.leased_by.is_not(None),
                                     D.c.updated_at < now - self.lease)
            )]
        for delivery_id in leftover:
            self.reconcile_unknown(delivery_id)
        return counts

    def reconcile_unknown(self, delivery_id: int) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(D).where(D.c.id == delivery_id)).first()
        if row is None or row.status != Status.unknown.value:
            return None
        answer = None
        try:
            adapter, _channel = self._account_adapter(row.channel_account_id)
            answer = self._lookup(adapter, self.build_message(row), None)
        except Exception as exc:  # noqa: BLE001
            log.warning("delivery %s: no lookup possible: %s", delivery_id, exc)
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(
                update(ATT)
                .where(ATT.c.delivery_id == delivery_id, ATT.c.ended_at.is_(None))
                .values(ended_at=now, outcome="unknown", error="lease expired during the send")
            )
            if answer is not None and answer.delivered:
                self._move(conn, delivery_id, Status.unknown, Status.sent, None, sent_at=now,
                           external_id=answer.external_id, last_outcome="sent", last_error=None,
                           attempts=row.attempts + 1)
                return Status.sent.value
            self._move(conn, delivery_id, Status.unknown, Status.needs_review, None,
                       last_outcome="unknown", last_error=REASONS["unknown"], attempts=row.attempts + 1)
            return Status.needs_review.value


_PG_START = """
WITH moved AS (
    UPDATE delivery SET status = 'sending', lease_until = %(lease_until)s, updated_at = %(now)s
    WHERE id = %(id)s AND status = 'queued' AND leased_by = %(token)s AND NOT held
    RETURNING id, channel_account_id, campaign_id, content, idempotency_key, scheduled_at,
              not_after, attempts, max_attempts
), attempt AS (
    INSERT INTO delivery_attempt (delivery_id, number, worker, started_at)
    SELECT moved.id,
           (SELECT coalesce(max(number), 0) + 1 FROM delivery_attempt WHERE delivery_id = %(id)s),
           %(worker)s, %(now)s
    FROM moved
    RETURNING id
)
SELECT moved.*, attempt.id AS attempt_id FROM moved, attempt
"""

_APPLY_COLUMNS = frozenset({"last_outcome", "last_error", "attempts", "sent_at", "external_id",
                            "next_attempt_at"})
_pg_apply_cache: dict[tuple[str, ...], str] = {}


def _pg_apply_sql(cols: tuple[str, ...]) -> str:
    """The attempt record and the guarded sending -> target move, one statement."""
    sql = _pg_apply_cache.get(cols)
    if sql is None:
        assert set(cols) <= _APPLY_COLUMNS, cols
        sets = "".join(f", {c} = %(v_{c})s" for c in cols)
        sql = f"""
WITH recorded AS (
    UPDATE delivery_attempt SET ended_at = %(now)s, outcome = %(outcome)s, provider_code = %(pc)s,
        http_status = %(hs)s, retry_after = %(ra)s, error = %(err)s, external_id = %(ext)s
    WHERE id = %(aid)s
    RETURNING id
)
UPDATE delivery SET status = %(to)s, leased_by = NULL, lease_until = NULL, updated_at = %(now)s{sets}
WHERE id = %(id)s AND status = 'sending' AND leased_by = %(token)s
RETURNING id
"""
        _pg_apply_cache[cols] = sql
    return sql


_SQLITE_START_MOVE = """
UPDATE delivery SET status = 'sending', lease_until = ?, updated_at = ?
WHERE id = ? AND status = 'queued' AND leased_by = ? AND NOT held
RETURNING id, channel_account_id, campaign_id, content, idempotency_key, scheduled_at, not_after,
          attempts, max_attempts
"""
_SQLITE_START_ATTEMPT = """
INSERT INTO delivery_attempt (delivery_id, number, worker, started_at)
VALUES (?, (SELECT coalesce(max(number), 0) + 1 FROM delivery_attempt WHERE delivery_id = ?), ?, ?)
RETURNING id
"""
_SQLITE_RECORD = """
UPDATE delivery_attempt SET ended_at = ?, outcome = ?, provider_code = ?, http_status = ?,
    retry_after = ?, error = ?, external_id = ?
WHERE id = ?
"""


@dataclass
class _SendRow:
    """What the send needs of a delivery (as the PostgreSQL path's row)."""

    id: int
    channel_account_id: int
    campaign_id: int | None
    content: dict
    idempotency_key: str
    scheduled_at: datetime | None
    not_after: datetime | None
    attempts: int
    max_attempts: int | None
    attempt_id: int


def _sqlite_time(value: datetime) -> str:
    """How SQLAlchemy (UTCDateTime) stores a time in SQLite: naive UTC text."""
    return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_parse(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class _Heartbeat:
    """Renews a delivery's lease every third of the lease while a long send runs."""

    def __init__(self, dispatcher: Dispatcher, delivery_id: int, token: str):
        self.dispatcher = dispatcher
        self.delivery_id = delivery_id
        self.token = token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"lease-{delivery_id}")
        self.renewals = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        interval = max(0.05, self.dispatcher.lease.total_seconds() / 3.0)
        while not self._stop.wait(interval):
            try:
                if not self.dispatcher.renew_lease(self.delivery_id, self.token):
                    return
                self.renewals += 1
            except Exception:  # noqa: BLE001 - try again next beat
                log.exception("lease renewal failed for delivery %s", self.delivery_id)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
