"""CLI: ``budget export --year YYYY [--unit CODE] --out FILE.xlsx``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlmodel import select

from core.db import session_scope

budget_cli = AppGroup("budget", help="Kinh phí thực hiện kế hoạch (dự toán, thực chi).")


@budget_cli.command("export")
@click.option("--year", type=int, required=True, help="Năm, ví dụ 2025.")
@click.option("--unit", "unit_code", default=None, help="Mã đơn vị; bỏ trống = tổng hợp toàn tỉnh.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Tệp kết quả .xlsx.")
def export_cmd(year: int, unit_code: str | None, out: str) -> None:
    """Write the year's estimate (line, quantity, unit price, amount, source of funds) as XLSX."""
    from campaigns.measure.budget import budget_xlsx
    from core.models import OrgUnit

    if not 2000 <= year <= 2100:
        raise click.ClickException(f"Năm {year} không hợp lệ.")
    with session_scope() as session:
        unit = None
        if unit_code:
            unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
            if unit is None:
                raise click.ClickException(f"Không có đơn vị mã '{unit_code}'.")
        data = budget_xlsx(session, year, unit)
    Path(out).write_bytes(data)
    click.echo(f"Đã ghi {out} ({len(data)} byte).")


def init_app(app: Flask) -> None:
    app.cli.add_command(budget_cli)
