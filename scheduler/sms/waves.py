"""SMS waves in the database: expand a wave into one durable record per
recipient, cut per-carrier partner batches, and apply DLRs, partner reports,
refusal replies and opt-out imports.

All functions take a SQLAlchemy ``Connection`` (the caller owns the
transaction) and work on SQLite and PostgreSQL. Expansion is one
``INSERT ... SELECT`` with an anti-join on ``opt_out`` and on the rolling 24 h
cap, and ``ON CONFLICT DO NOTHING`` on (delivery_id, phone): running it again
after a crash adds only what is missing, so a wave resumes from its records,
never from a cursor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, bindparam, text

from core.tabular import BOM, CRLF
from scheduler.sms.batchfiles import (
    BATCH_COLUMNS,
    BatchFile,
    ReportRow,
    neutralise,
    write_batch_csv,
    write_batch_xlsx,
)
from scheduler.sms.compliance import SmsPolicy, is_refusal
from scheduler.sms.encoding import analyze
from scheduler.sms.models import (
    BATCH_TRANSITIONS,
    SMS_TRANSITIONS,
    can_transition,
    sms_message_partition,
)
from scheduler.sms.phones import normalize_phone

#: Kannel DLR value -> per-recipient status.
DLR_TO_STATUS = {1: "delivered", 2: "failed", 4: "sent", 8: "sent", 16: "failed"}
_TS = DateTime(timezone=True)
_STATUSES = ("pending", "suppressed", "sent", "delivered", "failed", "not_our_subscriber")
#: A record's text: its own when rendered per recipient, else the wave's
#: (sms_wave). Use with ``FROM {MESSAGES}``, which names the records ``m``.
MESSAGE_TEXT = "COALESCE(m.text, w.text)"
MESSAGES = "sms_message m LEFT JOIN sms_wave w ON w.delivery_id = m.delivery_id"
_TIME_PARAMS = ("now", "since", "at")


def _sql(sql: str) -> Any:
    """text() with the time parameters typed, so SQLite stores them in the same
    format as the ORM does."""
    binds = [bindparam(n, type_=_TS) for n in _TIME_PARAMS if re.search(rf":{n}\b", sql)]
    stmt = text(sql)
    return stmt.bindparams(*binds) if binds else stmt


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _batch_wave(conn: Any, batch_id: int) -> int | None:
    """The wave (delivery id) of a batch: queries on its records name it, so
    PostgreSQL reads only that wave's partition."""
    return conn.execute(
        _sql("SELECT delivery_id FROM sms_batch WHERE id = :b"), {"b": batch_id}
    ).scalar_one_or_none()


def _is_pg(conn: Any) -> bool:
    return conn.dialect.name == "postgresql"


def wave_partition(conn: Any, delivery_id: int) -> str | None:
    """PostgreSQL: the name of the wave's own partition if it exists, else
    None (SQLite: always None; its ``sms_message`` is one ordinary table)."""
    if not _is_pg(conn):
        return None
    name = sms_message_partition(delivery_id)
    found = conn.execute(
        _sql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'sms_message'::regclass AND c.relname = :n"
        ),
        {"n": name},
    ).scalar()
    return name if found else None


def _in_default_partition(conn: Any, delivery_id: int) -> bool:
    """Records of the wave sit in the default partition (written before the
    wave had its own, e.g. by code that inserts single records)."""
    return (
        conn.execute(
            _sql(
                "SELECT COUNT(*) FROM (SELECT 1 FROM sms_message_default "
                "WHERE delivery_id = :d LIMIT 1) x"
            ),
            {"d": delivery_id},
        ).scalar_one()
        > 0
    )


def ensure_wave_partition(conn: Any, delivery_id: int) -> str | None:
    """PostgreSQL: make sure the wave's records go to their own partition;
    returns its name (None on SQLite, or when the wave's records already sit
    in the default partition: they stay there, together)."""
    if not _is_pg(conn):
        return None
    name = wave_partition(conn, delivery_id)
    if name is not None:
        return name
    if _in_default_partition(conn, delivery_id):
        return None
    name = sms_message_partition(delivery_id)
    conn.execute(
        _sql(f"CREATE TABLE {name} PARTITION OF sms_message FOR VALUES IN ({int(delivery_id)})")
    )
    return name


def purge_wave(conn: Any, delivery_id: int, *, force: bool = False) -> int:
    """Retention: remove a finished wave's records; returns how many went.

    On PostgreSQL the wave's partition is detached and dropped (no other
    wave's rows are read or locked beyond the brief lock on the parent); on
    SQLite, or for records in the default partition, they are deleted. The
    wave's batches (counts, times, file digests) and its text stay as the
    summary. Refuses (ValueError) while records are still pending, unless
    ``force``."""
    name = wave_partition(conn, delivery_id)
    where = "delivery_id = :d"
    if not force:
        pending = conn.execute(
            _sql(
                "SELECT COUNT(*) FROM (SELECT 1 FROM sms_message WHERE delivery_id = :d "
                "AND status = 'pending' LIMIT 1) x"
            ),
            {"d": delivery_id},
        ).scalar_one()
        if pending:
            raise ValueError("the wave still has pending records")
    gone = 0
    if name is not None:
        gone = conn.execute(_sql(f"SELECT COUNT(*) FROM {name}")).scalar_one()
        conn.execute(_sql(f"ALTER TABLE sms_message DETACH PARTITION {name}"))
        conn.execute(_sql(f"DROP TABLE {name}"))
    # SQLite, or records of the wave that sit in the default partition
    gone += conn.execute(_sql(f"DELETE FROM sms_message WHERE {where}"), {"d": delivery_id}).rowcount
    return gone


def _recent_sends(conn: Any, delivery_id: int, since: datetime) -> bool:
    """Any record of another wave sent or delivered since ``since`` (the 24 h
    cap's subject; one probe of its partial index)? Without any, the cap's
    join can suppress nothing and is left out (~0.3 s per million records)."""
    return (
        conn.execute(
            _sql(
                "SELECT COUNT(*) FROM (SELECT 1 FROM sms_message m WHERE m.status IN "
                "('sent', 'delivered') AND m.updated_at > :since AND m.delivery_id <> :d "
                "LIMIT 1) x"
            ),
            {"since": since, "d": delivery_id},
        ).scalar_one()
        > 0
    )


def _suppression_sql(policy: SmsPolicy, cap: bool = True) -> tuple[str, str, str]:
    """(joins, status CASE, reason CASE) for opt-outs and the 24 h cap (left
    out when ``cap`` is false: no recent sends to count)."""
    joins, status_when, reason_when = [], [], []
    if policy.honour_opt_out:
        joins.append("LEFT JOIN opt_out o ON o.phone = r.phone")
        status_when.append("WHEN o.id IS NOT NULL THEN 'suppressed'")
        reason_when.append("WHEN o.id IS NOT NULL THEN 'opt_out:' || o.source")
    if policy.max_per_24h is not None and cap:
        joins.append(
            "LEFT JOIN (SELECT m.phone, COUNT(*) AS n FROM sms_message m "
            "WHERE m.status IN ('sent', 'delivered') AND m.updated_at > :since "
            "AND m.delivery_id <> :delivery_id GROUP BY m.phone) c ON c.phone = r.phone"
        )
        status_when.append("WHEN c.n >= :cap THEN 'suppressed'")
        reason_when.append("WHEN c.n >= :cap THEN 'cap_24h'")
    status = (
        ("CASE " + " ".join(status_when) + " ELSE 'pending' END") if status_when else "'pending'"
    )
    reason = ("CASE " + " ".join(reason_when) + " ELSE NULL END") if reason_when else "NULL"
    return " ".join(joins), status, reason


def expand_wave(
    conn: Any,
    *,
    delivery_id: int,
    list_id: int,
    text_: str | Callable[[Mapping[str, Any]], str],
    policy: SmsPolicy | None = None,
    now: datetime | None = None,
    batches: bool = False,
) -> dict[str, int]:
    """Create the wave's per-recipient records; returns status counts.

    ``text_`` is the final text (label already applied) or a callable that
    renders it per recipient from ``{"phone", "carrier", "name", **fields}``.
    With ``batches=True`` (sms_partner) the pending records are put into one
    ``sms_batch`` per carrier as they are inserted.
    """
    policy = policy or SmsPolicy()
    now = _now(now)
    params: dict[str, Any] = {
        "delivery_id": delivery_id,
        "list_id": list_id,
        "now": now,
        "since": now - timedelta(hours=24),
        "cap": policy.max_per_24h,
    }
    joins, status_sql, reason_sql = _suppression_sql(
        policy,
        cap=policy.max_per_24h is not None and _recent_sends(conn, delivery_id, params["since"]),
    )
    if callable(text_):
        ensure_wave_partition(conn, delivery_id)
        _insert_rendered(conn, delivery_id, list_id, text_, now)
        # Suppress what the policy forbids among the records just added.
        conn.execute(
            _sql(
                f"UPDATE sms_message SET status = 'suppressed', reason = s.reason FROM ("
                f"SELECT r.phone AS phone, {reason_sql} AS reason, {status_sql} AS st "
                f"FROM recipient r {joins} WHERE r.list_id = :list_id) s "
                f"WHERE sms_message.delivery_id = :delivery_id AND sms_message.phone = s.phone "
                f"AND sms_message.status = 'pending' AND s.st = 'suppressed'"
            ),
            params,
        )
    else:
        info = analyze(text_)
        _save_wave_text(conn, delivery_id, info.text, max(1, info.parts), info.encoding, now)
        params.update(segments=max(1, info.parts), encoding=info.encoding)
        batch_sql, new_batches = "NULL", []
        if batches:
            # One batch per carrier, filled as the records are inserted (no
            # second pass over a million rows).
            whens = []
            for i, carrier in enumerate(_list_carriers(conn, list_id)):
                batch_id = _new_batch(conn, delivery_id, carrier, now)
                new_batches.append(batch_id)
                params[f"bc{i}"] = carrier
                whens.append(f"WHEN :bc{i} THEN {int(batch_id)}")
            if whens:
                batch_sql = (
                    "CASE WHEN s.st = 'pending' THEN CASE s.carrier " + " ".join(whens) + " END END"
                )
        # A first expansion inserts plainly (ON CONFLICT's speculative insertion
        # costs ~30% more); resuming one skips the records that exist. Two
        # workers never expand one delivery (the lease), and if they did the
        # unique (delivery_id, phone) would fail the second transaction.
        fresh = (
            conn.execute(
                _sql(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM sms_message WHERE delivery_id = :d LIMIT 1) x"
                ),
                {"d": delivery_id},
            ).scalar_one()
            == 0
        )
        pg = conn.dialect.name == "postgresql"
        # PostgreSQL, a wave's first expansion: its partition is filled as a
        # plain table of its own, then attached; attaching builds the primary
        # key, the unique (delivery_id, phone) and the other indexes on the
        # full table in one sorted pass each (cheaper than growing them row by
        # row), and the CHECK lets PostgreSQL skip the attach's scan. Other
        # waves' partitions are not touched. Later runs insert into the parent.
        standalone = None
        if fresh and pg and wave_partition(conn, delivery_id) is None:
            if not _in_default_partition(conn, delivery_id):
                standalone = sms_message_partition(delivery_id)
                conn.execute(
                    _sql(
                        f"CREATE TABLE {standalone} (LIKE sms_message INCLUDING DEFAULTS, "
                        f"CONSTRAINT {standalone}_wave CHECK (delivery_id = {int(delivery_id)}))"
                    )
                )
                _empty_partial_indexes(conn, standalone, batches=batches)
        elif not fresh or pg:
            ensure_wave_partition(conn, delivery_id)
        target = standalone or "sms_message"
        insert = (
            f"INSERT INTO {target} (delivery_id, recipient_id, phone, carrier, text, "
            "segments, encoding, status, reason, attempts, updated_at, batch_id) "
            "SELECT :delivery_id, s.id, s.phone, s.carrier, NULL, :segments, :encoding, "
            f"s.st, s.reason, 0, :now, {batch_sql} FROM ("
            f"SELECT r.id AS id, r.phone AS phone, r.carrier AS carrier, {status_sql} AS st, "
            f"{reason_sql} AS reason FROM recipient r {joins} WHERE r.list_id = :list_id) s "
            # byte order is the index's order for E.164 strings, and sorting
            # by it skips the locale's collation (~1 s per million on PostgreSQL)
            "WHERE true ORDER BY s.phone"
            + (' COLLATE "C"' if pg else "")
            + ("" if fresh else " ON CONFLICT (delivery_id, phone) DO NOTHING")
        )
        if fresh and pg:
            # sort in memory: rows go in phone order, so the (delivery_id, phone)
            # index grows at its right edge instead of at random pages
            conn.execute(_sql("SET LOCAL work_mem = '64MB'"))
            conn.execute(_sql("SET LOCAL maintenance_work_mem = '256MB'"))
            # The insert counts what it wrote: a fresh wave needs no second
            # pass over its records for the batch sizes and the status counts.
            counted = conn.execute(
                _sql(
                    f"WITH ins AS ({insert} RETURNING status, batch_id) "
                    "SELECT status, batch_id, COUNT(*) FROM ins GROUP BY status, batch_id"
                ),
                params,
            ).all()
            if standalone:
                conn.execute(
                    _sql(
                        f"ALTER TABLE sms_message ATTACH PARTITION {standalone} "
                        f"FOR VALUES IN ({int(delivery_id)})"
                    )
                )
            by_status = dict.fromkeys(_STATUSES, 0)
            sizes: dict[int | None, int] = {}
            for status, batch_id, n in counted:
                by_status[status] = by_status.get(status, 0) + n
                if status == "pending":
                    sizes[batch_id] = sizes.get(batch_id, 0) + n
            if batches and sizes.get(None):  # carriers the list's report did not name
                create_partner_batches(conn, delivery_id, now=now)
            for batch_id in new_batches:
                if sizes.get(batch_id):
                    conn.execute(
                        _sql("UPDATE sms_batch SET message_count = :n WHERE id = :b"),
                        {"n": sizes[batch_id], "b": batch_id},
                    )
                else:
                    conn.execute(_sql("DELETE FROM sms_batch WHERE id = :b"), {"b": batch_id})
            return by_status
        conn.execute(_sql(insert), params)
        if new_batches:
            ids = ", ".join(str(int(b)) for b in new_batches)
            conn.execute(
                _sql(
                    "UPDATE sms_batch SET message_count = (SELECT COUNT(*) FROM sms_message m "
                    f"WHERE m.batch_id = sms_batch.id) WHERE id IN ({ids})"
                )
            )
            conn.execute(_sql(f"DELETE FROM sms_batch WHERE id IN ({ids}) AND message_count = 0"))
    if batches:
        # records left unbatched (rendered texts, or an earlier interrupted run)
        create_partner_batches(conn, delivery_id, now=now)
    return wave_counts(conn, delivery_id)["by_status"]


def _empty_partial_indexes(conn: Any, table: str, *, batches: bool) -> None:
    """Before a fresh wave's records go into its standalone table: create the
    partial indexes of ``sms_message`` that the new records (all ``pending``
    or ``suppressed``) leave empty -- the recent-sends index, and with
    ``batches`` the pending-unbatched ones (every pending record gets its
    carrier's batch). ``ATTACH`` adopts an index with the parent's definition
    instead of building it, and building an empty index after the insert
    still reads the whole table (~0.15 s per million records each)."""
    found = conn.execute(
        _sql(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'sms_message'::regclass AND i.indpred IS NOT NULL"
        )
    ).all()
    for name, definition, predicate in found:
        pred = predicate.replace(" ", "")
        leaves_empty = ("'pending'" not in pred and "'suppressed'" not in pred) or (
            batches and "batch_idISNULL" in pred and "'suppressed'" not in pred
        )
        head = " ON ONLY public.sms_message "
        if not leaves_empty or head not in definition:
            continue
        child = f"{table}_{name.removeprefix('ix_sms_message_')}"[:63]
        body = definition.split(head, 1)[1]
        conn.execute(_sql(f"CREATE INDEX {child} ON {table} {body}"))


def _insert_rendered(
    conn: Any,
    delivery_id: int,
    list_id: int,
    render: Callable[[Mapping[str, Any]], str],
    now: datetime,
) -> None:
    from sqlalchemy import select
    from sqlmodel import SQLModel

    from scheduler.sms.models import Recipient, SmsMessage

    table = SQLModel.metadata.tables[SmsMessage.__tablename__]
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).on_conflict_do_nothing(index_elements=["delivery_id", "phone"])
    r = SQLModel.metadata.tables[Recipient.__tablename__]
    query = (
        select(r.c.id, r.c.phone, r.c.carrier, r.c.name, r.c.fields)
        .where(r.c.list_id == list_id)
        .order_by(r.c.id)
    )
    # execution options per statement: Connection.execution_options() would
    # switch the caller's whole connection to server-side cursors
    rows = conn.execute(query.execution_options(stream_results=True, yield_per=2000))
    batch: list[dict[str, Any]] = []
    for rid, phone, carrier, name, fields in rows:
        values = dict(fields or {})
        values.update(phone=phone, carrier=carrier, name=name or "")
        info = analyze(render(values))
        batch.append(
            {
                "delivery_id": delivery_id,
                "recipient_id": rid,
                "phone": phone,
                "carrier": carrier,
                "text": info.text,
                "segments": max(1, info.parts),
                "encoding": info.encoding,
                "status": "pending",
                "reason": None,
                "attempts": 0,
                "updated_at": now,
                "batch_id": None,
                "external_id": None,
            }
        )
        if len(batch) >= 2000:
            conn.execute(stmt, batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)


def _save_wave_text(
    conn: Any, delivery_id: int, text_: str, segments: int, encoding: str, now: datetime
) -> None:
    """The wave's common text, once (its records store NULL). Expanding again
    (a resumed wave) keeps the newest text for the records not yet sent."""
    params = {"d": delivery_id, "t": text_, "s": segments, "e": encoding, "now": now}
    updated = conn.execute(
        _sql("UPDATE sms_wave SET text = :t, segments = :s, encoding = :e WHERE delivery_id = :d"),
        params,
    ).rowcount
    if not updated:
        conn.execute(
            _sql(
                "INSERT INTO sms_wave (delivery_id, text, segments, encoding, created_at) "
                "VALUES (:d, :t, :s, :e, :now)"
            ),
            params,
        )


def _list_carriers(conn: Any, list_id: int) -> list[str]:
    """The carriers a list has recipients on: from its import report when
    that counts any (a ready list is complete), else from its records."""
    import json

    by_carrier = conn.execute(
        _sql("SELECT by_carrier FROM recipient_list WHERE id = :l"), {"l": list_id}
    ).scalar()
    if isinstance(by_carrier, str):
        by_carrier = json.loads(by_carrier)
    if isinstance(by_carrier, dict) and any(by_carrier.values()):
        return sorted(str(c) for c, n in by_carrier.items() if n)
    return [
        row[0]
        for row in conn.execute(
            _sql("SELECT DISTINCT carrier FROM recipient WHERE list_id = :l ORDER BY carrier"),
            {"l": list_id},
        )
    ]


def _new_batch(conn: Any, delivery_id: int, carrier: str, now: datetime) -> int:
    return int(
        conn.execute(
            _sql(
                "INSERT INTO sms_batch (delivery_id, carrier, status, message_count, created_at) "
                "VALUES (:d, :c, 'ready', 0, :now) RETURNING id"
            ),
            {"d": delivery_id, "c": carrier, "now": now},
        ).scalar_one()
    )


def create_partner_batches(
    conn: Any, delivery_id: int, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Put the wave's pending, unbatched records into one new batch per
    carrier; returns [{"id", "carrier", "message_count"}]."""
    now = _now(now)
    carriers = [
        row[0]
        for row in conn.execute(
            _sql(
                "SELECT DISTINCT carrier FROM sms_message WHERE delivery_id = :d "
                "AND status = 'pending' AND batch_id IS NULL ORDER BY carrier"
            ),
            {"d": delivery_id},
        )
    ]
    out = []
    for carrier in carriers:
        batch_id = _new_batch(conn, delivery_id, carrier, now)
        count = conn.execute(
            _sql(
                "UPDATE sms_message SET batch_id = :b WHERE delivery_id = :d AND carrier = :c "
                "AND status = 'pending' AND batch_id IS NULL"
            ),
            {"b": batch_id, "d": delivery_id, "c": carrier},
        ).rowcount
        conn.execute(
            _sql("UPDATE sms_batch SET message_count = :n WHERE id = :b"),
            {"n": count, "b": batch_id},
        )
        out.append({"id": batch_id, "carrier": carrier, "message_count": count})
    return out


def batch_rows(conn: Any, batch_id: int) -> Iterable[tuple[int, str, str]]:
    """(message_id, phone, text) of a batch, streamed in id order."""
    result = conn.execute(
        _sql(
            f"SELECT m.id, m.phone, {MESSAGE_TEXT} FROM {MESSAGES} "
            "WHERE m.batch_id = :b AND m.delivery_id = :d ORDER BY m.id"
        ).execution_options(stream_results=True, yield_per=5000),
        {"b": batch_id, "d": _batch_wave(conn, batch_id)},
    )
    for row in result:
        yield row[0], row[1], row[2]


def write_batch_file(conn: Any, batch_id: int, path: str | Path, fmt: str = "csv") -> BatchFile:
    """Write a batch's file and record its sha256 on the batch."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError("format must be csv or xlsx")
    if fmt == "csv" and conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        info = _copy_batch_csv(conn, batch_id, Path(path))
    else:
        writer = write_batch_csv if fmt == "csv" else write_batch_xlsx
        info = writer(batch_rows(conn, batch_id), path)
    if fmt == "csv":
        conn.execute(
            _sql("UPDATE sms_batch SET file_sha256 = :h WHERE id = :b"),
            {"h": info.sha256, "b": batch_id},
        )
    return info


#: records per row of the aggregated batch-file query (one text value each)
_CSV_GROUP = 4096


def _csv_quote_sql(expr: str) -> str:
    """SQL of Python's csv.writer cell (QUOTE_MINIMAL): quoted, with quotes
    doubled, when it holds a comma, a quote, CR or LF."""
    return (
        f"CASE WHEN strpos({expr}, ',') > 0 OR strpos({expr}, '\"') > 0 "
        f"OR strpos({expr}, chr(13)) > 0 OR strpos({expr}, chr(10)) > 0 "
        f"THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END"
    )


def _py_csv_cell(value: str) -> str:
    """One cell as Python's csv.writer writes it."""
    import csv as _csv
    import io as _io

    buf = _io.StringIO()
    _csv.writer(buf, lineterminator="").writerow([value])
    return buf.getvalue()


def _copy_batch_csv(conn: Any, batch_id: int, path: Path) -> BatchFile:
    """PostgreSQL fast path of write_batch_csv: the server formats the CSV
    records (same columns, quoting and formula neutralisation as the Python
    writer) and joins them with CRLF, ``_CSV_GROUP`` ids at a time in id
    order; we add the BOM and the header once. One Python step per few
    thousand records (COPY TO sent one message per record, each a Python
    step). Only the wave's partition is read."""
    import hashlib
    import unicodedata

    from psycopg import sql as pgsql

    raw = conn.connection.driver_connection
    h = hashlib.sha256()
    wave = _batch_wave(conn, batch_id)
    # The wave's own partition, read directly when its records are there (all
    # of them, unless some sat in the default partition before it existed):
    # through the parent, a fresh partition without statistics had each batch
    # AND its batch_id index with a scan of the whole (delivery_id, phone)
    # index (~50 ms per million records per batch file).
    partition = (
        wave_partition(conn, wave)
        if wave is not None and not _in_default_partition(conn, wave)
        else None
    )
    # The wave's common text goes in once, already neutralised and quoted, as
    # a literal: no join and no per-row work for the records that share it.
    common = conn.execute(
        _sql("SELECT text FROM sms_wave WHERE delivery_id = :d"), {"d": wave}
    ).scalar()
    common_sql = (
        pgsql.Literal(_py_csv_cell(neutralise(unicodedata.normalize("NFC", common))))
        if common is not None
        else pgsql.SQL("''")
    )
    own = (
        "(CASE WHEN substr(text, 1, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
        "THEN chr(39) || text ELSE text END)"
    )
    sql = pgsql.SQL(
        "SELECT string_agg(line, {crlf} ORDER BY id) || {crlf}, COUNT(*) FROM ("
        "SELECT id, id / {group} AS g, id::text || ',' || phone || ',' || "
        "CASE WHEN text IS NULL THEN {common} ELSE "
        + _csv_quote_sql(own)
        + " END AS line FROM {source} WHERE batch_id = {batch}{wave_filter}) x "
        "GROUP BY g ORDER BY g"
    ).format(
        crlf=pgsql.Literal(CRLF),
        group=pgsql.Literal(_CSV_GROUP),
        common=common_sql,
        batch=pgsql.Literal(int(batch_id)),
        source=pgsql.Identifier(partition) if partition else pgsql.SQL("sms_message"),
        wave_filter=pgsql.SQL("")
        if partition
        else pgsql.SQL(" AND delivery_id = {}").format(
            pgsql.Literal(int(wave) if wave is not None else -1)
        ),
    )
    header = (BOM + ",".join(BATCH_COLUMNS) + CRLF).encode()
    rows = 0
    with raw.cursor(name=f"lantoa_batch_{int(batch_id)}") as cur, open(path, "wb") as fh:
        fh.write(header)
        h.update(header)
        cur.itersize = 16
        cur.execute(sql)
        for block, n in cur:
            data = block.encode("utf-8")
            fh.write(data)
            h.update(data)
            rows += n
    return BatchFile(path, rows, h.hexdigest())


def set_batch_status(conn: Any, batch_id: int, new: str, *, now: datetime | None = None) -> bool:
    """Move a batch along ready -> downloaded -> acknowledged -> reported.
    Acknowledging marks its pending messages as sent. False if not allowed."""
    now = _now(now)
    current = conn.execute(
        _sql("SELECT status FROM sms_batch WHERE id = :b"), {"b": batch_id}
    ).scalar_one_or_none()
    if current is None:
        return False
    # A repeated download keeps the status (the caller logs every download).
    if current == new or (new == "downloaded" and current != "ready"):
        return True
    if not can_transition(BATCH_TRANSITIONS, current, new):
        return False
    column = {
        "downloaded": "downloaded_at",
        "acknowledged": "acknowledged_at",
        "reported": "reported_at",
    }.get(new)
    sets = "status = :s" + (f", {column} = :now" if column else "")
    conn.execute(
        _sql(f"UPDATE sms_batch SET {sets} WHERE id = :b"), {"s": new, "b": batch_id, "now": now}
    )
    if new == "acknowledged":
        conn.execute(
            _sql(
                "UPDATE sms_message SET status = 'sent', updated_at = :now "
                "WHERE batch_id = :b AND delivery_id = :d AND status = 'pending'"
            ),
            {"b": batch_id, "d": _batch_wave(conn, batch_id), "now": now},
        )
    return True


def apply_partner_report(
    conn: Any, batch_id: int, rows: Iterable[ReportRow], *, now: datetime | None = None
) -> dict[str, Any]:
    """Apply report rows to the batch's messages. Rows naming a message outside
    this batch are errors (a partner never touches another carrier's data).

    Each row moves its message if the transition is allowed from the message's
    state at that point (rows of one message apply in order). On PostgreSQL a
    large report is applied as a set: the rows are COPY-loaded into a temporary
    table and checked and applied in three statements (row by row, a report for
    450,000 messages took minutes); errors are the same, in line order."""
    now = _now(now)
    rows = list(rows)
    applied, errors = 0, []
    bulk: list[ReportRow] = []
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg" and len(rows) > 50:
        seen: dict[int, int] = {}
        for row in rows:
            seen[row.message_id] = seen.get(row.message_id, 0) + 1
        bulk = [r for r in rows if seen[r.message_id] == 1]
        # a message named more than once: its rows go one by one, in order
        rows = [r for r in rows if seen[r.message_id] > 1]
    wave = _batch_wave(conn, batch_id)
    if bulk:
        n, errs = _apply_report_set(conn, batch_id, bulk, now, wave=wave)
        applied += n
        errors += errs
    n, errs = _apply_report_rows(conn, batch_id, rows, now, wave=wave)
    applied += n
    errors += errs
    errors.sort(key=lambda e: e["line"])
    if applied:
        set_batch_status(conn, batch_id, "acknowledged", now=now)
        set_batch_status(conn, batch_id, "reported", now=now)
    return {"applied": applied, "errors": errors}


def _not_in_batch(row_line: int, message_id: int) -> dict[str, Any]:
    return {
        "line": row_line,
        "value": str(message_id),
        "reason": "message_id không thuộc lô tin này.",
    }


def _cannot_move(row_line: int, message_id: int, current: str, new: str) -> dict[str, Any]:
    return {
        "line": row_line,
        "value": str(message_id),
        "reason": f"Không thể chuyển từ '{current}' sang '{new}'.",
    }


def _apply_report_rows(
    conn: Any, batch_id: int, rows: list[ReportRow], now: datetime, *, wave: Any = ...
) -> tuple[int, list[dict[str, Any]]]:
    if wave is ...:
        wave = _batch_wave(conn, batch_id)
    applied, errors = 0, []
    stmt_get = _sql(
        "SELECT status FROM sms_message WHERE id = :m AND batch_id = :b AND delivery_id = :d"
    )
    stmt_set = _sql(
        "UPDATE sms_message SET status = :s, reason = :r, updated_at = :at "
        "WHERE id = :m AND delivery_id = :d"
    )
    for row in rows:
        current = conn.execute(
            stmt_get, {"m": row.message_id, "b": batch_id, "d": wave}
        ).scalar_one_or_none()
        if current is None:
            errors.append(_not_in_batch(row.line, row.message_id))
            continue
        if current == "pending":  # a report implies the partner sent it
            current = "sent"
        if not can_transition(SMS_TRANSITIONS, current, row.status):
            errors.append(_cannot_move(row.line, row.message_id, current, row.status))
            continue
        conn.execute(
            stmt_set,
            {"s": row.status, "r": row.reason, "at": row.at or now, "m": row.message_id, "d": wave},
        )
        applied += 1
    return applied, errors


def _allowed_sql(status_col: str, new_col: str) -> str:
    """SQL truth of can_transition(SMS_TRANSITIONS, current, new), where a
    pending message counts as sent (a report implies the partner sent it)."""
    current = f"(CASE WHEN {status_col} = 'pending' THEN 'sent' ELSE {status_col} END)"
    whens = [f"WHEN {current} = {new_col} THEN true"]
    for cur, targets in sorted(SMS_TRANSITIONS.items()):
        if targets:
            allowed = ", ".join(f"'{t}'" for t in sorted(targets))
            whens.append(f"WHEN {current} = '{cur}' AND {new_col} IN ({allowed}) THEN true")
    return "(CASE " + " ".join(whens) + " ELSE false END)"


def _apply_report_set(
    conn: Any, batch_id: int, rows: list[ReportRow], now: datetime, *, wave: Any = ...
) -> tuple[int, list[dict[str, Any]]]:
    """PostgreSQL: rows naming distinct messages, applied as one set."""
    if wave is ...:
        wave = _batch_wave(conn, batch_id)
    conn.execute(_sql("DROP TABLE IF EXISTS lantoa_report_rows"))
    conn.execute(
        _sql(
            "CREATE TEMP TABLE lantoa_report_rows (line integer, message_id bigint, "
            "status varchar(24), reason varchar(500), at timestamptz) ON COMMIT DROP"
        )
    )
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cur,
        cur.copy("COPY lantoa_report_rows (line, message_id, status, reason, at) FROM STDIN") as cp,
    ):
        for row in rows:
            cp.write_row((row.line, row.message_id, row.status, row.reason, row.at))
    # every query names the wave: PostgreSQL reads only its partition
    b = {"b": batch_id, "d": wave, "now": now}
    errors = [
        _not_in_batch(line, mid)
        for line, mid in conn.execute(
            _sql(
                "SELECT r.line, r.message_id FROM lantoa_report_rows r WHERE NOT EXISTS "
                "(SELECT 1 FROM sms_message m WHERE m.id = r.message_id AND m.batch_id = :b "
                "AND m.delivery_id = :d)"
            ),
            b,
        )
    ]
    allowed = _allowed_sql("m.status", "r.status")
    for line, mid, status, new in conn.execute(
        _sql(
            "SELECT r.line, r.message_id, m.status, r.status FROM lantoa_report_rows r "
            "JOIN sms_message m ON m.id = r.message_id AND m.batch_id = :b AND m.delivery_id = :d "
            f"WHERE NOT {allowed}"
        ),
        b,
    ):
        errors.append(_cannot_move(line, mid, "sent" if status == "pending" else status, new))
    applied = conn.execute(
        _sql(
            "UPDATE sms_message m SET status = r.status, reason = r.reason, "
            "updated_at = COALESCE(r.at, :now) FROM lantoa_report_rows r "
            f"WHERE m.id = r.message_id AND m.batch_id = :b AND m.delivery_id = :d AND {allowed}"
        ),
        b,
    ).rowcount
    conn.execute(_sql("DROP TABLE lantoa_report_rows"))
    return applied, errors


def rebatch_not_our_subscriber(
    conn: Any, delivery_id: int, carrier: str = "other", *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Ported numbers reported as "not our subscriber" go back to pending under
    ``carrier`` and into new batches."""
    now = _now(now)
    conn.execute(
        _sql(
            "UPDATE sms_message SET status = 'pending', batch_id = NULL, carrier = :c, "
            "updated_at = :now WHERE delivery_id = :d AND status = 'not_our_subscriber'"
        ),
        {"c": carrier, "d": delivery_id, "now": now},
    )
    return create_partner_batches(conn, delivery_id, now=now)


def apply_dlr(
    conn: Any,
    message_id: int,
    dlr: int,
    *,
    now: datetime | None = None,
    reason: str | None = None,
    delivery_id: int | None = None,
) -> str | None:
    """Apply a Kannel DLR value (1/2/4/8/16) to a message; returns the new
    status, or None when the DLR is unknown or would move it backwards.
    With ``delivery_id`` (the wave, when the caller knows it) PostgreSQL reads
    only that wave's partition; without it each partition's primary key
    (``id`` first) is probed."""
    now = _now(now)
    new = DLR_TO_STATUS.get(int(dlr))
    if new is None:
        return None
    wave = " AND delivery_id = :d" if delivery_id is not None else ""
    current = conn.execute(
        _sql(f"SELECT status FROM sms_message WHERE id = :m{wave}"),
        {"m": message_id, "d": delivery_id},
    ).scalar_one_or_none()
    if current is None:
        return None
    if current == new:
        return new
    if not can_transition(SMS_TRANSITIONS, current, new):
        return None
    conn.execute(
        _sql(
            "UPDATE sms_message SET status = :s, reason = COALESCE(:r, reason), updated_at = :now "
            f"WHERE id = :m{wave}"
        ),
        {"s": new, "r": reason, "now": now, "m": message_id, "d": delivery_id},
    )
    return new


def wave_counts(conn: Any, delivery_id: int) -> dict[str, Any]:
    """Counts for the per-wave status page: by status and per carrier."""
    statuses = _STATUSES
    by_status = dict.fromkeys(statuses, 0)
    by_carrier: dict[str, dict[str, int]] = {}
    for carrier, status, n in conn.execute(
        _sql(
            "SELECT carrier, status, COUNT(*) FROM sms_message WHERE delivery_id = :d "
            "GROUP BY carrier, status"
        ),
        {"d": delivery_id},
    ):
        by_status[status] = by_status.get(status, 0) + n
        by_carrier.setdefault(carrier, dict.fromkeys(statuses, 0))[status] = n
    total = sum(by_status.values())
    done = total - by_status["pending"]
    return {
        "total": total,
        "by_status": by_status,
        "by_carrier": by_carrier,
        "progress": (done / total) if total else 1.0,
    }


def add_opt_outs(
    conn: Any,
    phones: Iterable[str],
    source: str,
    note: str | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, int]:
    """Add numbers (any spelling) to the opt-out list; already listed ones are
    kept with their first source. Returns {"added", "invalid", "already"}."""
    now = _now(now)
    if source not in ("reply", "import", "dnc", "manual"):
        raise ValueError("source must be reply, import, dnc or manual")
    added = invalid = already = 0
    stmt = _sql(
        "INSERT INTO opt_out (phone, source, note, created_at) VALUES (:p, :s, :n, :now) "
        "ON CONFLICT (phone) DO NOTHING"
    )
    for raw in phones:
        result = normalize_phone(raw)
        if result.e164 is None:
            invalid += 1
            continue
        if conn.execute(stmt, {"p": result.e164, "s": source, "n": note, "now": now}).rowcount:
            added += 1
        else:
            already += 1
    return {"added": added, "invalid": invalid, "already": already}


def record_reply(
    conn: Any,
    phone: str,
    text_: str,
    keywords: Iterable[str] | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """An MO reply from the gateway: a refusal adds the number to the opt-out
    list and suppresses its pending (not yet batched) messages at once; later
    waves and ``claim_pending`` honour the list. True if it was a refusal."""
    kw = tuple(keywords) if keywords is not None else None
    if not (is_refusal(text_, kw) if kw is not None else is_refusal(text_)):
        return False
    now = _now(now)
    result = normalize_phone(phone)
    if result.e164 is None:
        return False
    add_opt_outs(conn, [result.e164], "reply", note=text_[:200], now=now)
    conn.execute(
        _sql(
            "UPDATE sms_message SET status = 'suppressed', reason = 'opt_out:reply', "
            "updated_at = :now WHERE phone = :p AND status = 'pending' AND batch_id IS NULL"
        ),
        {"p": result.e164, "now": now},
    )
    return True


def claim_pending(
    conn: Any, delivery_id: int, limit: int = 500, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The next pending gateway records of a wave, for sending: numbers that
    opted out since the wave was expanded are marked suppressed on the way and
    not returned. Returns [{"id", "phone", "text", "segments", "attempts"}]."""
    now = _now(now)
    rows = conn.execute(
        _sql(
            f"SELECT m.id, m.phone, {MESSAGE_TEXT}, m.segments, m.attempts, o.source "
            f"FROM {MESSAGES} LEFT JOIN opt_out o ON o.phone = m.phone "
            "WHERE m.delivery_id = :d AND m.status = 'pending' AND m.batch_id IS NULL "
            "ORDER BY m.id LIMIT :n"
        ),
        {"d": delivery_id, "n": int(limit)},
    ).all()
    out = []
    for mid, phone, text_value, segments, attempts, opted in rows:
        if opted is not None:
            conn.execute(
                _sql(
                    "UPDATE sms_message SET status = 'suppressed', reason = :r, updated_at = :now "
                    "WHERE id = :m AND delivery_id = :d AND status = 'pending'"
                ),
                {"r": f"opt_out:{opted}", "now": now, "m": mid, "d": delivery_id},
            )
            continue
        out.append(
            {
                "id": mid,
                "phone": phone,
                "text": text_value,
                "segments": segments,
                "attempts": attempts,
            }
        )
    return out
