"""Measure: plan targets, unit progress, citizens' feedback and the yearly report.

``init_app(app)`` registers the web and API blueprints, the CLI groups
(``report``, ``plans``, ``feedback``), the ``measure.reminders`` background job
and the OpenAPI paths. See docs/measure.md.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns import openapi_extra
    from campaigns.measure import api, cli, reminders, views

    views.init_app(app)
    from campaigns.measure import budget_cli, budget_views

    app.register_blueprint(budget_views.bp)
    budget_cli.init_app(app)
    app.register_blueprint(api.bp)
    cli.init_app(app)
    reminders.register(app)
    if api.openapi_paths not in openapi_extra.EXTRA_PATHS:
        openapi_extra.EXTRA_PATHS.append(api.openapi_paths)
