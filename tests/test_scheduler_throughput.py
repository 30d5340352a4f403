"""What the dispatcher's CPU and latency work must not change.

- The shared HTTP session (``channels.base.PooledSession``) builds the same
  requests as a plain ``requests.Session`` and still honours the proxy
  environment, which it reads once per origin for ``env_ttl`` seconds.
- The PostgreSQL claim (compiled once, run on the thread's own connection)
  takes what the portable statement takes: due, released, active accounts,
  at most ``per_account`` per account, none of ``skip_accounts``.
- The inline executor frees a send's capacity when the send is done; it is
  idle only when every outcome is recorded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select, update

from channels.base import PooledSession
from core.db import get_engine
from scheduler.dispatcher import RECORDING, Claimed, Dispatcher
from scheduler.executors import InlineExecutor
from scheduler.models import ChannelAccount, Delivery
from tests.scheduler_helpers import FrozenClock, bulk_deliveries, make_accounts

D = Delivery.__table__
A = ChannelAccount.__table__

# -- the shared HTTP session ---------------------------------------------------------------------

REQUESTS = [
    dict(method="post", url="http://127.0.0.1:5555/hook?a=3", data=b'{"x": 1}',
         headers={"Content-Type": "application/json", "Idempotency-Key": "k1", "User-Agent": "LanToa/1"}),
    dict(method="get", url="https://bücher.example/päth?q=á b", headers={"Accept": None}),
    dict(method="post", url="http://user:pw@h:81/x y", json={"a": "Dịch vụ"}),
    dict(method="get", url="http://h/p", params={"a": "1", "b": None}, auth=("u", "p")),
    dict(method="post", url="http://h/p", files={"f": ("a.txt", b"abc")}, cookies={"c": "1"}),
]


def _shape(p: requests.PreparedRequest) -> tuple:
    headers, body = dict(p.headers), p.body
    if "multipart" in headers.get("Content-Type", ""):  # the boundary is random; the length is not
        headers["Content-Type"], body = "multipart", len(body or b"")
    return p.method, p.url, list(headers.items()), body


@pytest.mark.parametrize("spec", REQUESTS, ids=lambda s: s["method"] + " " + s["url"])
def test_pooled_session_prepares_what_requests_prepares(spec):
    plain, pooled = requests.Session(), PooledSession()
    for _ in range(2):  # the second time from the remembered URL and settings
        a = plain.prepare_request(requests.Request(**spec))
        b = pooled.prepare_request(requests.Request(**spec))
        assert _shape(a) == _shape(b)


def test_pooled_session_with_session_cookies_takes_requests_own_path():
    plain, pooled = requests.Session(), PooledSession()
    for s in (plain, pooled):
        s.cookies.set("sid", "abc", domain="provider.example.org", path="/")
    spec = dict(method="GET", url="http://provider.example.org/x")
    p = pooled.prepare_request(requests.Request(**spec))
    assert p.headers["Cookie"] == "sid=abc"
    assert _shape(p) == _shape(plain.prepare_request(requests.Request(**spec)))


def test_pooled_session_reads_the_proxy_environment_per_origin(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    pooled = PooledSession()
    plain = requests.Session()
    for url in ("http://provider.example/hook", "http://internal.example/hook"):
        expected = plain.merge_environment_settings(url, {}, None, None, None)
        got = pooled.merge_environment_settings(url, {}, None, None, None)
        assert got == expected
    assert pooled.merge_environment_settings("http://provider.example/x", {}, None, None, None)[
        "proxies"]["http"] == "http://proxy.example:3128"
    assert "http" not in pooled.merge_environment_settings("http://internal.example/x", {}, None, None,
                                                           None)["proxies"]
    # a changed environment takes effect once the remembered reading is older than env_ttl
    monkeypatch.setenv("HTTP_PROXY", "http://other.example:8080")
    assert pooled.merge_environment_settings("http://provider.example/x", {}, None, None, None)[
        "proxies"]["http"] == "http://proxy.example:3128"
    pooled.env_ttl = 0.0
    time.sleep(0.01)
    assert pooled.merge_environment_settings("http://provider.example/x", {}, None, None, None)[
        "proxies"]["http"] == "http://other.example:8080"
    # explicit proxies take requests' own path
    explicit = pooled.merge_environment_settings("http://provider.example/x", {"http": "http://p:1"}, None,
                                                 None, None)
    assert explicit["proxies"]["http"] == "http://p:1"


def test_pooled_session_hands_out_copies_of_the_remembered_proxies():
    pooled = PooledSession()
    first = pooled.merge_environment_settings("http://h/x", {}, None, None, None)
    first["proxies"]["http"] = "http://changed:1"
    assert pooled.merge_environment_settings("http://h/x", {}, None, None, None)["proxies"].get(
        "http") != "http://changed:1"


# -- the PostgreSQL claim ------------------------------------------------------------------------


@pytest.mark.postgres
def test_pg_claim_takes_only_due_released_active_within_the_caps(pg_app):
    clock = FrozenClock(datetime(2026, 10, 9, 23, 0, tzinfo=UTC))
    now = clock()
    accounts = make_accounts(pg_app, "http://127.0.0.1:9/hook", 4)
    due = bulk_deliveries(pg_app, accounts, 40, scheduled_at=now - timedelta(minutes=1), tag="due")
    later = bulk_deliveries(pg_app, accounts, 8, scheduled_at=now + timedelta(hours=1), tag="later")
    held = bulk_deliveries(pg_app, accounts, 8, scheduled_at=now - timedelta(minutes=1), held=True, tag="held")
    engine = get_engine(pg_app)
    with engine.begin() as conn:
        conn.execute(update(A).where(A.c.id == accounts[3]).values(status="needs_auth"))
        acct_of = dict(conn.execute(select(D.c.id, D.c.channel_account_id)).all())
    disp = Dispatcher(pg_app, clock=clock)
    assert disp.is_pg
    try:
        first = disp.claim(100, per_account=3, skip_accounts={accounts[0]})
        per_acct = Counter(c.account_id for c in first)
        assert per_acct == Counter({accounts[1]: 3, accounts[2]: 3})
        assert all(acct_of[c.id] == c.account_id for c in first)
        assert {c.id for c in first} <= set(due)
        assert len({c.token for c in first}) == 1
        # the rest of the due rows of active accounts, nothing else, each once
        rest = disp.claim(100)
        taken = {c.id for c in first} | {c.id for c in rest}
        assert len(taken) == len(first) + len(rest)
        active_due = {i for i in due if acct_of[i] != accounts[3]}
        assert taken == active_due
        assert not taken & (set(later) | set(held))
        assert disp.claim(100) == []
        with engine.connect() as conn:
            rows = conn.execute(select(D.c.status, D.c.leased_by, D.c.lease_until).where(
                D.c.id.in_(sorted(taken)))).all()
        assert {r.status for r in rows} == {"queued"}
        assert all(r.lease_until == now + disp.lease for r in rows)
        assert {r.leased_by for r in rows} == {first[0].token, rest[0].token}
    finally:
        disp.close()


# -- the inline executor's accounting ---------------------------------------------------------------


class _RecordingBehind:
    """A dispatcher stand-in whose sends return at once and whose outcomes are
    recorded when the test says so."""

    def __init__(self, app):
        self.app = app
        self.callbacks: list = []
        self.lock = threading.Lock()
        self.outcome_gather = 0.0

    def send(self, delivery_id, token, *, on_recorded=None):
        with self.lock:
            self.callbacks.append(on_recorded)
        return RECORDING

    def flush_soon(self):
        pass

    def close(self):
        pass


def test_inline_capacity_is_free_when_sent_and_idle_only_when_recorded(app):
    fake = _RecordingBehind(app)
    ex = InlineExecutor(fake, 2)  # type: ignore[arg-type]
    assert fake.outcome_gather > 0  # the inline executor lets outcomes gather
    try:
        ex.submit_many([Claimed(i, "t", account_id=1) for i in range(6)])
        deadline = time.monotonic() + 10
        while ex.capacity() < ex.limit and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ex.capacity() == ex.limit and ex.busy_accounts() == set()  # every send is done
        assert len(fake.callbacks) == 6
        assert ex.wait_idle(0.1) is False  # but no outcome is recorded yet
        for cb in fake.callbacks[:5]:
            cb("sent")
        assert ex.wait_idle(0.1) is False
        fake.callbacks[5](None)  # the lease was lost meanwhile
        assert ex.wait_idle(2) is True
        assert ex.results() == {"sent": 5, "lease_lost": 1}
    finally:
        ex.shutdown()


# -- the outcome writer's gathering -------------------------------------------------------------


@pytest.mark.postgres
def test_a_batch_task_waiting_for_its_records_cuts_the_gathering_short(pg_app):
    """Outcomes gather before they are recorded, but a Celery batch task that
    waits for its own records (it is acknowledged only then) is not held back
    by the gathering; the records are the ordinary ones."""
    from channels.base import Outcome, SendResult
    from scheduler.celery_app import send_batch
    from tests.scheduler_helpers import ScriptedAdapter, install_scripted, status_counts

    mp = pytest.MonkeyPatch()
    try:
        install_scripted(mp)
        from core.db import session_scope

        with session_scope(pg_app) as s:
            acct = ChannelAccount(channel="scripted", name="scripted", config={"label": "x"}, status="active")
            s.add(acct)
            s.flush()
            acct_id = acct.id
        clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        ids = bulk_deliveries(pg_app, [acct_id], 6, scheduled_at=clock() - timedelta(seconds=1))
        for text in {f"Dịch vụ công trực tuyến: nộp hồ sơ tại nhà #{i}" for i in range(6)}:
            ScriptedAdapter.script[text] = [SendResult(Outcome.SENT, external_id="x")]
        disp = Dispatcher(pg_app, clock=clock, lease=60)
        disp.outcome_gather = 30.0  # far longer than the test may take
        try:
            claimed = disp.claim(10)
            t0 = time.monotonic()
            with pg_app.app_context():
                counts = send_batch(disp, [c.id for c in claimed], claimed[0].token)
            assert time.monotonic() - t0 < 10
            assert counts == {"sent": 6}
            assert status_counts(pg_app) == Counter({"sent": 6})
            assert sorted(c.id for c in claimed) == sorted(ids)
        finally:
            disp.close()
    finally:
        mp.undo()
