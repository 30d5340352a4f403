"""Measure: plan targets, unit progress, citizens' feedback and the yearly report.

``init_app(app)`` registers the blueprints and CLI commands of this package.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from campaigns.measure import views

    views.init_app(app)
