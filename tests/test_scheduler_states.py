"""Every transition of the delivery state machine, driven through the real
dispatcher with a frozen clock (a loopback webhook receiver, or a scripted
adapter for outcomes a receiver cannot produce)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from channels.base import Outcome, SendResult
from core.db import session_scope
from scheduler import service
from scheduler.dispatcher import Dispatcher
from scheduler.executors import InlineExecutor
from scheduler.models import ChannelAccount, Delivery
from scheduler.runner import dispatch_due
from scheduler.states import TRANSITIONS, IllegalTransition, Status, check_transition, transition
from tests.scheduler_helpers import (
    FrozenClock,
    attempts_of,
    delivery,
    install_scripted,
    make_accounts,
    start_receiver,
    status_counts,
)

S = Status


@pytest.fixture
def clock():
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def receiver():
    r = start_receiver()
    yield r
    r.stop()


@pytest.fixture
def scripted(monkeypatch):
    return install_scripted(monkeypatch)


def new_campaign(app) -> int:
    from campaigns.models import Campaign

    with session_scope(app) as s:
        c = Campaign(title="Ngày Chuyển đổi số 10/10", starts_on=date(2026, 10, 1), ends_on=date(2026, 10, 31))
        s.add(c)
        s.flush()
        return c.id


def create(app, account_id: int, text: str, at: datetime, *, held: bool = False, campaign_id=None,
           grace=timedelta(hours=6)) -> int:
    with session_scope(app) as s:
        acct = s.get(ChannelAccount, account_id)
        # not_after as it was when the delivery was created, before any downtime
        d = service.create_delivery(s, account=acct, content={"text": text}, scheduled_at=at,
                                    held=held, campaign_id=campaign_id, not_after=at + grace)
        return d.id


def _scripted(app) -> int:
    with session_scope(app) as s:
        a = ChannelAccount(channel="scripted", name="scripted", config={"label": "x"}, status="active")
        s.add(a)
        s.flush()
        return a.id


def run(app, clock, **kw) -> dict:
    return dispatch_due(app, clock=clock, **kw)


# -- the table itself ------------------------------------------------------------------


def test_every_pair_of_statuses_is_allowed_or_raises():
    legal = 0
    for cur, tgt in itertools.product(Status, Status):
        if tgt in TRANSITIONS[cur]:
            assert check_transition(cur, tgt) == tgt
            legal += 1
        else:
            with pytest.raises(IllegalTransition):
                check_transition(cur, tgt)
    assert legal == sum(len(v) for v in TRANSITIONS.values())
    row = Delivery(status=S.sent)
    with pytest.raises(IllegalTransition):
        transition(row, S.scheduled)  # nothing leaves sent
    assert row.status == S.sent


# -- main line and approval gate -------------------------------------------------------


def test_held_not_claimed_until_released_and_pause_holds_again(app, clock, receiver):
    acct = make_accounts(app, receiver.hook_url)[0]
    camp = new_campaign(app)
    first = create(app, acct, "một", clock() - timedelta(minutes=1), held=True, campaign_id=camp)
    assert run(app, clock)["claimed"] == 0
    assert delivery(app, first).status == S.scheduled and receiver.counts == {}

    with session_scope(app) as s:  # approval releases
        assert service.set_campaign_held(s, camp, False) == 1
    stats = run(app, clock)
    assert stats["claimed"] == 1 and stats["sent"] == 1
    d = delivery(app, first)
    assert d.status == S.sent and d.external_id.startswith("wh-") and d.attempts == 1

    second = create(app, acct, "hai", clock() + timedelta(minutes=5), held=False, campaign_id=camp)
    with session_scope(app) as s:  # paused: held again
        service.set_campaign_held(s, camp, True)
    clock.advance(600)
    assert run(app, clock)["claimed"] == 0
    assert delivery(app, second).status == S.scheduled and delivery(app, second).held
    with session_scope(app) as s:  # resumed
        service.set_campaign_held(s, camp, False)
    assert run(app, clock)["sent"] == 1
    assert sum(receiver.counts.values()) == 2


def test_pause_after_claim_sends_nothing_on_both_databases(any_app, receiver):
    """Claimed (queued) but not yet started when the campaign is paused: the
    worker that picks it up sends nothing, spends no attempt and puts it back
    to scheduled, held; resuming sends it once."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    acct = make_accounts(any_app, receiver.hook_url)[0]
    camp = new_campaign(any_app)
    did = create(any_app, acct, "tạm dừng", clock(), campaign_id=camp)
    disp = Dispatcher(any_app, clock=clock, lease=60)
    (claimed,) = disp.claim(10)
    assert delivery(any_app, did).status == S.queued
    with session_scope(any_app) as s:  # paused while it waits for a worker
        assert service.set_campaign_held(s, camp, True) == 1
    assert disp.send(claimed.id, claimed.token) == S.scheduled
    d = delivery(any_app, did)
    assert (d.status, d.held, d.leased_by, d.attempts) == (S.scheduled, True, None, 0)
    assert attempts_of(any_app, did) == [] and receiver.counts == {}
    assert disp.claim(10) == []  # held: not claimed again
    with session_scope(any_app) as s:  # resumed
        service.set_campaign_held(s, camp, False)
    (again,) = disp.claim(10)
    assert disp.send(again.id, again.token) == S.sent
    assert sum(receiver.counts.values()) == 1


def test_cancelled_is_never_claimed(app, clock, receiver):
    acct = make_accounts(app, receiver.hook_url)[0]
    did = create(app, acct, "hủy", clock())
    with session_scope(app) as s:
        service.cancel(s, s.get(Delivery, did), None)
    assert run(app, clock)["claimed"] == 0
    assert delivery(app, did).status == S.cancelled and receiver.counts == {}


# -- leases ----------------------------------------------------------------------------


def test_queued_lease_expiry_returns_to_scheduled_and_old_token_is_dead(app, clock, receiver):
    acct = make_accounts(app, receiver.hook_url)[0]
    did = create(app, acct, "hết hạn giữ chỗ", clock())
    disp = Dispatcher(app, clock=clock, lease=30)
    (claimed,) = disp.claim(10)
    assert delivery(app, did).status == S.queued
    assert disp.claim(10) == []  # owned: nobody else can take it
    clock.advance(29)
    assert disp.reap()["requeued"] == 0
    clock.advance(2)
    assert disp.reap()["requeued"] == 1
    d = delivery(app, did)
    assert d.status == S.scheduled and d.leased_by is None
    # The worker that held the old lease wakes up: it must not send.
    assert disp.send(claimed.id, claimed.token) is None
    assert receiver.counts == {}
    (again,) = disp.claim(10)
    assert again.token != claimed.token
    assert disp.send(again.id, again.token) == S.sent
    assert sum(receiver.counts.values()) == 1


def _die_mid_send(app, disp, did):
    """Claim and move to sending the way a worker does, then 'crash'."""
    from sqlalchemy import update

    from scheduler.dispatcher import D

    (c,) = disp.claim(10)
    with disp.engine.begin() as conn:
        conn.execute(update(D).where(D.c.id == c.id).values(status="sending"))
    return c


@pytest.mark.parametrize("lookup_answer, expected", [
    (SendResult(Outcome.SENT, external_id="post-77"), S.sent),
    (None, S.needs_review),
])
def test_sending_lease_expiry_goes_unknown_then_lookup(app, clock, scripted, lookup_answer, expected):
    acct = _scripted(app)
    did = create(app, acct, "đang gửi thì sập", clock())
    scripted.lookups["đang gửi thì sập"] = lookup_answer
    disp = Dispatcher(app, clock=clock, lease=30)
    _die_mid_send(app, disp, did)
    clock.advance(31)
    counts = disp.reap()
    assert counts["unknown"] == 1
    d = delivery(app, did)
    assert d.status == expected
    if expected == S.sent:
        assert d.external_id == "post-77"
    else:
        assert "kiểm tra" in d.last_error
    assert scripted.calls == []  # reconciled by lookup, never resent
    # nothing is claimable afterwards: no blind resend
    assert disp.claim(10) == []


def test_unknown_without_lookup_on_webhook_needs_review(app, clock, receiver):
    acct = make_accounts(app, receiver.hook_url)[0]
    did = create(app, acct, "webhook sập", clock())
    disp = Dispatcher(app, clock=clock, lease=5)
    _die_mid_send(app, disp, did)
    clock.advance(6)
    disp.reap()
    assert delivery(app, did).status == S.needs_review
    assert receiver.counts == {}


def test_long_send_renews_its_lease(app, scripted):
    scripted.long_running = True
    scripted.delay = 1.2
    acct = _scripted(app)
    did = create(app, acct, "tải video dài", datetime.now(UTC))
    disp = Dispatcher(app, lease=0.3)
    ex = InlineExecutor(disp, 2)
    stop = threading.Event()
    reaped = []

    def reaper():
        while not stop.is_set():
            reaped.append(disp.reap()["unknown"])
            time.sleep(0.05)

    t = threading.Thread(target=reaper)
    t.start()
    try:
        (c,) = disp.claim(1)
        ex.submit(c)
        ex.wait_idle(10)
    finally:
        stop.set()
        t.join()
        ex.shutdown()
    assert sum(reaped) == 0, "the lease expired although the send renewed it"
    assert delivery(app, did).status == S.sent


def test_short_lease_without_renewal_is_reaped_and_late_success_settles_it(app, scripted):
    scripted.delay = 0.8  # not long_running: no heartbeat
    scripted.lookups["chậm"] = None
    acct = _scripted(app)
    did = create(app, acct, "chậm", datetime.now(UTC))
    disp = Dispatcher(app, lease=0.2)
    (c,) = disp.claim(1)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("s", disp.send(c.id, c.token)))
    t.start()
    time.sleep(0.4)
    disp.reap()  # lease expired mid-send: sending -> unknown -> lookup(None) -> needs_review
    t.join()
    # the send finished after reconciliation; needs_review stays for a human
    assert delivery(app, did).status in (S.needs_review, S.sent)
    assert result["s"] in (None, S.sent)
    assert len(scripted.calls) == 1


# -- outcomes ----------------------------------------------------------------------------


def test_transient_retries_with_backoff_then_fails_after_max_attempts(app, clock, receiver):
    app.config["LANTOA_RETRY_MAX_ATTEMPTS"] = "3"
    app.config["LANTOA_RETRY_BASE_SECONDS"] = "10"
    app.config["LANTOA_RETRY_MAX_SECONDS"] = "100"
    app.config["LANTOA_RETRY_JITTER"] = "0"
    acct = make_accounts(app, receiver.hook_url)[0]
    did = create(app, acct, "lỗi 500", clock())
    receiver.script("500", "500", "500")
    assert run(app, clock)["retry_wait"] == 1
    d = delivery(app, did)
    assert d.status == S.retry_wait and d.attempts == 1
    assert d.next_attempt_at == clock() + timedelta(seconds=10)
    clock.advance(9)
    assert run(app, clock)["claimed"] == 0  # not yet
    clock.advance(1)
    run(app, clock)
    d = delivery(app, did)
    assert d.attempts == 2 and d.next_attempt_at == clock() + timedelta(seconds=20)  # doubled
    clock.advance(20)
    assert run(app, clock)["failed"] == 1
    d = delivery(app, did)
    assert d.status == S.failed and d.attempts == 3
    rows = attempts_of(app, did)
    assert [a.http_status for a in rows] == [500, 500, 500]
    assert [a.number for a in rows] == [1, 2, 3] and all(a.ended_at for a in rows)
    assert "nhiều lần" in d.last_error
    assert receiver.counts[d.idempotency_key] == 3


def test_rate_limited_honours_retry_after_when_longer(app, clock, receiver):
    app.config["LANTOA_RETRY_BASE_SECONDS"] = "1"
    app.config["LANTOA_RETRY_MAX_SECONDS"] = "10"
    app.config["LANTOA_RETRY_JITTER"] = "0"
    receiver.retry_after = "120"
    acct = make_accounts(app, receiver.hook_url)[0]
    did = create(app, acct, "chậm lại", clock())
    receiver.script("429")
    run(app, clock)
    d = delivery(app, did)
    assert d.status == S.retry_wait and d.next_attempt_at == clock() + timedelta(seconds=120)
    assert attempts_of(app, did)[0].retry_after == 120
    clock.advance(119)
    assert run(app, clock)["claimed"] == 0
    clock.advance(1)
    assert run(app, clock)["sent"] == 1


def test_manual_retry_of_failed_delivery(app, clock, receiver):
    acct = make_accounts(app, receiver.hook_url)[0]
    did = create(app, acct, "bị từ chối", clock())
    # a 4xx is permanent: use a receiver path that rejects
    with session_scope(app) as s:
        a = s.get(ChannelAccount, acct)
        a.config = {"url": receiver.url + "/wrong-path"}
        s.add(a)
    assert run(app, clock)["failed"] == 1
    d = delivery(app, did)
    assert d.status == S.failed and d.attempts == 1 and "từ chối" in d.last_error
    with session_scope(app) as s:
        a = s.get(ChannelAccount, acct)
        a.config = {"url": receiver.hook_url}
        s.add(a)
        service.retry(s, s.get(Delivery, did), None, now=clock())
    d = delivery(app, did)
    assert d.status == S.scheduled and d.attempts == 0
    assert run(app, clock)["sent"] == 1
    assert delivery(app, did).status == S.sent


def test_auth_expired_parks_only_that_account_and_reconnect_releases(app, clock, scripted, receiver):
    a = _scripted(app)
    b = make_accounts(app, receiver.hook_url)[0]
    scripted.script["a1"] = [SendResult(Outcome.AUTH_EXPIRED, http_status=401, message="token expired")]
    ids_a = [create(app, a, f"a{i}", clock() + timedelta(seconds=i)) for i in range(1, 4)]
    ids_b = [create(app, b, f"b{i}", clock() + timedelta(seconds=i)) for i in range(1, 4)]
    clock.advance(1)  # only a1 and b1 are due
    run(app, clock)
    assert [delivery(app, i).status for i in ids_a] == [S.needs_auth] * 3
    assert all(delivery(app, i).attempts == 0 for i in ids_a)
    assert delivery(app, ids_a[1]).last_error.startswith("Tạm dừng")
    clock.advance(10)
    stats = run(app, clock)
    assert stats["claimed"] == 2  # b2, b3 go on; a is parked
    assert [delivery(app, i).status for i in ids_b] == [S.sent] * 3
    with session_scope(app) as s:
        assert s.get(ChannelAccount, a).status == "needs_auth"
        # a delivery created while parked is not claimed either
    late = create(app, a, "a-late", clock())
    assert run(app, clock)["claimed"] == 0
    with session_scope(app) as s:
        assert service.reconnect_account(s, s.get(ChannelAccount, a), None) == 3
    stats = run(app, clock)
    assert stats["sent"] == 4
    assert [delivery(app, i).status for i in ids_a + [late]] == [S.sent] * 4
    assert delivery(app, ids_a[0]).attempts == 1  # the auth failure spent nothing


def test_auth_failure_with_credentials_renewed_meanwhile_does_not_park(app, clock, scripted):
    """A human reconnected the account while a send with the old token was out:
    the stale failure must not park the freshly reconnected account."""
    from core.security import SecretBox

    acct = _scripted(app)
    did = create(app, acct, "token cũ", clock())
    scripted.script["token cũ"] = [SendResult(Outcome.AUTH_EXPIRED, http_status=401)]

    def reconnect_meanwhile(_message):
        with session_scope(app) as s:
            a = s.get(ChannelAccount, acct)
            a.secrets_encrypted = SecretBox(app.config["SECRET_KEY"]).encrypt({"token": "mới"})
            s.add(a)

    scripted.on_send = reconnect_meanwhile
    run(app, clock)
    d = delivery(app, did)
    assert d.status == S.retry_wait and "renewed" in d.last_error
    with session_scope(app) as s:
        assert s.get(ChannelAccount, acct).status == "active"
    scripted.on_send = None
    clock.advance(5)
    assert run(app, clock)["sent"] == 1


def test_ambiguous_lookup_decides_and_review_is_resolved_by_hand(app, clock, scripted):
    acct = _scripted(app)
    scripted.script["mơ hồ 1"] = [SendResult(Outcome.AMBIGUOUS, message="read timeout")]
    scripted.script["mơ hồ 2"] = [SendResult(Outcome.AMBIGUOUS, message="read timeout")]
    scripted.script["mơ hồ 3"] = [SendResult(Outcome.AMBIGUOUS, message="read timeout")]
    scripted.lookups["mơ hồ 1"] = SendResult(Outcome.SENT, external_id="found-1")
    scripted.lookups["mơ hồ 3"] = SendResult(Outcome.TRANSIENT, message="provider has no such post")
    d1, d2, d3 = (create(app, acct, f"mơ hồ {i}", clock()) for i in (1, 2, 3))
    run(app, clock)
    assert delivery(app, d1).status == S.sent and delivery(app, d1).external_id == "found-1"
    assert delivery(app, d2).status == S.needs_review
    assert delivery(app, d3).status in (S.retry_wait, S.sent)  # surely not delivered: a normal retry
    assert scripted.calls.count("mơ hồ 2") == 1  # never an automatic resend
    with session_scope(app) as s:
        service.resolve_review(s, s.get(Delivery, d2), True, None, external_id="checked-by-hand")
    d = delivery(app, d2)
    assert d.status == S.sent and d.external_id == "checked-by-hand"
    d4 = create(app, acct, "mơ hồ 4", clock())
    scripted.script["mơ hồ 4"] = [SendResult(Outcome.AMBIGUOUS)]
    run(app, clock)
    with session_scope(app) as s:
        service.resolve_review(s, s.get(Delivery, d4), False, None)
    assert delivery(app, d4).status == S.failed
    with session_scope(app) as s:  # and a human can still send it again
        service.retry(s, s.get(Delivery, d4), None, now=clock())
    run(app, clock)
    assert delivery(app, d4).status == S.sent


def test_deferred_waits_without_spending_an_attempt(app, clock, scripted):
    acct = _scripted(app)
    later = clock() + timedelta(hours=1)
    scripted.script["ban đêm"] = [SendResult(Outcome.DEFERRED, retry_at=later, message="night ban")]
    did = create(app, acct, "ban đêm", clock(), grace=timedelta(hours=6))
    run(app, clock)
    d = delivery(app, did)
    assert d.status == S.scheduled and d.attempts == 0 and d.next_attempt_at == later
    clock.advance(3599)
    assert run(app, clock)["claimed"] == 0
    clock.advance(1)
    assert run(app, clock)["sent"] == 1
    d = delivery(app, did)
    assert d.attempts == 1 and len(attempts_of(app, did)) == 2


def test_past_not_after_is_missed_and_within_grace_is_sent(app, clock, receiver):
    acct = make_accounts(app, receiver.hook_url)[0]
    # the scheduler was down: one fell due 7 h ago (grace 6 h), one 2 h ago
    missed = create(app, acct, "quá hạn", clock() - timedelta(hours=7))
    late_ok = create(app, acct, "còn trong hạn", clock() - timedelta(hours=2))
    stats = run(app, clock)
    assert stats["missed"] == 1 and stats["sent"] == 1
    assert delivery(app, missed).status == S.missed and "lỡ lịch" in delivery(app, missed).last_error
    assert delivery(app, late_ok).status == S.sent
    assert sum(receiver.counts.values()) == 1
    with session_scope(app) as s:  # missed -> scheduled by hand
        service.retry(s, s.get(Delivery, missed), None, now=clock())
    assert run(app, clock)["sent"] == 1


def test_claim_time_deadline_check_marks_missed(app, clock, scripted):
    acct = _scripted(app)
    did = create(app, acct, "hạn chót", clock(), grace=timedelta(seconds=30))
    disp = Dispatcher(app, clock=clock)
    (c,) = disp.claim(1)
    clock.advance(31)  # claimed in time, but the worker got to it too late
    assert disp.send(c.id, c.token) == S.missed
    assert scripted.calls == []
    assert delivery(app, did).status == S.missed and delivery(app, did).attempts == 0


def test_wave_sender_replaces_deliver(app, clock, scripted):
    from scheduler.waves import register_wave_sender, unregister_wave_sender

    seen = {}

    def wave(app_, d, adapter, renew_lease):
        seen["id"] = d.id
        seen["renewed"] = renew_lease()
        seen["adapter"] = type(adapter).__name__
        return SendResult(Outcome.SENT, external_id="wave-1")

    register_wave_sender("scripted", wave)
    try:
        acct = _scripted(app)
        did = create(app, acct, "đợt SMS", clock())
        assert run(app, clock)["sent"] == 1
    finally:
        unregister_wave_sender("scripted")
    assert seen == {"id": did, "renewed": True, "adapter": "ScriptedAdapter"}
    assert scripted.calls == []  # deliver() was not called
    assert delivery(app, did).external_id == "wave-1"


def test_crashing_wave_sender_needs_review(app, clock, scripted):
    from scheduler.waves import register_wave_sender, unregister_wave_sender

    def wave(*_a):
        raise RuntimeError("carrier gateway vanished mid-wave")

    register_wave_sender("scripted", wave)
    try:
        did = create(app, _scripted(app), "đợt lỗi", clock())
        run(app, clock)
    finally:
        unregister_wave_sender("scripted")
    assert delivery(app, did).status == S.needs_review


def test_bad_account_config_fails_with_vietnamese_reason(app, clock):
    with session_scope(app) as s:
        a = ChannelAccount(channel="webhook", name="hỏng", config={"url": "không-phải-url"}, status="active")
        s.add(a)
        s.flush()
        aid = a.id
    did = create(app, aid, "x", clock())
    assert run(app, clock)["failed"] == 1
    assert delivery(app, did).last_error.startswith("Cấu hình tài khoản kênh không hợp lệ")


def test_claim_and_send_on_both_databases(any_app, receiver):
    clock = FrozenClock(datetime.now(UTC))
    accts = make_accounts(any_app, receiver.hook_url, 2)
    ids = [create(any_app, accts[i % 2], f"tin {i}", clock()) for i in range(12)]
    stats = dispatch_due(any_app, clock=clock)
    assert stats["claimed"] == 12 and stats["sent"] == 12
    assert status_counts(any_app)[S.sent] == 12
    assert all(receiver.counts[delivery(any_app, i).idempotency_key] == 1 for i in ids)


def test_portable_statements_on_in_memory_sqlite(tmp_path, receiver):
    """In-memory SQLite has no file for the per-thread fast path: the portable
    SQLAlchemy statements do the same work (one thread: an in-memory database
    is a single shared connection)."""
    from tests.conftest import make_app

    mem = make_app("sqlite://", tmp_path)
    clock = FrozenClock(datetime.now(UTC))
    disp = Dispatcher(mem, clock=clock)
    assert disp.sqlite_path is None and not disp.is_pg
    acct = make_accounts(mem, receiver.hook_url)[0]
    ids = [create(mem, acct, f"bộ nhớ {i}", clock()) for i in range(3)]
    receiver.script("500")
    outcomes = [disp.send(c.id, c.token) for c in disp.claim(10)]
    assert sorted(outcomes) == [S.retry_wait, S.sent, S.sent]
    clock.advance(5)
    assert [disp.send(c.id, c.token) for c in disp.claim(10)] == [S.sent]
    assert [delivery(mem, i).status for i in ids] == [S.sent] * 3
    assert sorted(len(attempts_of(mem, i)) for i in ids) == [1, 1, 2]
    assert disp.send(ids[0], "not-the-token") is None
