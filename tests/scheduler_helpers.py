"""Helpers for the scheduler tests and bench/dispatch.py: a frozen clock,
accounts and deliveries in bulk, a timing webhook receiver, subprocesses."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from tests.fakes import Received, Reply
from tests.fakes.webhook import WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


class FrozenClock:
    """A clock that moves only when told to (aware UTC datetimes)."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 10, 9, 23, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


class TimedReceiver(WebhookReceiver):
    """The colleague's loopback receiver plus: a log of (key, time, answer) per
    request read, and deliveries whose text starts with ``[hang]`` are read
    and then never answered (the "read-then-silent" fault, per delivery)."""

    def __init__(self, delay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.delay = delay  # seconds of "work" per request
        self.log: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self.arrivals: dict[str, float] = {}

    def handle(self, request: Received) -> Reply:
        t = time.time()
        if self.delay:
            time.sleep(self.delay)
        body = request.json if isinstance(request.json, dict) else {}
        key = request.header("Idempotency-Key") or ""
        if str(body.get("text", "")).startswith("[hang]"):
            with self.lock:
                self.counts[key] += 1
                self.tally["hang"] += 1
                self.log[key].append((t, "hang"))
            return Reply(hang=True)
        reply = super().handle(request)
        with self.lock:
            self.log[key].append((t, str(reply.status) if not reply.hang else "hang"))
            if 200 <= reply.status < 300 and not reply.hang:
                self.arrivals.setdefault(key, t)
        return reply


def start_receiver(**kwargs) -> TimedReceiver:
    return TimedReceiver(**kwargs).start()  # type: ignore[return-value]


def make_accounts(app, url: str, n: int = 1, channel: str = "webhook", **config) -> list[int]:
    """``n`` webhook accounts on the same receiver (distinct URLs, so each has
    its own pacing bucket)."""
    from core.db import session_scope
    from scheduler.models import ChannelAccount

    ids = []
    with session_scope(app) as s:
        for i in range(n):
            acct = ChannelAccount(channel=channel, name=f"test {i}",
                                  config={"url": f"{url}?a={i}", **config}, status="active")
            s.add(acct)
            s.flush()
            ids.append(acct.id)
    return ids


def bulk_deliveries(app, account_ids: list[int], n: int, *, scheduled_at: datetime,
                    spacing: float = 0.0, held: bool = False, grace: timedelta = timedelta(hours=6),
                    text: str = "Dịch vụ công trực tuyến: nộp hồ sơ tại nhà", tag: str = "") -> list[int]:
    """Insert ``n`` deliveries fast (one statement), round-robin over accounts.
    ``spacing`` seconds apart starting at ``scheduled_at``."""
    from core.db import get_engine
    from scheduler.models import Delivery

    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        at = scheduled_at + timedelta(seconds=spacing * i)
        key = hashlib.sha256(f"{tag}:{i}:{at.isoformat()}:{time.time_ns()}".encode()).hexdigest()
        rows.append({
            "channel_account_id": account_ids[i % len(account_ids)],
            "content": {"text": f"{text} #{i}"},
            "status": "scheduled", "held": held, "scheduled_at": at, "next_attempt_at": at,
            "not_after": at + grace,
            "idempotency_key": key, "attempts": 0, "compliance": {}, "created_at": now,
            "updated_at": now,
        })
    engine = get_engine(app)
    ids: list[int] = []
    with engine.begin() as conn:
        for i in range(0, len(rows), 2000):
            conn.execute(insert(Delivery.__table__), rows[i:i + 2000])
        ids = [r[0] for r in conn.execute(select(Delivery.__table__.c.id).order_by(Delivery.__table__.c.id))]
    return ids[-n:]


def status_counts(app) -> Counter:
    from core.db import get_engine
    from scheduler.models import Delivery

    d = Delivery.__table__
    with get_engine(app).connect() as conn:
        return Counter({s: n for s, n in conn.execute(select(d.c.status, func.count()).group_by(d.c.status))})


def delivery(app, delivery_id: int):
    from core.db import session_scope
    from scheduler.models import Delivery

    with session_scope(app) as s:
        return s.get(Delivery, delivery_id)


def attempts_of(app, delivery_id: int):
    from sqlmodel import select as sm_select

    from core.db import session_scope
    from scheduler.models import DeliveryAttempt

    with session_scope(app) as s:
        return s.exec(sm_select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                      .order_by(DeliveryAttempt.number)).all()


def flask_env(db_url: str, tmp_path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "LANTOA_DATABASE_URL": db_url,
        "LANTOA_INSTANCE_PATH": str(tmp_path),
        "LANTOA_SECRET_KEY": "test-secret-key-not-for-production",
        "LANTOA_RETRY_BASE_SECONDS": "0.05",
        "LANTOA_RETRY_MAX_SECONDS": "0.5",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def flask_cmd(*args: str) -> list[str]:
    exe = VENV_BIN / "flask"
    if exe.exists():
        return [str(exe), "--app", "app", *args]
    return [sys.executable, "-m", "flask", "--app", "app", *args]


def celery_cmd(*args: str) -> list[str]:
    exe = VENV_BIN / "celery"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "celery"]
    return [*base, "-A", "scheduler.celery_app", *args]


def spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    fh = open(log_path, "ab")  # noqa: SIM115 - closed by the caller via proc
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def wait_until(pred, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


# -- a scripted adapter for outcomes a webhook receiver cannot produce ----------------

from channels.base import Adapter, ConfigField, Message, Outcome, SendResult  # noqa: E402


class ScriptedAdapter(Adapter):
    """Answers from a per-text script: ``ScriptedAdapter.script[text] = [SendResult, ...]``
    (popped in order; SENT when empty). ``lookups[text]`` answers lookup().
    ``delay`` seconds of work per send; ``sent`` records every call."""

    name = "scripted"
    title = "Scripted (tests)"
    rate_per_second = 1000.0
    config_spec = (ConfigField("label", "Nhãn", required=False, default="x"),)
    script: dict[str, list[SendResult]] = {}
    lookups: dict[str, SendResult | None] = {}
    calls: list[str] = []
    delay: float = 0.0
    on_send = None  # optional callable(message) run inside _send
    lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.script, cls.lookups, cls.calls, cls.delay = {}, {}, [], 0.0
        cls.long_running = False
        cls.on_send = None

    def _send(self, message: Message) -> SendResult:
        with self.lock:
            self.calls.append(message.text)
            todo = self.script.get(message.text) or []
            result = todo.pop(0) if todo else SendResult(Outcome.SENT, external_id=f"ext-{message.delivery_id}")
        if self.delay:
            time.sleep(self.delay)
        if self.on_send is not None:
            type(self).on_send(message)
        return result

    def lookup(self, message: Message, last: SendResult | None = None) -> SendResult | None:
        return self.lookups.get(message.text)


def install_scripted(monkeypatch) -> type[ScriptedAdapter]:
    from channels import registry

    monkeypatch.setitem(registry.CHANNELS, "scripted", "tests.scheduler_helpers:ScriptedAdapter")
    ScriptedAdapter.reset()
    return ScriptedAdapter
