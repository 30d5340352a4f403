"""Batched dispatch keeps the delivery semantics.

The PostgreSQL hot path groups what concurrent send threads do at the same
moment: the queued -> sending moves go out as one statement (``Combiner``),
the outcomes are recorded behind by one writer thread, and the Celery executor
sends batches of ids per task. These tests prove that nothing is sent twice,
nothing is lost, and the outcomes (retries, backoff, failures) are what the
single-row path gives."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from channels.base import Outcome, SendResult
from core.db import get_engine, session_scope
from scheduler.celery_app import send_batch
from scheduler.dispatcher import RECORDING, Combiner, Dispatcher
from scheduler.models import ChannelAccount, DeliveryAttempt
from scheduler.runner import dispatch_due
from scheduler.states import Status
from tests.scheduler_helpers import (
    FrozenClock,
    ScriptedAdapter,
    attempts_of,
    bulk_deliveries,
    delivery,
    install_scripted,
    status_counts,
)

S = Status


# -- the combiner alone ----------------------------------------------------------------------


def test_combiner_batches_concurrent_callers_and_gives_each_its_own_result():
    seen: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        seen.append(list(items))
        time.sleep(0.01)  # a round trip: callers pile up meanwhile
        return [i * 10 for i in items]

    comb = Combiner(run)
    results: dict[int, int] = {}
    barrier = threading.Barrier(16)

    def call(i: int) -> None:
        barrier.wait()
        for k in range(5):
            results[i * 100 + k] = comb(i * 100 + k)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {k: k * 10 for k in results} and len(results) == 80
    flat = [i for batch in seen for i in batch]
    assert sorted(flat) == sorted(results)  # every request ran exactly once
    assert comb.items == 80 and comb.batches == len(seen) < 80  # really batched
    assert max(len(b) for b in seen) > 1


def test_combiner_raises_in_every_caller_of_a_failed_batch_and_recovers():
    calls = []

    def run(items):
        calls.append(items)
        if any(i < 0 for i in items):
            raise RuntimeError("database gone")
        return items

    comb = Combiner(run)
    with pytest.raises(RuntimeError):
        comb(-1)
    assert comb(7) == 7  # the next batch runs normally


# -- PostgreSQL: the batched statements --------------------------------------------------------


@pytest.fixture
def scripted(monkeypatch):
    return install_scripted(monkeypatch)


def scripted_account(app) -> int:
    with session_scope(app) as s:
        a = ChannelAccount(channel="scripted", name="scripted", config={"label": "x"}, status="active")
        s.add(a)
        s.flush()
        return a.id


def texts_of(app, ids):
    return {i: delivery(app, i).content["text"] for i in ids}


@pytest.mark.postgres
def test_a_repeated_start_request_gets_the_delivery_once(pg_app, scripted):
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    acct = scripted_account(pg_app)
    (did,) = bulk_deliveries(pg_app, [acct], 1, scheduled_at=clock() - timedelta(seconds=1))
    disp = Dispatcher(pg_app, clock=clock, lease=60)
    (c,) = disp.claim(10)
    rows = disp._pg_start_many([(did, c.token, clock()), (did, c.token, clock()), (did, "other", clock())])
    assert rows[0] is not None and rows[1] is None and rows[2] is None
    assert len(attempts_of(pg_app, did)) == 1
    assert delivery(pg_app, did).status == S.sending
    disp.close()


@pytest.mark.postgres
def test_outcomes_through_the_batched_writer_match_the_state_machine(pg_app, scripted):
    """Every ordinary outcome, recorded behind in one batch: statuses,
    attempts, backoff and attempt rows as the single-row path gives them."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    pg_app.config.update(LANTOA_RETRY_BASE_SECONDS="30", LANTOA_RETRY_MAX_SECONDS="3600",
                          LANTOA_RETRY_JITTER="0")
    acct = scripted_account(pg_app)
    script = {
        "ok": [SendResult(Outcome.SENT, external_id="ext-ok")],
        "dup": [SendResult(Outcome.DUPLICATE)],
        "flaky": [SendResult(Outcome.TRANSIENT, http_status=503, message="busy")],
        "slow down": [SendResult(Outcome.RATE_LIMITED, http_status=429, retry_after=120.0)],
        "bad": [SendResult(Outcome.PERMANENT, http_status=400, provider_code="E1", message="bad request")],
        "later": [SendResult(Outcome.DEFERRED, retry_at=clock() + timedelta(hours=2))],
        "maybe": [SendResult(Outcome.AMBIGUOUS, message="read timeout")],
    }
    from scheduler import service

    ids = {}
    with session_scope(pg_app) as s:
        account = s.get(ChannelAccount, acct)
        for text in script:
            d = service.create_delivery(s, account=account, content={"text": text},
                                        scheduled_at=clock() - timedelta(seconds=1), held=False,
                                        not_after=clock() + timedelta(hours=6))
            ids[text] = d.id
    for text, results in script.items():
        ScriptedAdapter.script[text] = list(results)
    stats = dispatch_due(pg_app, clock=clock)
    assert stats["claimed"] == len(script)
    got = {t: delivery(pg_app, i) for t, i in ids.items()}
    assert got["ok"].status == S.sent and got["ok"].external_id == "ext-ok" and got["ok"].attempts == 1
    assert got["dup"].status == S.sent
    assert got["flaky"].status == S.retry_wait and got["flaky"].attempts == 1
    assert got["flaky"].next_attempt_at == clock() + timedelta(seconds=30)
    assert got["slow down"].status == S.retry_wait
    assert got["slow down"].next_attempt_at == clock() + timedelta(seconds=120)  # Retry-After wins
    assert got["bad"].status == S.failed and "(bad request)" in got["bad"].last_error
    assert got["later"].status == S.scheduled and got["later"].attempts == 0
    assert got["later"].next_attempt_at == clock() + timedelta(hours=2)
    assert got["maybe"].status == S.needs_review  # no lookup answer: never a blind resend
    for text, i in ids.items():
        (att,) = attempts_of(pg_app, i)
        assert att.ended_at == clock() and att.outcome == script[text][0].outcome.value
        assert got[text].leased_by is None and got[text].lease_until is None
    bad = attempts_of(pg_app, ids["bad"])[0]
    assert (bad.http_status, bad.provider_code, bad.error) == (400, "E1", "bad request")
    assert attempts_of(pg_app, ids["slow down"])[0].retry_after == 120.0
    # the retry goes out when due, as attempt 2, and is sent once
    clock.advance(121)
    dispatch_due(pg_app, clock=clock)
    assert delivery(pg_app, ids["flaky"]).status == S.sent
    assert [a.number for a in attempts_of(pg_app, ids["flaky"])] == [1, 2]
    assert ScriptedAdapter.calls.count("flaky") == 2 and ScriptedAdapter.calls.count("ok") == 1


@pytest.mark.postgres
def test_concurrent_claimers_with_batched_statements_send_each_delivery_once(pg_app, scripted):
    """Four dispatchers, two send threads each (so starts and outcomes are
    batched), race over the same due set: claims are disjoint and each
    delivery is sent exactly once, with one attempt."""
    acct = scripted_account(pg_app)
    ScriptedAdapter.delay = 0.002
    n = 600
    ids = bulk_deliveries(pg_app, [acct], n, scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
    dispatchers = [Dispatcher(pg_app, worker=f"w{i}") for i in range(4)]
    claimed: dict[int, list[int]] = {i: [] for i in range(8)}
    barrier = threading.Barrier(8)
    lock = threading.Lock()

    def race(k: int) -> None:
        disp = dispatchers[k // 2]
        barrier.wait()
        while True:
            got = disp.claim(10)
            if not got:
                return
            with lock:
                claimed[k].extend(c.id for c in got)
            for c in got:
                with pg_app.app_context():
                    assert disp.send(c.id, c.token) == S.sent

    threads = [threading.Thread(target=race, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    every = [i for got in claimed.values() for i in got]
    assert len(every) == n and set(every) == set(ids)  # disjoint claims, none lost
    assert sum(1 for got in claimed.values() if got) >= 2  # they really competed
    assert status_counts(pg_app) == Counter({"sent": n})
    assert sorted(Counter(ScriptedAdapter.calls).values()) == [1] * n  # no text sent twice
    a = DeliveryAttempt.__table__
    with get_engine(pg_app).connect() as conn:
        assert conn.execute(select(func.count()).select_from(a)).scalar() == n
        assert conn.execute(select(func.count(func.distinct(a.c.delivery_id)))).scalar() == n
    assert sum(d._start_batch.items for d in dispatchers) == n
    for d in dispatchers:
        d.close()


@pytest.mark.postgres
def test_claimed_but_never_started_is_requeued_and_sent_once(pg_app, scripted):
    """A crash between claim and send (the process died with the deliveries
    queued): the reaper puts them back, the next pass sends each once."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    acct = scripted_account(pg_app)
    ids = bulk_deliveries(pg_app, [acct], 20, scheduled_at=clock() - timedelta(seconds=1))
    crashed = Dispatcher(pg_app, clock=clock, lease=30, worker="crashed")
    claimed = crashed.claim(50)
    assert len(claimed) == 20 and status_counts(pg_app) == Counter({"queued": 20})
    clock.advance(31)
    dispatch_due(pg_app, clock=clock)
    assert status_counts(pg_app) == Counter({"sent": 20})
    assert sorted(Counter(ScriptedAdapter.calls).values()) == [1] * 20
    # the dead process's tokens are worthless now
    assert crashed.send(claimed[0].id, claimed[0].token) is None
    assert all(len(attempts_of(pg_app, i)) == 1 for i in ids)


@pytest.mark.postgres
def test_crash_before_the_outcome_is_recorded_is_reconciled_not_resent(pg_app, scripted, monkeypatch):
    """The send went out but the outcome writer never recorded it (the
    process died, or the database failed then): the delivery stays sending
    under its lease, the reaper moves it to unknown and lookup() settles it;
    it is never sent again."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    acct = scripted_account(pg_app)
    ids = bulk_deliveries(pg_app, [acct], 3, scheduled_at=clock() - timedelta(seconds=1), text="mất")
    texts = texts_of(pg_app, ids)
    ScriptedAdapter.lookups[texts[ids[0]]] = SendResult(Outcome.SENT, external_id="found")
    disp = Dispatcher(pg_app, clock=clock, lease=30)

    def lost(_items):
        raise ConnectionError("database gone while recording")

    monkeypatch.setattr(disp, "_pg_apply_many", lost)
    recorded: list = []
    for c in disp.claim(10):
        assert disp.send(c.id, c.token, on_recorded=recorded.append) == RECORDING
    assert disp.flush(10)
    assert recorded == ["error"] * 3
    assert status_counts(pg_app) == Counter({"sending": 3})
    disp.close()
    clock.advance(31)
    fresh = Dispatcher(pg_app, clock=clock, lease=30)
    counts = fresh.reap()
    assert counts["unknown"] == 3 and counts["reconciled_sent"] == 1 and counts["needs_review"] == 2
    assert delivery(pg_app, ids[0]).status == S.sent and delivery(pg_app, ids[0]).external_id == "found"
    dispatch_due(pg_app, clock=clock)
    assert len(ScriptedAdapter.calls) == 3  # nothing resent
    assert status_counts(pg_app) == Counter({"sent": 1, "needs_review": 2})


@pytest.mark.postgres
def test_celery_batch_task_sends_each_id_once_even_when_redelivered(pg_app, scripted):
    """The body of ``lantoa.send_deliveries``: a repeated id in one batch and
    the same batch delivered again (acks late, worker lost) send nothing twice."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    acct = scripted_account(pg_app)
    ids = bulk_deliveries(pg_app, [acct], 10, scheduled_at=clock() - timedelta(seconds=1))
    disp = Dispatcher(pg_app, clock=clock, lease=60)
    claimed = disp.claim(20)
    token = claimed[0].token
    assert {c.token for c in claimed} == {token}
    batch = [c.id for c in claimed] + [claimed[0].id]
    with pg_app.app_context():
        first = send_batch(disp, batch, token)
        again = send_batch(disp, batch, token)  # redelivered
    assert first == {"sent": 10}
    assert again == {"lease_lost": 10}
    assert status_counts(pg_app) == Counter({"sent": 10})
    assert sorted(Counter(ScriptedAdapter.calls).values()) == [1] * 10
    assert all(len(attempts_of(pg_app, i)) == 1 for i in ids)
    disp.close()


@pytest.mark.postgres
def test_celery_executor_sends_one_task_per_batch_of_ids(pg_app, monkeypatch):
    from scheduler.executors import CeleryExecutor

    pg_app.config.update(LANTOA_BROKER_URL="memory://", LANTOA_CELERY_BATCH="16")
    disp = Dispatcher(pg_app)
    ex = CeleryExecutor(disp, pg_app)
    sent: list[tuple] = []
    monkeypatch.setattr(ex.celery, "send_task", lambda name, args, queue: sent.append((name, args)))
    from scheduler.dispatcher import Claimed

    ex.submit_many([Claimed(i, "tok-a", 1) for i in range(40)] + [Claimed(100, "tok-b", 2)])
    assert [(name, len(args[0]), args[1]) for name, args in sent] == [
        ("lantoa.send_deliveries", 16, "tok-a"), ("lantoa.send_deliveries", 16, "tok-a"),
        ("lantoa.send_deliveries", 8, "tok-a"), ("lantoa.send_deliveries", 1, "tok-b")]
    assert sorted(i for _n, args in sent for i in args[0]) == [*range(40), 100]
