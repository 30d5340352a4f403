"""Kits (print + radio) per unit and the loudspeaker channel's app side.

Modules: ``builder`` (which units, what a kit holds, versioned builds),
``zipsafe`` (safe, UTF-8 ZIP archives), ``scripts`` (loudspeaker scripts per
unit, editor preview), ``broadcasts`` (recurring slots, confirmations),
``jobs`` (the ``kits.build`` background job and rebuild triggers),
``access`` (who sees which kit), ``api`` / ``views`` (JSON API and pages),
``cli`` (``flask --app app kits build``). See ``docs/kits.md``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the kits blueprints, the ``kits.build`` job and the approval hook."""
    from campaigns.kits import setup

    setup.init_app(app)
