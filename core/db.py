"""The database engine and the per-request session (flaskr style)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file readable by its owner only (0600) before SQLite does
    (it would use the umask, usually 0644); SQLite gives -wal/-shm the same mode."""
    from sqlalchemy.engine import make_url

    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)


def make_engine(url: str) -> Engine:
    kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        kwargs = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=10, max_overflow=20)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def get_engine(app: Flask | None = None) -> Engine:
    app = app or current_app
    return app.extensions["lantoa_engine"]


def get_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = Session(get_engine(), expire_on_commit=False)
    return g.db


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """A session outside a request (CLI, scheduler threads); commits on success."""
    session = Session(get_engine(app), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _close_session(_exc=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app: Flask) -> None:
    app.extensions["lantoa_engine"] = make_engine(app.config["LANTOA_DATABASE_URL"])
    app.teardown_appcontext(_close_session)
