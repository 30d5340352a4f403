"""Identity: org units (a tree), users, API tokens and the audit log."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import JSON, Column, Index, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from core.timeutil import utcnow
from core.types import UTCDateTime


class UnitKind(enum.StrEnum):
    province = "province"
    department = "department"
    district = "district"
    #: commune level since the 2025 reorganisation: commune (xã), ward (phường),
    #: special zone (đặc khu); before it, wards and townships were kept as communes
    commune = "commune"
    ward = "ward"
    special_zone = "special_zone"
    press = "press"
    telecom = "telecom"


class Role(enum.StrEnum):
    admin = "admin"
    communicator = "communicator"
    reviewer = "reviewer"
    unit_officer = "unit_officer"
    telecom_partner = "telecom_partner"
    team_member = "team_member"
    contest_judge = "contest_judge"
    translator = "translator"


ROLE_LABELS = {
    Role.admin: lazy_gettext("Quản trị hệ thống"),
    Role.communicator: lazy_gettext("Cán bộ truyền thông"),
    Role.reviewer: lazy_gettext("Lãnh đạo duyệt nội dung"),
    Role.unit_officer: lazy_gettext("Cán bộ đơn vị (huyện/xã)"),
    Role.telecom_partner: lazy_gettext("Đối tác viễn thông"),
    Role.team_member: lazy_gettext("Thành viên tổ công nghệ số cộng đồng"),
    Role.contest_judge: lazy_gettext("Giám khảo cuộc thi"),
    Role.translator: lazy_gettext("Người dịch tiếng Khmer"),
}

UNIT_KIND_LABELS = {
    UnitKind.province: lazy_gettext("Tỉnh/Thành phố"),
    UnitKind.department: lazy_gettext("Sở, ban, ngành"),
    UnitKind.district: lazy_gettext("Huyện/Thị xã/Thành phố"),
    UnitKind.commune: lazy_gettext("Xã"),
    UnitKind.ward: lazy_gettext("Phường"),
    UnitKind.special_zone: lazy_gettext("Đặc khu"),
    UnitKind.press: lazy_gettext("Cơ quan báo chí"),
    UnitKind.telecom: lazy_gettext("Doanh nghiệp viễn thông"),
}


def utc_column(nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(64), unique=True, nullable=False, index=True))
    name: str = Field(max_length=200)
    kind: UnitKind = Field(sa_column=Column(String(16), nullable=False))
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    address: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)
    office_hours: str | None = Field(default=None, max_length=200)
    portal_url: str | None = Field(default=None, max_length=300)
    brand: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: names on administrative documents (Decree 30/2020); empty = derived, see
    #: core/unit_names.py: the official name ("Sở Khoa học và Công nghệ"), the symbol
    #: after "BC-" ("SKHCN", "UBND"), the agency above ("UBND TỈNH SÓC TRĂNG") and the
    #: place of the date line ("Sóc Trăng", "Lạc Hòa")
    official_name: str | None = Field(default=None, max_length=300)
    symbol: str | None = Field(default=None, max_length=40)
    superior_name: str | None = Field(default=None, max_length=300)
    place_name: str | None = Field(default=None, max_length=120)
    #: validity period: the unit exists from ``valid_from`` (None: always did) until the
    #: day before ``valid_to`` (None: still exists). A reorganisation ends units, never
    #: deletes them, so history stays attached to the unit it happened in.
    valid_from: date | None = None
    valid_to: date | None = Field(default=None, index=True)
    #: the plan's Khmer communication applies here (IV.2a/b): presets add Khmer items and
    #: kits carry Khmer print and a Khmer reading; ``khmer_share`` is the Khmer share of
    #: the population in percent, when known
    uses_khmer: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    khmer_share: int | None = Field(default=None, ge=0, le=100)

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day < self.valid_to)


#: The commune level of the two-tier local government (since 1/7/2025).
COMMUNE_LEVEL = (UnitKind.commune, UnitKind.ward, UnitKind.special_zone)


class UnitReorganisation(SQLModel, table=True):
    """One reorganisation operation (all or nothing), as an admin submitted it."""

    __tablename__ = "unit_reorganisation"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime | None = utc_column()
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    #: the earliest effective date of its rows
    effective_on: date
    #: users and channel accounts moved (done when the effective date has come)
    applied_at: datetime | None = utc_column()
    #: the submitted rows, as cleaned
    rows: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class UnitSuccession(SQLModel, table=True):
    """Old unit -> new unit from a date (a merger has several rows per new unit, a
    split several rows per old unit)."""

    __tablename__ = "unit_succession"
    __table_args__ = (UniqueConstraint("old_unit_id", "new_unit_id", name="uq_unit_succession"),)

    id: int | None = Field(default=None, primary_key=True)
    reorganisation_id: int = Field(foreign_key="unit_reorganisation.id", index=True)
    old_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    new_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    effective_on: date
    #: position of the row for this old unit (the first successor takes its users)
    position: int = 0


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), unique=True, nullable=False, index=True))
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=300)
    role: Role = Field(sa_column=Column(String(20), nullable=False))
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    active: bool = True
    locale: str = Field(default="vi", max_length=5)
    created_at: datetime | None = utc_column()
    #: part of every web session's id: logout, a password change and a role change
    #: increase it, so a session cookie copied before stops working (``revoke_sessions``)
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})

    def revoke_sessions(self) -> None:
        self.session_version = (self.session_version or 0) + 1

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version or 0}"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    prefix: str = Field(max_length=12)
    name: str = Field(default="", max_length=100)
    scopes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime | None = utc_column()
    last_used_at: datetime | None = utc_column()
    revoked: bool = False


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime | None = utc_column(nullable=False, index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    action: str = Field(max_length=64)
    object_type: str = Field(max_length=40)
    object_id: int | None = None
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def audit(session, user_id: int | None, action: str, obj_type: str, obj_id: int | None, **detail):
    """Add an audit row to the session (committed with the change it records)."""
    session.add(
        AuditLog(
            at=utcnow(),
            user_id=user_id,
            action=action,
            object_type=obj_type,
            object_id=obj_id,
            detail=detail,
        )
    )
