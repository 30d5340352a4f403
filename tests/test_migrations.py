"""Alembic migrations build exactly the schema the models declare, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from core.db import get_engine


def _upgrade_and_diff(app) -> list:
    from core.cli import upgrade_database

    with app.app_context():
        upgrade_database(app)
        engine = get_engine(app)
        with engine.connect() as conn:
            # the same filter as migrations/env.py: sms_message's run-time wave
            # partitions (PostgreSQL) are not model tables
            from scheduler.sms.models import alembic_include_object

            ctx = MigrationContext.configure(
                conn, opts={"compare_type": False, "include_object": alembic_include_object}
            )
            return compare_metadata(ctx, SQLModel.metadata)


def _fresh_app(url, tmp_path):
    from app import create_app

    return create_app({"TESTING": True, "LANTOA_DATABASE_URL": url, "INSTANCE_PATH": str(tmp_path)})


def test_sqlite_migrations_match_models(tmp_path):
    diff = _upgrade_and_diff(_fresh_app(f"sqlite:///{tmp_path / 'm.db'}", tmp_path))
    assert diff == []


def test_postgres_migrations_match_models(pg_url, tmp_path):
    app = _fresh_app(pg_url, tmp_path)
    try:
        assert _upgrade_and_diff(app) == []
    finally:
        get_engine(app).dispose()


def test_db_upgrade_cli_is_idempotent(tmp_path):
    app = _fresh_app(f"sqlite:///{tmp_path / 'c.db'}", tmp_path)
    runner = app.test_cli_runner()
    for _ in range(2):
        r = runner.invoke(args=["db", "upgrade"])
        assert r.exit_code == 0, r.output
