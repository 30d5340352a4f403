"""sms_message partitioned by wave (PostgreSQL): a wave's records live in its
own partition, a purge drops it and leaves other waves alone, a partner report
or an expansion writes only its wave's partition; the migration moves existing
records; and the bulk pipeline's batch files are byte-identical to a naive
pipeline (csv + phonenumbers per row + the Python batch writer) on awkward rows.
SQLite keeps an ordinary table and the same functions work on it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import StaticPool

from scheduler.sms import waves
from scheduler.sms.batchfiles import ReportRow, write_batch_csv
from scheduler.sms.importer import copy_recipients, read_recipients
from scheduler.sms.models import sms_metadata
from scheduler.sms.phones import normalize_phone

NOW = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)
TEXT = "-UBND xã: nộp hồ sơ trực tuyến tại dichvucong.gov.vn"  # starts with '-': neutralised

#: awkward rows: BOM, CRLF, +84/84/0/no-0 forms, spaces, dots, dashes, an old
#: 11-digit number, the same number spelled three ways, a landline, a service
#: number, letters, a foreign number, a blank phone, a blank line, NFD text,
#: a formula-like name and a quoted newline in a cell
AWKWARD = (
    "\ufeffHọ và tên,Số điện thoại,Xã/Phường\r\n"
    "Nguyễn Văn An,0912345678,Phường 1\r\n"
    "Trần Thị Bình,+84 987 654 321,Phường 2\r\n"
    "Lê Cường,84901234567,\"Ấp 3\r\nKhóm 4\"\r\n"
    "Phạm Dung,961111111,Phường 4\r\n"
    "Huỳnh Em,0991.234.567,Phường 5\r\n"
    "Võ Giang,01626123456,Phường 6\r\n"  # old Viettel 0162 -> 032
    "Đặng Hải,+84912345678,Phường 1\r\n"  # duplicate of line 2
    "Bùi Khánh,84 912-345-678,Phường 1\r\n"  # duplicate again
    "Đỗ Lan,02993822123,Phường 7\r\n"  # Sóc Trăng landline
    "Lâm Minh,1900545412,Phường 7\r\n"  # service number
    "Thạch Nam,0912abc678,Phường 8\r\n"
    "Sơn Phúc,+1 415 555 0100,Phường 8\r\n"
    "Danh Quyên,,Phường 9\r\n"
    "\r\n"
    "Kim Sang,0895123456,Phường 9\r\n"  # 0895: not assigned (only 0896-0899)
    "Nguye\u0302\u0303n Ta\u0302m,0701234567,Phường 10\r\n"  # NFD name
    "=HYPERLINK(\"x\"),0771234567,Phường 10\r\n"
    "Út,0331234567,Phường 11\r\n"
    "Vy,0851234567,Phường 12\r\n"
    "Xuân,0921234567,Phường 12\r\n"
    "Yến,0581234567,\r\n"
).encode("utf-8")


def _setup(eng, deliveries=(1, 2)):
    sms_metadata(delivery_stub=True).create_all(eng)
    with eng.begin() as conn:
        for d in deliveries:
            conn.execute(text("INSERT INTO delivery (id) VALUES (:d)"), {"d": d})
        conn.execute(
            text(
                "INSERT INTO recipient_list (id, name, created_at, rows, valid, invalid, duplicates, "
                "converted, by_carrier, errors_preview, status) VALUES "
                "(1, 'ds', CURRENT_TIMESTAMP, 0, 0, 0, 0, 0, '{}', '[]', 'ready')"
            )
        )
        copy_recipients(conn, 1, read_recipients(io.BytesIO(AWKWARD), "ds.csv"))


@pytest.fixture
def pg(pg_url):
    eng = create_engine(pg_url)
    _setup(eng)
    yield eng
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    if request.param == "sqlite":
        eng = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        eng = create_engine(request.getfixturevalue("pg_url"))
    _setup(eng)
    yield eng
    eng.dispose()


def _expand(eng, delivery_id, **kw):
    with eng.begin() as conn:
        return waves.expand_wave(
            conn, delivery_id=delivery_id, list_id=1, text_=TEXT, batches=True, now=NOW, **kw
        )


def _where(conn):
    """partition -> records, for every partition that holds any."""
    return dict(
        conn.execute(
            text("SELECT tableoid::regclass::text, COUNT(*) FROM sms_message GROUP BY 1")
        ).all()
    )


def _writes(conn, table):
    """(rows inserted+updated+deleted, scans) of a table as counted by this
    backend and not yet flushed to the statistics: compare before and after."""
    row = conn.execute(
        text(
            "SELECT n_tup_ins + n_tup_upd + n_tup_del, COALESCE(seq_scan, 0) + "
            "COALESCE(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = :t"
        ),
        {"t": table},
    ).first()
    return tuple(row) if row else (0, 0)


@pytest.mark.postgres
def test_each_wave_lives_in_its_own_partition(pg):
    first = _expand(pg, 1)
    with pg.begin() as conn:
        # the second wave's expansion writes nothing into the first's partition
        before = _writes(conn, "sms_message_w1")
        second = waves.expand_wave(
            conn, delivery_id=2, list_id=1, text_=TEXT, batches=True, now=NOW
        )
        assert _writes(conn, "sms_message_w1")[0] == before[0]
        assert _writes(conn, "sms_message_w2")[0] == 12
    assert first == second and first["pending"] == 12
    with pg.connect() as conn:
        assert _where(conn) == {"sms_message_w1": 12, "sms_message_w2": 12}
        kind = conn.execute(
            text("SELECT relkind FROM pg_class WHERE relname = 'sms_message'")
        ).scalar()
        assert kind == "p"
        # attaching built the partition's primary key and unique index
        idx = set(
            conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'sms_message_w2'")
            ).scalars()
        )
        assert {"sms_message_w2_pkey", "sms_message_w2_delivery_id_phone_key"} <= idx
        # one index per index of the parent, each attached to it: the partial
        # indexes made before the insert were adopted, not duplicated
        attached = conn.execute(
            text(
                "SELECT COUNT(*) FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid "
                "JOIN pg_index i ON i.indexrelid = c.oid "
                "WHERE i.indrelid = 'sms_message_w2'::regclass"
            )
        ).scalar()
        parent = conn.execute(
            text("SELECT COUNT(*) FROM pg_index WHERE indrelid = 'sms_message'::regclass")
        ).scalar()
        assert len(idx) == attached == parent == 6
        assert "sms_message_w2_recent_sent" in idx  # made before the insert
        with pytest.raises(Exception, match="duplicate key"):
            conn.execute(
                text(
                    "INSERT INTO sms_message (delivery_id, phone, carrier, segments, encoding, "
                    "status, attempts, updated_at) SELECT 2, phone, carrier, 1, 'GSM-7', 'pending', "
                    "0, now() FROM sms_message WHERE delivery_id = 2 LIMIT 1"
                )
            )


@pytest.mark.postgres
def test_resume_and_single_records_use_the_right_partition(pg):
    _expand(pg, 1)
    with pg.begin() as conn:
        # running the expansion again adds nothing and stays in its partition
        counts = waves.expand_wave(
            conn, delivery_id=1, list_id=1, text_=TEXT, batches=True, now=NOW
        )
        assert sum(counts.values()) == 12
        # a record written outside expand_wave for a wave without a partition
        conn.execute(text("INSERT INTO delivery (id) VALUES (3)"))
        conn.execute(
            text(
                "INSERT INTO sms_message (delivery_id, phone, carrier, segments, encoding, status, "
                "attempts, updated_at) VALUES (3, '+84912345678', 'vinaphone', 1, 'GSM-7', "
                "'pending', 0, now())"
            )
        )
        # expanding that wave later keeps its records together in the default partition
        waves.expand_wave(conn, delivery_id=3, list_id=1, text_=TEXT, now=NOW)
        assert _where(conn) == {"sms_message_w1": 12, "sms_message_default": 12}
        assert waves.wave_partition(conn, 3) is None


@pytest.mark.postgres
def test_purge_drops_the_partition_and_keeps_other_waves(pg):
    _expand(pg, 1)
    _expand(pg, 2)
    with pg.begin() as conn:
        with pytest.raises(ValueError):
            waves.purge_wave(conn, 1)  # still pending: not finished
        for (batch_id,) in conn.execute(
            text("SELECT id FROM sms_batch WHERE delivery_id = 1")
        ).all():
            waves.set_batch_status(conn, batch_id, "acknowledged", now=NOW)
        before = conn.execute(
            text("SELECT id, phone, status FROM sms_message WHERE delivery_id = 2 ORDER BY id")
        ).all()
    with pg.begin() as conn:
        untouched = _writes(conn, "sms_message_w2")
        assert waves.purge_wave(conn, 1) == 12
        assert _writes(conn, "sms_message_w2") == untouched  # neither read nor written
    with pg.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('sms_message_w1')")).scalar() is None
        assert _where(conn) == {"sms_message_w2": 12}
        after = conn.execute(
            text("SELECT id, phone, status FROM sms_message WHERE delivery_id = 2 ORDER BY id")
        ).all()
        assert after == before
        # the batches stay as the wave's summary
        assert conn.execute(
            text("SELECT SUM(message_count) FROM sms_batch WHERE delivery_id = 1")
        ).scalar() == 12


@pytest.mark.postgres
@pytest.mark.parametrize("size", ["small", "large"])
def test_partner_report_touches_only_its_wave(pg, size):
    _expand(pg, 1)
    _expand(pg, 2)
    with pg.begin() as conn:
        batch_id = conn.execute(
            text("SELECT id FROM sms_batch WHERE delivery_id = 2 AND carrier = 'viettel'")
        ).scalar_one()
        ids = conn.execute(
            text("SELECT id FROM sms_message WHERE batch_id = :b ORDER BY id"), {"b": batch_id}
        ).scalars().all()
        rows = [ReportRow(i + 2, mid, "delivered", None, None) for i, mid in enumerate(ids)]
        if size == "large":  # > 50 rows: the COPY + set path; unknown ids are error rows
            rows += [ReportRow(100 + i, 10**9 + i, "failed", None, None) for i in range(60)]
        before, w2 = _writes(conn, "sms_message_w1"), _writes(conn, "sms_message_w2")
        result = waves.apply_partner_report(conn, batch_id, rows, now=NOW)
        assert result["applied"] == len(ids) > 0
        assert len(result["errors"]) == (60 if size == "large" else 0)
        assert _writes(conn, "sms_message_w1") == before  # other wave: no scan, no write
        assert _writes(conn, "sms_message_w2")[0] - w2[0] == len(ids)
        # and the plan names one partition
        plan = "\n".join(
            conn.execute(
                text(
                    "EXPLAIN UPDATE sms_message SET status = 'delivered' "
                    "WHERE id = :m AND batch_id = :b AND delivery_id = :d"
                ),
                {"m": ids[0], "b": batch_id, "d": 2},
            ).scalars()
        )
        assert "sms_message_w2" in plan and "sms_message_w1" not in plan
        assert "sms_message_default" not in plan


def test_purge_and_waves_on_both_databases(engine):
    _expand(engine, 1)
    _expand(engine, 2)
    with engine.begin() as conn:
        assert waves.purge_wave(conn, 1, force=True) == 12
        left = dict(
            conn.execute(
                text("SELECT delivery_id, COUNT(*) FROM sms_message GROUP BY delivery_id")
            ).all()
        )
        assert left == {2: 12}
        assert waves.wave_counts(conn, 2)["total"] == 12


# -- the bulk path's batch files == a naive pipeline's ----------------------------


def _naive_batches(data: bytes, first_id: int, out_dir) -> dict[str, bytes]:
    """csv.reader + normalize_phone (phonenumbers) on every row, first
    occurrence kept, records numbered in phone order, one CSV per carrier via
    the Python batch writer."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader)
    phone_col = header.index("Số điện thoại")
    seen: dict[str, str] = {}
    for row in reader:
        if not any(row):
            continue
        res = normalize_phone(row[phone_col])
        if res.e164 is not None and res.e164 not in seen:
            seen[res.e164] = res.carrier or "other"
    ordered = sorted(seen)
    out = {}
    for carrier in sorted(set(seen.values())):
        rows = [
            (first_id + i, phone, TEXT) for i, phone in enumerate(ordered) if seen[phone] == carrier
        ]
        path = out_dir / f"naive-{carrier}.csv"
        write_batch_csv(rows, path)
        out[carrier] = path.read_bytes()
    return out


def test_batch_files_identical_to_naive_pipeline(engine, tmp_path):
    counts = _expand(engine, 1)
    with engine.begin() as conn:
        batches = conn.execute(
            text("SELECT id, carrier, message_count FROM sms_batch WHERE delivery_id = 1")
        ).all()
        first_id = conn.execute(
            text("SELECT MIN(id) FROM sms_message WHERE delivery_id = 1")
        ).scalar()
        fast = {}
        for batch_id, carrier, n in batches:
            info = waves.write_batch_file(conn, batch_id, tmp_path / f"{carrier}.csv")
            assert info.rows == n
            fast[carrier] = (tmp_path / f"{carrier}.csv").read_bytes()
    naive = _naive_batches(AWKWARD, first_id, tmp_path)
    assert counts["pending"] == 12
    assert set(fast) == set(naive) == {"viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile"}
    for carrier in naive:
        assert fast[carrier] == naive[carrier], carrier
    # the neutralised text and the E.164 forms are in there
    assert b"'-UBND" in fast["viettel"] and b"+84326123456" in fast["viettel"]
    assert fast["vinaphone"].count(b"+84912345678") == 1


# -- the migration ------------------------------------------------------------------


@pytest.mark.postgres
def test_migration_moves_records_into_wave_partitions(pg_url, tmp_path):
    from alembic import command

    from app import create_app
    from core.cli import alembic_config, upgrade_database
    from core.db import get_engine

    app = create_app(
        {"TESTING": True, "LANTOA_DATABASE_URL": pg_url, "INSTANCE_PATH": str(tmp_path)}
    )
    try:
        with app.app_context():
            upgrade_database(app, "0015")
            eng = get_engine(app)
            with eng.begin() as conn:
                for d, phone in ((5, "+84912345678"), (5, "+84987654321"), (7, "+84912345678")):
                    conn.execute(
                        text(
                            "INSERT INTO sms_message (delivery_id, phone, carrier, segments, "
                            "encoding, status, attempts, updated_at) VALUES (:d, :p, 'viettel', 1, "
                            "'GSM-7', 'sent', 1, now())"
                        ),
                        {"d": d, "p": phone},
                    )
                ids = conn.execute(text("SELECT id FROM sms_message ORDER BY id")).scalars().all()
            upgrade_database(app, "0016")
            with eng.begin() as conn:
                assert _where(conn) == {"sms_message_w5": 2, "sms_message_w7": 1}
                assert conn.execute(
                    text("SELECT id FROM sms_message ORDER BY id")
                ).scalars().all() == ids
                new_id = conn.execute(
                    text(
                        "INSERT INTO sms_message (delivery_id, phone, carrier, segments, encoding, "
                        "status, attempts, updated_at) VALUES (9, '+84912345678', 'viettel', 1, "
                        "'GSM-7', 'pending', 0, now()) RETURNING id"
                    )
                ).scalar()
                assert new_id > max(ids)  # the sequence carries on
                assert _where(conn)["sms_message_default"] == 1
            command.downgrade(alembic_config(app), "0015")
            with eng.connect() as conn:
                assert conn.execute(
                    text("SELECT relkind FROM pg_class WHERE relname = 'sms_message'")
                ).scalar() == "r"
                assert conn.execute(
                    text("SELECT id FROM sms_message ORDER BY id")
                ).scalars().all() == [*ids, new_id]
            upgrade_database(app, "head")
    finally:
        get_engine(app).dispose()



def test_purge_command(app, runner):
    from sqlmodel import Session

    from core.db import get_engine
    from scheduler.sms.models import SmsMessage

    with app.app_context():
        with Session(get_engine()) as s:
            for wave, status in ((41, "delivered"), (41, "failed"), (42, "pending")):
                s.add(SmsMessage(delivery_id=wave, phone=f"+8491{wave}{len(status):05d}",
                                 carrier="vinaphone", status=status))
            s.commit()
    r = runner.invoke(args=["sms-purge-wave", "42"])
    assert r.exit_code != 0 and "còn tin đang chờ gửi" in r.output
    r = runner.invoke(args=["sms-purge-wave", "41"])
    assert r.exit_code == 0 and "Đã xoá 2 bản ghi" in r.output, r.output
    with app.app_context(), get_engine().connect() as conn:
        left = conn.execute(text("SELECT delivery_id FROM sms_message")).scalars().all()
    assert left == [42]
