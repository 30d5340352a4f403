"""Wave senders registered with the scheduler (``scheduler.waves``).

``send_kannel_wave``: expands the wave into one durable record per recipient
(``scheduler.sms.waves.expand_wave``: opt-out/DNC and the 24 h cap applied at
dispatch time), then sends each pending record through the Kannel adapter,
which paces by parts. Each record is marked in flight before its send, so a
crash never resends blindly: records left in flight become failed
("ambiguous") on the next pass, and a DLR may still settle them. Outside the
sending window the wave answers DEFERRED with the next allowed time.

``send_partner_wave``: expands the wave and cuts one batch per carrier.

Both are called as ``fn(app, delivery_row, adapter, renew_lease)`` and return
a ``channels.SendResult``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy import select, text

from channels.base import Message, Outcome, SendResult
from core.db import get_engine
from core.timeutil import utcnow
from scheduler.models import ChannelAccount, Delivery
from scheduler.sms.compliance import (
    PolicyError,
    apply_label,
    consent_problem,
    next_allowed_time,
)
from scheduler.sms.encoding import MAX_PARTS, analyze
from scheduler.sms.models import RecipientList
from scheduler.sms.waves import MESSAGE_TEXT, MESSAGES

log = logging.getLogger(__name__)

D = Delivery.__table__
A = ChannelAccount.__table__
#: Records sent per read from the database.
CHUNK = 200
#: Consecutive transient answers before the pass stops and the delivery retries.
MAX_CONSECUTIVE_TRANSIENT = 3
IN_FLIGHT = "sending"


class _Stop(Exception):
    def __init__(self, result: SendResult):
        self.result = result


def _prepare(app, row) -> tuple[Any, Any, Any]:
    """(policy, text_or_renderer, list_id) for a wave, or raise _Stop."""
    from campaigns.sms.compose import ComposeError, compile_text, policy_from_compliance

    engine = get_engine(app)
    content = dict(row.content or {})
    list_id = content.get("recipient_list_id")
    if not isinstance(list_id, int):
        raise _Stop(SendResult(Outcome.PERMANENT, message="SMS wave without recipient_list_id"))
    with engine.connect() as conn:
        compliance = conn.execute(
            select(D.c.compliance).where(D.c.id == row.id)
        ).scalar_one_or_none()
        rl = conn.execute(
            select(RecipientList.__table__).where(RecipientList.__table__.c.id == list_id)
        ).first()
    try:
        policy = policy_from_compliance(compliance)
    except PolicyError as exc:
        raise _Stop(SendResult(Outcome.PERMANENT, message=f"invalid SMS policy: {exc}")) from None
    if rl is None:
        raise _Stop(SendResult(Outcome.PERMANENT, message=f"recipient list {list_id} not found"))
    if rl.status != "ready":
        raise _Stop(
            SendResult(Outcome.PERMANENT, message=f"recipient list {list_id} is {rl.status}")
        )
    problem = consent_problem(policy, rl.consent_source)
    if problem:
        raise _Stop(SendResult(Outcome.PERMANENT, message=problem))
    body = apply_label(content.get("text") or "", policy)
    if not body.strip():
        raise _Stop(SendResult(Outcome.PERMANENT, message="empty SMS text"))
    try:
        text_ = compile_text(body)
    except ComposeError as exc:
        raise _Stop(
            SendResult(Outcome.PERMANENT, message=exc.fields.get("text", str(exc)))
        ) from None
    if not callable(text_):
        info = analyze(text_)
        if info.parts > MAX_PARTS:
            raise _Stop(
                SendResult(
                    Outcome.PERMANENT,
                    message=(
                        f"text needs {info.parts} parts ({info.encoding}), the limit is {MAX_PARTS}"
                    ),
                )
            )
    return policy, text_, list_id


def _expand(app, row, policy, text_, list_id, batches: bool) -> dict[str, int]:
    from scheduler.sms.waves import expand_wave

    with get_engine(app).begin() as conn:
        return expand_wave(
            conn,
            delivery_id=row.id,
            list_id=list_id,
            text_=text_,
            policy=policy,
            now=utcnow(),
            batches=batches,
        )


def dlr_url(app, hook_token: str, message_id: int) -> str:
    base = str(app.config.get("LANTOA_PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    return f"{base}/hooks/kannel/{quote(hook_token, safe='')}/dlr?id={int(message_id)}&status=%d"


def send_kannel_wave(app, row, adapter, renew_lease: Callable[[], bool]) -> SendResult:
    with app.app_context():
        try:
            return _kannel_wave(app, row, adapter, renew_lease)
        except _Stop as stop:
            return stop.result


def _kannel_wave(app, row, adapter, renew_lease) -> SendResult:
    engine = get_engine(app)
    policy, text_, list_id = _prepare(app, row)
    now = utcnow()
    allowed = next_allowed_time(now, policy)
    if allowed > now:
        return SendResult(
            Outcome.DEFERRED, retry_at=allowed, message="outside the SMS sending window"
        )
    _expand(app, row, policy, text_, list_id, batches=False)
    with engine.connect() as conn:
        token = conn.execute(
            select(A.c.hook_token).where(A.c.id == row.channel_account_id)
        ).scalar()
    with engine.begin() as conn:
        # Records left in flight by a crashed pass: may have gone out -> never resend.
        conn.execute(
            text(
                "UPDATE sms_message SET status = 'failed', reason = 'ambiguous: interrupted during send' "
                "WHERE delivery_id = :d AND status = 'pending' AND batch_id IS NULL AND reason = :f"
            ),
            {"d": row.id, "f": IN_FLIGHT},
        )
    sent = failed = 0
    transient_run = 0
    last_transient: SendResult | None = None
    last_id = 0
    while True:
        if not renew_lease():
            return SendResult(Outcome.AMBIGUOUS, message="lease lost during the wave")
        with engine.begin() as conn:
            if policy.honour_opt_out:  # refusals that arrived since the wave began
                conn.execute(
                    text(
                        "UPDATE sms_message SET status = 'suppressed', reason = 'opt_out:' || "
                        "(SELECT o.source FROM opt_out o WHERE o.phone = sms_message.phone) "
                        "WHERE delivery_id = :d AND status = 'pending' AND batch_id IS NULL "
                        "AND phone IN (SELECT phone FROM opt_out)"
                    ),
                    {"d": row.id},
                )
            chunk = conn.execute(
                text(
                    f"SELECT m.id, m.phone, {MESSAGE_TEXT} FROM {MESSAGES} "
                    "WHERE m.delivery_id = :d AND m.status = 'pending' AND m.batch_id IS NULL "
                    "AND m.id > :last ORDER BY m.id LIMIT :n"
                ),
                {"d": row.id, "last": last_id, "n": CHUNK},
            ).all()
        if not chunk:
            break
        for mid, phone, body in chunk:
            last_id = mid
            now = utcnow()
            allowed = next_allowed_time(now, policy)
            if allowed > now:
                return SendResult(
                    Outcome.DEFERRED,
                    retry_at=allowed,
                    message=f"sending window closed after {sent} messages",
                )
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE sms_message SET attempts = attempts + 1, reason = :f, updated_at = :now "
                        "WHERE id = :m AND delivery_id = :d AND status = 'pending'"
                    ),
                    {"f": IN_FLIGHT, "m": mid, "d": row.id, "now": now},
                )
            options = {"dlr_url": dlr_url(app, token, mid)} if token else {}
            message = Message(
                idempotency_key=f"{row.idempotency_key}:{mid}",
                text=body,
                to=phone,
                options=options,
                delivery_id=row.id,
                campaign_id=row.campaign_id,
                scheduled_at=row.scheduled_at,
                not_after=row.not_after,
            )
            result = adapter.deliver(message)
            stop = _record(engine, mid, row.id, result)
            if result.delivered:
                sent += 1
                transient_run = 0
            elif result.outcome in (Outcome.TRANSIENT, Outcome.RATE_LIMITED):
                transient_run += 1
                last_transient = result
                if transient_run >= MAX_CONSECUTIVE_TRANSIENT:
                    return SendResult(
                        result.outcome,
                        retry_after=result.retry_after,
                        http_status=result.http_status,
                        message=f"gateway unavailable after {sent} messages: {result.message}",
                    )
            elif stop is not None:
                return stop
            else:
                failed += 1
                transient_run = 0
    with engine.connect() as conn:
        left = conn.execute(
            text(
                "SELECT COUNT(*) FROM sms_message WHERE delivery_id = :d AND status = 'pending' "
                "AND batch_id IS NULL"
            ),
            {"d": row.id},
        ).scalar_one()
    if left:
        res = last_transient or SendResult(Outcome.TRANSIENT)
        return SendResult(
            res.outcome,
            retry_after=res.retry_after,
            message=f"{left} messages still pending: {res.message}",
        )
    if failed and not sent:
        return SendResult(Outcome.PERMANENT, message=f"all {failed} messages were refused")
    return SendResult(
        Outcome.SENT,
        message=f"{sent} sent, {failed} failed",
        detail={"sent": sent, "failed": failed},
    )


def _record(engine, mid: int, wave: int, result: SendResult) -> SendResult | None:
    """Store one send's result on its record (``wave``: its delivery id, so
    PostgreSQL reads one partition). Returns a result that must stop the wave
    (wrong account credentials, deadline passed), else None."""
    now = utcnow()
    reason = (result.message or result.outcome.value)[:500]
    with engine.begin() as conn:
        if result.delivered:
            conn.execute(
                text(
                    "UPDATE sms_message SET status = 'sent', reason = NULL, external_id = :e, "
                    "updated_at = :now WHERE id = :m AND delivery_id = :d AND status = 'pending'"
                ),
                {"e": result.external_id, "m": mid, "d": wave, "now": now},
            )
            return None
        if result.outcome in (Outcome.TRANSIENT, Outcome.RATE_LIMITED):
            conn.execute(
                text(
                    "UPDATE sms_message SET reason = :r "
                    "WHERE id = :m AND delivery_id = :d AND status = 'pending'"
                ),
                {"r": "transient: " + reason, "m": mid, "d": wave},
            )
            return None
        account_wide = result.outcome in (
            Outcome.AUTH_EXPIRED,
            Outcome.EXPIRED,
            Outcome.DEFERRED,
        ) or (
            result.outcome == Outcome.PERMANENT
            and result.http_status == 403
            and "Authorization" in (result.message or "")
        )
        if account_wide:
            # Not this recipient's fault: put the record back as it was.
            conn.execute(
                text(
                    "UPDATE sms_message SET reason = NULL, attempts = attempts - 1 "
                    "WHERE id = :m AND delivery_id = :d AND status = 'pending'"
                ),
                {"m": mid, "d": wave},
            )
            return result
        conn.execute(
            text(
                "UPDATE sms_message SET status = 'failed', reason = :r, updated_at = :now "
                "WHERE id = :m AND delivery_id = :d AND status = 'pending'"
            ),
            {
                "r": ("ambiguous: " if result.outcome == Outcome.AMBIGUOUS else "") + reason,
                "m": mid,
                "d": wave,
                "now": now,
            },
        )
    return None


def send_partner_wave(app, row, adapter, renew_lease: Callable[[], bool]) -> SendResult:
    """Expand the wave and cut one batch per carrier (partners fetch them)."""
    with app.app_context():
        try:
            policy, text_, list_id = _prepare(app, row)
        except _Stop as stop:
            return stop.result
        counts = _expand(app, row, policy, text_, list_id, batches=True)
        with get_engine(app).connect() as conn:
            batches = conn.execute(
                text(
                    "SELECT carrier, id, message_count FROM sms_batch WHERE delivery_id = :d ORDER BY id"
                ),
                {"d": row.id},
            ).all()
        return SendResult(
            Outcome.SENT,
            external_id=f"batches:{','.join(str(b[1]) for b in batches)}"[:200],
            message=f"{len(batches)} lô tin: "
            + ", ".join(f"{_CARRIER_NAMES.get(c, c)} {n}" for c, _i, n in batches),
            detail={"counts": counts},
        )


#: stored in the attempt's text (Vietnamese, as read on the delivery page)
_CARRIER_NAMES = {"viettel": "Viettel", "vinaphone": "VinaPhone", "mobifone": "MobiFone",
                  "vietnamobile": "Vietnamobile", "gmobile": "Gmobile", "other": "mạng khác"}


def register(app=None) -> None:
    from scheduler.waves import register_wave_sender

    register_wave_sender("sms_kannel", send_kannel_wave)
    register_wave_sender("sms_partner", send_partner_wave)
