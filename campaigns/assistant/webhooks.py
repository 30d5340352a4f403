"""Incoming citizens' messages: Zalo OA and Facebook Messenger webhooks, and replies on the
same channel (automatic answers and officers' replies from the handoff inbox).

* Zalo OA: ``POST /hooks/zalo/<oa_id>``; event ``user_send_text`` (``sender.id``,
  ``recipient.id`` = OA id, ``message.text``). When ``LANTOA_ZALO_WEBHOOK_SECRET`` (the OA
  secret key of the webhook settings) is set, the header ``X-ZEvent-Signature: mac=<sha256(app_id + body + timestamp +
  secret)>`` must match. The reply goes out as a consultation message (``cs_message``,
  ``POST /v3.0/oa/message/cs``) through the Zalo adapter, ≤ 2,000 characters.
* Messenger: ``GET /hooks/messenger`` answers ``hub.challenge`` when ``hub.verify_token``
  equals ``LANTOA_MESSENGER_VERIFY_TOKEN``; ``POST /hooks/messenger`` takes ``object: page``
  events with ``messaging[].message.text`` (checked with ``X-Hub-Signature-256`` =
  HMAC-SHA256 of the body with ``LANTOA_MESSENGER_APP_SECRET`` when that is set). Replies use the
  Send API ``POST /{page-id}/messages`` (``messaging_type: RESPONSE``) with the Page's token,
  only within 24 hours of the citizen's message, with quick-reply buttons to the feedback page.

The facebook/zalo channel account is found by ``page_id`` / ``oa_id`` in its config.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import requests
from flask import Blueprint, current_app, jsonify, request
from sqlmodel import Session, select

from campaigns.assistant import engine
from campaigns.assistant.models import AssistantQuestion
from core.db import get_session
from core.extensions import csrf, limiter
from core.timeutil import utcnow

bp = Blueprint("assistant_hooks", __name__)
csrf.exempt(bp)

ZALO_MAX = 2000
MESSENGER_MAX = 2000
MESSENGER_WINDOW = timedelta(hours=24)


def _account(session: Session, channel: str, key: str, value: str):
    from scheduler.models import ChannelAccount

    for acc in session.exec(select(ChannelAccount).where(ChannelAccount.channel == channel)).all():
        if str((acc.config or {}).get(key) or "") == str(value):
            return acc
    return None


def _obj(value) -> dict:
    """A JSON object from a webhook body, or {} for anything else (never a 500)."""
    return value if isinstance(value, dict) else {}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _reply_text(result: dict) -> str:
    links = " ".join(result.get("links") or [])
    return f"{result['answer']}\n{links}".strip()


# -- Zalo OA ------------------------------------------------------------------------------------


def zalo_send(account, user_id: str, text: str, key: str) -> str | None:
    """Send a consultation message; returns None or a Vietnamese error."""
    from channels.base import Message
    from scheduler.accounts import build_adapter

    try:
        adapter = build_adapter(account)
    except Exception:  # noqa: BLE001 - a broken account is shown to the officer, never a 500
        current_app.logger.exception("zalo account %s cannot be used", account.id)
        return "tài khoản Zalo OA chưa cấu hình đúng."
    result = adapter.deliver(Message(idempotency_key=key, text=_cut(text, ZALO_MAX),
                                     options={"kind": "cs_message", "user_ids": [user_id]}))
    if result.delivered:
        return None
    current_app.logger.warning("zalo reply failed: %s %s", result.outcome, result.provider_code)
    if result.provider_code in ("-230", "-232"):
        return "người hỏi đã quá thời hạn nhận tin tư vấn của Zalo OA."
    return "Zalo OA không nhận tin (xem tình trạng tài khoản kênh)."


@bp.route("/hooks/zalo/<oa_id>", methods=["POST"])
@limiter.limit("600 per minute")
def zalo_hook(oa_id: str):
    session = get_session()
    account = _account(session, "zalo", "oa_id", oa_id)
    if account is None:
        return jsonify({"error": "unknown OA"}), 404
    raw = request.get_data()
    secret = engine._conf("ZALO_WEBHOOK_SECRET", "") or (account.config or {}).get("webhook_secret")
    try:
        event = json.loads(raw or b"{}")
    except ValueError:
        return jsonify({"error": "JSON expected"}), 400
    if not isinstance(event, dict):
        return jsonify({"error": "JSON object expected"}), 400
    if secret:
        base = f"{event.get('app_id', '')}{raw.decode('utf-8', 'replace')}{event.get('timestamp', '')}{secret}"
        expected = "mac=" + hashlib.sha256(base.encode()).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-ZEvent-Signature", "")):
            return jsonify({"error": "bad signature"}), 403
    if event.get("event_name") != "user_send_text":
        return jsonify({"ok": True, "ignored": True})
    user_id = str(_obj(event.get("sender")).get("id") or "")
    text = _obj(event.get("message")).get("text")
    if not user_id or not isinstance(text, str) or not text.strip():
        return jsonify({"ok": True, "ignored": True})
    try:
        result, row = engine.ask(session, text[:engine.QUESTION_MAX], channel="zalo", sender=user_id)
    except engine.AskError:
        session.rollback()
        return jsonify({"ok": True, "ignored": True})
    session.commit()
    error = zalo_send(account, user_id, _reply_text(result), f"assistant:{row.id}")
    return jsonify({"ok": error is None, "question_id": row.id})


# -- Messenger ----------------------------------------------------------------------------------


def _graph(path: str) -> str:
    conf = current_app.config
    return f"{conf['LANTOA_FACEBOOK_GRAPH_URL'].rstrip('/')}/{conf['LANTOA_FACEBOOK_GRAPH_VERSION']}/{path}"


def messenger_send(account, psid: str, text: str, quick_replies: bool = True) -> str | None:
    from core.security import SecretBox

    try:
        token = (SecretBox(current_app.config["SECRET_KEY"]).decrypt(account.secrets_encrypted) or {}).get(
            "page_access_token")
    except Exception:  # noqa: BLE001 - a broken account is shown to the officer, never a 500
        current_app.logger.exception("facebook account %s cannot be used", account.id)
        return "tài khoản Facebook chưa cấu hình đúng."
    message: dict = {"text": _cut(text, MESSENGER_MAX)}
    if quick_replies:
        message["quick_replies"] = [
            {"content_type": "text", "title": "Hỏi câu khác", "payload": "ASK_AGAIN"},
            {"content_type": "text", "title": "Gặp cán bộ", "payload": "HUMAN"},
        ]
    try:
        resp = requests.post(_graph(f"{account.config.get('page_id')}/messages"),
                             params={"access_token": token or ""}, timeout=(5, 20),
                             json={"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": message})
    except requests.RequestException as exc:
        current_app.logger.warning("messenger send failed: %s", type(exc).__name__)
        return "không kết nối được tới Facebook."
    if resp.status_code == 200:
        return None
    current_app.logger.warning("messenger send answered %s: %s", resp.status_code, resp.text[:300])
    return "Facebook không nhận tin (xem tình trạng tài khoản kênh)."


def _verify_token() -> str:
    return engine._conf("MESSENGER_VERIFY_TOKEN", "")


@bp.route("/hooks/messenger", methods=["GET"])
@limiter.limit("60 per minute")
def messenger_verify():
    token = _verify_token()
    if (request.args.get("hub.mode") == "subscribe" and token
            and hmac.compare_digest(request.args.get("hub.verify_token", ""), token)):
        return request.args.get("hub.challenge", ""), 200, {"Content-Type": "text/plain"}
    # a wrong or missing token: not verified (400, so the endpoint stays public for Meta's check)
    return "verification failed", 400, {"Content-Type": "text/plain"}


@bp.route("/hooks/messenger", methods=["POST"])
@limiter.limit("600 per minute")
def messenger_hook():
    raw = request.get_data()
    secret = engine._conf("MESSENGER_APP_SECRET", "")
    if secret:
        expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
            return jsonify({"error": "bad signature"}), 403
    try:
        event = json.loads(raw or b"{}")
    except ValueError:
        return jsonify({"error": "JSON expected"}), 400
    if not isinstance(event, dict) or event.get("object") != "page":
        return jsonify({"ok": True, "ignored": True})
    session = get_session()
    handled = 0
    entries = event.get("entry") if isinstance(event.get("entry"), list) else []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        account = _account(session, "facebook", "page_id", str(entry.get("id") or ""))
        messaging = entry.get("messaging") if isinstance(entry.get("messaging"), list) else []
        for m in messaging:
            if not isinstance(m, dict) or account is None:
                continue
            psid = str(_obj(m.get("sender")).get("id") or "")
            text = _obj(m.get("message")).get("text")
            if not psid or not isinstance(text, str) or not text.strip() or _obj(m.get("message")).get("is_echo"):
                continue
            # the "Gặp cán bộ" quick reply: hand the conversation to a person
            human = _obj(_obj(m.get("message")).get("quick_reply")).get("payload") == "HUMAN"
            try:
                result, row = engine.ask(session, text[:engine.QUESTION_MAX], channel="messenger", sender=psid,
                                         force_handoff=human)
            except engine.AskError:
                session.rollback()
                continue
            session.commit()
            messenger_send(account, psid, _reply_text(result))
            handled += 1
    return jsonify({"ok": True, "handled": handled})


# -- officers' replies --------------------------------------------------------------------------


def send_reply(session: Session, q: AssistantQuestion, text: str) -> str | None:
    """Send an officer's reply on the question's channel; None when sent (or nothing to send on:
    web and API questions keep the reply in the inbox), else a Vietnamese reason."""
    if q.channel not in ("zalo", "messenger"):
        return None
    if not q.sender:
        return "thông tin người hỏi đã được xóa theo thời hạn lưu giữ."
    if q.channel == "messenger":
        if q.created_at and utcnow() - q.created_at > MESSENGER_WINDOW:
            return "đã quá 24 giờ kể từ tin nhắn của người hỏi (giới hạn của Messenger)."
        from scheduler.models import ChannelAccount

        accounts = session.exec(select(ChannelAccount).where(ChannelAccount.channel == "facebook")).all()
    else:
        from scheduler.models import ChannelAccount

        accounts = session.exec(select(ChannelAccount).where(ChannelAccount.channel == "zalo")).all()
    if not accounts:
        return "chưa có tài khoản kênh để trả lời."
    account = accounts[0]
    if q.channel == "messenger":
        return messenger_send(account, q.sender, text, quick_replies=False)
    return zalo_send(account, q.sender, text, f"assistant-reply:{q.id}:{hashlib.sha256(text.encode()).hexdigest()[:12]}")
