"""SMS data model (SQLModel tables). Import this module so the tables join
``SQLModel.metadata`` (for ``create_all`` and Alembic autogenerate).

``sms_message.delivery_id`` and ``sms_batch.delivery_id`` reference the
``delivery`` table by name (scheduler.models.Delivery).
"""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import PrimaryKeyConstraint
from sqlmodel import Field, SQLModel

#: A 64-bit id that still autoincrements on SQLite (INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer, "sqlite")
JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


class ListStatus(enum.StrEnum):
    IMPORTING = "importing"
    READY = "ready"
    FAILED = "failed"


class OptOutSource(enum.StrEnum):
    REPLY = "reply"  # a refusal keyword came back through the gateway
    IMPORT = "import"  # an operator imported a refusal list
    DNC = "dnc"  # the national Do-Not-Call list
    MANUAL = "manual"


class SmsStatus(enum.StrEnum):
    PENDING = "pending"
    SUPPRESSED = "suppressed"  # opt-out, DNC, 24 h cap: never sent
    SENT = "sent"  # accepted by the gateway / handed to the partner
    DELIVERED = "delivered"
    FAILED = "failed"
    NOT_OUR_SUBSCRIBER = "not_our_subscriber"  # partner report: ported number, re-batch


#: States a per-recipient record may move to from each state (DLRs may arrive
#: out of order: a late "sent" never downgrades "delivered").
SMS_TRANSITIONS: dict[str, frozenset[str]] = {
    SmsStatus.PENDING: frozenset(
        {"sent", "suppressed", "failed", "delivered", "not_our_subscriber"}
    ),
    SmsStatus.SENT: frozenset({"delivered", "failed", "not_our_subscriber"}),
    SmsStatus.FAILED: frozenset({"pending", "delivered"}),
    SmsStatus.NOT_OUR_SUBSCRIBER: frozenset({"pending"}),
    SmsStatus.DELIVERED: frozenset(),
    SmsStatus.SUPPRESSED: frozenset(),
}


class BatchStatus(enum.StrEnum):
    READY = "ready"
    DOWNLOADED = "downloaded"
    ACKNOWLEDGED = "acknowledged"
    REPORTED = "reported"


BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    BatchStatus.READY: frozenset({"downloaded", "acknowledged"}),
    BatchStatus.DOWNLOADED: frozenset({"acknowledged", "reported"}),
    BatchStatus.ACKNOWLEDGED: frozenset({"reported"}),
    BatchStatus.REPORTED: frozenset({"reported"}),
}


def can_transition(table: dict[str, frozenset[str]], current: str, new: str) -> bool:
    return current == new or new in table.get(current, frozenset())


class RecipientList(SQLModel, table=True):
    __tablename__ = "recipient_list"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    unit_code: str | None = Field(default=None, sa_column=Column(String(64), index=True))
    #: where consent came from (required for advertising waves, Decree 91)
    consent_source: str | None = Field(default=None, sa_column=Column(String(500)))
    created_at: datetime = _ts()
    created_by: int | None = None
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    converted: int = 0
    by_carrier: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JsonType, nullable=False)
    )
    errors_preview: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JsonType, nullable=False)
    )
    status: str = Field(default=ListStatus.IMPORTING, sa_column=Column(String(20), nullable=False))


class Recipient(SQLModel, table=True):
    __tablename__ = "recipient"
    # Only "all of list N" is ever asked, so the one index is on list_id. A
    # list holds each number once: the importer drops duplicates as it reads
    # (tests/test_sms_importer.py), and a wave's records are unique per number
    # (uq_sms_message_delivery_phone). A unique (list_id, phone) index here
    # took random insertions that cost ~4 s per million rows on COPY.
    __table_args__ = (Index("ix_recipient_list_id", "list_id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    # No FOREIGN KEY: a list's recipients are bulk-loaded (COPY) only by
    # copy_recipients() in the transaction that creates the list, and lists are
    # never deleted; the per-row check cost ~5 s per million rows.
    list_id: int = Field(sa_column=Column(Integer, nullable=False))
    line: int
    phone: str = Field(sa_column=Column(String(16), nullable=False))  # E.164
    carrier: str = Field(sa_column=Column(String(20), nullable=False))
    name: str | None = Field(default=None, sa_column=Column(String(1000)))
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JsonType, nullable=False))


class OptOut(SQLModel, table=True):
    __tablename__ = "opt_out"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    source: str = Field(default=OptOutSource.MANUAL, sa_column=Column(String(10), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(String(500)))
    created_at: datetime = _ts()


class SmsBatch(SQLModel, table=True):
    __tablename__ = "sms_batch"
    __table_args__ = (Index("ix_sms_batch_carrier_status", "carrier", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(
        sa_column=Column(Integer, ForeignKey("delivery.id"), nullable=False, index=True)
    )
    #: telecom unit code: viettel, vinaphone, mobifone, vietnamobile, gmobile, other
    carrier: str = Field(sa_column=Column(String(20), nullable=False))
    status: str = Field(default=BatchStatus.READY, sa_column=Column(String(20), nullable=False))
    message_count: int = 0
    created_at: datetime = _ts()
    downloaded_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    acknowledged_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )
    reported_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    file_sha256: str | None = Field(default=None, sa_column=Column(String(64)))


class SmsWave(SQLModel, table=True):
    """A wave's common text, stored once: its records carry ``text = NULL``
    unless the text was rendered per recipient (read ``COALESCE(m.text, w.text)``)."""

    __tablename__ = "sms_wave"

    # the delivery's id; no FOREIGN KEY, like sms_message.delivery_id
    delivery_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    text: str
    segments: int = 1
    encoding: str = Field(default="GSM-7", sa_column=Column(String(8), nullable=False))
    created_at: datetime = _ts()


#: PostgreSQL: ``sms_message`` is LIST-partitioned by wave (``delivery_id``),
#: one partition per wave made when the wave is expanded (``waves.py``), plus
#: a default partition for records of a wave that has none. SQLite keeps an
#: ordinary table. PostgreSQL requires the partition key in every unique
#: constraint, so there the primary key is ``(id, delivery_id)`` (ids still
#: come from the one sequence: ``id`` alone stays unique and index-backed in
#: every partition).
SMS_MESSAGE_PARTITION_KEY = "delivery_id"
#: partitions: ``sms_message_w<delivery_id>`` and ``sms_message_default``
SMS_MESSAGE_PARTITION_RE = re.compile(r"^sms_message_(w\d+|default)$")


def sms_message_partition(delivery_id: int) -> str:
    """The name of a wave's partition (PostgreSQL)."""
    return f"sms_message_w{int(delivery_id)}"


class SmsMessage(SQLModel, table=True):
    """One durable record per recipient per wave: a crash resumes from these."""

    __tablename__ = "sms_message"
    __table_args__ = (
        UniqueConstraint("delivery_id", "phone", name="uq_sms_message_delivery_phone"),
        # What a gateway wave still has to send, in id order (the sender's
        # cursor, the in-flight sweep, late opt-outs). Partner records are
        # batched, so they never enter it; wave counts read the unique index.
        Index(
            "ix_sms_message_pending_unbatched",
            "delivery_id",
            "id",
            postgresql_where=sql_text("status = 'pending' AND batch_id IS NULL"),
            sqlite_where=sql_text("status = 'pending' AND batch_id IS NULL"),
        ),
        # The rolling 24 h cap counts each number's recent sent/delivered
        # records over all waves: without this it read the whole table at
        # every expansion. New records are pending, so expansion skips it.
        Index(
            "ix_sms_message_recent_sent",
            "updated_at",
            "phone",
            postgresql_where=sql_text("status IN ('sent', 'delivered')"),
            sqlite_where=sql_text("status IN ('sent', 'delivered')"),
        ),
        # A refusal reply suppresses the number's pending, unbatched records
        # (record_reply): only those rows need a phone index. A partial index
        # costs nothing for partner waves (their pending records are batched)
        # where a full (phone, updated_at) index cost ~5 s per million records.
        Index(
            "ix_sms_message_phone_pending",
            "phone",
            postgresql_where=sql_text("status = 'pending' AND batch_id IS NULL"),
            sqlite_where=sql_text("status = 'pending' AND batch_id IS NULL"),
        ),
        {
            "postgresql_partition_by": f"LIST ({SMS_MESSAGE_PARTITION_KEY})",
            "info": {"pg_primary_key_extra": (SMS_MESSAGE_PARTITION_KEY,)},
        },
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    # No FOREIGN KEY: records are written only by expand_wave() from the
    # delivery row it holds (leased), and deliveries are never deleted; the
    # per-row check cost ~3.5 s per million rows. sms_batch keeps its key.
    delivery_id: int = Field(sa_column=Column(Integer, nullable=False))
    recipient_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    phone: str = Field(sa_column=Column(String(16), nullable=False))
    carrier: str = Field(sa_column=Column(String(20), nullable=False))
    #: NULL: the wave's common text (sms_wave.text); set when rendered per recipient
    text: str | None = None
    segments: int = 1
    encoding: str = Field(default="GSM-7", sa_column=Column(String(8), nullable=False))
    status: str = Field(default=SmsStatus.PENDING, sa_column=Column(String(24), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(500)))
    external_id: str | None = Field(default=None, sa_column=Column(String(100)))
    #: sms_batch.id. No foreign key: batches are created and filled by
    #: waves.py in the same transaction, never deleted while they hold records,
    #: and a per-row FK check cost ~3.5 s per million records at expansion.
    batch_id: int | None = Field(default=None, sa_column=Column(Integer, index=True))
    attempts: int = 0
    updated_at: datetime = _ts()


@compiles(PrimaryKeyConstraint, "postgresql")
def _pg_primary_key(constraint: Any, compiler: Any, **kw: Any) -> str:
    """PostgreSQL DDL of a primary key: a partitioned table's (``sms_message``)
    also names its partition key, which PostgreSQL requires; every other
    table's is the default."""
    table = getattr(constraint, "table", None)
    extra = table.info.get("pg_primary_key_extra") if table is not None else None
    if not extra:
        return compiler.visit_primary_key_constraint(constraint, **kw)
    names = [c.name for c in constraint.columns]
    names += [n for n in extra if n not in names]
    text_ = ""
    if constraint.name is not None:
        text_ += f"CONSTRAINT {compiler.preparer.format_constraint(constraint)} "
    return text_ + "PRIMARY KEY (" + ", ".join(compiler.preparer.quote(n) for n in names) + ")"


def alembic_include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                           compare_to: Any) -> bool:
    """Alembic's ``include_object``: the wave partitions of ``sms_message``
    (PostgreSQL) are made at run time, not by the models; the comparison skips
    them (and their indexes) and still compares the partitioned table itself."""
    if type_ == "table" and reflected and compare_to is None and name:
        return not SMS_MESSAGE_PARTITION_RE.match(name)
    if type_ == "index" and reflected and compare_to is None:
        table = getattr(getattr(obj, "table", None), "name", "") or ""
        return not SMS_MESSAGE_PARTITION_RE.match(table)
    return True


#: PostgreSQL: records of a wave without its own partition (written outside
#: ``expand_wave``, e.g. one contest notification) land here.
SMS_MESSAGE_DEFAULT_PARTITION = (
    "CREATE TABLE IF NOT EXISTS sms_message_default PARTITION OF sms_message DEFAULT"
)
event.listen(
    SmsMessage.__table__,  # type: ignore[attr-defined]
    "after_create",
    DDL(SMS_MESSAGE_DEFAULT_PARTITION).execute_if(dialect="postgresql"),
)


SMS_TABLES = ("recipient_list", "recipient", "opt_out", "sms_batch", "sms_wave", "sms_message")


def sms_metadata(delivery_stub: bool = False) -> Any:
    """A fresh MetaData holding copies of the SMS tables, plus a minimal
    ``delivery`` table when ``delivery_stub`` (for benchmarks and tests that run
    without the scheduler's models). ``SQLModel.metadata`` is left untouched."""
    from sqlalchemy import MetaData, Table

    md = MetaData()
    if delivery_stub:
        Table("delivery", md, Column("id", Integer, primary_key=True))
    for name in SMS_TABLES:
        copy = SQLModel.metadata.tables[name].to_metadata(md)
        if name == "sms_message":  # to_metadata() does not copy DDL listeners
            event.listen(
                copy,
                "after_create",
                DDL(SMS_MESSAGE_DEFAULT_PARTITION).execute_if(dialect="postgresql"),
            )
    return md
