"""Wiring: blueprints, the ``kits.build`` job, the approval hook, OpenAPI, CLI."""

from __future__ import annotations

import logging

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
    warn_public_base_url(app)


def warn_public_base_url(app: Flask) -> bool:
    """At start (not in tests): say in the log when printed QR codes would point to an
    address the public cannot reach. Returns whether it warned."""
    from core.config import is_public_url

    url = str(app.config.get("LANTOA_PUBLIC_BASE_URL") or "")
    if app.testing or is_public_url(url):
        return False
    logging.getLogger("lantoa.kits").warning(
        "LANTOA_PUBLIC_BASE_URL is %r, not a public address: the QR codes and links of "
        "printed kits will not open for citizens. Set LANTOA_PUBLIC_BASE_URL to the "
        "site's public https address, then rebuild the kits (docs/kits.md).",
        url or "(unset)",
    )
    return True
