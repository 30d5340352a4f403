"""CLI: ``report yearly|remind``, ``plans load|list``, ``feedback purge``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlmodel import select

from core.db import session_scope

report_cli = AppGroup("report", help="Báo cáo kết quả thực hiện kế hoạch.")
plans_cli = AppGroup("plans", help="Kế hoạch, chỉ tiêu và nhiệm vụ (tệp YAML).")
feedback_cli = AppGroup("feedback", help="Ý kiến người dân.")


@report_cli.command("yearly")
@click.option("--year", type=int, required=True, help="Năm báo cáo, ví dụ 2025.")
@click.option("--unit", "unit_code", default=None, help="Mã đơn vị; bỏ trống = báo cáo tổng hợp.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Tệp kết quả .docx hoặc .pdf.")
@click.option("--format", "fmt", type=click.Choice(["docx", "pdf"]), default=None,
              help="Mặc định theo đuôi tệp --out.")
def yearly_cmd(year: int, unit_code: str | None, out: str, fmt: str | None) -> None:
    """Write the yearly report (DOCX or PDF) for one unit or the whole province."""
    from campaigns.measure.plans import ensure_default_plans, plan_for_year
    from campaigns.measure.report import yearly_report
    from core.models import OrgUnit

    fmt = fmt or ("pdf" if out.lower().endswith(".pdf") else "docx")
    with session_scope() as session:
        ensure_default_plans(session)
        plan = plan_for_year(session, year)
        if plan is None:
            raise click.ClickException(f"Không có kế hoạch cho năm {year}.")
        unit = None
        if unit_code:
            unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
            if unit is None:
                raise click.ClickException(f"Không có đơn vị mã '{unit_code}'.")
        data = yearly_report(session, plan, unit, fmt)
    Path(out).write_bytes(data)
    click.echo(f"Đã ghi {out} ({len(data)} byte).")


@report_cli.command("remind")
@click.option("--date", "day", default=None, help="Ngày chạy (YYYY-MM-DD); mặc định hôm nay.")
def remind_cmd(day: str | None) -> None:
    """Send today's reminders (from 1 December) to units that still owe something."""
    from campaigns.measure.compute import local_today
    from campaigns.measure.models import Plan
    from campaigns.measure.reminders import send_reminders

    today = date.fromisoformat(day) if day else local_today()
    total = 0
    with session_scope() as session:
        for plan in session.exec(select(Plan)).all():
            total += len(send_reminders(session, plan, today))
    click.echo(f"Đã gửi {total} lời nhắc.")


@plans_cli.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def load_cmd(path: str) -> None:
    """Create or update a plan from a YAML file."""
    from campaigns.measure.plans import PlanError, load_plan

    try:
        with session_scope() as session:
            plan = load_plan(session, path)
            key, year = plan.key, plan.year
    except PlanError as exc:
        raise click.ClickException("Không nạp được kế hoạch:\n" + "\n".join(exc.errors)) from None
    click.echo(f"Đã nạp kế hoạch {key} (năm {year}).")


@plans_cli.command("list")
def list_cmd() -> None:
    from campaigns.measure.models import Plan

    with session_scope() as session:
        for p in session.exec(select(Plan).order_by(Plan.year)).all():
            click.echo(f"{p.year}  {p.key}  hạn {p.deadline.strftime('%d/%m/%Y')}")


@feedback_cli.command("purge")
def purge_cmd() -> None:
    """Erase personal data of feedback past its retention period (Decree 13/2023)."""
    from campaigns.measure.feedback import purge_personal_data

    with session_scope() as session:
        n = purge_personal_data(session)
    click.echo(f"Đã xóa thông tin cá nhân của {n} ý kiến.")


def init_app(app: Flask) -> None:
    app.cli.add_command(report_cli)
    app.cli.add_command(plans_cli)
    app.cli.add_command(feedback_cli)
