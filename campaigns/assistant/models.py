"""Knowledge-base entries and the questions citizens asked (with handoffs to units)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from core.models import utc_column


class KbEntry(SQLModel, table=True):
    __tablename__ = "assistant_entry"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True)
    questions: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    answer: str = Field(sa_column=Column(Text, nullable=False))
    answer_km: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    links: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    unit_code: str | None = Field(default=None, max_length=40)
    valid_from: date | None = None
    valid_to: date | None = None
    status: str = Field(default="draft", max_length=16)
    updated_at: datetime | None = utc_column()
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")


class AssistantQuestion(SQLModel, table=True):
    """One question asked on a channel; ``handoff`` ones wait in the unit's inbox."""

    __tablename__ = "assistant_question"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime | None = utc_column(index=True)
    channel: str = Field(default="web", max_length=16)
    #: the channel's user id (Zalo user_id, Messenger PSID); personal data, purged with the text
    sender: str | None = Field(default=None, max_length=120)
    #: the question with secrets and personal numbers masked
    question: str = Field(default="", sa_column=Column(Text, nullable=False))
    secret_masked: bool = False
    entry_id: int | None = Field(default=None, foreign_key="assistant_entry.id")
    confidence: float = 0.0
    handoff: bool = Field(default=False, index=True)
    unit_code: str | None = Field(default=None, max_length=40)
    #: answered (automatically) | open (waiting for a person) | replied | closed
    status: str = Field(default="answered", max_length=16)
    reply: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reply_error: str | None = Field(default=None, max_length=300)
    replied_by: int | None = Field(default=None, foreign_key="user_account.id")
    replied_at: datetime | None = utc_column()
    purge_after: date | None = None
