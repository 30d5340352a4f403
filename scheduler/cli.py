"""Scheduler CLI: ``scheduler`` (the long-running process) and ``dispatch-due``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@contextmanager
def _config_errors() -> Iterator[None]:
    """A bad LANTOA_* setting is reported as one clear line, not a traceback."""
    from scheduler.policy import PolicyError

    try:
        yield
    except PolicyError as exc:
        raise click.ClickException(
            "Cấu hình không hợp lệ: " + "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
        ) from None
    except ValueError as exc:
        if str(exc).startswith("LANTOA_"):
            raise click.ClickException(f"Cấu hình không hợp lệ: {exc}") from None
        raise


@click.command("dispatch-due")
@with_appcontext
def dispatch_due_cmd() -> None:
    """Run one dispatch pass (claim what is due, send, run due jobs), then exit."""
    from scheduler.runner import dispatch_due

    with _config_errors():
        stats = dispatch_due(current_app)
    click.echo(" ".join(f"{k}={v}" for k, v in stats.items()))


@click.command("scheduler")
@with_appcontext
def scheduler_cmd() -> None:
    """Run the scheduler process (APScheduler ticker jobs) until stopped."""
    from scheduler.runner import run_forever

    with _config_errors():
        run_forever(current_app)


def init_app(app: Flask) -> None:
    app.cli.add_command(dispatch_due_cmd)
    app.cli.add_command(scheduler_cmd)
