"""sms_message partitioned by wave on PostgreSQL

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 06:40:00

PostgreSQL cannot turn an existing table into a partitioned one: the records
move to a new table ``sms_message`` PARTITION BY LIST (delivery_id), one
partition per wave that has records (``sms_message_w<id>``) plus a default
partition, with the same columns, indexes and unique constraint; the primary
key becomes ``(id, delivery_id)`` (PostgreSQL requires the partition key in
it) and the id sequence carries on. No foreign key points at ``sms_message``.
SQLite keeps its ordinary table: nothing to do there.
"""
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_INDEXES = (
    "CREATE INDEX ix_sms_message_batch_id ON sms_message (batch_id)",
    "CREATE INDEX ix_sms_message_pending_unbatched ON sms_message (delivery_id, id) "
    "WHERE status = 'pending' AND batch_id IS NULL",
    "CREATE INDEX ix_sms_message_recent_sent ON sms_message (updated_at, phone) "
    "WHERE status IN ('sent', 'delivered')",
    "CREATE INDEX ix_sms_message_phone_pending ON sms_message (phone) "
    "WHERE status = 'pending' AND batch_id IS NULL",
)
_COLUMNS = """
    id BIGINT NOT NULL DEFAULT nextval('sms_message_id_seq'),
    delivery_id INTEGER NOT NULL,
    recipient_id BIGINT,
    phone VARCHAR(16) NOT NULL,
    carrier VARCHAR(20) NOT NULL,
    text VARCHAR,
    segments INTEGER NOT NULL,
    encoding VARCHAR(8) NOT NULL,
    status VARCHAR(24) NOT NULL,
    reason VARCHAR(500),
    external_id VARCHAR(100),
    batch_id INTEGER,
    attempts INTEGER NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL"""
_COPY = (
    "INSERT INTO sms_message (id, delivery_id, recipient_id, phone, carrier, text, segments, "
    "encoding, status, reason, external_id, batch_id, attempts, updated_at) "
    "SELECT id, delivery_id, recipient_id, phone, carrier, text, segments, encoding, status, "
    "reason, external_id, batch_id, attempts, updated_at FROM sms_message_old"
)


def _set_aside() -> None:
    """Rename the current table and its index/constraint names out of the way."""
    op.execute("ALTER TABLE sms_message RENAME TO sms_message_old")
    op.execute("ALTER TABLE sms_message_old RENAME CONSTRAINT sms_message_pkey TO sms_message_old_pkey")
    op.execute(
        "ALTER TABLE sms_message_old RENAME CONSTRAINT uq_sms_message_delivery_phone "
        "TO uq_sms_message_old_delivery_phone"
    )
    for name in ("ix_sms_message_batch_id", "ix_sms_message_pending_unbatched",
                 "ix_sms_message_recent_sent", "ix_sms_message_phone_pending"):
        op.execute(f"ALTER INDEX IF EXISTS {name} RENAME TO {name.replace('sms_message', 'sms_message_old')}")
    op.execute("ALTER SEQUENCE sms_message_id_seq OWNED BY NONE")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside()
    op.execute(
        f"CREATE TABLE sms_message ({_COLUMNS},\n"
        "    CONSTRAINT sms_message_pkey PRIMARY KEY (id, delivery_id),\n"
        "    CONSTRAINT uq_sms_message_delivery_phone UNIQUE (delivery_id, phone)\n"
        ") PARTITION BY LIST (delivery_id)"
    )
    op.execute("ALTER SEQUENCE sms_message_id_seq OWNED BY sms_message.id")
    for ddl in _INDEXES:
        op.execute(ddl)
    op.execute("CREATE TABLE sms_message_default PARTITION OF sms_message DEFAULT")
    # one partition per wave that already has records, then the records
    op.execute(
        """
        DO $$
        DECLARE d integer;
        BEGIN
            FOR d IN SELECT DISTINCT delivery_id FROM sms_message_old ORDER BY 1 LOOP
                EXECUTE format(
                    'CREATE TABLE sms_message_w%s PARTITION OF sms_message FOR VALUES IN (%s)', d, d);
            END LOOP;
        END $$
        """
    )
    op.execute(_COPY)
    op.execute("DROP TABLE sms_message_old")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside()
    op.execute(
        f"CREATE TABLE sms_message ({_COLUMNS},\n"
        "    CONSTRAINT sms_message_pkey PRIMARY KEY (id),\n"
        "    CONSTRAINT uq_sms_message_delivery_phone UNIQUE (delivery_id, phone)\n"
        ")"
    )
    op.execute("ALTER SEQUENCE sms_message_id_seq OWNED BY sms_message.id")
    for ddl in _INDEXES:
        op.execute(ddl)
    op.execute(_COPY)
    op.execute("DROP TABLE sms_message_old")  # drops its partitions with it
