"""Web plumbing shared by every blueprint: security headers, errors, i18n, filters."""

from __future__ import annotations

from flask import Flask, g, has_request_context, jsonify, render_template, request
from flask import session as web_session
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from core import timeutil

ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "busy",
}

#: Plain strings: the JSON API returns them as they are (Vietnamese). HTML error pages
#: translate them at display time; translations/dynamic_labels.py lists them for extraction.
ERROR_MESSAGES = {
    400: "Yêu cầu không hợp lệ.",
    401: "Cần đăng nhập hoặc mã truy cập hợp lệ.",
    403: "Bạn không có quyền thực hiện thao tác này.",
    404: "Không tìm thấy.",
    405: "Phương thức không được hỗ trợ.",
    409: "Xung đột dữ liệu.",
    413: "Tệp hoặc yêu cầu quá lớn.",
    415: "Định dạng không được hỗ trợ.",
    422: "Dữ liệu không hợp lệ.",
    429: "Quá nhiều yêu cầu, vui lòng thử lại sau.",
    500: "Lỗi hệ thống. Vui lòng thử lại hoặc báo quản trị viên.",
}


#: shown when SQLite stays locked past its busy timeout (a long import holds the write lock)
BUSY_MESSAGE = "Hệ thống đang bận xử lý một tệp lớn. Vui lòng thử lại sau ít phút; dữ liệu bạn gửi chưa được lưu."


def _database_busy(exc: Exception) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def api_error(status: int, message: str | None = None, fields: dict | None = None, **extra):
    body = {
        "error": {
            "code": ERROR_CODES.get(status, "error"),
            "message": message or ERROR_MESSAGES.get(status, "Lỗi."),
            "fields": fields or {},
        }
    }
    body["error"].update(extra)
    return jsonify(body), status


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/hooks/")


#: languages of the public pages (feedback form, its summary, QR landing links); the staff UI
#: stays vi/en. Khmer covers only those pages' strings (translations/km).
PUBLIC_LOCALES = ("vi", "km", "en")
#: session key of the language a visitor chose on a public page (kept apart from the staff
#: member's own UI language in ``locale``)
PUBLIC_LOCALE_KEY = "public_locale"


def public_page(view):
    """Mark a view as a public page in :data:`PUBLIC_LOCALES`: its language follows ``?lang=``,
    else the visitor's last choice on a public page. Put it right under ``@bp.route``."""
    view.public_page = True
    return view


def is_public_page() -> bool:
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "public_page", False))


def public_lang_arg() -> str | None:
    lang = request.args.get("lang", "")
    return lang if lang in PUBLIC_LOCALES else None


def get_locale() -> str:
    from core.auth import actor

    if not has_request_context():  # CLI, workers: no session, no user
        return "vi"
    if is_public_page():
        chosen = public_lang_arg() or web_session.get(PUBLIC_LOCALE_KEY)
        if chosen in PUBLIC_LOCALES:
            return chosen
    if web_session.get("locale") in ("vi", "en"):
        return web_session["locale"]
    user = actor() if request else None
    if user is not None and user.locale in ("vi", "en"):
        return user.locale
    return "vi"


def get_timezone() -> str:
    return "Asia/Ho_Chi_Minh"


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(resp):
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
            "form-action 'self'",
        )
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        if "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]:
            # a route that allows framing (the embeddable block) sets its own CSP
            resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return resp

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        # keep the headers the exception carries (405: Allow; 429: Retry-After; 401: WWW-Authenticate)
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        if _wants_json():
            body, code = api_error(status)
            return body, code, headers
        message = _(ERROR_MESSAGES[status]) if status in ERROR_MESSAGES else str(exc.description)
        if status == 400 and "CSRF" in str(exc.description):
            message = _("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ. Vui lòng tải lại trang.")
        return render_template("core/error.html", status=status, message=message), status, headers

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        if _database_busy(exc):  # SQLite's single writer is held by a long job: retry later
            app.logger.warning("database busy on %s %s", request.method, request.path)
            message = BUSY_MESSAGE
            if _wants_json():
                body, _status = api_error(503, message)
                return body, 503, {"Retry-After": "30"}
            return render_template("core/error.html", status=503, message=_(message)), 503, {"Retry-After": "30"}
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return api_error(500)
        return render_template("core/error.html", status=500, message=_(ERROR_MESSAGES[500])), 500

    app.jinja_env.filters["date"] = timeutil.fmt_date
    app.jinja_env.filters["datetime"] = timeutil.fmt_datetime
    from core import formatting

    formatting.init_app(app)

    @app.context_processor
    def inject_globals():
        from core.auth import actor
        from core.models import ROLE_LABELS

        return {"me": actor(), "role_labels": ROLE_LABELS, "current_locale": get_locale()}

    @app.before_request
    def _clear_actor():
        g.pop("actor", None)

    @app.before_request
    def _remember_public_language():
        lang = public_lang_arg()
        if lang and is_public_page() and web_session.get(PUBLIC_LOCALE_KEY) != lang:
            web_session[PUBLIC_LOCALE_KEY] = lang

    from core import webfonts

    webfonts.init_app(app)
