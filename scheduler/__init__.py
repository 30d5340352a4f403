"""Deliveries: the state machine, the dispatcher, executors and the ticker jobs.

Knows no campaigns: what to send is frozen onto each Delivery. Higher layers
register background work by name (``register_job``) at start-up.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from scheduler import cli

    cli.init_app(app)
