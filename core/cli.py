"""Core CLI: db upgrade, users, tokens, units."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlmodel import select

from core.db import get_engine, session_scope
from core.models import ApiToken, OrgUnit, Role, User, audit
from core.security import hash_password, hash_token, new_token
from core.timeutil import utcnow
from core.units import UnitImportError, import_units, parse_units

ROOT = Path(__file__).resolve().parent.parent

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
users_cli = AppGroup("users", help="User accounts.")
tokens_cli = AppGroup("tokens", help="API tokens.")
units_cli = AppGroup("units", help="The unit tree.")
backup_cli = AppGroup("backup", help="Backups: database plus instance files in one archive.")


def alembic_config(app: Flask):
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", app.config["LANTOA_DATABASE_URL"].replace("%", "%%"))
    cfg.attributes["engine"] = get_engine(app)
    return cfg


def upgrade_database(app: Flask, revision: str = "head") -> None:
    from alembic import command

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(app), revision)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    upgrade_database(current_app, revision)
    click.echo("Cơ sở dữ liệu đã được cập nhật.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--unit", "unit_code", default=None, help="unit code, e.g. tx-vinh-chau")
@click.option("--name", default="")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_create(email: str, role: str, unit_code: str | None, name: str, password_stdin: bool) -> None:
    """Create a user (the password is read from stdin, never from argv)."""
    from core.security import generate_password

    email = email.strip().lower()
    if "@" not in email:
        raise click.UsageError("Email không hợp lệ.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 8:
            raise click.UsageError("Mật khẩu phải có ít nhất 8 ký tự.")
    else:
        password = generate_password()
    with session_scope() as session:
        if session.exec(select(User).where(User.email == email)).first():
            raise click.UsageError(f"Người dùng {email} đã tồn tại.")
        unit_id = None
        if unit_code:
            unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
            if unit is None:
                raise click.UsageError(f"Không có đơn vị mã '{unit_code}'.")
            unit_id = unit.id
        if role in (Role.unit_officer, Role.telecom_partner) and unit_id is None:
            raise click.UsageError("Vai trò này cần --unit.")
        user = User(email=email, name=name, password_hash=hash_password(password), role=Role(role),
                    unit_id=unit_id, created_at=utcnow())
        session.add(user)
        session.flush()
        audit(session, None, "user.create", "user", user.id, role=role, via="cli")
    click.echo(f"Đã tạo người dùng {email} ({role}).")
    if not password_stdin:
        click.echo(f"Mật khẩu: {password}")


def _user(session, email: str) -> User:
    user = session.exec(select(User).where(User.email == email.strip().lower())).first()
    if user is None:
        raise click.UsageError(f"Không có người dùng {email}.")
    return user


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="read the new password from standard input")
def users_set_password(email: str, password_stdin: bool) -> None:
    """Set a new password; the user's open sessions end."""
    from core.security import generate_password

    password = sys.stdin.readline().rstrip("\n") if password_stdin else generate_password()
    if len(password) < 8:
        raise click.UsageError("Mật khẩu phải có ít nhất 8 ký tự.")
    with session_scope() as session:
        user = _user(session, email)
        user.password_hash = hash_password(password)
        user.revoke_sessions()
        session.add(user)
        audit(session, None, "user.password", "user", user.id, via="cli")
    click.echo(f"Đã đổi mật khẩu của {user.email}; các phiên đăng nhập cũ đã kết thúc.")
    if not password_stdin:
        click.echo(f"Mật khẩu: {password}")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in Role]))
@click.option("--unit", "unit_code", default=None, help="unit code, e.g. xa-lac-hoa")
def users_set_role(email: str, role: str, unit_code: str | None) -> None:
    """Change a user's role (and unit); the user's open sessions end."""
    with session_scope() as session:
        user = _user(session, email)
        if unit_code:
            unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
            if unit is None:
                raise click.UsageError(f"Không có đơn vị mã '{unit_code}'.")
            user.unit_id = unit.id
        if role in (Role.unit_officer, Role.telecom_partner) and user.unit_id is None:
            raise click.UsageError("Vai trò này cần --unit.")
        user.role = Role(role)
        user.revoke_sessions()
        session.add(user)
        audit(session, None, "user.role", "user", user.id, role=role, via="cli")
    click.echo(f"Đã đổi vai trò của {email} thành {role}; các phiên đăng nhập cũ đã kết thúc.")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli")
def tokens_create(email: str, name: str) -> None:
    """Create an API token for EMAIL; the token is printed alone on the last line."""
    token = new_token()
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == email.strip().lower())).first()
        if user is None:
            raise click.UsageError(f"Không có người dùng {email}.")
        session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:8],
                             name=name, created_at=utcnow()))
        audit(session, None, "token.create", "user", user.id, via="cli")
    click.echo(f"Mã truy cập API cho {email} (chỉ hiện một lần):")
    click.echo(token)


@units_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def units_import(path: str) -> None:
    """Load a unit tree from CSV or JSON (code, name, kind, parent_code, ...)."""
    raw = Path(path).read_bytes()
    try:
        rows = parse_units(raw, path)
        with session_scope() as session:
            created, updated = import_units(session, rows)
    except UnitImportError as exc:
        for err in exc.errors:
            click.echo(err, err=True)
        raise SystemExit(1) from None
    except (ValueError, UnicodeDecodeError) as exc:
        click.echo(f"Không đọc được tệp: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"Đã nhập {created} đơn vị mới, cập nhật {updated} đơn vị.")


@units_cli.command("reorganise")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show what would change; save nothing.")
def units_reorganise(path: str, dry_run: bool) -> None:
    """Reorganise units from a CSV: old_code,new_code,new_name,new_kind,new_parent_code,effective_on."""
    from core.units import ReorganisationError, parse_reorganisation_csv, reorganise

    try:
        rows = parse_reorganisation_csv(Path(path).read_bytes())
        with session_scope() as session:
            result = reorganise(session, rows)
            if dry_run:
                session.rollback()
    except ReorganisationError as exc:
        for err in exc.errors:
            click.echo(err, err=True)
        click.echo("Không có gì thay đổi.", err=True)
        raise SystemExit(1) from None
    verb = "Sẽ" if dry_run else "Đã"
    click.echo(f"{verb} tạo {len(result['created'])} đơn vị mới, kết thúc {len(result['ended'])} đơn vị "
               f"từ {result['effective_on']}; {len(result['successions'])} chuyển giao.")
    for label, count in (result.get("moved") or {}).items():
        click.echo(f"  chuyển {count} {'người dùng' if label == 'users' else 'tài khoản kênh'}")


@backup_cli.command("create")
@click.argument("path", type=click.Path(dir_okay=False))
def backup_create(path: str) -> None:
    """Write a backup archive (.tar.gz) of the database and instance files to PATH."""
    from core.backup import BackupError, create_backup

    try:
        manifest = create_backup(current_app, path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    rows = sum(manifest["tables"].values())
    click.echo(f"Đã sao lưu {len(manifest['tables'])} bảng ({rows} dòng) và {len(manifest['files'])} tệp "
               f"vào {path}.")


@backup_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--wipe", is_flag=True, help="Replace the data already there (files are moved aside).")
def backup_restore(path: str, wipe: bool) -> None:
    """Restore a backup archive into an empty database (or, with --wipe, over the current data)."""
    from core.backup import BackupError, restore_backup

    try:
        result = restore_backup(current_app, path, wipe=wipe)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in result.warnings:
        click.echo(f"Cảnh báo: {warning}", err=True)
    for aside in result.moved_aside:
        click.echo(f"Tệp cũ được chuyển sang {aside}.")
    click.echo(f"Đã khôi phục {len(result.tables)} bảng ({sum(result.tables.values())} dòng) và "
               f"{result.files} tệp từ bản sao lưu lúc {result.manifest['created_at']}.")


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(units_cli)
    app.cli.add_command(backup_cli)
    app.cli.add_command(serve_cmd)


def freeze_startup_heap() -> None:
    """Leave what start-up made (modules, the app, SQLAlchemy's mappers: ~150,000 objects)
    out of the cyclic garbage collector's full passes. Without it, every few requests of a
    page that makes many objects (the measure dashboard) a full pass walks all of them:
    ~80 ms added to that request. Garbage is collected first, so nothing unreachable is kept."""
    import gc

    gc.collect()
    gc.freeze()


def waitress_options(app: Flask) -> dict:
    """waitress settings of ``serve``. Behind a TLS proxy (LANTOA_BEHIND_PROXY) waitress
    must hand X-Forwarded-* on to the app's ProxyFix: waitress 3 drops them by default
    (then the limiter would see the proxy's address and HTTPS would look like HTTP)."""
    options: dict = {"threads": 8, "ident": "lantoa"}
    if str(app.config.get("LANTOA_BEHIND_PROXY", "")).lower() in ("1", "true", "yes", "on"):
        options["clear_untrusted_proxy_headers"] = False
    return options


@click.command("serve")
@with_appcontext
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def serve_cmd(host: str, port: int) -> None:
    """Serve the web UI (waitress) and, when LANTOA_SCHEDULER=inline, run the
    scheduler beside it as a second process (never two schedulers)."""
    import os
    import signal
    import subprocess

    from waitress import serve

    app = current_app._get_current_object()
    for check in app.extensions.get("lantoa_startup_checks", []):
        for problem in check():
            app.logger.warning("start-up check: %s", problem)
            click.echo(f"Cảnh báo: {problem}", err=True)
    child = None
    if app.config["LANTOA_SCHEDULER"] == "inline":
        env = dict(os.environ)
        child = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "scheduler"], env=env)
        click.echo(f"Bộ lập lịch đang chạy (pid {child.pid}).")

    def stop(*_args):
        if child and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    freeze_startup_heap()
    click.echo(f"Lan Tỏa: http://{host}:{port}")
    try:
        serve(app, host=host, port=port, **waitress_options(app))
    finally:
        stop()
