"""Planning domain: campaigns, their scope, content items, assets and kits."""

from __future__ import annotations

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext
from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import utc_column


class CampaignStatus(enum.StrEnum):
    draft = "draft"
    in_review = "in_review"
    approved = "approved"
    active = "active"
    paused = "paused"
    completed = "completed"
    archived = "archived"


C = CampaignStatus

#: from -> {to: roles allowed (besides admin)}
CAMPAIGN_TRANSITIONS: dict[CampaignStatus, dict[CampaignStatus, set[str]]] = {
    C.draft: {C.in_review: {"communicator"}},
    C.in_review: {C.approved: {"reviewer"}, C.draft: {"reviewer", "communicator"}},
    C.approved: {C.active: {"communicator", "reviewer"}, C.paused: {"communicator", "reviewer"}},
    C.active: {C.paused: {"communicator", "reviewer"}, C.completed: {"communicator", "reviewer"}},
    C.paused: {C.active: {"communicator", "reviewer"}, C.completed: {"communicator", "reviewer"}},
    C.completed: {C.archived: {"communicator", "reviewer"}},
    C.archived: {},
}

#: Statuses in which deliveries may go out (the approval gate).
RELEASED = frozenset({C.approved, C.active})

CAMPAIGN_STATUS_LABELS = {
    C.draft: "Bản nháp",
    C.in_review: "Chờ duyệt",
    C.approved: "Đã duyệt",
    C.active: "Đang triển khai",
    C.paused: "Tạm dừng",
    C.completed: "Hoàn thành",
    C.archived: "Lưu trữ",
}


class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    starts_on: date
    ends_on: date
    status: CampaignStatus = Field(
        default=CampaignStatus.draft, sa_column=Column(String(16), nullable=False, index=True)
    )
    preset: str | None = Field(default=None, max_length=64)
    owner_unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    #: link that tracked QR codes redirect to
    target_url: str = Field(default="https://dichvucong.gov.vn", max_length=500)
    #: hours after scheduled_at a delivery may still go out
    grace_hours: int = 6
    #: public_service | advertising (SMS.md, DESIGN.md "SMS defaults")
    sms_class: str = Field(default="public_service", max_length=20)
    review_comment: str | None = Field(default=None, sa_column=Column(Text))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()
    updated_at: datetime | None = utc_column()


class CampaignUnit(SQLModel, table=True):
    """The campaign's scope: the units it covers (kits are built for each)."""

    __tablename__ = "campaign_unit"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", primary_key=True, index=True)


CHANNEL_KINDS = ("facebook", "zalo", "sms", "loudspeaker", "print", "video", "webhook", "portal")
CHANNEL_LABELS = {
    "facebook": "Facebook",
    "zalo": "Zalo OA",
    "sms": "SMS",
    "loudspeaker": lazy_gettext("Loa truyền thanh"),
    "print": lazy_gettext("Ấn phẩm in"),
    "video": "Video",
    "webhook": "Webhook",
    "portal": lazy_gettext("Cổng thông tin"),
}


class ContentItem(SQLModel, table=True):
    """Content written once (Jinja2 text) and planned for one channel and date."""

    __tablename__ = "content_item"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    language: str = Field(default="vi", max_length=2)
    channel: str = Field(max_length=16)
    planned_at: datetime | None = utc_column(index=True)
    #: per-channel text variants, e.g. {"sms": "...", "sms_ascii": "..."}
    variants: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: unit responsible (plan section VI)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    phase: str | None = Field(default=None, max_length=40)
    template: str | None = Field(default=None, max_length=64)
    created_at: datetime | None = utc_column()
    updated_at: datetime | None = utc_column()


class Asset(SQLModel, table=True):
    """A rendered or uploaded file, content-addressed by sha256."""

    __tablename__ = "asset"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # image | pdf | video | audio | document
    path: str = Field(max_length=500)
    filename: str = Field(max_length=200)
    mime: str = Field(max_length=100)
    sha256: str = Field(max_length=64, index=True)
    size: int
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    template: str | None = Field(default=None, max_length=64)
    cache_key: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    public_token: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str = Field(default="", max_length=200)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()


class Kit(SQLModel, table=True):
    """A unit's print + radio kit for one campaign."""

    __tablename__ = "kit"
    __table_args__ = (UniqueConstraint("campaign_id", "unit_id", name="uq_kit_campaign_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    status: str = Field(default="pending", max_length=16)  # pending | building | ready | failed
    path: str | None = Field(default=None, max_length=500)
    sha256: str | None = Field(default=None, max_length=64)
    size: int | None = None
    contents: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    warnings: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    version: int = 0
    built_at: datetime | None = utc_column()


class KitDownload(SQLModel, table=True):
    __tablename__ = "kit_download"

    id: int | None = Field(default=None, primary_key=True)
    kit_id: int = Field(foreign_key="kit.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    at: datetime | None = utc_column()


class LinkScan(SQLModel, table=True):
    """A scan of a tracked link /r/<campaign_id>/<unit_code> (no personal data)."""

    __tablename__ = "link_scan"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    at: datetime | None = utc_column()
