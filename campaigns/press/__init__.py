"""Press, radio–TV and portals (issue #21).

Modules: ``feeds`` (public Atom feeds per unit and per campaign, and the
embeddable block of a campaign's latest materials, for portals that cannot take
a push), ``access`` (permission rows). The push channel itself is
``channels/portal_wordpress.py``. See ``docs/press.md``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns.press import feeds, views  # noqa: F401 - views add routes to feeds.bp

    app.register_blueprint(feeds.bp)
