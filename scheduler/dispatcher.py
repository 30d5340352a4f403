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
from sqlalchemy import (
    BigInteger,
    Integer,
    all_,
    bindparam,
    false,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
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


#: ``send``/``apply`` with ``on_recorded``: the outcome is being written
RECORDING = "recording"


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
        #: account id -> (checked at, adapter, channel, encrypted secrets it was built with,
        #: (channel, config, secrets) fingerprint of the row it was built from)
        self._adapters: dict[int, tuple[float, Any, str, str | None, tuple]] = {}
        self._adapters_lock = threading.Lock()
        self._build_locks: dict[int, threading.Lock] = {}
        self.adapter_ttl = 10.0
        self._local = threading.local()
        self._conns: list = []
        #: PostgreSQL: concurrent send threads' queued -> sending moves and
        #: outcome records go out as one statement per batch (group commit)
        self._start_batch = Combiner(self._pg_start_many)
        self._apply_batch = Combiner(self._pg_apply_many)
        self._writer: _OutcomeWriter | None = None
        #: seconds the outcome writer lets outcomes gather before recording them
        #: (fewer, larger commits: less database CPU, and the WAL left to the
        #: latency-critical starts); ``flush_soon()`` ends a gathering early. The
        #: inline executor and Celery workers set it.
        self.outcome_gather = 0.0
        #: (per_account, skip) -> (SQL, constant parameters) of the PostgreSQL claim
        self._claim_compiled: dict[tuple[bool, bool], tuple[str, dict]] = {}

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
        skip = sorted(set(skip_accounts))
        params = {"c_now": now, "c_token": token, "c_lease": now + self.lease, "c_limit": limit,
                  "c_window": limit * 8, "c_per": per_account or 0}
        if self.is_pg:
            # the same statement, compiled once per shape and run on this
            # thread's own connection (building and compiling it took more CPU
            # than the database spent on it)
            sql, static = self._claim_sql(bool(per_account), bool(skip))
            rows = self._raw_all(sql, {**static, **params, "c_skip": skip})
        else:
            stmt = self._claim_statement(bool(per_account), skip or None)
            with self.engine.begin() as conn:
                rows = list(conn.execute(stmt, params))
        out = sorted((r[0], r[1]) for r in rows)
        return [Claimed(i, token, acct) for i, acct in out]

    def _claim_statement(self, per_account: bool, skip: list[int] | bool | None):
        """The claim as one guarded ``UPDATE ... RETURNING`` with bind parameters
        ``c_now``, ``c_token``, ``c_lease``, ``c_limit``, ``c_window`` (rows looked
        at when ranking per account), ``c_per``; ``skip`` is a list of account ids
        to leave out, or True for a ``c_skip`` array parameter (PostgreSQL)."""
        now = bindparam("c_now", type_=D.c.next_attempt_at.type)
        conditions = [
            # literal, so the planner can use the partial index ix_delivery_claimable
            CLAIMABLE_SQL,
            D.c.held == false(),
            D.c.next_attempt_at <= now,
            or_(D.c.not_after.is_(None), D.c.not_after >= now),
            # only active accounts' deliveries (in the same statement: one round trip)
            D.c.channel_account_id.not_in(select(A.c.id).where(A.c.status != "active").scalar_subquery()),
        ]
        if skip is True:
            conditions.append(D.c.channel_account_id != all_(bindparam("c_skip", type_=ARRAY(BigInteger))))
        elif skip:
            conditions.append(D.c.channel_account_id.not_in(skip))
        due = select(D.c.id).where(*conditions)
        if per_account:
            # rank per account only among the oldest due rows (bounded work per claim)
            window = due.add_columns(D.c.channel_account_id, D.c.next_attempt_at).order_by(
                D.c.next_attempt_at).limit(bindparam("c_window", type_=Integer)).subquery("window")
            ranked = select(
                window.c.id,
                func.row_number().over(
                    partition_by=window.c.channel_account_id,
                    order_by=(window.c.next_attempt_at, window.c.id),
                ).label("rank"),
                window.c.next_attempt_at.label("due_at"),
            ).subquery("ranked")
            picked = (
                select(ranked.c.id).where(ranked.c.rank <= bindparam("c_per", type_=Integer))
                .order_by(ranked.c.due_at, ranked.c.id).limit(bindparam("c_limit", type_=Integer))
            )
            candidates = select(D.c.id).where(D.c.id.in_(picked.scalar_subquery()))
        else:
            candidates = due.order_by(D.c.next_attempt_at).limit(bindparam("c_limit", type_=Integer))
        if self.is_pg:
            candidates = candidates.with_for_update(skip_locked=True)
        return (
            update(D)
            .where(D.c.id.in_(candidates.scalar_subquery()), CLAIMABLE_SQL, D.c.held == false())
            .values(
                status=Status.queued.value, leased_by=bindparam("c_token", type_=D.c.leased_by.type),
                lease_until=bindparam("c_lease", type_=D.c.lease_until.type), updated_at=now,
            )
            .returning(D.c.id, D.c.channel_account_id)
        )

    def _claim_sql(self, per_account: bool, skip: bool) -> tuple[str, dict]:
        """The PostgreSQL claim statement as SQL text for the driver and its
        constant parameters, compiled once per shape."""
        key = (per_account, skip)
        hit = self._claim_compiled.get(key)
        if hit is None:
            compiled = self._claim_statement(per_account, True if skip else None).compile(
                dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
            static = {k: v for k, v in compiled.params.items() if not k.startswith("c_")}
            hit = self._claim_compiled[key] = (str(compiled), static)
        return hit

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
        """(adapter, channel) for an account, cached per process.

        After ``adapter_ttl`` seconds the account row is read again; an
        unchanged row (channel, config, secrets) keeps the same adapter (and
        its HTTP connection pool), a changed one builds a new adapter. One
        build per account at a time: concurrent send threads wait for it."""
        mono = time.monotonic()
        with self._adapters_lock:
            hit = self._adapters.get(account_id)
            if hit is not None and mono - hit[0] < self.adapter_ttl:
                return hit[1], hit[2]
            build_lock = self._build_locks.setdefault(account_id, threading.Lock())
        with build_lock:
            with self._adapters_lock:
                hit = self._adapters.get(account_id)
                if hit is not None and time.monotonic() - hit[0] < self.adapter_ttl:
                    return hit[1], hit[2]
            with self.engine.connect() as conn:
                row = conn.execute(select(A).where(A.c.id == account_id)).first()
            if row is None:
                raise LookupError(f"channel account {account_id} not found")
            fingerprint = (row.channel, row.config, row.secrets_encrypted)
            if hit is not None and hit[4] == fingerprint:
                adapter = hit[1]
            else:
                from scheduler.accounts import build_adapter

                account = ChannelAccount(
                    id=row.id, channel=row.channel, name=row.name, config=row.config,
                    secrets_encrypted=row.secrets_encrypted, status=row.status,
                )
                adapter = build_adapter(account, self.app, clock=self.clock)
            with self._adapters_lock:
                self._adapters[account_id] = (time.monotonic(), adapter, row.channel, row.secrets_encrypted,
                                              fingerprint)
            return adapter, row.channel

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

    def send(self, delivery_id: int, token: str, *,
             on_recorded: Callable[[str | None], None] | None = None) -> str | None:
        """Send one claimed delivery. Returns its new status, or None when the
        lease was no longer ours (someone else owns it now: do nothing).

        With ``on_recorded``, the outcome may be recorded behind (see
        ``apply``): ``RECORDING`` is returned and ``on_recorded(status)`` called
        later; any other return value means the callback is never called."""
        now = self.now()
        started = self._start(delivery_id, token, now)
        if started is None:
            return self._release_held(delivery_id, token, now)
        row, attempt_id = started
        if row.not_after is not None and now > row.not_after:
            result = SendResult(Outcome.EXPIRED, message="deadline passed before the worker got to it")
            return self.apply(delivery_id, token, attempt_id, row, result, on_recorded=on_recorded)

        try:
            adapter, channel = self._account_adapter(row.channel_account_id)
            message = self.build_message(row)
        except Exception as exc:  # noqa: BLE001 - bad account config is data, not a crash
            log.warning("delivery %s: cannot build adapter: %s", delivery_id, exc)
            result = SendResult(Outcome.PERMANENT, message=f"{type(exc).__name__}: {exc}")
            return self.apply(delivery_id, token, attempt_id, row, result, config_error=True,
                                  on_recorded=on_recorded)

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
                          account_id=row.channel_account_id, on_recorded=on_recorded)

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
            # Both writes as data-modifying CTEs of one statement, batched with
            # what other send threads start at the same moment.
            row = self._start_batch((delivery_id, token, now))
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

    def _pg_cursor(self):
        """This thread's own autocommit psycopg connection and cursor
        (PostgreSQL hot path: no pool checkout, no BEGIN/COMMIT round trips, no
        statement building)."""
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
        return conn

    def _raw_rows(self, sql: str, params: dict, *, first: bool = False):
        conn = self._pg_cursor()
        try:
            cur = conn[1]
            cur.execute(sql, params, prepare=True)
            return cur.fetchone() if first else cur.fetchall()
        except Exception:
            self._local.conn = None
            try:
                conn[0].close()
            except Exception:  # noqa: BLE001
                pass
            raise

    def _raw(self, sql: str, params: dict):
        """One statement on this thread's own connection, first row as a named tuple."""
        return self._raw_rows(sql, params, first=True)

    def _raw_all(self, sql: str, params: dict) -> list:
        """One statement on this thread's own connection, all rows."""
        return self._raw_rows(sql, params)

    def _pg_start_many(self, items: list[tuple[int, str, datetime]]) -> list:
        """queued -> sending plus the attempt row for a batch of (id, token,
        now), one statement. Each id's row goes to the first request naming it
        (a repeated request for the same delivery gets None: never two sends)."""
        lease = self.lease
        batch = json.dumps([[i, t, n.isoformat(), (n + lease).isoformat()] for i, t, n in items])
        rows = self._raw_all(_PG_START_MANY, {"batch": batch, "ids": _pg_ids(i for i, _t, _n in items),
                                              "worker": self.worker})
        by_id = {r.id: r for r in rows}
        out = []
        for delivery_id, _t, _n in items:
            out.append(by_id.pop(delivery_id, None))
        return out

    def _pg_apply_many(self, items: list[_Outcome]) -> list[bool]:
        """The attempt records and guarded sending -> target moves of a batch of
        outcomes, one statement per set of changed columns. True where the
        move happened (the lease was still ours)."""
        done: set[int] = set()
        groups: dict[tuple[str, ...], list[_Outcome]] = {}
        for o in items:
            groups.setdefault(tuple(sorted(o.values)), []).append(o)
        for cols, group in groups.items():
            rows = []
            for o in group:
                r = o.result
                row = [o.delivery_id, o.token, o.attempt_id, o.target, o.now.isoformat(), r.outcome.value,
                       r.provider_code, r.http_status,
                       None if r.retry_after is None else float(r.retry_after), r.message or None, o.ext]
                for c in cols:
                    v = o.values[c]
                    row.append(v.isoformat() if isinstance(v, datetime) else v)
                rows.append(row)
            params = {"batch": json.dumps(rows), "ids": _pg_ids(o.delivery_id for o in group),
                      "aids": _pg_ids(o.attempt_id for o in group)}
            done.update(r[0] for r in self._raw_all(_pg_apply_many_sql(cols), params))
        # a repeated outcome for the same delivery counts once
        seen: set[int] = set()
        out = []
        for o in items:
            ok = o.delivery_id in done and o.delivery_id not in seen
            seen.add(o.delivery_id)
            out.append(ok)
        return out

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
        """Record what the outcome writer holds, then close the send threads'
        connections."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()
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
              account_id: int | None = None,
              on_recorded: Callable[[str | None], None] | None = None) -> str | None:
        """Record the attempt and move the delivery according to the outcome.

        ``row`` is what the queued -> sending move returned; while the lease is
        ours nobody else changes the row, so its ``attempts`` is current.

        With ``on_recorded`` (PostgreSQL), an ordinary outcome is handed to this
        process's outcome writer, which records it with others in one
        statement; ``RECORDING`` is returned at once and ``on_recorded(status)``
        is called once it is written. Until then the delivery is ``sending``
        under its lease, exactly as during the send: a crash in between is
        recovered by the reaper (unknown -> lookup), never by a resend."""
        now = self.now()
        target, values = self.decide(result, lookup_result, row.attempts, row.max_attempts, now,
                                     config_error=config_error)
        ext = result.external_id or (lookup_result.external_id if lookup_result else None)
        record: Any = True
        if self.is_pg and target != Status.needs_auth:
            # The attempt and the guarded move in one statement, batched with
            # other send threads' outcomes.
            check_transition(Status.sending, target)
            outcome = _Outcome(delivery_id, token, attempt_id, target.value, now, result, ext, values)
            if on_recorded is not None:
                self._outcome_writer().put(outcome, on_recorded)
                return RECORDING
            if self._apply_batch(outcome):
                return target.value
            record = None  # already written
        elif self.sqlite_path and target != Status.needs_auth:
            check_transition(Status.sending, target)
            if self._sqlite_apply(delivery_id, token, attempt_id, target, values, result, ext, now):
                return target.value
            record = None  # already written
        return self._apply_slow(delivery_id, token, attempt_id, result, target, values, ext, now,
                                record=record is not None, account_id=account_id or row.channel_account_id)

    def _apply_slow(self, delivery_id: int, token: str, attempt_id: int, result: SendResult, target: Status,
                    values: dict, ext: str | None, now: datetime, *, record: bool,
                    account_id: int | None) -> str | None:
        """The portable outcome statements (and what the fast paths leave over:
        needs_auth, a lost lease)."""
        with self.engine.begin() as conn:
            if record:
                conn.execute(update(ATT).where(ATT.c.id == attempt_id).values(
                    ended_at=now, outcome=result.outcome.value, provider_code=result.provider_code,
                    http_status=result.http_status, retry_after=result.retry_after,
                    error=(result.message or None), external_id=ext,
                ))
            if self._move(conn, delivery_id, Status.sending, target, token, updated_at=now, **values):
                if target == Status.needs_auth and account_id is not None:
                    self._park_account(conn, account_id, now)
                return target.value
            # The lease was lost (the reaper moved it to unknown). A delivered
            # answer still settles an unknown delivery; nothing else may.
            if target == Status.sent and self._move(conn, delivery_id, Status.unknown, Status.sent, None,
                                                    updated_at=now, **values):
                return Status.sent.value
        log.warning("delivery %s: lease lost before the outcome (%s) was applied",
                    delivery_id, result.outcome.value)
        return None

    def _outcome_writer(self) -> _OutcomeWriter:
        writer = self._writer
        if writer is None:
            with self._adapters_lock:
                if self._writer is None:
                    self._writer = _OutcomeWriter(self)
                writer = self._writer
        return writer

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every outcome handed to the writer is recorded."""
        writer = self._writer
        if writer is None:
            return True
        writer._wake.set()
        return writer.flush(timeout)

    def flush_soon(self) -> None:
        """Someone waits for the outcomes handed over so far: record them
        without gathering more (see ``outcome_gather``)."""
        writer = self._writer
        if writer is not None:
            writer._wake.set()

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


_APPLY_COLUMNS = frozenset({"last_outcome", "last_error", "attempts", "sent_at", "external_id",
                            "next_attempt_at"})


def _pg_ids(ids) -> str:
    """A bigint[] literal. The batched statements name their rows by it as well
    as by the JSON batch: ``id = ANY(...)`` makes the planner fetch them by
    primary key, where a join with the JSON rows (estimated at 100) made it
    scan every ``sending`` row or the whole attempt table."""
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


#: queued -> sending and the attempt rows for a batch: a JSON array of [id,
#: lease token, clock reading, lease end] (one element per send thread; one
#: text parameter is much cheaper for the client to send than typed arrays)
_PG_START_MANY = """
WITH req AS (
    SELECT (e->>0)::bigint AS id, e->>1 AS token, (e->>2)::timestamptz AS now,
           (e->>3)::timestamptz AS lease_until
    FROM jsonb_array_elements(%(batch)s::jsonb) AS e
), moved AS (
    UPDATE delivery AS d SET status = 'sending', lease_until = req.lease_until, updated_at = req.now
    FROM req
    WHERE d.id = ANY(%(ids)s::bigint[]) AND d.id = req.id AND d.status = 'queued'
      AND d.leased_by = req.token AND NOT d.held
    RETURNING d.id, d.channel_account_id, d.campaign_id, d.content, d.idempotency_key, d.scheduled_at,
              d.not_after, d.attempts, d.max_attempts, req.now
), attempt AS (
    INSERT INTO delivery_attempt (delivery_id, number, worker, started_at)
    SELECT moved.id,
           (SELECT coalesce(max(a.number), 0) + 1 FROM delivery_attempt AS a WHERE a.delivery_id = moved.id),
           %(worker)s, moved.now
    FROM moved
    RETURNING id, delivery_id
)
SELECT moved.id, moved.channel_account_id, moved.campaign_id, moved.content, moved.idempotency_key,
       moved.scheduled_at, moved.not_after, moved.attempts, moved.max_attempts, attempt.id AS attempt_id
FROM moved JOIN attempt ON attempt.delivery_id = moved.id
"""

#: column -> SQL array type, for the batched outcome statement
_APPLY_TYPES = {"last_outcome": "text", "last_error": "text", "attempts": "int", "sent_at": "timestamptz",
                "external_id": "text", "next_attempt_at": "timestamptz"}
_pg_apply_many_cache: dict[tuple[str, ...], str] = {}


def _pg_apply_many_sql(cols: tuple[str, ...]) -> str:
    """The attempt records and the guarded sending -> target moves of a batch
    of outcomes that change the same columns, one statement."""
    sql = _pg_apply_many_cache.get(cols)
    if sql is None:
        assert set(cols) <= _APPLY_COLUMNS, cols
        extra = "".join(f", (e->>{11 + k})::{_APPLY_TYPES[c]} AS {c}" for k, c in enumerate(cols))
        sets = "".join(f", {c} = v.{c}" for c in cols)
        sql = f"""
WITH v AS (
    SELECT (e->>0)::bigint AS id, e->>1 AS token, (e->>2)::bigint AS aid, e->>3 AS target,
           (e->>4)::timestamptz AS now, e->>5 AS outcome, e->>6 AS pc, (e->>7)::int AS hs,
           (e->>8)::float8 AS ra, e->>9 AS err, e->>10 AS ext{extra}
    FROM jsonb_array_elements(%(batch)s::jsonb) AS e
), recorded AS (
    UPDATE delivery_attempt AS a SET ended_at = v.now, outcome = v.outcome, provider_code = v.pc,
        http_status = v.hs, retry_after = v.ra, error = v.err, external_id = v.ext
    FROM v WHERE a.id = ANY(%(aids)s::bigint[]) AND a.id = v.aid
    RETURNING a.id
)
UPDATE delivery AS d SET status = v.target, leased_by = NULL, lease_until = NULL, updated_at = v.now{sets}
FROM v
WHERE d.id = ANY(%(ids)s::bigint[]) AND d.id = v.id AND d.status = 'sending' AND d.leased_by = v.token
RETURNING d.id
"""
        _pg_apply_many_cache[cols] = sql
    return sql


@dataclass
class _Outcome:
    """One send's outcome, waiting to be written with others."""

    delivery_id: int
    token: str
    attempt_id: int
    target: str
    now: datetime
    result: SendResult
    ext: str | None
    values: dict


class _Slot:
    __slots__ = ("item", "waiter", "done", "result", "error")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.waiter = threading.Lock()  # held until the slot is done or promoted
        self.waiter.acquire()
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def get(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Combiner:
    """Flat combining: concurrent callers' requests run as one batch.

    ``run(items) -> results`` (same order) does one batch. A caller that finds
    no batch running runs the pending requests (its own and whatever else is
    waiting, up to ``max_batch``); callers arriving meanwhile wait, and the
    first of them runs the next batch. There is no timer: alone, a caller runs
    its own request at once; under load, batches grow by themselves. A batch
    that raises raises in every caller of that batch."""

    def __init__(self, run: Callable[[list], list], max_batch: int = 64):
        self._run = run
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[_Slot] = []
        self._busy = False
        #: batches run and items in them (for the benchmark and tests)
        self.batches = 0
        self.items = 0

    def __call__(self, item: Any) -> Any:
        slot = _Slot(item)
        with self._lock:
            self._pending.append(slot)
            lead = not self._busy
            self._busy = True
        if not lead:
            slot.waiter.acquire()
            if slot.done:
                return slot.get()
            # promoted: this caller runs the next batch (its own slot included)
        with self._lock:
            batch = self._pending[:self.max_batch]
            del self._pending[:self.max_batch]
        try:
            results = self._run([s.item for s in batch])
            if len(results) != len(batch):
                raise RuntimeError("batch returned a wrong number of results")
            for s, r in zip(batch, results, strict=True):
                s.result = r
        except BaseException as exc:
            for s in batch:
                s.error = exc
        finally:
            with self._lock:
                self.batches += 1
                self.items += len(batch)
                for s in batch:
                    s.done = True
                # promote the next waiter first: the next batch goes out while
                # this one's callers wake up
                if self._pending:
                    self._pending[0].waiter.release()
                else:
                    self._busy = False
                for s in batch:
                    if s is not slot:
                        s.waiter.release()
        return slot.get()


class _OutcomeWriter:
    """A thread that records send outcomes in batches (write-behind).

    Send threads hand over an outcome and go on to their next delivery; the
    writer lets outcomes gather for the dispatcher's ``outcome_gather`` seconds
    after the first one, takes everything waiting (up to 500) and records it in
    one statement on its own connection, then calls each outcome's callback
    with the new status (or None when the lease was lost and nothing could be
    settled)."""

    def __init__(self, dispatcher: Dispatcher):
        import queue

        self.dispatcher = dispatcher
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending = 0
        #: set when someone waits for the records: the gathering ends at once
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="lantoa-outcomes")
        self._thread.start()

    def put(self, outcome: _Outcome, callback: Callable[[str | None], None]) -> None:
        with self._cond:
            self._pending += 1
        self._queue.put((outcome, callback))

    def _loop(self) -> None:
        import queue

        while True:
            first = self._queue.get()
            if first is None:
                return
            gather = self.dispatcher.outcome_gather
            if gather > 0:
                self._wake.wait(gather)  # cut short by ``flush_soon``
                self._wake.clear()
            batch = [first]
            stop = False
            while len(batch) < 500:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list) -> None:
        disp = self.dispatcher
        try:
            with disp.app.app_context():
                oks = disp._pg_apply_many([o for o, _cb in batch])
                statuses: list[str | None] = []
                for (o, _cb), ok in zip(batch, oks, strict=True):
                    if ok:
                        statuses.append(o.target)
                        continue
                    try:
                        statuses.append(disp._apply_slow(
                            o.delivery_id, o.token, o.attempt_id, o.result, Status(o.target), o.values,
                            o.ext, o.now, record=False, account_id=None))
                    except Exception:  # noqa: BLE001 - the reaper recovers it
                        log.exception("delivery %s: outcome not recorded", o.delivery_id)
                        statuses.append("error")
        except Exception:  # noqa: BLE001 - still sending: the reaper recovers them (unknown -> lookup)
            log.exception("recording %d outcomes failed", len(batch))
            statuses = ["error"] * len(batch)
        for (_o, cb), status in zip(batch, statuses, strict=True):
            try:
                cb(status)
            except Exception:  # noqa: BLE001
                log.exception("outcome callback failed")
        with self._cond:
            self._pending -= len(batch)
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=60)


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
