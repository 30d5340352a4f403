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
