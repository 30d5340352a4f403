"""Wiring: blueprints, the ``kits.build`` job, the approval hook, OpenAPI, CLI."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns import openapi_extra
    from campaigns.kits import api, cli, jobs, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    jobs.init_app(app)
    cli.init_app(app)
    if api.openapi_paths not in openapi_extra.EXTRA_PATHS:
        openapi_extra.EXTRA_PATHS.append(api.openapi_paths)
