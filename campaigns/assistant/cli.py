"""``flask --app app assistant load [FILES...]`` and ``assistant purge``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from campaigns.assistant import engine, kb

assistant_cli = AppGroup("assistant", help="Trợ lý trả lời người dân: kho câu hỏi – trả lời.")


@assistant_cli.command("load")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def load_cmd(files: tuple[Path, ...]) -> None:
    """Load knowledge-base entries from YAML (default: the seed in campaigns/assistant/kb/); all or nothing."""
    from flask import current_app

    from core.db import session_scope

    try:
        entries = kb.load_files(list(files) if files else None)
    except kb.KbError as exc:
        for field, msg in exc.fields.items():
            click.echo(f"{field}: {msg}", err=True)
        raise SystemExit(1) from None
    with session_scope(current_app) as session:
        created, updated = engine.load_entries(session, entries)
    click.echo(f"Đã nạp {len(entries)} mục: {created} mục mới, {updated} mục cập nhật.")


@assistant_cli.command("purge")
def purge_cmd() -> None:
    """Erase the text and sender of questions past the retention period."""
    from flask import current_app

    from core.db import session_scope

    with session_scope(current_app) as session:
        n = engine.purge_personal_data(session)
    click.echo(f"Đã xóa dữ liệu cá nhân của {n} câu hỏi.")


def init_app(app: Flask) -> None:
    app.cli.add_command(assistant_cli)
