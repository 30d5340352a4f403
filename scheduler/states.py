"""The delivery state machine: one table, one ``transition()``.

An illegal move raises ``IllegalTransition``; nothing else changes a status.
"""

from __future__ import annotations

import enum

from flask_babel import lazy_gettext


class Status(enum.StrEnum):
    scheduled = "scheduled"
    queued = "queued"
    sending = "sending"
    sent = "sent"
    retry_wait = "retry_wait"
    failed = "failed"
    needs_auth = "needs_auth"
    needs_review = "needs_review"
    unknown = "unknown"
    missed = "missed"
    cancelled = "cancelled"


S = Status

#: from -> allowed targets
TRANSITIONS: dict[Status, frozenset[Status]] = {
    # scheduled/queued/retry_wait -> needs_auth: the account's token expired on
    # another delivery; every waiting delivery of that account is parked (no
    # attempt spent) until the account is reconnected (needs_auth -> scheduled).
    S.scheduled: frozenset({S.queued, S.cancelled, S.missed, S.needs_auth}),
    # queued -> scheduled: a queued lease expired, nothing was sent.
    # queued -> scheduled also when a worker finds it must wait (SMS window, night ban).
    S.queued: frozenset({S.sending, S.scheduled, S.cancelled, S.missed, S.needs_auth}),
    S.sending: frozenset(
        {S.sent, S.retry_wait, S.failed, S.needs_auth, S.needs_review, S.unknown, S.scheduled, S.missed}
    ),
    S.retry_wait: frozenset({S.queued, S.cancelled, S.missed, S.needs_auth}),
    S.unknown: frozenset({S.sent, S.needs_review, S.failed}),
    S.needs_auth: frozenset({S.scheduled, S.cancelled}),
    S.needs_review: frozenset({S.sent, S.failed, S.scheduled}),
    S.failed: frozenset({S.scheduled}),
    S.missed: frozenset({S.scheduled}),
    S.sent: frozenset(),
    S.cancelled: frozenset(),
}

#: States from which nothing happens without a human.
TERMINAL = frozenset({S.sent, S.failed, S.cancelled, S.missed})
SETTLED = TERMINAL | {S.needs_review, S.needs_auth}
#: States the dispatcher may claim.
CLAIMABLE = frozenset({S.scheduled, S.retry_wait})
#: Waiting states: parked together when their account needs re-authorising.
WAITING = frozenset({S.scheduled, S.queued, S.retry_wait})
assert all(S.queued in TRANSITIONS[s] for s in CLAIMABLE)
assert all(S.needs_auth in TRANSITIONS[s] for s in WAITING)
assert all(S.missed in TRANSITIONS[s] for s in CLAIMABLE)

STATUS_LABELS = {
    S.scheduled: lazy_gettext("Đã lên lịch"),
    S.queued: lazy_gettext("Đang chờ gửi"),
    S.sending: lazy_gettext("Đang gửi"),
    S.sent: lazy_gettext("Đã gửi"),
    S.retry_wait: lazy_gettext("Chờ gửi lại"),
    S.failed: lazy_gettext("Thất bại"),
    S.needs_auth: lazy_gettext("Cần kết nối lại tài khoản"),
    S.needs_review: lazy_gettext("Cần kiểm tra"),
    S.unknown: lazy_gettext("Chưa rõ kết quả"),
    S.missed: lazy_gettext("Lỡ lịch"),
    S.cancelled: lazy_gettext("Đã hủy"),
}


class IllegalTransition(ValueError):
    def __init__(self, current: str, target: str):
        super().__init__(f"illegal delivery transition {current} -> {target}")
        self.current = current
        self.target = target


def check_transition(current: Status | str, target: Status | str) -> Status:
    cur, tgt = Status(current), Status(target)
    if tgt not in TRANSITIONS[cur]:
        raise IllegalTransition(cur, tgt)
    return tgt


def transition(delivery, target: Status | str) -> None:
    """Move a Delivery row to ``target`` or raise IllegalTransition."""
    delivery.status = check_transition(delivery.status, target)


def sources(target: Status | str) -> frozenset[Status]:
    """Every status from which ``target`` may be reached (for guarded bulk UPDATEs)."""
    tgt = Status(target)
    return frozenset(s for s, targets in TRANSITIONS.items() if tgt in targets)
