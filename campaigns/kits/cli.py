"""``flask --app app kits build --campaign ID [--unit CODE] [--force]``."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import select

from core.db import session_scope

kits_cli = AppGroup("kits", help="Bộ tài liệu (ấn phẩm in, truyền thanh) cho các đơn vị.")


@kits_cli.command("build")
@click.option("--campaign", "campaign_id", type=int, required=True, help="Mã chiến dịch.")
@click.option(
    "--unit", "unit_codes", multiple=True, help="Chỉ tạo cho đơn vị này (có thể lặp lại)."
)
@click.option("--force", is_flag=True, help="Tạo lại kể cả khi nội dung không đổi.")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Số tiến trình song song (mặc định: 1).",
)
def build_cmd(
    campaign_id: int, unit_codes: tuple[str, ...], force: bool, workers: int | None
) -> None:
    """Build a campaign's kits now, in this process."""
    from campaigns.kits.builder import KitBuildError, KitConfig, build_campaign_kits
    from core.models import OrgUnit

    config = KitConfig.from_app(current_app)
    with session_scope() as session:
        unit_ids = None
        if unit_codes:
            rows = session.exec(select(OrgUnit).where(OrgUnit.code.in_(unit_codes))).all()  # type: ignore[attr-defined]
            missing = set(unit_codes) - {u.code for u in rows}
            if missing:
                raise click.BadParameter(
                    "Không có đơn vị: " + ", ".join(sorted(missing)), param_hint="--unit"
                )
            unit_ids = [u.id for u in rows]
        try:
            summary = build_campaign_kits(
                session, campaign_id, config, unit_ids=unit_ids, force=force, workers=workers
            )
        except KitBuildError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Đơn vị: {summary['units']}, đã tạo: {summary['built']}, không đổi: {summary['unchanged']}, "
        f"lỗi: {len(summary['failed'])}"
    )
    for f in summary["failed"]:
        click.echo(f"  {f['unit']}: {f['error']}", err=True)


def init_app(app: Flask) -> None:
    app.cli.add_command(kits_cli)
