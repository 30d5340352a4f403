"""Programme slots of the press and broadcasters' editorial calendar."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext
from sqlalchemy import JSON, Column, String, Text
from sqlmodel import Field, SQLModel

from core.models import utc_column

#: slot kinds: a TV talk show, a radio segment, a newspaper column
SLOT_KINDS = ("tv", "radio", "newspaper")
SLOT_KIND_LABELS = {
    "tv": lazy_gettext("Chương trình truyền hình"),
    "radio": lazy_gettext("Chuyên mục phát thanh"),
    "newspaper": lazy_gettext("Chuyên mục báo in/điện tử"),
}


class ProgrammeSlot(SQLModel, table=True):
    """One air or print date of a programme, assigned to a press unit and a
    campaign. Weekly recurrence makes one row per date sharing ``series``."""

    __tablename__ = "press_programme_slot"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    kind: str = Field(max_length=12)  # tv | radio | newspaper
    title: str = Field(max_length=200)
    brief: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    #: media library asset ids (the material)
    asset_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    air_on: date = Field(index=True)
    air_time: str | None = Field(default=None, max_length=5)  # HH:MM local
    #: weekly series this slot belongs to (a random token), None for a single slot
    series: str | None = Field(default=None, sa_column=Column(String(32), index=True))
    status: str = Field(default="planned", max_length=12)  # planned | confirmed
    evidence_url: str | None = Field(default=None, max_length=500)
    attachment_path: str | None = Field(default=None, max_length=500)
    attachment_name: str | None = Field(default=None, max_length=200)
    attachment_mime: str | None = Field(default=None, max_length=100)
    confirmed_by: int | None = Field(default=None, foreign_key="user_account.id")
    confirmed_at: datetime | None = utc_column()
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()
