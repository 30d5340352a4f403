"""One-time form tokens: the back button or a double click cannot create a duplicate.

A form that creates something carries a hidden ``form_once`` field whose value is
issued when the page is rendered and kept in the (signed) session. The view calls
``consume()`` after the form validated and just before it saves: the first call
with a token succeeds and forgets it; a second submission of the same page (the
back button, a double click, a reload of the POST) finds it gone and is refused.

    # template
    {{ form_once_field() }}
    # view, after validation
    if not formonce.consume():
        flash(_("Biểu mẫu này đã được gửi rồi."), "error")
        return redirect(...)

A rejected form is rendered again with a fresh token, so correcting and resending
it works. The session keeps at most ``KEEP`` open tokens (many tabs at once); the
oldest is dropped first.
"""

from __future__ import annotations

import secrets

from flask import request, session
from markupsafe import Markup

FIELD = "form_once"
KEY = "_form_once"
KEEP = 30


def issue() -> str:
    """A new token remembered in the session."""
    token = secrets.token_urlsafe(16)
    open_tokens = [t for t in session.get(KEY, []) if isinstance(t, str)][-(KEEP - 1):]
    open_tokens.append(token)
    session[KEY] = open_tokens
    return token


def field() -> Markup:
    """The hidden input for a template (registered as ``form_once_field``)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, issue())


def consume(token: str | None = None) -> bool:
    """True the first time ``token`` (default: the submitted field) is used."""
    token = token if token is not None else request.form.get(FIELD, "")
    open_tokens = list(session.get(KEY, []))
    if not token or token not in open_tokens:
        return False
    open_tokens.remove(token)
    session[KEY] = open_tokens
    return True


def init_app(app) -> None:
    app.jinja_env.globals["form_once_field"] = field
