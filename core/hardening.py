"""What every request and every log line goes through, whatever the view.

- Behind a TLS proxy (``LANTOA_BEHIND_PROXY=1``) werkzeug's ProxyFix takes the
  client address, scheme and host from the proxy's X-Forwarded-* headers (one hop),
  so the login limiter sees the citizen's address and HTTPS is known as such.
- The session cookie is ``Secure`` whenever the request came over HTTPS.
- Input that no field can hold is refused before any view runs: NUL and other C0/C1
  control characters in the path or query, and JSON nested deeper than
  ``MAX_JSON_DEPTH`` (the parser would recurse until it fails). Forms and JSON
  bodies are checked field by field by the validators (``core.validate``).
- Logs carry no personal data nor secrets: ``RedactingFilter`` masks phone
  numbers, e-mail addresses, bearer tokens, passwords and SQL parameters.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import IntegerConverter

from core.validate import INT32_MAX, find_bad_string, has_controls

MAX_JSON_DEPTH = 64


class _SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:  # called while saving, in the request
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _json_too_deep(raw: bytes, limit: int) -> bool:
    """Nesting depth of a JSON text without parsing it (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _bad_input_response(message: str):
    from core.web import _wants_json, api_error

    if _wants_json():
        return api_error(422, message, {"_": message})
    from flask import render_template
    from flask_babel import gettext as _

    return render_template("core/error.html", status=400, message=_(
        "Địa chỉ hoặc dữ liệu gửi lên có ký tự không hợp lệ.")), 400


# -- logs -----------------------------------------------------------------------------

_PATTERNS = [
    # SQLAlchemy error messages list the statement's parameters: may hold anything
    (re.compile(r"\[parameters: .*?\](?=\s*(\(|$))", re.S), "[parameters: <redacted>]"),
    (re.compile(r"(?i)(authorization:\s*bearer\s+)\S+"), r"\1<redacted>"),
    (re.compile(r"(?i)\b(password|passwd|secret|token|access_token|refresh_token|secret_key|"
                r"page_access_token|api_key)(\"?\s*[:=]\s*\"?)[^\s\"',&]+"), r"\1\2<redacted>"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "<email>"),
    # Vietnamese phone numbers: +84 / 84 / 0 followed by 9 digits (spaces, dots allowed)
    (re.compile(r"(?<![\w])(?:\+?84|0)(?:[\s.-]?\d){9}(?!\d)"), "<phone>"),
]


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks personal data and secrets in a record's message and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        record.msg, record.args = redact(message), None
        return True


def install_log_filter() -> None:
    """On the root logger's handlers (every logger propagates there)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def init_app(app: Flask) -> None:
    if str(app.config.get("LANTOA_BEHIND_PROXY", "")).lower() in ("1", "true", "yes", "on"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]
    app.session_interface = _SessionInterface()
    install_log_filter()

    app.url_map.converters["int"] = BoundedIntConverter

    @app.before_request
    def _refuse_unholdable_input():
        if has_controls(request.path) or any(
                has_controls(k) or has_controls(v) for k, v in request.args.items(multi=True)):
            return _bad_input_response("Địa chỉ có ký tự điều khiển không hợp lệ.")
        if request.mimetype == "application/json" and request.content_length:
            raw = request.get_data(cache=True)
            if _json_too_deep(raw, MAX_JSON_DEPTH):
                return _bad_input_response(f"JSON lồng quá {MAX_JSON_DEPTH} cấp.")
            data = request.get_json(silent=True)
            where = find_bad_string(data) if data is not None else None
            if where:
                from core.web import api_error

                message = "Có ký tự điều khiển không hợp lệ (không in được)."
                return api_error(422, message, {where: message})
        # urlencoded forms only: a multipart upload is parsed by its view, under that
        # view's own size limit (e.g. SMS lists), not here under the app-wide one
        if request.mimetype == "application/x-www-form-urlencoded" and request.form:
            _clean_form()
        return None


def _clean_form() -> None:
    """Form values lose the control characters no field can hold (NUL, C0/C1 but tab
    and newline) and become NFC; the user is told, nothing else is lost."""
    import unicodedata

    from flask import flash
    from flask_babel import gettext as _
    from werkzeug.datastructures import ImmutableMultiDict

    from core.validate import strip_controls

    changed = False
    items = []
    for key, value in request.form.items(multi=True):
        clean = unicodedata.normalize("NFC", strip_controls(value))
        changed |= clean != unicodedata.normalize("NFC", value)
        items.append((strip_controls(key), clean))
    request.form = ImmutableMultiDict(items)  # type: ignore[misc]
    if changed:
        flash(_("Đã bỏ các ký tự điều khiển không in được khỏi nội dung bạn gửi."), "warning")


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` in routes: ids fit the database's integer column, so a huge
    number is a 404 like any unknown id, never a database error."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's signature
        kwargs.setdefault("max", INT32_MAX)
        super().__init__(map, *args, **kwargs)
