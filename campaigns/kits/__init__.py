"""Kits (print + radio) per unit and the loudspeaker channel's app side.

Registered from ``campaigns/__init__.py`` through :func:`init_app`.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the kits blueprints, the ``kits.build`` job and the approval hook."""
    try:
        from campaigns.kits import setup
    except ImportError:  # pragma: no cover - only while the package is being built
        return
    setup.init_app(app)
