"""Wiring of the SMS app side: blueprints, OpenAPI paths, wave senders."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext


@click.command("sms-purge-wave")
@click.argument("delivery_id", type=int)
@click.option("--force", is_flag=True, help="purge even if records are still pending")
@with_appcontext
def purge_wave_command(delivery_id: int, force: bool) -> None:
    """Retention: remove a finished SMS wave's records (on PostgreSQL its
    partition is dropped); its batches and text stay as the summary."""
    from core.db import get_engine
    from scheduler.sms.waves import purge_wave

    try:
        with get_engine().begin() as conn:
            n = purge_wave(conn, delivery_id, force=force)
    except ValueError:
        raise click.ClickException(
            "Đợt tin này vẫn còn tin đang chờ gửi nên chưa xoá. "
            "Dùng --force nếu chắc chắn muốn xoá."
        ) from None
    click.echo(f"Đã xoá {n:,} bản ghi tin nhắn của đợt {delivery_id}.".replace(",", "."))


def init_app(app: Flask) -> None:
    from campaigns import openapi_extra
    from campaigns.sms import api, hooks, senders, views

    app.register_blueprint(api.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(views.bp)
    if api.openapi_paths not in openapi_extra.EXTRA_PATHS:
        openapi_extra.EXTRA_PATHS.append(api.openapi_paths)
    senders.register(app)
    if "sms-purge-wave" not in app.cli.commands:
        app.cli.add_command(purge_wave_command)
