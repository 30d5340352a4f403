"""Kit build history: one row per built version of a unit's kit.

``campaigns.models.Kit`` holds the current version (path, sha256, contents,
warnings); ``KitVersion`` keeps every version built, with the digest of the
inputs it was built from, so a rebuild happens only when content changed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import utc_column


class KitVersion(SQLModel, table=True):
    __tablename__ = "kit_version"
    __table_args__ = (UniqueConstraint("kit_id", "version", name="uq_kit_version"),)

    id: int | None = Field(default=None, primary_key=True)
    kit_id: int = Field(foreign_key="kit.id", index=True)
    version: int
    #: sha256 of everything the kit was built from (content, unit, templates)
    input_digest: str = Field(max_length=64, index=True)
    path: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    size: int
    contents: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    warnings: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    seconds: float = 0.0
    built_at: datetime | None = utc_column()


class KhmerReading(SQLModel, table=True):
    """A person's reading of a loudspeaker script in Khmer, for one unit's kit.

    No offline Khmer voice exists, so the commune's announcer records the Khmer
    part (in the browser or as an uploaded file). The server keeps the normalised
    audio; the newest reading of a (campaign, unit, item) is the one the kit uses.
    """

    __tablename__ = "khmer_reading"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    #: the loudspeaker content item read (None: the campaign's whole Khmer script)
    item_id: int | None = Field(default=None, foreign_key="content_item.id", index=True)
    path: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    size: int = 0
    duration_s: float = 0.0
    #: integrated loudness and true peak measured after normalising
    lufs: float | None = None
    true_peak: float | None = None
    #: "recorded" (in the browser) or "uploaded"
    source: str = Field(default="uploaded", max_length=16)
    original_name: str = Field(default="", max_length=255)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime | None = utc_column()
