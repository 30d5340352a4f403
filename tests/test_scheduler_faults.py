"""Faults at the receiver: 30 % HTTP 500, 10 % connections dropped before the
request is read, some 429 with Retry-After, and a few requests read and never
answered. Real time, real HTTP, short timeouts from config."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.db import get_engine
from scheduler.models import Delivery, DeliveryAttempt
from scheduler.runner import dispatch_due
from tests.conftest import make_app
from tests.scheduler_helpers import bulk_deliveries, make_accounts, start_receiver, status_counts

N = 200
HANG = 5
MAX_ATTEMPTS = 20
RETRY_AFTER = 1.0


def test_faulty_receiver_everything_sent_within_policy_and_silent_ones_need_review(tmp_path):
    app = make_app(
        f"sqlite:///{tmp_path / 'faults.db'}", tmp_path,
        LANTOA_SEND_TIMEOUT="2,1",  # connect 2 s, read 1 s
        LANTOA_RETRY_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        LANTOA_RETRY_BASE_SECONDS="0.05",
        LANTOA_RETRY_MAX_SECONDS="0.4",
        LANTOA_SEND_THREADS="16",
    )
    receiver = start_receiver(fail_rate=0.30, drop_rate=0.10, rate_limit_rate=0.08,
                              retry_after=str(int(RETRY_AFTER)), seed=3, hang_seconds=3.0)
    try:
        accounts = make_accounts(app, receiver.hook_url, 10)
        due = datetime.now(UTC) - timedelta(seconds=1)
        bulk_deliveries(app, accounts, N, scheduled_at=due)
        hang_ids = bulk_deliveries(app, accounts, HANG, scheduled_at=due, text="[hang] không trả lời",
                                   tag="hang")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            dispatch_due(app)
            counts = status_counts(app)
            if not ({"scheduled", "retry_wait", "queued", "sending", "unknown"} & set(counts)):
                break
            time.sleep(0.1)
    finally:
        receiver.stop()

    counts = status_counts(app)
    assert counts == {"sent": N, "needs_review": HANG}, counts
    assert receiver.tally["500"] > 0.2 * N and receiver.tally["drop"] > 0.05 * N
    assert receiver.tally["429"] > 5

    d, a = Delivery.__table__, DeliveryAttempt.__table__
    with get_engine(app).connect() as conn:
        rows = {r.id: r for r in conn.execute(select(d))}
        attempts: dict[int, list] = {}
        for r in conn.execute(select(a).order_by(a.c.delivery_id, a.c.number)):
            attempts.setdefault(r.delivery_id, []).append(r)

    # read-then-silent: exactly one request each, no resend, needs review
    for i in hang_ids:
        row = rows[i]
        assert row.status == "needs_review"
        assert receiver.counts[row.idempotency_key] == 1
        tries = attempts[i]
        assert tries[-1].outcome == "ambiguous"
        # before it, only connections dropped unread (nothing arrived: retried)
        assert all(t.outcome == "transient" and t.http_status is None for t in tries[:-1])

    # every other one was sent within the policy, each attempt recorded
    retried = 0
    for i, row in rows.items():
        if i in hang_ids:
            continue
        assert row.status == "sent" and row.external_id
        tries = attempts[i]
        assert len(tries) == row.attempts <= MAX_ATTEMPTS
        assert tries[-1].outcome == "sent" and tries[-1].http_status == 200
        assert all(t.outcome in ("transient", "rate_limited") for t in tries[:-1])
        retried += len(tries) > 1
        # dropped connections never reached the handler: the receiver read fewer
        dropped = sum(1 for t in tries if t.http_status is None)
        assert receiver.counts[row.idempotency_key] == len(tries) - dropped
    assert retried > N * 0.3

    # Retry-After honoured, measured at the receiver: after a 429 the next
    # request for that key came no earlier than Retry-After seconds later.
    gaps = []
    for events in receiver.log.values():
        for (t0, answer), (t1, _next) in zip(events, events[1:], strict=False):
            if answer == "429":
                gaps.append(t1 - t0)
    assert gaps, "no 429 was followed by a retry"
    assert min(gaps) >= RETRY_AFTER, sorted(gaps)[:5]
