"""Kannel callbacks: delivery reports (``dlr-url``) and incoming messages
(``sms-service get-url``), authenticated by the channel account's
``hook_token`` in the path:

    /hooks/kannel/<token>/dlr?id=<sms_message id>&status=%d
    /hooks/kannel/<token>/mo?from=%p&text=%a

Public (Kannel has no session), CSRF-exempt, rate-limited. Garbage gets a
4xx with a short plain-text reason, never a 500. A refusal keyword in an MO
message ("TC", "HUY", "STOP", ...) adds the number to the opt-out list at once.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from sqlalchemy import text
from sqlmodel import select

from core.db import get_engine, get_session
from core.extensions import csrf, limiter
from scheduler.models import ChannelAccount

log = logging.getLogger(__name__)

bp = Blueprint("sms_hooks", __name__, url_prefix="/hooks/kannel")
csrf.exempt(bp)


def _hook_limit() -> str:
    return str(current_app.config.get("LANTOA_SMS_HOOK_RATE_LIMIT") or "60000 per minute")


def _plain(body: str, status: int = 200) -> Response:
    return Response(body + "\n", status=status, mimetype="text/plain")


def _account(token: str) -> ChannelAccount | None:
    if not token or len(token) > 64:
        return None
    return (
        get_session()
        .exec(
            select(ChannelAccount).where(
                ChannelAccount.hook_token == token, ChannelAccount.channel == "sms_kannel"
            )
        )
        .first()
    )


def _int_arg(*names: str) -> int | None:
    for name in names:
        raw = (request.args.get(name) or "").strip()
        if raw:
            try:
                value = int(raw)
            except ValueError:
                return None
            return value if 0 <= value < 2**62 else None
    return None


@bp.route("/<token>/dlr", methods=["GET", "POST"])
@limiter.limit(_hook_limit)
def dlr(token: str):
    from scheduler.sms.waves import apply_dlr

    account = _account(token)
    if account is None:
        return _plain("unknown hook", 404)
    message_id = _int_arg("id", "message_id")
    status = _int_arg("status", "s", "type")
    if message_id is None or status is None:
        return _plain("id and status must be integers", 400)
    if status not in (1, 2, 4, 8, 16):
        return _plain("unknown DLR status", 400)
    reason = (request.args.get("answer") or request.args.get("reason") or "").strip()[:200] or None
    with get_engine().begin() as conn:
        # The message must belong to a wave of this account: a token never
        # reaches another account's records.
        owned = conn.execute(
            text(
                "SELECT m.id, m.delivery_id FROM sms_message m JOIN delivery d ON d.id = m.delivery_id "
                "WHERE m.id = :m AND d.channel_account_id = :a"
            ),
            {"m": message_id, "a": account.id},
        ).first()
        if owned is None:
            return _plain("unknown message", 404)
        new = apply_dlr(
            conn,
            message_id,
            status,
            reason=reason if status in (2, 16) else None,
            delivery_id=owned.delivery_id,  # the wave: one partition on PostgreSQL
        )
    return _plain(f"ok {new or 'unchanged'}")


@bp.route("/<token>/mo", methods=["GET", "POST"])
@limiter.limit(_hook_limit)
def mo(token: str):
    from campaigns.sms.service import refusal_keywords
    from scheduler.sms.waves import record_reply

    account = _account(token)
    if account is None:
        return _plain("unknown hook", 404)
    values = request.values
    sender = (values.get("from") or values.get("sender") or "").strip()
    body = values.get("text") or ""
    if not sender or len(sender) > 32 or len(body) > 2000:
        return _plain("from and text are required", 400)
    with get_engine().begin() as conn:
        refused = record_reply(conn, sender, body, refusal_keywords())
    if refused:
        log.info("opt-out by reply on account %s", account.id)
    # An empty body: with omit-empty Kannel sends no reply to the handset.
    return Response("", status=200, mimetype="text/plain")
