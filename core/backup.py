"""Backups: the database plus the files under ``instance/`` in one ``.tar.gz``.

An archive holds:

- ``database/lantoa.sqlite3`` (SQLite: a consistent copy made with the online
  backup API, ``sqlite3.Connection.backup``, while the site keeps running), or
  ``database/postgres.dump`` (PostgreSQL: ``pg_dump --format=custom`` from
  Debian's ``postgresql-client``, restored with ``pg_restore``). The rows are
  counted in the same snapshot the dump is taken from (``pg_export_snapshot``).
- ``files/media/...``: ``LANTOA_MEDIA_DIR`` (media assets and renders, kits and
  their versions, task evidence), ``files/sms/...``: ``instance/sms`` (rejected
  rows of recipient imports). Temporary build/render folders are left out.
- ``manifest.json``, written last: format, application version, Alembic revision,
  time, dialect, every table with its row count, every file with size and sha256
  (the database file too), and a fingerprint of the secret key (never the key).

``restore`` reads the manifest, extracts every member to a staging folder while
checking its sha256 and refuses the whole archive (nothing touched) when a
member is missing, extra, unsafe (absolute path, ``..``, link) or differs. It
then restores into an empty database (tables may exist, without rows) or, with
``wipe=True``, drops what is there first; existing files are moved aside to
``<dir>.before-restore-<time>``. The secret key is not in the archive: channel
secrets can only be read back with the same ``LANTOA_SECRET_KEY`` (or
``instance/secret_key``), which a mismatching fingerprint warns about.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url

log = logging.getLogger(__name__)

FORMAT = "lantoa-backup/1"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/lantoa.sqlite3"
PG_MEMBER = "database/postgres.dump"
#: nightly archives are named so; retention only ever deletes names of this form
NIGHTLY_RE = re.compile(r"^lantoa-(\d{4}-\d{2}-\d{2})\.tar\.gz$")
JOB_NAME = "core.backup"
_CHUNK = 1024 * 1024


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message is a Vietnamese sentence."""


# -- what is backed up -------------------------------------------------------------------


def file_roots(app: Flask) -> dict[str, Path]:
    """Archive folder name -> directory on disk."""
    instance = Path(app.instance_path)
    return {
        "media": Path(app.config.get("LANTOA_MEDIA_DIR") or instance / "media"),
        "sms": instance / "sms",
    }


def backup_dir(app: Flask) -> Path:
    return Path(app.config.get("LANTOA_BACKUP_DIR") or Path(app.instance_path) / "backups")


def backup_keep(app: Flask) -> int:
    try:
        return max(0, int(str(app.config.get("LANTOA_BACKUP_KEEP", "14")).strip() or 14))
    except ValueError:
        raise BackupError("LANTOA_BACKUP_KEEP phải là một số nguyên không âm.") from None


def _skipped(rel: Path) -> bool:
    """Work folders of builds in progress are not data."""
    parts = rel.parts
    if parts[:2] == ("kits", "tmp"):
        return True
    return bool(parts) and (parts[0].startswith("render-") or parts[0].startswith("tmp"))


def _walk(root: Path, exclude: list[Path]) -> Iterator[tuple[Path, Path]]:
    """(absolute, relative) of every regular file under root, sorted; symlinks skipped."""
    if not root.is_dir():
        return
    excluded = [e.resolve() for e in exclude]
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not (here / d).is_symlink() and (here / d).resolve() not in excluded)
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root)
            if path.is_symlink() or not path.is_file() or _skipped(rel):
                continue
            yield path, rel


def key_fingerprint(secret_key: str) -> str:
    """Says whether two installations share a secret key, without revealing it."""
    return hmac.new(str(secret_key).encode(), b"lantoa-backup-fingerprint", hashlib.sha256).hexdigest()[:16]


def app_version() -> str:
    try:
        from importlib.metadata import version

        return version("lantoa")
    except Exception:  # noqa: BLE001 - not installed as a package: read pyproject
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        m = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.exists() else None
        return m.group(1) if m else "unknown"


# -- database ----------------------------------------------------------------------------


def _user_tables(conn: Connection) -> list[str]:
    return sorted(inspect(conn).get_table_names())


def _count_rows(conn: Connection, tables: list[str]) -> dict[str, int]:
    prep = conn.dialect.identifier_preparer
    return {t: int(conn.execute(text(f"SELECT COUNT(*) FROM {prep.quote(t)}")).scalar() or 0) for t in tables}


def _alembic_revision(conn: Connection, tables: list[str]) -> str | None:
    if "alembic_version" not in tables:
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _sqlite_path(engine: Engine) -> Path:
    path = make_url(str(engine.url)).database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise BackupError("Chỉ sao lưu được cơ sở dữ liệu SQLite nằm trong một tệp.")
    return Path(path)


def _dump_sqlite(engine: Engine, dest: Path) -> dict:
    """Online copy with the backup API, then counts read from the copy itself."""
    src = sqlite3.connect(str(_sqlite_path(engine)), timeout=30)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    dst = sqlite3.connect(str(dest))
    try:
        # one step: a single read transaction (WAL: writers go on meanwhile); stepping
        # page by page would restart on every write of another connection
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    from sqlalchemy import create_engine

    copy = create_engine(f"sqlite:///{dest}")
    try:
        with copy.connect() as conn:
            tables = _user_tables(conn)
            return {"tables": _count_rows(conn, tables), "alembic_revision": _alembic_revision(conn, tables)}
    finally:
        copy.dispose()


def _pg_env_and_uri(engine: Engine) -> tuple[dict, str]:
    """A libpq URI without the password (which goes in PGPASSWORD, not argv)."""
    url = make_url(str(engine.url.render_as_string(hide_password=False)))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    url = url.set(drivername="postgresql", password=None)
    return env, url.render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"Không tìm thấy chương trình {name}: cài gói postgresql-client của Debian "
                          "(cùng phiên bản chính với máy chủ PostgreSQL hoặc mới hơn).")
    return found


def _dump_postgres(engine: Engine, dest: Path) -> dict:
    pg_dump = _pg_tool("pg_dump")
    env, uri = _pg_env_and_uri(engine)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            tables = _user_tables(conn)
            counts = _count_rows(conn, tables)
            revision = _alembic_revision(conn, tables)
            proc = subprocess.run(
                [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                 "--file", str(dest), "--dbname", uri],
                env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"pg_dump thất bại: {proc.stderr.strip()[:500]}")
    os.chmod(dest, 0o600)
    return {"tables": counts, "alembic_revision": revision}


# -- create ------------------------------------------------------------------------------


class _HashingReader(io.RawIOBase):
    def __init__(self, fh, digest):
        self.fh, self.digest = fh, digest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.digest.update(data)
        return data


def _add_file(tar: tarfile.TarFile, path: Path, arcname: str) -> dict:
    st = path.stat()
    info = tarfile.TarInfo(arcname)
    info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o600
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        tar.addfile(info, _HashingReader(fh, digest))
    return {"path": arcname, "size": st.st_size, "sha256": digest.hexdigest()}


def create_backup(app: Flask, dest: str | Path, *, now: datetime | None = None) -> dict:
    """Write the archive to ``dest`` (atomically: a partial file is renamed at the
    end; mode 0600, it holds personal data). Returns the manifest."""
    from core.db import get_engine

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    engine = get_engine(app)
    now = now or datetime.now(UTC)
    roots = file_roots(app)
    exclude = [backup_dir(app), dest.parent]
    with tempfile.TemporaryDirectory(prefix="lantoa-backup-", dir=dest.parent) as tmp:
        if engine.dialect.name == "sqlite":
            member, db_file = SQLITE_MEMBER, Path(tmp) / "db.sqlite3"
            info = _dump_sqlite(engine, db_file)
        elif engine.dialect.name == "postgresql":
            member, db_file = PG_MEMBER, Path(tmp) / "db.dump"
            info = _dump_postgres(engine, db_file)
        else:  # pragma: no cover
            raise BackupError(f"Không sao lưu được cơ sở dữ liệu loại {engine.dialect.name}.")
        partial = dest.with_name(dest.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        # gzip level 1: media (PNG, MP3, MP4, PDF, ZIP) is compressed already
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
                database = _add_file(tar, db_file, member)
                files = []
                for name, root in roots.items():
                    for path, rel in _walk(root, exclude):
                        files.append(_add_file(tar, path, f"files/{name}/{rel.as_posix()}"))
                manifest = {
                    "format": FORMAT,
                    "app_version": app_version(),
                    "alembic_revision": info["alembic_revision"],
                    "created_at": now.astimezone(UTC).isoformat(timespec="seconds"),
                    "dialect": engine.dialect.name,
                    "database": database,
                    "tables": info["tables"],
                    # the database stores absolute paths under these: restore to the same places
                    "file_roots": {name: str(root.resolve()) for name, root in roots.items()},
                    "files": files,
                    "secret_key_fingerprint": key_fingerprint(app.config["SECRET_KEY"]),
                }
                body = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                minfo = tarfile.TarInfo(MANIFEST)
                minfo.size, minfo.mtime, minfo.mode = len(body), int(now.timestamp()), 0o600
                tar.addfile(minfo, io.BytesIO(body))
            os.replace(partial, dest)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return manifest


# -- restore -----------------------------------------------------------------------------


@dataclass
class RestoreResult:
    manifest: dict
    tables: dict[str, int]
    files: int
    moved_aside: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _safe_member(name: str) -> bool:
    p = Path(name)
    return not p.is_absolute() and ".." not in p.parts and name == p.as_posix() and bool(p.parts)


def read_manifest(path: str | Path) -> dict:
    try:
        with tarfile.open(path, "r:gz") as tar:
            member = tar.getmember(MANIFEST)
            fh = tar.extractfile(member)
            manifest = json.loads(fh.read().decode()) if fh else None
    except (OSError, tarfile.TarError, KeyError, EOFError) as exc:
        raise BackupError(f"Không đọc được tệp sao lưu (không phải bản sao lưu Lan Tỏa hoặc đã hỏng): "
                          f"{type(exc).__name__}") from None
    except (ValueError, UnicodeDecodeError):
        raise BackupError("Bản kê (manifest) của tệp sao lưu không đọc được.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("Tệp không phải bản sao lưu Lan Tỏa đúng định dạng.")
    return manifest


def verify_and_stage(path: str | Path, staging: Path) -> dict:
    """Extract every member into ``staging`` checking it against the manifest.
    Raises BackupError (and leaves nothing usable) on any mismatch."""
    manifest = read_manifest(path)
    expected: dict[str, dict] = {}
    try:
        for entry in [manifest["database"], *manifest["files"]]:
            expected[str(entry["path"])] = {"size": int(entry["size"]), "sha256": str(entry["sha256"])}
        if manifest["dialect"] not in ("sqlite", "postgresql") or not isinstance(manifest["tables"], dict):
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise BackupError("Bản kê (manifest) của tệp sao lưu thiếu thông tin.") from None
    seen: set[str] = set()
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.name == MANIFEST:
                continue
            if not _safe_member(member.name) or not member.isfile():
                raise BackupError(f"Tệp sao lưu có mục không an toàn: {member.name!r}.")
            want = expected.get(member.name)
            if want is None or member.name in seen:
                raise BackupError(f"Tệp sao lưu có mục không có trong bản kê: {member.name!r}.")
            seen.add(member.name)
            target = staging / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest, size = hashlib.sha256(), 0
            src = tar.extractfile(member)
            with open(target, "wb") as out:
                while chunk := src.read(_CHUNK):  # type: ignore[union-attr]
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if digest.hexdigest() != want["sha256"] or size != want["size"]:
                raise BackupError(f"Tệp sao lưu bị hỏng hoặc bị sửa: {member.name} không khớp mã sha256 "
                                  "trong bản kê.")
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(f"Tệp sao lưu thiếu {len(missing)} mục có trong bản kê, ví dụ {missing[0]}.")
    return manifest


def _rows_present(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = [t for t in _user_tables(conn) if t != "alembic_version"]
        return {t: n for t, n in _count_rows(conn, tables).items() if n}


def _files_present(roots: dict[str, Path]) -> list[str]:
    return [name for name, root in roots.items() if any(True for _ in _walk(root, []))]


def _wipe_postgres(engine: Engine) -> None:
    """Drop every table, sequence, view and type of the public schema (and nothing else)."""
    with engine.begin() as conn:
        meta = MetaData()
        meta.reflect(conn, views=True)
        prep = conn.dialect.identifier_preparer
        for table in meta.sorted_tables:
            conn.execute(text(f"DROP TABLE IF EXISTS {prep.quote(table.name)} CASCADE"))
        for (name,) in conn.execute(text(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'")):
            conn.execute(text(f"DROP SEQUENCE IF EXISTS {prep.quote(name)} CASCADE"))
        for (name,) in conn.execute(text(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') ")):
            conn.execute(text(f"DROP TYPE IF EXISTS {prep.quote(name)} CASCADE"))


def _restore_sqlite(engine: Engine, staged: Path) -> None:
    target = _sqlite_path(engine)
    engine.dispose()
    src = sqlite3.connect(str(staged))
    dst = sqlite3.connect(str(target), timeout=30)
    try:
        src.backup(dst)  # replaces every page of the target: nothing of the old database stays
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        dst.close()
        src.close()
    engine.dispose()


def _restore_postgres(engine: Engine, staged: Path) -> None:
    pg_restore = _pg_tool("pg_restore")
    _wipe_postgres(engine)
    engine.dispose()
    env, uri = _pg_env_and_uri(engine)
    proc = subprocess.run(
        [pg_restore, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
         "--dbname", uri, str(staged)],
        env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"pg_restore thất bại: {proc.stderr.strip()[:500]}")


def restore_backup(app: Flask, path: str | Path, *, wipe: bool = False,
                   now: datetime | None = None) -> RestoreResult:
    """Restore ``path`` into this installation's database and file folders.

    Refuses (nothing changed) an archive that does not match its manifest, a
    database of the other kind, or -- without ``wipe`` -- a database with rows
    or file folders with files."""
    from core.db import get_engine

    engine = get_engine(app)
    roots = file_roots(app)
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"Không có tệp sao lưu {path}.")
    stage_parent = Path(app.instance_path)
    stage_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lantoa-restore-", dir=stage_parent) as tmp:
        staging = Path(tmp)
        manifest = verify_and_stage(path, staging)
        if manifest["dialect"] != engine.dialect.name:
            kinds = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
            raise BackupError(f"Bản sao lưu là của {kinds[manifest['dialect']]}, còn cơ sở dữ liệu đang "
                              f"cấu hình là {kinds.get(engine.dialect.name, engine.dialect.name)}.")
        unknown = sorted({e["path"].split("/")[1] for e in manifest["files"]} - set(roots))
        if unknown:
            raise BackupError(f"Bản sao lưu có thư mục không biết: {', '.join(unknown)}.")
        if not wipe:
            rows, folders = _rows_present(engine), _files_present(roots)
            if rows or folders:
                what = []
                if rows:
                    what.append(f"cơ sở dữ liệu đang có dữ liệu ({len(rows)} bảng có dòng)")
                if folders:
                    what.append(f"thư mục {', '.join(folders)} đang có tệp")
                raise BackupError("Không khôi phục đè lên dữ liệu đang có: " + "; ".join(what)
                                  + ". Sao lưu dữ liệu hiện tại trước, rồi chạy lại với --wipe.")
        result = RestoreResult(manifest=manifest, tables={}, files=len(manifest["files"]))
        for name, was in sorted((manifest.get("file_roots") or {}).items()):
            if name in roots and str(roots[name].resolve()) != was:
                result.warnings.append(
                    f"Thư mục {name} lúc sao lưu là {was}, nay là {roots[name].resolve()}: cơ sở dữ liệu ghi "
                    "đường dẫn tuyệt đối, nên đặt lại thư mục như cũ (LANTOA_MEDIA_DIR, LANTOA_INSTANCE_PATH).")
        if manifest.get("secret_key_fingerprint") != key_fingerprint(app.config["SECRET_KEY"]):
            result.warnings.append(
                "Khóa bí mật (LANTOA_SECRET_KEY) khác với lúc sao lưu: mã bí mật của các tài khoản kênh "
                "sẽ không giải mã được; đặt lại đúng khóa cũ hoặc nhập lại mã bí mật.")
        staged_db = staging / manifest["database"]["path"]
        if engine.dialect.name == "sqlite":
            _restore_sqlite(engine, staged_db)
        else:
            _restore_postgres(engine, staged_db)
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        for name, root in roots.items():
            if root.exists() and any(root.iterdir()):
                aside = root.with_name(f"{root.name}.before-restore-{stamp}")
                root.rename(aside)
                result.moved_aside.append(str(aside))
            source = staging / "files" / name
            if source.is_dir():
                root.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(source), str(root))
            else:
                root.mkdir(parents=True, exist_ok=True)
        with engine.connect() as conn:
            result.tables = _count_rows(conn, _user_tables(conn))
        if result.tables != {k: int(v) for k, v in manifest["tables"].items()}:
            raise BackupError("Sau khi khôi phục, số dòng các bảng không khớp bản kê của tệp sao lưu.")
    return result


# -- nightly job and retention -----------------------------------------------------------


def nightly_name(day: date) -> str:
    return f"lantoa-{day.isoformat()}.tar.gz"


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete the oldest nightly archives beyond ``keep`` (other files untouched)."""
    archives = sorted((p for p in folder.glob("lantoa-*.tar.gz") if NIGHTLY_RE.match(p.name)),
                      key=lambda p: p.name)
    doomed = archives[:-keep] if keep > 0 else []
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


def nightly_backup(app: Flask, day: date) -> dict:
    """Today's archive in LANTOA_BACKUP_DIR (once a day: an existing one is kept),
    then retention. The folder is private (0700)."""
    folder = backup_dir(app)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    dest = folder / nightly_name(day)
    created = False
    if not dest.exists():
        create_backup(app, dest)
        created = True
    removed = prune(folder, backup_keep(app))
    return {"archive": dest.name, "created": created, "removed": [p.name for p in removed]}


def _job(app: Flask, payload: dict, progress: Callable[..., bool]) -> dict:
    return nightly_backup(app, date.fromisoformat(payload["day"]))


def backup_hour(app: Flask) -> int:
    try:
        return min(23, max(0, int(str(app.config.get("LANTOA_BACKUP_HOUR", "2")).strip())))
    except ValueError:
        return 2


def daily(app: Flask, today: date, *, now: datetime | None = None) -> None:
    """From the scheduler's daily ticker: queue today's backup once (dedupe key
    naming the date), from LANTOA_BACKUP_HOUR local time; LANTOA_BACKUP_KEEP=0 turns
    nightly backups off."""
    from core.db import session_scope
    from core.timeutil import LOCAL_TZ
    from scheduler.jobs import enqueue_job

    if backup_keep(app) == 0:
        return
    local = (now or datetime.now(UTC)).astimezone(LOCAL_TZ)
    if local.date() == today and local.hour < backup_hour(app):
        return
    with session_scope(app) as session:
        enqueue_job(session, JOB_NAME, {"day": today.isoformat()}, dedupe_key=f"{JOB_NAME}:{today.isoformat()}")


def register() -> None:
    from scheduler.jobs import register_daily, register_job

    register_job(JOB_NAME, _job)
    register_daily(JOB_NAME, daily)
