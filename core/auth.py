"""Who is asking: web sessions (Flask-Login), API bearer tokens, and scoping.

Every permission check happens here or in the views, on the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from urllib.parse import urlparse

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlmodel import Session, select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from core.db import get_session
from core.extensions import limiter, login_manager
from core.models import ApiToken, Role, User, audit
from core.security import hash_token, verify_password
from core.timeutil import utcnow
from core.units import subtree_ids
from core.validate import has_controls

bp = Blueprint("auth", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/core")

#: Roles that see the whole province.
PROVINCE_WIDE = {Role.admin, Role.communicator, Role.reviewer}


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """``id:version`` from the session; a revoked version (logout, new password,
    new role) no longer loads the user."""
    try:
        user_id, version = (int(x) for x in str(session_id).split(":", 1))
        if not 0 < user_id < 2**31:
            return None
        user = get_session().get(User, user_id)
    except (TypeError, ValueError):
        return None
    if user is None or not user.active or (user.session_version or 0) != version:
        return None
    return user


def user_from_bearer(session: Session) -> User | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = header[7:].strip()
    if not token:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None or row.revoked:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    _touch_token(session, row)
    return user


#: A token's ``last_used_at`` is written at most this often (seconds): a read
#: request must not write, or hold a write lock, every time it is made.
TOKEN_TOUCH_SECONDS = 60


def _touch_token(session: Session, row: ApiToken) -> None:
    from sqlalchemy import update
    from sqlalchemy.exc import OperationalError

    now = utcnow()
    if row.last_used_at is not None and (now - row.last_used_at).total_seconds() < TOKEN_TOUCH_SECONDS:
        return
    try:
        conn = session.connection()
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # do not wait behind a long writer for a bookkeeping field
            conn.exec_driver_sql("PRAGMA busy_timeout=200")
        try:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000")
        session.commit()
    except OperationalError:  # the database is busy (e.g. a long import on SQLite): skip, try next time
        session.rollback()


def actor() -> User | None:
    """The authenticated user of this request (API token or web session)."""
    if "actor" in g:
        return g.actor
    if current_user.is_authenticated:
        return current_user._get_current_object()  # type: ignore[attr-defined]
    return None


def has_role(user: User | None, *roles: Role | str) -> bool:
    return user is not None and (user.role == Role.admin or user.role in roles)


def role_required(*roles: Role | str) -> Callable:
    """Web view guard: login required, and one of ``roles`` (admin always)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not has_role(actor(), *roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def visible_unit_ids(session: Session, user: User) -> set[int] | None:
    """Units whose objects the user may see; None means all of them."""
    if user.role in PROVINCE_WIDE:
        return None
    if user.unit_id is None:
        return set()
    if user.role == Role.telecom_partner:
        return {user.unit_id}
    return subtree_ids(session, user.unit_id)


def can_see_units(session: Session, user: User, unit_ids: Iterable[int]) -> bool:
    visible = visible_unit_ids(session, user)
    return visible is None or bool(visible & set(unit_ids))


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập email.")), Length(max=254)])
    password = PasswordField(lazy_gettext("Mật khẩu"), validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập mật khẩu.")), Length(max=200)])


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    if has_controls(target, multiline=False) or "\\" in target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _login_limit() -> str:
    return current_app.config["LANTOA_LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(url_for("campaigns.home"))
    form = LoginForm()
    if form.validate_on_submit():
        session = get_session()
        email = form.email.data.strip().lower()
        user = session.exec(select(User).where(User.email == email)).first()
        if user is not None and user.active and verify_password(user.password_hash, form.password.data):
            login_user(user)
            audit(session, user.id, "login", "user", user.id)
            session.commit()
            return redirect(_safe_next(request.args.get("next")) or url_for("campaigns.home"))
        flash(_("Email hoặc mật khẩu không đúng."), "error")
    return render_template("core/login.html", form=form), (200 if request.method == "GET" else 400 if form.errors else 200)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    user = actor()
    if user is not None:  # every copy of this session's cookie stops working too
        db = get_session()
        user.revoke_sessions()
        db.add(user)
        audit(db, user.id, "logout", "user", user.id)
        db.commit()
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/language/<code>", methods=["POST"])
def set_language(code: str):
    from flask import session as web_session

    if code not in ("vi", "en"):
        abort(404)
    web_session["locale"] = code
    user = actor()
    if user is not None:
        db = get_session()
        user.locale = code
        db.add(user)
        db.commit()
    return redirect(_safe_next(request.form.get("next")) or url_for("campaigns.home"))
