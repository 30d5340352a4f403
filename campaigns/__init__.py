"""Planning domain: campaigns, presets, approval, calendar, kits, KPIs, reports,
and the web views and JSON API."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns import api, cli, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    cli.init_app(app)
