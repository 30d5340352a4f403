"""SMS waves in the database (SQLite and PostgreSQL): expansion with opt-out
and 24 h cap suppression, resumable re-expansion, per-carrier partner batches,
reports, re-batching, DLRs and refusal replies."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel

from scheduler.sms import waves
from scheduler.sms.batchfiles import ReportRow
from scheduler.sms.compliance import SmsPolicy
from scheduler.sms.importer import copy_recipients, read_recipients
from scheduler.sms.models import sms_metadata

NOW = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # 09:00 in Sóc Trăng

LIST = (
    "Họ tên,SĐT,Xã\n"
    "An,0912345678,Phường 1\n"  # vinaphone
    "Bình,0987654321,Phường 2\n"  # viettel, opted out (DNC)
    "Cường,0901234567,Phường 3\n"  # mobifone, 24 h cap reached
    "Dung,0961111111,Phường 4\n"  # viettel
    "Em,0991234567,Phường 5\n"  # gmobile
).encode()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request):
    if request.param == "sqlite":
        eng = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        eng = create_engine(request.getfixturevalue("pg_url"))
    sms_metadata(delivery_stub=True).create_all(eng)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO delivery (id) VALUES (1), (2), (10), (11), (12), (13)"))
        conn.execute(
            text(
                "INSERT INTO recipient_list (id, name, created_at, rows, valid, invalid, duplicates, "
                "converted, by_carrier, errors_preview, status) VALUES "
                "(1, 'Sóc Trăng', CURRENT_TIMESTAMP, 0, 0, 0, 0, 0, '{}', '[]', 'ready')"
            )
        )
        copy_recipients(conn, 1, read_recipients(io.BytesIO(LIST), "ds.csv"))
        waves.add_opt_outs(conn, ["0987 654 321"], "dnc", now=NOW)
        # three earlier waves reached 0901234567 in the last 24 h; 0912345678 was
        # reached 30 h ago, which no longer counts
        for i, age in enumerate((1, 5, 23, 30)):
            conn.execute(
                text(
                    "INSERT INTO sms_message (delivery_id, phone, carrier, text, segments, encoding, "
                    "status, attempts, updated_at) VALUES (:d, :p, 'mobifone', 't', 1, 'GSM-7', "
                    "'delivered', 1, :at)"
                ).bindparams(waves.bindparam("at", type_=waves._TS)),
                {
                    "d": 10 + i,
                    "p": "+84901234567" if i < 3 else "+84912345678",
                    "at": NOW - timedelta(hours=age),
                },
            )
    yield eng
    eng.dispose()


def statuses(conn, delivery_id):
    return {
        phone: (status, reason)
        for phone, status, reason in conn.execute(
            text("SELECT phone, status, reason FROM sms_message WHERE delivery_id = :d"),
            {"d": delivery_id},
        )
    }


def test_expand_suppresses_opt_outs_and_cap(engine):
    with engine.begin() as conn:
        counts = waves.expand_wave(conn, delivery_id=1, list_id=1, text_="Xin chào bà con", now=NOW)
        assert counts["pending"] == 3 and counts["suppressed"] == 2
        st = statuses(conn, 1)
    assert st["+84987654321"] == ("suppressed", "opt_out:dnc")
    assert st["+84901234567"] == ("suppressed", "cap_24h")
    assert st["+84912345678"] == ("pending", None)  # its 4th message is 30 h old
    with engine.begin() as conn:
        row = conn.execute(
            text(
                f"SELECT m.text, {waves.MESSAGE_TEXT}, m.segments, m.encoding, m.attempts, "
                f"m.batch_id FROM {waves.MESSAGES} "
                "WHERE m.delivery_id = 1 AND m.phone = '+84912345678'"
            )
        ).one()
        stored = conn.execute(text("SELECT COUNT(*) FROM sms_wave WHERE delivery_id = 1"))
        assert stored.scalar_one() == 1
    # the common text is stored once, on the wave, not on each record
    assert tuple(row) == (None, "Xin chào bà con", 1, "GSM-7", 0, None)


def test_policy_switches(engine):
    with engine.begin() as conn:
        counts = waves.expand_wave(
            conn,
            delivery_id=1,
            list_id=1,
            text_="x",
            now=NOW,
            policy=SmsPolicy(max_per_24h=None, honour_opt_out=False),
        )
    assert counts["pending"] == 5 and counts["suppressed"] == 0


def test_expansion_is_resumable(engine):
    with engine.begin() as conn:
        waves.expand_wave(conn, delivery_id=1, list_id=1, text_="x", now=NOW)
        conn.execute(
            text("DELETE FROM sms_message WHERE delivery_id = 1 AND phone = '+84912345678'")
        )  # as if a crash stopped half-way
        conn.execute(
            text(
                "UPDATE sms_message SET status = 'sent' WHERE delivery_id = 1 "
                "AND phone = '+84961111111'"
            )
        )
        counts = waves.expand_wave(conn, delivery_id=1, list_id=1, text_="x", now=NOW)
    assert counts == {
        "pending": 2,
        "suppressed": 2,
        "sent": 1,
        "delivered": 0,
        "failed": 0,
        "not_our_subscriber": 0,
    }


def test_rendered_text_per_recipient(engine):
    with engine.begin() as conn:
        waves.expand_wave(
            conn,
            delivery_id=1,
            list_id=1,
            now=NOW,
            text_=lambda r: f"Chào {r['name']} ({r['xa']}) – Sóc Trăng",
        )
        rows = dict(
            conn.execute(text("SELECT phone, text FROM sms_message WHERE delivery_id = 1")).all()
        )
        enc = conn.execute(
            text("SELECT DISTINCT encoding FROM sms_message WHERE delivery_id = 1")
        ).scalar_one()
        st = statuses(conn, 1)
    assert rows["+84912345678"] == "Chào An (Phường 1) – Sóc Trăng"
    assert enc == "UCS-2"
    assert st["+84987654321"] == ("suppressed", "opt_out:dnc")
    assert st["+84901234567"] == ("suppressed", "cap_24h")


def test_partner_batches_flow(engine, tmp_path):
    with engine.begin() as conn:
        waves.expand_wave(conn, delivery_id=1, list_id=1, text_="=Thông báo", now=NOW, batches=True)
        batches = {
            b["carrier"]: b
            for b in conn.execute(
                text(
                    "SELECT id, carrier, message_count, status FROM sms_batch WHERE delivery_id = 1"
                )
            ).mappings()
        }
    assert {c: b["message_count"] for c, b in batches.items()} == {
        "vinaphone": 1,
        "viettel": 1,
        "gmobile": 1,
    }  # suppressed numbers are not batched
    assert {b["status"] for b in batches.values()} == {"ready"}

    viettel = batches["viettel"]["id"]
    with engine.begin() as conn:
        info = waves.write_batch_file(conn, viettel, tmp_path / "viettel.csv")
        sha = conn.execute(
            text("SELECT file_sha256 FROM sms_batch WHERE id = :b"), {"b": viettel}
        ).scalar_one()
        waves.write_batch_file(conn, viettel, tmp_path / "viettel.xlsx", "xlsx")
        message_id = conn.execute(
            text("SELECT id FROM sms_message WHERE batch_id = :b"), {"b": viettel}
        ).scalar_one()
    rows = list(csv.reader(io.StringIO((tmp_path / "viettel.csv").read_text("utf-8-sig"))))
    assert rows == [
        ["message_id", "phone", "text"],
        [str(message_id), "+84961111111", "'=Thông báo"],
    ]
    assert info.sha256 == sha and info.rows == 1
    assert (tmp_path / "viettel.xlsx").stat().st_size > 0

    with engine.begin() as conn:
        assert waves.set_batch_status(conn, viettel, "downloaded", now=NOW)
        assert waves.set_batch_status(conn, viettel, "acknowledged", now=NOW)
        assert waves.set_batch_status(conn, viettel, "downloaded", now=NOW)  # no step back
        assert not waves.set_batch_status(conn, viettel, "ready", now=NOW)
        assert statuses(conn, 1)["+84961111111"] == ("sent", None)
        other_batch_msg = conn.execute(
            text("SELECT id FROM sms_message WHERE batch_id = :b"),
            {"b": batches["vinaphone"]["id"]},
        ).scalar_one()
        result = waves.apply_partner_report(
            conn,
            viettel,
            [
                ReportRow(2, message_id, "not_our_subscriber", NOW, "chuyển mạng"),
                ReportRow(3, other_batch_msg, "delivered", NOW, None),  # another carrier's
            ],
            now=NOW,
        )
        assert result["applied"] == 1
        assert [e["line"] for e in result["errors"]] == [3]
        assert statuses(conn, 1)["+84912345678"] == ("pending", None)  # untouched
        batch = conn.execute(
            text("SELECT status, acknowledged_at, reported_at FROM sms_batch WHERE id = :b"),
            {"b": viettel},
        ).one()
        assert batch[0] == "reported" and batch[1] is not None and batch[2] is not None

        new = waves.rebatch_not_our_subscriber(conn, 1, "mobifone", now=NOW)
        assert [(b["carrier"], b["message_count"]) for b in new] == [("mobifone", 1)]
        assert statuses(conn, 1)["+84961111111"] == ("pending", "chuyển mạng")


def test_dlrs_never_move_backwards(engine):
    with engine.begin() as conn:
        waves.expand_wave(conn, delivery_id=1, list_id=1, text_="x", now=NOW)
        ids = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT id FROM sms_message WHERE delivery_id = 1 AND status = 'pending' "
                    "ORDER BY id"
                )
            )
        ]
        a, b, c = ids
        assert waves.apply_dlr(conn, a, 1, now=NOW) == "delivered"  # 1 before 8
        assert waves.apply_dlr(conn, a, 8, now=NOW) is None
        assert waves.apply_dlr(conn, b, 8, now=NOW) == "sent"
        assert waves.apply_dlr(conn, b, 16, now=NOW, reason="SMSC rejected") == "failed"
        assert waves.apply_dlr(conn, c, 99, now=NOW) is None
        assert waves.apply_dlr(conn, 10**9, 1, now=NOW) is None
        counts = waves.wave_counts(conn, 1)
    assert counts["by_status"]["delivered"] == 1 and counts["by_status"]["failed"] == 1
    assert counts["by_status"]["pending"] == 1 and counts["total"] == 5
    assert counts["progress"] == pytest.approx(4 / 5)
    assert counts["by_carrier"]["viettel"]["suppressed"] == 1


def test_refusal_reply_suppresses_at_once(engine):
    with engine.begin() as conn:
        waves.expand_wave(conn, delivery_id=1, list_id=1, text_="x", now=NOW)
        assert not waves.record_reply(conn, "0912345678", "Cảm ơn", now=NOW)
        assert waves.record_reply(conn, "0912345678", "Từ chối", now=NOW)
        assert waves.record_reply(conn, "+84912345678", "HUY", now=NOW)  # already listed
        assert not waves.record_reply(conn, "abc", "TC", now=NOW)
        # the next send picks the wave's pending records without the refused number
        claimed = waves.claim_pending(conn, 1, limit=10, now=NOW)
        assert sorted(c["phone"] for c in claimed) == ["+84961111111", "+84991234567"]
        assert claimed[0]["text"] == "x" and claimed[0]["segments"] == 1
        assert statuses(conn, 1)["+84912345678"] == ("suppressed", "opt_out:reply")
        assert len(waves.claim_pending(conn, 1, limit=1, now=NOW)) == 1
        rows = conn.execute(text("SELECT phone, source FROM opt_out ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [("+84987654321", "dnc"), ("+84912345678", "reply")]
        result = waves.add_opt_outs(conn, ["0912345678", "09x", "0961111111"], "import", now=NOW)
        assert result == {"added": 1, "invalid": 1, "already": 1}
        # the next wave honours them
        counts = waves.expand_wave(conn, delivery_id=2, list_id=1, text_="x", now=NOW)
    assert counts["pending"] == 1 and counts["suppressed"] == 4


def test_models_register_the_fixed_table_names(engine):
    import scheduler.sms.models  # noqa: F401

    for name in ("recipient_list", "recipient", "opt_out", "sms_message", "sms_batch", "sms_wave"):
        assert name in SQLModel.metadata.tables
    insp = inspect(engine)
    # a list's numbers are made unique by the importer; only list_id is indexed
    assert {tuple(i["column_names"]) for i in insp.get_indexes("recipient")} == {("list_id",)}
    assert insp.get_unique_constraints("recipient") == []
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("sms_message")}
    assert ("delivery_id", "phone") in uniques
    indexes = {tuple(i["column_names"]) for i in insp.get_indexes("sms_message")}
    assert ("delivery_id", "id") in indexes  # partial: pending, unbatched (gateway sender)
    assert ("phone",) in indexes  # partial: pending, unbatched (record_reply)
    assert ("delivery_id", "status") not in indexes
    # bulk child tables carry no per-row FOREIGN KEY checks (see models.py)
    assert insp.get_foreign_keys("sms_message") == []
    assert insp.get_foreign_keys("recipient") == []
    assert {fk["referred_table"] for fk in insp.get_foreign_keys("sms_batch")} == {"delivery"}
    cols = {c["name"]: c for c in insp.get_columns("sms_message")}
    assert cols["updated_at"]["type"].timezone if engine.dialect.name == "postgresql" else True


TRICKY = {
    "+84912345678": 'Dấu phẩy, "ngoặc kép" và\nxuống dòng',
    "+84987654321": '=HYPERLINK("http://evil")',
    "+84901234567": " khoảng trắng đầu và cuối ",
    "+84961111111": "\\N và \\ gạch chéo\ttab",
    "+84991234567": "-5 độ; @người; +84",
}
COMMON = '=HYPERLINK("http://x"), ngoặc "kép"\nvà \\N gạch chéo'


@pytest.mark.parametrize("kind", ["rendered", "common"])
def test_batch_csv_is_the_same_from_the_database_fast_path(engine, tmp_path, kind):
    """The COPY path writes the same bytes as the plain writer, for texts
    rendered per record and for the wave's common text (stored once, NULL on
    each record, entering the COPY as one neutralised literal)."""
    from scheduler.sms.batchfiles import write_batch_csv

    text_ = (lambda r: TRICKY[r["phone"]]) if kind == "rendered" else COMMON
    with engine.begin() as conn:
        waves.expand_wave(
            conn,
            delivery_id=1,
            list_id=1,
            now=NOW,
            batches=True,
            policy=SmsPolicy(max_per_24h=None, honour_opt_out=False),
            text_=text_,
        )
        batches = conn.execute(text("SELECT id FROM sms_batch WHERE delivery_id = 1")).all()
        assert batches
        for (batch_id,) in batches:
            fast = waves.write_batch_file(conn, batch_id, tmp_path / f"{batch_id}.csv")
            plain = write_batch_csv(waves.batch_rows(conn, batch_id), tmp_path / f"{batch_id}.p")
            data = (tmp_path / f"{batch_id}.csv").read_bytes()
            assert data == (tmp_path / f"{batch_id}.p").read_bytes()
            assert (fast.rows, fast.sha256) == (plain.rows, plain.sha256)
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
            assert len(rows) == fast.rows >= 1
            if kind == "common":
                assert {r[2] for r in rows} == {"'" + COMMON}


def test_large_partner_report_applies_as_a_set_like_row_by_row(engine):
    """A report big enough for the set path (PostgreSQL) gives the same
    applied count, the same errors in line order and the same final records
    as applying its rows one by one: foreign and unknown ids, illegal moves,
    a message named twice."""
    import random

    rng = random.Random(13)
    body = "SĐT\n" + "".join(f"09{n:08d}\n" for n in rng.sample(range(10**7, 10**8), 300))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO recipient_list (id, name, created_at, rows, valid, invalid, "
                "duplicates, converted, by_carrier, errors_preview, status) VALUES "
                "(2, 'Lớn', CURRENT_TIMESTAMP, 0, 0, 0, 0, 0, '{}', '[]', 'ready')"
            )
        )
        copy_recipients(conn, 2, read_recipients(io.BytesIO(body.encode()), "lon.csv"))
        waves.expand_wave(
            conn,
            delivery_id=2,
            list_id=2,
            text_="Tin",
            now=NOW,
            batches=True,
            policy=SmsPolicy(max_per_24h=None, honour_opt_out=False),
        )
        ((batch_id, count),) = conn.execute(
            text(
                "SELECT id, message_count FROM sms_batch WHERE delivery_id = 2 "
                "ORDER BY message_count DESC LIMIT 1"
            )
        ).all()
        ids = [
            r[0]
            for r in conn.execute(
                text("SELECT id FROM sms_message WHERE batch_id = :b ORDER BY id"), {"b": batch_id}
            )
        ]
        # some records already moved on, so some reported moves are illegal
        for mid, st in zip(
            ids[:30], ["delivered", "failed", "not_our_subscriber"] * 10, strict=True
        ):
            conn.execute(
                text("UPDATE sms_message SET status = :s WHERE id = :m"), {"s": st, "m": mid}
            )
        foreign = conn.execute(
            text("SELECT id FROM sms_message WHERE delivery_id = 10 LIMIT 1")
        ).scalar_one()
    assert count > 60
    rows, line = [], 2
    for mid in ids + [ids[5], ids[40], foreign, 10**9]:
        status = rng.choice(["delivered", "failed", "not_our_subscriber"])
        at = NOW + timedelta(minutes=rng.randrange(60)) if rng.random() < 0.5 else None
        rows.append(ReportRow(line, mid, status, at, rng.choice([None, "lỗi", "chuyển mạng"])))
        line += 1

    def outcome(apply):
        with engine.connect() as conn:
            with conn.begin() as tx:
                result = apply(conn)
                final = conn.execute(
                    text(
                        "SELECT id, status, reason, updated_at FROM sms_message "
                        "WHERE delivery_id = 2 ORDER BY id"
                    )
                ).all()
                tx.rollback()
        return result, [tuple(r) for r in final]

    def one_by_one(conn):
        applied, errors = waves._apply_report_rows(conn, batch_id, rows, NOW)
        if applied:
            waves.set_batch_status(conn, batch_id, "acknowledged", now=NOW)
            waves.set_batch_status(conn, batch_id, "reported", now=NOW)
        return {"applied": applied, "errors": errors}

    got, got_rows = outcome(lambda conn: waves.apply_partner_report(conn, batch_id, rows, now=NOW))
    want, want_rows = outcome(one_by_one)
    assert got == want
    assert got_rows == want_rows
    assert 0 < got["applied"] < len(rows)
    assert any("thuộc lô" in e["reason"] for e in got["errors"])  # foreign and unknown ids
    assert any("Không thể chuyển" in e["reason"] for e in got["errors"])
