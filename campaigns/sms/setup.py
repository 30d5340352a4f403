"""Wiring of the SMS app side: blueprints, OpenAPI paths, wave senders."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns import openapi_extra
    from campaigns.sms import api, hooks, senders, views

    app.register_blueprint(api.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(views.bp)
    if api.openapi_paths not in openapi_extra.EXTRA_PATHS:
        openapi_extra.EXTRA_PATHS.append(api.openapi_paths)
    senders.register(app)
