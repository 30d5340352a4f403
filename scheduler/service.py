"""What higher layers ask of the scheduler: create, hold/release, cancel, retry.

Every status change goes through ``states.transition`` and is audited.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from core.models import audit
from core.timeutil import utcnow
from scheduler.models import ChannelAccount, Delivery
from scheduler.states import Status, transition

DEFAULT_GRACE = timedelta(hours=6)


class DuplicateDelivery(Exception):
    def __init__(self, existing_id: int):
        super().__init__(f"delivery exists: {existing_id}")
        self.existing_id = existing_id


def idempotency_key(account: ChannelAccount, content: dict, scheduled_at: datetime,
                    recipient: str | None = None) -> str:
    """hash(account identity, recipient, content hash, scheduled slot)."""
    identity = f"{account.channel}:{account.id}:{json.dumps(account.config, sort_keys=True)}"
    body = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    slot = scheduled_at.replace(second=0, microsecond=0).isoformat()
    raw = "\x1f".join([identity, recipient or "", body, slot])
    return hashlib.sha256(raw.encode()).hexdigest()


def create_delivery(
    session: Session,
    *,
    account: ChannelAccount,
    content: dict,
    scheduled_at: datetime,
    campaign_id: int | None = None,
    held: bool = True,
    not_after: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
    compliance: dict | None = None,
    created_by: int | None = None,
    unit_id: int | None = None,
    content_item_id: int | None = None,
    recurrence_id: int | None = None,
) -> Delivery:
    key = idempotency_key(account, content, scheduled_at)
    existing = session.exec(select(Delivery.id).where(Delivery.idempotency_key == key)).first()
    if existing is not None:
        raise DuplicateDelivery(existing)
    now = utcnow()
    delivery = Delivery(
        campaign_id=campaign_id,
        channel_account_id=account.id,  # type: ignore[arg-type]
        content=content,
        status=Status.scheduled,
        held=held,
        scheduled_at=scheduled_at,
        next_attempt_at=scheduled_at,
        # a time in the past means "as soon as possible": the grace window starts now
        not_after=not_after or (max(scheduled_at, now) + grace),
        idempotency_key=key,
        compliance=compliance or {},
        created_by=created_by,
        created_at=now,
        updated_at=now,
        unit_id=unit_id,
        content_item_id=content_item_id,
        recurrence_id=recurrence_id,
    )
    session.add(delivery)
    session.flush()
    audit(session, created_by, "delivery.create", "delivery", delivery.id, held=held)
    return delivery


def set_campaign_held(
    session: Session,
    campaign_id: int,
    held: bool,
    *,
    grace: timedelta | None = None,
    compliance: dict | None = None,
) -> int:
    """Hold or release every waiting delivery of a campaign (the approval gate).

    On release the campaign's settings are copied onto each delivery, so the
    dispatcher never reads campaigns. Returns how many rows changed.
    """
    rows = session.exec(
        select(Delivery).where(
            Delivery.campaign_id == campaign_id,
            # needs_auth too: a delivery parked while its campaign was paused must
            # stay held when its account is reconnected. queued too: claimed but
            # not started, it goes back to scheduled instead of out (dispatcher).
            Delivery.status.in_(  # type: ignore[attr-defined]
                [Status.scheduled, Status.queued, Status.retry_wait, Status.needs_auth]
            ),
        )
    ).all()
    for d in rows:
        d.held = held
        if not held:
            if grace is not None and d.scheduled_at is not None:
                d.not_after = d.scheduled_at + grace
            if compliance is not None:
                d.compliance = {**(d.compliance or {}), **compliance}
        d.updated_at = utcnow()
        session.add(d)
    from scheduler.models import RecurringSchedule

    session.exec(
        update(RecurringSchedule)
        .where(RecurringSchedule.campaign_id == campaign_id)  # type: ignore[arg-type]
        .values(held=held)
    )
    return len(rows)


def cancel(session: Session, delivery: Delivery, user_id: int | None) -> None:
    transition(delivery, Status.cancelled)
    delivery.leased_by = None
    delivery.lease_until = None
    delivery.updated_at = utcnow()
    session.add(delivery)
    audit(session, user_id, "delivery.cancel", "delivery", delivery.id)


def retry(session: Session, delivery: Delivery, user_id: int | None, *, grace: timedelta = DEFAULT_GRACE,
          now: datetime | None = None) -> None:
    """A human sends a failed, missed or needs-review delivery again, now."""
    previous = delivery.status
    transition(delivery, Status.scheduled)
    now = now or utcnow()
    delivery.scheduled_at = now
    delivery.next_attempt_at = now
    delivery.not_after = now + grace
    delivery.attempts = 0
    delivery.leased_by = None
    delivery.lease_until = None
    delivery.updated_at = now
    session.add(delivery)
    audit(session, user_id, "delivery.retry", "delivery", delivery.id, previous=str(previous))


def resolve_review(session: Session, delivery: Delivery, sent: bool, user_id: int | None,
                   external_id: str | None = None) -> None:
    transition(delivery, Status.sent if sent else Status.failed)
    if sent:
        delivery.sent_at = utcnow()
        if external_id:
            delivery.external_id = external_id
    delivery.updated_at = utcnow()
    session.add(delivery)
    audit(session, user_id, "delivery.resolve", "delivery", delivery.id, sent=sent)


def reconnect_account(session: Session, account: ChannelAccount, user_id: int | None) -> int:
    """The account works again: its parked deliveries go back to scheduled."""
    account.status = "active"
    session.add(account)
    rows = session.exec(
        select(Delivery).where(
            Delivery.channel_account_id == account.id, Delivery.status == Status.needs_auth
        )
    ).all()
    for d in rows:
        transition(d, Status.scheduled)
        d.updated_at = utcnow()
        session.add(d)
    audit(session, user_id, "account.reconnect", "channel_account", account.id, released=len(rows))
    return len(rows)
