"""Produce: the media library, template renders and uploads (web, API, CLI)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns.media import api, cli, service, views
    from campaigns.openapi_extra import EXTRA_PATHS

    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    cli.init_app(app)
    if api.openapi_paths not in EXTRA_PATHS:
        EXTRA_PATHS.append(api.openapi_paths)
    from scheduler.jobs import register_job

    register_job("media.render", service.render_job)

    def media_environment() -> list[str]:
        import media_templates as mt

        return list(mt.check_environment()["problems"])

    app.extensions.setdefault("lantoa_startup_checks", []).append(media_environment)
