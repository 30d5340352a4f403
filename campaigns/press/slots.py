"""Programme slots: plan them (weekly series), and the newsroom confirms
"đã phát/đã đăng" with evidence (a link or a file, checked like the measure
part's evidence uploads). Confirmed slots count for the press target (T06,
``campaigns.measure.compute.PRESS_SLOT_TARGETS``)."""

from __future__ import annotations

import secrets
import unicodedata
from datetime import date, timedelta
from typing import IO

from sqlmodel import Session, select

from campaigns.measure.entries import EntryError, _check_url, _store_file
from campaigns.models import Asset, Campaign
from campaigns.press.models import SLOT_KINDS, ProgrammeSlot
from core.models import OrgUnit, Role, UnitKind, User
from core.timeutil import parse_local_date, utcnow
from core.validate import db_int

MAX_WEEKS = 52


def press_units(session: Session) -> list[OrgUnit]:
    """Newspapers and broadcasters (units of kind press)."""
    return list(session.exec(select(OrgUnit).where(OrgUnit.kind == UnitKind.press).order_by(OrgUnit.name)))


def create_slots(session: Session, user: User, data: dict) -> list[ProgrammeSlot]:
    """One slot, or ``weeks`` weekly slots sharing a series. Raises EntryError."""
    errors: dict[str, str] = {}
    unit = None
    try:
        unit = session.get(OrgUnit, db_int(data.get("unit_id") or 0))
    except (TypeError, ValueError):
        pass
    if unit is None or unit.kind != UnitKind.press:
        errors["unit_id"] = "Chọn cơ quan báo chí, phát thanh – truyền hình."
    campaign = None
    try:
        campaign = session.get(Campaign, db_int(data.get("campaign_id") or 0))
    except (TypeError, ValueError):
        pass
    if campaign is None:
        errors["campaign_id"] = "Chọn chiến dịch."
    kind = str(data.get("kind") or "")
    if kind not in SLOT_KINDS:
        errors["kind"] = "Chọn loại: truyền hình, phát thanh hoặc báo."
    title = unicodedata.normalize("NFC", str(data.get("title") or "")).strip()
    if not title or len(title) > 200:
        errors["title"] = "Nhập tên chương trình, chuyên mục (tối đa 200 ký tự)."
    brief = unicodedata.normalize("NFC", str(data.get("brief") or "")).strip()[:5000]
    day: date | None = None
    try:
        day = parse_local_date(str(data.get("air_on") or ""))
    except ValueError:
        errors["air_on"] = "Ngày phát/đăng phải có dạng dd/mm/yyyy."
    air_time = str(data.get("air_time") or "").strip() or None
    if air_time is not None:
        parts = air_time.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 23 or int(parts[1]) > 59:
            errors["air_time"] = "Giờ phát phải có dạng HH:MM."
        else:
            air_time = f"{int(parts[0]):02d}:{int(parts[1]):02d}"
    try:
        weeks = int(data.get("weeks") or 1)
        if not 1 <= weeks <= MAX_WEEKS:
            raise ValueError
    except (TypeError, ValueError):
        weeks = 1
        errors["weeks"] = f"Số tuần lặp lại từ 1 đến {MAX_WEEKS}."
    raw_assets = data.get("asset_ids") or []
    if isinstance(raw_assets, str):
        raw_assets = [a for a in raw_assets.replace(" ", "").split(",") if a]
    asset_ids: list[int] = []
    for a in raw_assets:
        try:
            aid = int(a)
        except (TypeError, ValueError):
            aid = 0
        if not 0 < aid < 2**31 or session.get(Asset, aid) is None:
            errors["asset_ids"] = "Tài liệu không có trong thư viện."
            break
        asset_ids.append(aid)
    if errors:
        raise EntryError(errors)
    assert unit is not None and campaign is not None and day is not None
    series = secrets.token_hex(8) if weeks > 1 else None
    rows = []
    for i in range(weeks):
        row = ProgrammeSlot(unit_id=unit.id, campaign_id=campaign.id, kind=kind, title=title, brief=brief,
                            asset_ids=asset_ids, air_on=day + timedelta(weeks=i), air_time=air_time,
                            series=series, created_by=user.id, created_at=utcnow())
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def can_confirm(user: User, slot: ProgrammeSlot) -> bool:
    """The newsroom's officer (unit officer of that press unit) or an admin."""
    return user.role == Role.admin or (user.role == Role.unit_officer and user.unit_id == slot.unit_id)


def confirm_slot(session: Session, user: User, slot: ProgrammeSlot, url: str | None,
                 file: IO[bytes] | None = None, filename: str | None = None, *, today: date) -> ProgrammeSlot:
    """Mark the slot aired/printed with evidence. Raises EntryError."""
    if not can_confirm(user, slot):
        raise EntryError({"slot": "Chỉ cán bộ của cơ quan báo chí được giao mới xác nhận được."}, status=403,
                         message="Chỉ cán bộ của cơ quan báo chí được giao mới xác nhận được.")
    errors: dict[str, str] = {}
    url = (url or "").strip() or None
    _check_url(url, "evidence_url", errors)
    if file is None and not url and "evidence_url" not in errors:
        errors["evidence_url"] = "Vui lòng nhập đường dẫn hoặc đính kèm tệp minh chứng."
    if slot.air_on > today:
        errors["slot"] = "Chưa đến ngày phát/đăng, chưa xác nhận được."
    if errors:
        raise EntryError(errors)
    if file is not None:
        slot.attachment_path, slot.attachment_name, slot.attachment_mime = _store_file(file, filename or "")
    slot.evidence_url = url
    slot.status = "confirmed"
    slot.confirmed_by = user.id
    slot.confirmed_at = utcnow()
    session.add(slot)
    session.flush()
    return slot
