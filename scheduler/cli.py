"""Scheduler CLI: ``scheduler`` (the long-running process) and ``dispatch-due``."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@click.command("dispatch-due")
@with_appcontext
def dispatch_due_cmd() -> None:
    """Run one dispatch pass (claim what is due, send, run due jobs), then exit."""
    from scheduler.runner import dispatch_due

    stats = dispatch_due(current_app)
    click.echo(" ".join(f"{k}={v}" for k, v in stats.items()))


@click.command("scheduler")
@with_appcontext
def scheduler_cmd() -> None:
    """Run the scheduler process (APScheduler ticker jobs) until stopped."""
    from scheduler.runner import run_forever

    run_forever(current_app)


def init_app(app: Flask) -> None:
    app.cli.add_command(dispatch_due_cmd)
    app.cli.add_command(scheduler_cmd)
