"""Channel accounts in the UI: register (form from the adapter's config spec),
test the connection, see health, preview a message as each network shows it."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from campaigns.service import nfc
from core import formonce
from core.auth import actor, role_required
from core.db import get_session
from core.models import OrgUnit, Role, audit
from core.security import SecretBox
from core.timeutil import utcnow
from scheduler.models import ChannelAccount

bp = Blueprint("accounts", __name__, template_folder="templates")


def _adapter(channel: str):
    from channels import registry

    try:
        return registry.adapter_class(channel)
    except (KeyError, ImportError):
        return None


@bp.route("/accounts")
@role_required(Role.communicator, Role.reviewer)
def index():
    from channels import registry

    session = get_session()
    rows = session.exec(select(ChannelAccount).order_by(ChannelAccount.channel, ChannelAccount.name)).all()
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    channels = [(n, _adapter(n)) for n in registry.names()]
    return render_template("campaigns/accounts.html", rows=rows, units=units,
                           channels=[(n, c) for n, c in channels if c is not None])


@bp.route("/accounts/new/<channel>", methods=["GET", "POST"])
@role_required(Role.communicator)
def new(channel: str):
    from channels import ConfigError

    cls = _adapter(channel)
    if cls is None:
        abort(404)
    session = get_session()
    units = session.exec(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all()
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        name = nfc(request.form.get("name", ""))
        if not name:
            errors["name"] = _("Vui lòng đặt tên tài khoản.")
        elif len(name) > 200:
            errors["name"] = _("Tên tối đa 200 ký tự.")
        config, secret_values = {}, {}
        for f in cls.config_spec:
            raw = request.form.get(f.name, "")
            values[f.name] = "" if f.secret else raw
            if raw == "":
                continue
            if f.type == "bool":
                value = raw in ("1", "true", "on")
            elif f.type in ("int", "float"):
                value = raw
            else:
                value = raw
            (secret_values if f.secret else config)[f.name] = value
        try:
            config = cls.validate_config(config)
        except ConfigError as exc:
            errors.update(exc.fields)
        try:
            secret_values = cls.validate_secrets(secret_values)
        except ConfigError as exc:
            errors.update(exc.fields)
        unit = None
        if request.form.get("unit"):
            unit = session.exec(select(OrgUnit).where(OrgUnit.code == request.form["unit"])).first()
            if unit is None:
                errors["unit"] = _("Đơn vị không tồn tại.")
        if not errors and not formonce.consume():  # the back button or a double click
            flash(_("Biểu mẫu này đã được gửi rồi; tài khoản đã có trong danh sách."), "error")
            return redirect(url_for("accounts.index"))
        if not errors:
            box = SecretBox(current_app.config["SECRET_KEY"])
            account = ChannelAccount(channel=channel, name=name, config=config,
                                     secrets_encrypted=box.encrypt(secret_values),
                                     unit_id=unit.id if unit else None, hook_token=secrets.token_urlsafe(24),
                                     created_at=utcnow())
            session.add(account)
            session.flush()
            audit(session, actor().id, "account.create", "channel_account", account.id, channel=channel)
            session.commit()
            flash(_("Đã thêm tài khoản. Hãy kiểm tra kết nối."), "success")
            return redirect(url_for("accounts.detail", account_id=account.id))
    return render_template("campaigns/account_form.html", cls=cls, channel=channel, errors=errors,
                           values=values, units=units), (422 if errors else 200)


def _secret_state(value):
    """A secret is shown as set / not set, in the page's language."""
    from channels.base import SECRET_NOT_SET, SECRET_SET

    if value == SECRET_SET:
        return _("đã đặt")
    if value == SECRET_NOT_SET:
        return _("chưa đặt")
    return value


@bp.route("/accounts/<int:account_id>", methods=["GET"])
@role_required(Role.communicator, Role.reviewer)
def detail(account_id: int):
    from channels import MediaFile, Message

    session = get_session()
    account = session.get(ChannelAccount, account_id)
    if account is None:
        abort(404)
    cls = _adapter(account.channel)
    box = SecretBox(current_app.config["SECRET_KEY"])
    shown = cls.redacted(account.config, box.decrypt(account.secrets_encrypted)) if cls else account.config
    secret_names = {f.name for f in cls.config_spec if f.secret} if cls else set()
    shown = {k: _secret_state(v) if k in secret_names else v for k, v in shown.items()}
    text = request.args.get("text", "")
    preview_html = None
    if text and cls is not None:
        try:
            adapter = cls(dict(account.config), {})
            preview_html = adapter.preview(Message(idempotency_key="preview", text=nfc(text)[:70000],
                                                   title=request.args.get("title") or None,
                                                   media=tuple(MediaFile(path="", mime="image/png")
                                                               for _ in range(0))))
        except Exception:  # noqa: BLE001 - a preview must never break the page
            preview_html = None
    return render_template("campaigns/account.html", account=account, shown=shown, cls=cls, text=text,
                           preview_html=preview_html)


@bp.route("/accounts/<int:account_id>/test", methods=["POST"])
@role_required(Role.communicator)
def test(account_id: int):
    from scheduler.accounts import check_account

    session = get_session()
    account = session.get(ChannelAccount, account_id)
    if account is None:
        abort(404)
    result = check_account(session, account)
    audit(session, actor().id, "account.test", "channel_account", account.id, ok=result["ok"])
    session.commit()
    flash(result["message"], "success" if result["ok"] else "error")
    return redirect(url_for("accounts.detail", account_id=account.id))
