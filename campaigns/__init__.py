"""Planning domain: campaigns, presets, approval, calendar, kits, KPIs, reports,
and the web views and JSON API."""

from __future__ import annotations

import importlib

from flask import Flask

#: Sub-packages with their own blueprints: produce (media library), deliver
#: (SMS lists and batches), kits, and measure (targets, feedback, reports).
PARTS = ("campaigns.media", "campaigns.sms", "campaigns.kits", "campaigns.measure",
         "campaigns.teams", "campaigns.press",
         "campaigns.assistant", "campaigns.contests")


def init_app(app: Flask) -> None:
    from campaigns import accounts, api, cli, items, labels, units, views

    labels.init_app(app)

    app.register_blueprint(views.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(items.bp)
    app.register_blueprint(api.bp)
    units.init_app(app)
    cli.init_app(app)
    for name in PARTS:
        try:
            part = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        part.init_app(app)
