"""The citizens' assistant (plan IV.3e): a knowledge base the communicators own, Vietnamese
retrieval with a confidence and handoff to the responsible unit, the web widget on /y-kien,
Zalo OA and Messenger webhooks, and the retention purge. See docs/assistant.md.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns import openapi_extra
    from campaigns.assistant import api, cli, views, webhooks

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(webhooks.bp)
    cli.init_app(app)
    if api.openapi_paths not in openapi_extra.EXTRA_PATHS:
        openapi_extra.EXTRA_PATHS.append(api.openapi_paths)
    try:
        from scheduler.jobs import register_daily
    except ImportError:  # pragma: no cover
        return
    register_daily("assistant.purge", daily)


def daily(app: Flask, today) -> None:
    """Erase the text and sender of questions past the retention setting
    (``LANTOA_ASSISTANT_RETENTION_DAYS``, default 90)."""
    from campaigns.assistant.engine import purge_personal_data
    from core.db import session_scope

    with app.app_context(), session_scope(app) as session:
        purge_personal_data(session, today)
