"""Campaign CLI: seed-demo, and the first-run admin."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlmodel import select

from core.db import session_scope
from core.models import Role, User


@click.command("seed-demo")
@click.option("--structure", type=click.Choice(["plan", "2025"]), default="plan", show_default=True,
              help="plan: Sóc Trăng as in the plan (three tiers); 2025: then reorganised into Cần Thơ city "
                   "(two tiers, 103 commune-level units) from 1/7/2025.")
@with_appcontext
def seed_demo_cmd(structure: str) -> None:
    """Load Sóc Trăng's units, one demo user per role and the 10/10 campaign."""
    from campaigns.demo import seed_demo, seed_structure_2025

    with session_scope() as session:
        users, campaign_id = seed_demo(session)
        if structure == "2025":
            result = seed_structure_2025(session)
    click.echo(f"Đã tạo dữ liệu mẫu; chiến dịch 10/10 có mã {campaign_id}.")
    if structure == "2025":
        click.echo(f"Cơ cấu 2025: Thành phố Cần Thơ với 103 xã, phường; {len(result['ended'])} đơn vị cũ "
                   "kết thúc từ 01/07/2025 (lịch sử vẫn giữ).")
    if users:
        click.echo("Tài khoản mẫu (mật khẩu chỉ hiện một lần):")
        for email, role, password in users:
            click.echo(f"  {email:28} {role:16} {password}")


@click.command("ensure-admin")
@with_appcontext
def ensure_admin_cmd() -> None:
    """First run: create an admin when there is no user at all, print its password once."""
    from core.security import generate_password, hash_password
    from core.timeutil import utcnow

    with session_scope() as session:
        if session.exec(select(User.id)).first() is not None:
            return
        password = generate_password()
        session.add(User(email="admin@lantoa.local", name="Quản trị viên", role=Role.admin,
                         password_hash=hash_password(password), created_at=utcnow()))
    click.echo("Đã tạo tài khoản quản trị đầu tiên (mật khẩu chỉ hiện một lần):")
    click.echo(f"  email: admin@lantoa.local  mật khẩu: {password}")


def init_app(app: Flask) -> None:
    app.cli.add_command(seed_demo_cmd)
    app.cli.add_command(ensure_admin_cmd)
