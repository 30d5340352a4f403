"""SMS in the app: recipient lists, opt-outs, partner batches, Kannel hooks,
wave senders and the SMS pages.

Registered from ``campaigns/__init__.py`` through :func:`init_app`.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the SMS blueprints, hooks and the scheduler's wave senders."""
    from campaigns.sms import setup

    setup.init_app(app)
