"""Channel accounts -> adapters, with secrets decrypted and rotations persisted."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlmodel import Session

from channels import DictCredentials, registry
from core.db import session_scope
from core.security import SecretBox
from core.timeutil import utcnow
from scheduler.models import ChannelAccount

log = logging.getLogger(__name__)


def endpoints(app=None) -> dict:
    conf = (app or current_app).config
    return {
        "graph_url": conf["LANTOA_FACEBOOK_GRAPH_URL"],
        "graph_version": conf["LANTOA_FACEBOOK_GRAPH_VERSION"],
        "zalo_oa_url": conf["LANTOA_ZALO_OA_URL"],
        "zalo_oauth_url": conf["LANTOA_ZALO_OAUTH_URL"],
        "zns_url": conf["LANTOA_ZNS_URL"],
        "public_base_url": conf["LANTOA_PUBLIC_BASE_URL"],
    }


def send_timeout(app=None) -> tuple[float, float]:
    """(connect, read) seconds for adapters' HTTP calls, from
    ``LANTOA_SEND_TIMEOUT`` ("5,30" or one number for both); default (5, 30)."""
    from scheduler.settings import setting

    raw = str(setting(app or current_app, "LANTOA_SEND_TIMEOUT", "5,30"))
    try:
        parts = [float(p) for p in raw.split(",") if p.strip()]
        if len(parts) == 1:
            parts = parts * 2
        connect, read = parts[0], parts[1]
        if connect <= 0 or read <= 0:
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(
            f"LANTOA_SEND_TIMEOUT: giá trị '{raw}' không hợp lệ (ví dụ: 5,30)."
        ) from None
    return (connect, read)


def build_adapter(account: ChannelAccount, app=None, *, clock=None):
    """An adapter for ``account``. Rotated secrets are written back at once, in
    their own transaction, before the adapter goes on (Zalo refresh tokens are
    single-use). ``clock`` (a callable returning an aware UTC datetime) is
    handed to the adapter, so deadlines follow an injected time."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    box = SecretBox(app.config["SECRET_KEY"])
    account_id = account.id

    def persist(values: dict) -> None:
        with app.app_context(), session_scope(app) as s:
            row = s.get(ChannelAccount, account_id)
            if row is None:  # deleted meanwhile: nothing to keep
                return
            row.secrets_encrypted = box.encrypt(values)
            s.add(row)

    creds = DictCredentials(box.decrypt(account.secrets_encrypted), on_save=persist)
    cls = registry.adapter_class(account.channel)
    kwargs: dict[str, Any] = {"endpoints": endpoints(app), "timeout": send_timeout(app)}
    if clock is not None:
        kwargs["clock"] = clock
    return cls(dict(account.config), creds, **kwargs)


def check_account(session: Session, account: ChannelAccount) -> dict:
    """Call the provider's cheap endpoint; record the account's health."""
    try:
        health = build_adapter(account).test_connection()
        result = {"ok": health.ok, "message": health.message, "detail": health.detail}
    except Exception as exc:  # noqa: BLE001 - shown to the operator, never a 500
        # the exception goes to the log; the page gets a sentence and what to do
        log.exception("connection check of channel account %s failed", account.id)
        result = {"ok": False, "message": "Không kiểm tra được kết nối. Hãy xem lại cấu hình tài khoản "
                                          "(địa chỉ, mã truy cập) rồi thử lại; nếu vẫn lỗi, báo quản trị viên.",
                  "detail": {"error": type(exc).__name__}}
    account.health = result
    account.last_checked_at = utcnow()
    if result["ok"] and account.status == "needs_auth":
        from scheduler.service import reconnect_account

        reconnect_account(session, account, None)
    session.add(account)
    return result
