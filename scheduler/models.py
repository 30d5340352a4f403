"""What the send side reads at dispatch time.

The scheduler knows no campaigns: a Delivery carries a frozen snapshot of what
to send and the settings it needs (deadline, compliance flags). ``campaign_id``
is kept only to group and filter.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from core.models import utc_column
from scheduler.states import Status


class ChannelAccount(SQLModel, table=True):
    __tablename__ = "channel_account"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32, index=True)
    name: str = Field(max_length=200)
    config: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    secrets_encrypted: str | None = Field(default=None, sa_column=Column(Text))
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    #: active | needs_auth | disabled
    status: str = Field(default="active", max_length=16)
    health: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_checked_at: datetime | None = utc_column()
    #: token in callback URLs (Kannel DLR/MO) identifying this account
    hook_token: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    created_at: datetime | None = utc_column()


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_due", "status", "scheduled_at"),
        # the dispatcher's claim: claimable rows in due order (partial: only waiting rows)
        Index(
            "ix_delivery_claimable", "next_attempt_at",
            postgresql_where=text("status IN ('scheduled', 'retry_wait')"),
            sqlite_where=text("status IN ('scheduled', 'retry_wait')"),
        ),
        Index("ix_delivery_campaign_status", "campaign_id", "status"),
        # the measure dashboard's first event per (account, unit) in a year, found by index
        # probes (campaigns/measure/compute.py, _first_events_pg); PostgreSQL only (SQLite
        # scans the year instead, and would only pay for the upkeep)
        Index(
            "ix_delivery_first_sent", "channel_account_id", text("coalesce(unit_id, 0)"),
            text("coalesce(sent_at, updated_at)"), postgresql_where=text("status = 'sent'"),
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_delivery_first_confirmed", "channel_account_id", text("coalesce(unit_id, 0)"),
            "confirmed_at", postgresql_where=text("confirmed_at IS NOT NULL"),
        ).ddl_if(dialect="postgresql"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    channel_account_id: int = Field(foreign_key="channel_account.id", index=True)
    content_item_id: int | None = Field(default=None, foreign_key="content_item.id")
    recurrence_id: int | None = Field(default=None, foreign_key="recurring_schedule.id")
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    #: frozen snapshot: text, title, media_asset_ids, media (files), recipient_list_id, options
    content: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: Status = Field(default=Status.scheduled, sa_column=Column(String(16), nullable=False))
    held: bool = True
    scheduled_at: datetime | None = utc_column(nullable=False)
    not_after: datetime | None = utc_column()
    #: when the dispatcher may next claim it: scheduled_at at first, then the
    #: backoff / deferral time (set by create_delivery; filled in if missing)
    next_attempt_at: datetime | None = utc_column()
    idempotency_key: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    attempts: int = 0
    max_attempts: int | None = None
    leased_by: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = utc_column()
    external_id: str | None = Field(default=None, max_length=200)
    last_outcome: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    #: compliance flags copied from the campaign at release (sms class, window...)
    compliance: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()
    updated_at: datetime | None = utc_column()
    sent_at: datetime | None = utc_column()
    #: loudspeaker broadcasts: confirmed by the commune officer
    confirmed_at: datetime | None = utc_column()
    confirmed_by: int | None = Field(default=None, foreign_key="user_account.id")


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempt"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    delivery_id: int = Field(foreign_key="delivery.id", index=True)
    number: int
    worker: str | None = Field(default=None, max_length=80)
    started_at: datetime | None = utc_column()
    ended_at: datetime | None = utc_column()
    outcome: str | None = Field(default=None, max_length=20)
    provider_code: str | None = Field(default=None, max_length=40)
    http_status: int | None = None
    retry_after: float | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    external_id: str | None = Field(default=None, max_length=200)


class RecurringSchedule(SQLModel, table=True):
    """A rule that expands into deliveries (e.g. broadcasts Mon/Wed/Fri 06:00)."""

    __tablename__ = "recurring_schedule"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    channel_account_id: int = Field(foreign_key="channel_account.id")
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    content: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: ISO weekdays 1..7 and local times "HH:MM"
    weekdays: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    times: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    starts_on: str = Field(max_length=10)  # YYYY-MM-DD, local
    ends_on: str = Field(max_length=10)
    held: bool = True
    expanded_until: datetime | None = utc_column()
    created_at: datetime | None = utc_column()


class BackgroundJob(SQLModel, table=True):
    """Work registered by name with the scheduler (kit builds, renders)."""

    __tablename__ = "background_job"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_job_dedupe"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: pending | running | done | failed
    status: str = Field(default="pending", max_length=10, index=True)
    progress: float = 0.0
    result: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))
    dedupe_key: str | None = Field(default=None, max_length=128)
    leased_by: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = utc_column()
    #: times a worker took it; a job whose worker dies this often is failed
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_by: int | None = None
    created_at: datetime | None = utc_column()
    started_at: datetime | None = utc_column()
    finished_at: datetime | None = utc_column()
