"""CLI: ``report yearly|remind``, ``plans load|list|rollover|publish``, ``feedback purge``."""

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
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Ngày ban hành báo cáo (YYYY-MM-DD); mặc định hôm nay.")
def yearly_cmd(year: int, unit_code: str | None, out: str, fmt: str | None, day=None) -> None:
    """Write the yearly report (DOCX or PDF) for one unit or the whole province."""
    from campaigns.measure.plans import ensure_default_plans, plan_for_year
    from campaigns.measure.report import yearly_report
    from core.models import OrgUnit

    fmt = fmt or ("pdf" if out.lower().endswith(".pdf") else "docx")
    with session_scope() as session:
        ensure_default_plans(session)
        plan = plan_for_year(session, year)
        if plan is None:
            draft = plan_for_year(session, year, drafts=True)
            if draft is not None:
                raise click.ClickException(
                    f"Kế hoạch năm {year} ({draft.key}) còn là bản nháp; ban hành trước khi lập báo cáo: "
                    f"flask --app app plans publish --year {year}")
            raise click.ClickException(
                f"Không có kế hoạch cho năm {year}. Tạo từ kế hoạch năm trước: "
                f"flask --app app plans rollover --from {year - 1} --to {year} --publish")
        unit = None
        if unit_code:
            unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
            if unit is None:
                raise click.ClickException(f"Không có đơn vị mã '{unit_code}'.")
        data = yearly_report(session, plan, unit, fmt, day=day.date() if day else None)
    Path(out).write_bytes(data)
    click.echo(f"Đã ghi {out} ({len(data)} byte).")


@report_cli.command("remind")
@click.option("--date", "day", default=None, help="Ngày chạy (YYYY-MM-DD); mặc định hôm nay.")
def remind_cmd(day: str | None) -> None:
    """Send today's reminders (from 1 December) to units that still owe something."""
    from campaigns.measure.compute import local_today
    from campaigns.measure.models import Plan, PlanStatus
    from campaigns.measure.reminders import send_reminders

    today = date.fromisoformat(day) if day else local_today()
    total = 0
    with session_scope() as session:
        for plan in session.exec(select(Plan).where(Plan.status == PlanStatus.published)).all():
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
    from campaigns.measure.models import Plan, PlanStatus

    with session_scope() as session:
        for p in session.exec(select(Plan).order_by(Plan.year)).all():
            state = "đã ban hành" if p.status == PlanStatus.published else "bản nháp"
            click.echo(f"{p.year}  {p.key}  hạn {p.deadline.strftime('%d/%m/%Y')}  {state}")


@plans_cli.command("rollover")
@click.option("--from", "from_year", type=int, required=True, help="Năm của kế hoạch gốc, ví dụ 2025.")
@click.option("--to", "to_year", type=int, required=True, help="Năm của kế hoạch mới, ví dụ 2026.")
@click.option("--publish", is_flag=True, help="Ban hành ngay (mặc định: bản nháp để chỉnh sửa).")
def rollover_cmd(from_year: int, to_year: int, publish: bool) -> None:
    """Create next year's plan from a previous one: targets, tasks and units copied,
    due dates moved by the years between (29/2 -> 28/2)."""
    from campaigns.measure.models import PlanTarget, PlanTask
    from campaigns.measure.plans import PlanError, ensure_default_plans, rollover

    try:
        with session_scope() as session:
            ensure_default_plans(session)
            plan = rollover(session, from_year, to_year, publish=publish)
            targets = len(session.exec(select(PlanTarget.id).where(PlanTarget.plan_id == plan.id)).all())
            tasks = len(session.exec(select(PlanTask.id).where(PlanTask.plan_id == plan.id)).all())
            key = plan.key
    except PlanError as exc:
        raise click.ClickException("\n".join(exc.errors)) from None
    state = "đã ban hành" if publish else "bản nháp, ban hành bằng: flask --app app plans publish --year " + str(to_year)
    click.echo(f"Đã tạo kế hoạch {key} năm {to_year} từ năm {from_year}: {targets} chỉ tiêu, "
               f"{tasks} nhiệm vụ ({state}).")


@plans_cli.command("publish")
@click.option("--year", type=int, required=True, help="Năm của kế hoạch bản nháp.")
def publish_cmd(year: int) -> None:
    """Publish a draft plan: from now on it feeds dashboards, reminders and reports."""
    from campaigns.measure.models import PlanStatus
    from campaigns.measure.plans import plan_for_year, publish

    with session_scope() as session:
        plan = plan_for_year(session, year, drafts=True)
        if plan is None:
            raise click.ClickException(f"Không có kế hoạch năm {year}.")
        if plan.status == PlanStatus.published:
            raise click.ClickException(f"Kế hoạch năm {year} ({plan.key}) đã được ban hành.")
        publish(session, plan)
        key = plan.key
    click.echo(f"Đã ban hành kế hoạch {key} năm {year}.")


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
