"""Shared fixtures (flaskr style): app, client, runner, databases."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlmodel import SQLModel

from tests._require import require_port

os.environ.setdefault("LANTOA_SECRET_KEY", "test-secret-key-not-for-production")

PG_ADMIN_URL = os.environ.get("LANTOA_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def make_app(db_url: str, tmp_path, **extra):
    from app import create_app

    config = {
        "TESTING": True,
        "LANTOA_DATABASE_URL": db_url,
        "INSTANCE_PATH": str(tmp_path),
        "LANTOA_MEDIA_DIR": str(tmp_path / "media"),
        "LANTOA_RETRY_BASE_SECONDS": "0.05",
        "LANTOA_RETRY_MAX_SECONDS": "0.5",
        "LANTOA_LOGIN_RATE_LIMIT": "1000 per minute",
        "SECRET_KEY": "test-secret-key-not-for-production",
    }
    config.update(extra)
    app = create_app(config)
    from core.db import get_engine

    SQLModel.metadata.create_all(get_engine(app))
    return app


@pytest.fixture
def app(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'test.db'}", tmp_path, WTF_CSRF_ENABLED=False)
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def create_pg_database() -> tuple[str, callable]:
    """A fresh PostgreSQL database; returns (url, drop)."""
    require_port("PostgreSQL", 5432)
    from sqlalchemy import create_engine, text

    name = f"lantoa_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def drop():
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
            ), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return url, drop


@pytest.fixture
def pg_url():
    url, drop = create_pg_database()
    yield url
    drop()


@pytest.fixture
def pg_app(pg_url, tmp_path):
    app = make_app(pg_url, tmp_path, WTF_CSRF_ENABLED=False)
    yield app
    from core.db import get_engine

    get_engine(app).dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_app(request, tmp_path):
    """The same test on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'any.db'}", None
    else:
        url, drop = create_pg_database()
    app = make_app(url, tmp_path, WTF_CSRF_ENABLED=False)
    yield app
    from core.db import get_engine

    get_engine(app).dispose()
    if drop:
        drop()
