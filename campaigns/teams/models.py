"""Community digital-technology teams (Tổ công nghệ số cộng đồng), their members
and the household visits recorded on the phone app.

A visit holds the least personal data the work needs (Decree 13/2023): a household
*label* chosen by the member (e.g. "nhà số 12, tổ 3"), never a citizen's name,
ID number or phone; the people helped are counted by what was done for each.
``household_label``, the refusal reasons and the receipt photo are purged after
``LANTOA_TEAMS_RETENTION_DAYS``; the counts stay for the plan's figures.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext
from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from core.models import utc_column

#: what a member did for one person (the form's checkboxes), in the plan's order
ACTIONS = ("vneid_installed", "level2_activated", "portal_account", "dossier_online", "online_payment")
ACTION_LABELS = {
    "vneid_installed": lazy_gettext("Cài VNeID"),
    "level2_activated": lazy_gettext("Kích hoạt định danh mức 2"),
    "portal_account": lazy_gettext("Tạo tài khoản Cổng DVC"),
    "dossier_online": lazy_gettext("Nộp hồ sơ trực tuyến"),
    "online_payment": lazy_gettext("Thanh toán trực tuyến"),
    "refused": lazy_gettext("Chưa làm được/từ chối"),
}
MEMBER_ROLES = {"leader": lazy_gettext("Tổ trưởng"), "member": lazy_gettext("Thành viên")}


class Team(SQLModel, table=True):
    __tablename__ = "team"

    id: int | None = Field(default=None, primary_key=True)
    #: the commune (xã/phường/đặc khu) the team works in
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    name: str = Field(max_length=120)
    #: hamlets (ấp/khóm) the team covers, as written locally
    hamlets: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime | None = utc_column()


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_member"

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    #: the sign-in account (role team_member); one team per account
    user_id: int | None = Field(default=None, foreign_key="user_account.id", unique=True)
    name: str = Field(max_length=120)
    phone: str = Field(default="", max_length=20)
    role: str = Field(default="member", max_length=10)  # leader | member


class TeamVisit(SQLModel, table=True):
    __tablename__ = "team_visit"

    id: int | None = Field(default=None, primary_key=True)
    #: UUID made on the phone: a retried sync never makes a second visit
    client_id: str = Field(sa_column=Column(String(36), unique=True, nullable=False))
    team_id: int = Field(foreign_key="team.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    hamlet: str = Field(max_length=80)
    #: purged (None) after the retention period
    household_label: str | None = Field(default=None, max_length=80)
    #: [{"actions": ["vneid_installed", ...], "reason": "..."}] - no names
    people: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    receipt_path: str | None = Field(default=None, max_length=500)
    follow_up_on: date | None = None
    visited_at: datetime | None = utc_column(index=True)
    received_at: datetime | None = utc_column()
    #: another visit of the same household label and hamlet within a day, with other data
    conflict_with: int | None = Field(default=None)
    purged_at: datetime | None = utc_column()
