"""Backups (core/backup.py): create, wipe, restore, compare every row and every file;
refusals (tampered archive, data in the way, other database kind); nightly job and
retention. On SQLite and on PostgreSQL (pg_dump/pg_restore of postgresql-client)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select, text

from core import backup
from core.db import get_engine

TABLES_WITH_DEMO_ROWS = ("org_unit", "user_account", "campaign")


def _require_pg_tools(app) -> None:
    if get_engine(app).dialect.name == "postgresql":
        from tests._require import require_executable

        require_executable("pg_dump", "postgresql-client")
        require_executable("pg_restore", "postgresql-client")


def _seed(app) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    media = Path(app.config["LANTOA_MEDIA_DIR"])
    sms = Path(app.instance_path) / "sms"
    files = {
        media / "assets" / "ab" / "abcdef.png": os.urandom(300_000),
        media / "kits" / "1" / "xa-lac-hoa" / "Bộ tài liệu Lạc Hòa.zip": os.urandom(50_000),
        media / "evidence" / "0f" / "bien-ban.pdf": b"%PDF-1.7\n" + os.urandom(1000),
        sms / "rejects" / "list-1.csv": "line,value,reason\r\n2,0912,Số không hợp lệ\r\n".encode(),
        media / "empty.txt": b"",
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # work folders of builds in progress are not backed up
    (media / "kits" / "tmp" / "kit-x").mkdir(parents=True)
    (media / "kits" / "tmp" / "kit-x" / "half.pdf").write_bytes(b"partial")


def _rows(app) -> dict[str, list[tuple]]:
    """Every row of every table, ordered by the whole row (as the database returns it)."""
    engine = get_engine(app)
    meta = MetaData()
    with engine.connect() as conn:
        meta.reflect(conn)
        out = {}
        for table in meta.sorted_tables:
            rows = [tuple(r) for r in conn.execute(select(table))]
            out[table.name] = sorted(rows, key=repr)
    return out


def _files(app) -> dict[str, str]:
    out = {}
    for name, root in backup.file_roots(app).items():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                out[f"{name}/{path.relative_to(root).as_posix()}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _wipe(app) -> None:
    """What a lost server leaves: no tables at all, no files."""
    engine = get_engine(app)
    if engine.dialect.name == "postgresql":
        backup._wipe_postgres(engine)
    else:
        meta = MetaData()
        with engine.begin() as conn:
            meta.reflect(conn)
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for table in reversed(meta.sorted_tables):
                conn.execute(text(f'DROP TABLE "{table.name}"'))
    engine.dispose()
    for root in backup.file_roots(app).values():
        shutil.rmtree(root, ignore_errors=True)
    with engine.connect() as conn:
        assert backup._user_tables(conn) == []


def test_backup_wipe_restore_gives_back_every_row_and_file(any_app, tmp_path):
    app = any_app
    _require_pg_tools(app)
    _seed(app)
    rows_before, files_before = _rows(app), _files(app)
    assert {t: len(rows_before[t]) for t in TABLES_WITH_DEMO_ROWS if not rows_before[t]} == {}
    assert "media/kits/tmp/kit-x/half.pdf" in files_before

    archive = tmp_path / "out" / "lantoa.tar.gz"
    result = app.test_cli_runner().invoke(args=["backup", "create", str(archive)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    manifest = backup.read_manifest(archive)
    assert manifest["dialect"] == get_engine(app).dialect.name
    assert manifest["tables"] == {t: len(r) for t, r in rows_before.items()}
    listed = {e["path"]: e["sha256"] for e in manifest["files"]}
    expected = {f"files/{k}": v for k, v in files_before.items() if "/kits/tmp/" not in k}
    assert listed == expected
    assert manifest["database"]["sha256"] and manifest["created_at"].endswith("+00:00")

    _wipe(app)
    assert _files(app) == {}
    result = app.test_cli_runner().invoke(args=["backup", "restore", str(archive)])
    assert result.exit_code == 0, result.output

    assert _rows(app) == rows_before
    assert _files(app) == {k: v for k, v in files_before.items() if "/kits/tmp/" not in k}
    # the restored database is usable by the app (the demo users can log in again)
    with app.app_context():
        from sqlmodel import select as sm_select

        from core.db import session_scope
        from core.models import User

        with session_scope(app) as s:
            assert s.exec(sm_select(User)).all()


def test_restore_into_empty_schema_and_over_data_with_wipe(any_app, tmp_path):
    app = any_app
    _require_pg_tools(app)
    _seed(app)
    rows_before, files_before = _rows(app), _files(app)
    archive = tmp_path / "a.tar.gz"
    backup.create_backup(app, archive)

    # data in the way: refused, nothing changed
    media = Path(app.config["LANTOA_MEDIA_DIR"])
    (media / "assets" / "ab" / "abcdef.png").write_bytes(b"changed after the backup")
    with get_engine(app).begin() as conn:
        conn.execute(text("DELETE FROM campaign_event")) if "campaign_event" in rows_before else None
    changed_rows, changed_files = _rows(app), _files(app)
    with pytest.raises(backup.BackupError, match="--wipe"):
        backup.restore_backup(app, archive)
    assert _rows(app) == changed_rows and _files(app) == changed_files

    # --wipe: back to the archive; the files that were there are kept aside
    result = backup.restore_backup(app, archive, wipe=True)
    assert _rows(app) == rows_before
    assert _files(app) == {k: v for k, v in files_before.items() if "/kits/tmp/" not in k}
    assert result.moved_aside and all(Path(p).is_dir() for p in result.moved_aside)
    assert not result.warnings

    # a new server: the schema exists (db upgrade), no rows, no files
    for aside in result.moved_aside:
        shutil.rmtree(aside)
    _wipe(app)
    from sqlmodel import SQLModel

    SQLModel.metadata.create_all(get_engine(app))
    backup.restore_backup(app, archive)
    assert _rows(app) == rows_before


def _rewrite(archive: Path, dest: Path, change) -> None:
    """Copy an archive member by member, letting ``change(name, data)`` alter bytes."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(dest, "w:gz") as out:
        for member in src:
            data = src.extractfile(member).read()
            new = change(member.name, data)
            if new is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(new)
            out.addfile(info, io.BytesIO(new))


def test_tampered_archives_are_refused_before_anything_changes(app, tmp_path):
    _seed(app)
    archive = tmp_path / "a.tar.gz"
    backup.create_backup(app, archive)
    _wipe(app)

    bad = tmp_path / "bad.tar.gz"
    _rewrite(archive, bad, lambda n, d: d[:-1] + b"X" if n.endswith("list-1.csv") else d)
    with pytest.raises(backup.BackupError, match="sha256"):
        backup.restore_backup(app, bad)

    _rewrite(archive, bad, lambda n, d: d if n != backup.SQLITE_MEMBER else d[:-10] + bytes(10))
    with pytest.raises(backup.BackupError, match="sha256"):
        backup.restore_backup(app, bad)

    _rewrite(archive, bad, lambda n, d: None if n.endswith("abcdef.png") else d)
    with pytest.raises(backup.BackupError, match="thiếu"):
        backup.restore_backup(app, bad)

    with tarfile.open(archive, "r:gz") as src, tarfile.open(bad, "w:gz") as out:
        for member in src:
            out.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("files/media/../../../evil.sh")
        info.size = 3
        out.addfile(info, io.BytesIO(b"rm\n"))
    with pytest.raises(backup.BackupError, match="không an toàn"):
        backup.restore_backup(app, bad)

    def bump_manifest(name, data):
        if name != backup.MANIFEST:
            return data
        m = json.loads(data)
        m["format"] = "something-else"
        return json.dumps(m).encode()

    _rewrite(archive, bad, bump_manifest)
    with pytest.raises(backup.BackupError, match="định dạng"):
        backup.restore_backup(app, bad)

    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    result = app.test_cli_runner().invoke(args=["backup", "restore", str(tmp_path / "junk.tar.gz")])
    assert result.exit_code != 0 and "Không đọc được tệp sao lưu" in result.output
    assert "Traceback" not in result.output

    # nothing was restored by any of the refused archives
    with get_engine(app).connect() as conn:
        assert backup._user_tables(conn) == []
    assert _files(app) == {}


def test_restore_refuses_the_other_database_kind(pg_app, app, tmp_path):
    _require_pg_tools(pg_app)
    archive = tmp_path / "sqlite.tar.gz"
    backup.create_backup(app, archive)
    with pytest.raises(backup.BackupError, match="SQLite"):
        backup.restore_backup(pg_app, archive)


def test_a_different_secret_key_is_warned_about(app, tmp_path):
    _seed(app)
    archive = tmp_path / "a.tar.gz"
    backup.create_backup(app, archive)
    assert "test-secret" not in archive.read_bytes().decode("latin-1")
    app.config["SECRET_KEY"] = "another-key"
    result = backup.restore_backup(app, archive, wipe=True)
    assert any("LANTOA_SECRET_KEY" in w for w in result.warnings)


def test_nightly_backup_is_once_a_day_and_keeps_the_newest(app, tmp_path):
    folder = tmp_path / "backups"
    app.config.update(LANTOA_BACKUP_DIR=str(folder), LANTOA_BACKUP_KEEP="14")
    _seed(app)
    (folder).mkdir()
    (folder / "manual-before-upgrade.tar.gz").write_bytes(b"kept")
    start = date(2026, 11, 1)
    for i in range(17):
        out = backup.nightly_backup(app, start + timedelta(days=i))
        assert out["created"]
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["manual-before-upgrade.tar.gz"] + [
        backup.nightly_name(start + timedelta(days=i)) for i in range(3, 17)])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # the same day again: nothing new
    mtime = (folder / backup.nightly_name(start + timedelta(days=16))).stat().st_mtime_ns
    again = backup.nightly_backup(app, start + timedelta(days=16))
    assert again["created"] is False and again["removed"] == []
    assert (folder / backup.nightly_name(start + timedelta(days=16))).stat().st_mtime_ns == mtime
    # a nightly archive restores like any other
    backup.verify_and_stage(folder / backup.nightly_name(start + timedelta(days=16)), tmp_path / "stage")


def test_daily_ticker_queues_one_backup_job_per_day(app, tmp_path):
    from sqlmodel import select as sm_select

    from core.db import session_scope
    from scheduler.jobs import JobRunner, run_daily
    from scheduler.models import BackgroundJob

    folder = tmp_path / "nightly"
    app.config.update(LANTOA_BACKUP_DIR=str(folder), LANTOA_BACKUP_HOUR="2")
    _seed(app)
    day = date(2026, 12, 6)
    early = datetime(2026, 12, 5, 18, 30, tzinfo=UTC)  # 01:30 in Viet Nam
    late = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)  # 03:00
    backup.daily(app, day, now=early)
    with session_scope(app) as s:
        assert not s.exec(sm_select(BackgroundJob).where(BackgroundJob.name == backup.JOB_NAME)).all()
    run_daily(app, now=late)
    backup.daily(app, day, now=late)
    run_daily(app, now=late + timedelta(minutes=30))
    with session_scope(app) as s:
        jobs = s.exec(sm_select(BackgroundJob).where(BackgroundJob.name == backup.JOB_NAME)).all()
        assert len(jobs) == 1 and jobs[0].payload == {"day": "2026-12-06"}
    JobRunner(app).run_due()
    with session_scope(app) as s:
        job = s.exec(sm_select(BackgroundJob).where(BackgroundJob.name == backup.JOB_NAME)).one()
        assert job.status == "done", job.error
    assert (folder / "lantoa-2026-12-06.tar.gz").is_file()
    # LANTOA_BACKUP_KEEP=0: no nightly backup
    app.config["LANTOA_BACKUP_KEEP"] = "0"
    backup.daily(app, date(2026, 12, 7), now=late + timedelta(days=1))
    with session_scope(app) as s:
        assert len(s.exec(sm_select(BackgroundJob).where(BackgroundJob.name == backup.JOB_NAME)).all()) == 1
