"""Lan Tỏa application factory. ``flask --app app ...`` is the CLI.

The flow reads left to right: campaigns (plan) -> media_templates (produce)
-> scheduler -> channels (deliver) -> campaigns' KPIs and reports (measure).
The scheduler is never started here: see ``flask --app app scheduler``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

#: Every module that declares tables (Alembic and tests import them all).
MODEL_MODULES = (
    "core.models",
    "scheduler.models",
    "scheduler.sms.models",
    "campaigns.models",
    "campaigns.kits.models",
    "campaigns.measure.models",
    "campaigns.measure.budget",
    "campaigns.teams.models",
    "campaigns.press.models",
    "campaigns.contests.models",
    "campaigns.assistant.models",
)


def import_models() -> None:
    import importlib

    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not exc.name or not name.startswith(exc.name):  # a real missing dependency
                raise


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    instance = Path(os.environ.get("LANTOA_INSTANCE_PATH") or app.instance_path)
    app.instance_path = str(instance)
    if test_config and "INSTANCE_PATH" in test_config:
        app.instance_path = str(test_config["INSTANCE_PATH"])

    from core import config as core_config

    app.config.update(core_config.from_env(Path(app.instance_path)))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="vi",
        BABEL_DEFAULT_TIMEZONE="Asia/Ho_Chi_Minh",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    app.config["DEBUG"] = False  # never debug mode; use `make dev` style tools locally
    app.debug = False
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from flask_babel import lazy_gettext

    from core import db, formonce, hardening, web
    from core.auth import bp as auth_bp
    from core.extensions import babel, csrf, limiter, login_manager

    db.init_app(app)
    hardening.init_app(app)  # before any route: the bounded <int:...> converter
    web.init_app(app)
    formonce.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Translated when flashed (in the request), so the session stores a plain string.
    login_manager.login_message = lazy_gettext("Vui lòng đăng nhập để tiếp tục.")
    login_manager.localize_callback = str
    babel.init_app(app, locale_selector=web.get_locale, timezone_selector=web.get_timezone)
    app.register_blueprint(auth_bp)

    import_models()
    import campaigns
    import scheduler

    scheduler.init_app(app)
    campaigns.init_app(app)

    from core import cli as core_cli

    core_cli.init_app(app)
    return app
