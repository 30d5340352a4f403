"""Campaign rules shared by the web views and the JSON API.

Validation returns every problem at once as {field: Vietnamese message};
nothing is saved unless all of it is valid.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlparse

from sqlmodel import Session, select

from campaigns.models import (
    CAMPAIGN_TRANSITIONS,
    RELEASED,
    Campaign,
    CampaignStatus,
    CampaignUnit,
)
from core.models import OrgUnit, Role, User, audit
from core.timeutil import parse_local_date, utcnow
from core.units import ancestor_ids, predecessor_ids, subtree_ids, with_successors

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
SCOPE_MAX = 2000  # unit codes in a campaign scope (the province has ~120 units)


class ValidationError(ValueError):
    def __init__(self, fields: dict[str, str], message: str = "Dữ liệu không hợp lệ."):
        super().__init__(message)
        self.fields = fields
        self.message = message


class TransitionError(ValueError):
    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.message = message
        self.status = status


def nfc(value: Any) -> str:
    return unicodedata.normalize("NFC", str(value)).strip()


def _date(value: Any, field: str, errors: dict) -> date | None:
    if isinstance(value, date):
        return value
    if value is None or value == "":
        errors[field] = "Vui lòng nhập ngày."
        return None
    if not isinstance(value, str):
        errors[field] = "Ngày phải có dạng YYYY-MM-DD hoặc dd/mm/yyyy."
        return None
    try:
        return parse_local_date(value)
    except ValueError:
        errors[field] = f"'{value[:20]}' không phải là ngày hợp lệ (YYYY-MM-DD hoặc dd/mm/yyyy)."
        return None


def units_by_code(session: Session, codes: list[str]) -> tuple[list[OrgUnit], list[str]]:
    found = {u.code: u for u in session.exec(select(OrgUnit).where(OrgUnit.code.in_(codes))).all()}  # type: ignore[attr-defined]
    return [found[c] for c in codes if c in found], [c for c in codes if c not in found]


def clean_campaign(session: Session, data: dict, *, partial: bool = False,
                   current: Campaign | None = None) -> dict:
    """Validate campaign fields; return clean values or raise ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError({"_": "Dữ liệu phải là một đối tượng JSON."})
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    allowed = {"title", "description", "starts_on", "ends_on", "preset", "owner_unit", "scope",
               "target_url", "sms_class", "grace_hours", "status"}
    for key in data:
        if key not in allowed:
            errors[key] = "Trường không được hỗ trợ."
    if "status" in data:
        errors["status"] = "Đổi trạng thái qua /transitions."
    if not partial or "title" in data:
        title = data.get("title")
        if not isinstance(title, str) or not nfc(title):
            errors["title"] = "Vui lòng nhập tên chiến dịch."
        elif len(nfc(title)) > TITLE_MAX:
            errors["title"] = f"Tên chiến dịch tối đa {TITLE_MAX} ký tự (hiện có {len(nfc(title))})."
        else:
            out["title"] = nfc(title)
    if "description" in data:
        desc = data.get("description") or ""
        if not isinstance(desc, str):
            errors["description"] = "Mô tả phải là văn bản."
        elif len(nfc(desc)) > DESCRIPTION_MAX:
            errors["description"] = f"Mô tả tối đa {DESCRIPTION_MAX} ký tự."
        else:
            out["description"] = nfc(desc)
    for field in ("starts_on", "ends_on"):
        if not partial or field in data:
            value = _date(data.get(field), field, errors)
            if value is not None:
                if not (2000 <= value.year <= 2100):
                    errors[field] = "Năm phải trong khoảng 2000–2100."
                else:
                    out[field] = value
    start = out.get("starts_on", current.starts_on if current else None)
    end = out.get("ends_on", current.ends_on if current else None)
    if start and end and end < start and "starts_on" not in errors and "ends_on" not in errors:
        errors["ends_on"] = "Ngày kết thúc phải sau hoặc bằng ngày bắt đầu."
    if "owner_unit" in data and data["owner_unit"] not in (None, ""):
        code = data["owner_unit"]
        units, missing = units_by_code(session, [code] if isinstance(code, str) else [])
        if not units:
            errors["owner_unit"] = f"Không có đơn vị mã '{code}'."
        else:
            out["owner_unit_id"] = units[0].id
    if "scope" in data:
        scope = data["scope"]
        if not isinstance(scope, list) or not all(isinstance(c, str) for c in scope):
            errors["scope"] = "Phạm vi phải là danh sách mã đơn vị."
        elif len(scope) > SCOPE_MAX:
            # one query parameter per code: PostgreSQL takes at most 65,535
            errors["scope"] = f"Phạm vi tối đa {SCOPE_MAX:,} đơn vị (gửi {len(scope):,}).".replace(",", ".")
        else:
            units, missing = units_by_code(session, list(dict.fromkeys(scope)))
            if missing:
                errors["scope"] = "Không có đơn vị: " + ", ".join(missing[:5])
            else:
                out["scope_ids"] = [u.id for u in units]
    if "target_url" in data:
        url = data.get("target_url")
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["target_url"] = "Địa chỉ phải bắt đầu bằng http:// hoặc https://."
        elif len(url) > 500:
            errors["target_url"] = "Địa chỉ tối đa 500 ký tự."
        else:
            out["target_url"] = url.strip()
    if "sms_class" in data:
        if data["sms_class"] not in ("public_service", "advertising"):
            errors["sms_class"] = "Loại tin nhắn phải là public_service hoặc advertising."
        else:
            out["sms_class"] = data["sms_class"]
    if "grace_hours" in data:
        g = data["grace_hours"]
        if isinstance(g, bool) or not isinstance(g, int) or not (0 <= g <= 72):
            errors["grace_hours"] = "Thời gian gia hạn phải là số nguyên từ 0 đến 72 giờ."
        else:
            out["grace_hours"] = g
    if "preset" in data and data["preset"] not in (None, ""):
        from campaigns.presets import preset_names

        if data["preset"] not in preset_names():
            errors["preset"] = f"Không có mẫu kế hoạch '{data['preset']}'."
        else:
            out["preset"] = data["preset"]
    if errors:
        raise ValidationError(errors)
    return out


def create_campaign(session: Session, data: dict, user: User) -> Campaign:
    clean = clean_campaign(session, data)
    preset = clean.pop("preset", None)
    scope_ids = clean.pop("scope_ids", None)
    now = utcnow()
    if preset:
        from campaigns.presets import apply_preset

        return apply_preset(session, preset, user, overrides={**clean, "scope_ids": scope_ids})
    if scope_ids is None:
        province = session.exec(select(OrgUnit).where(OrgUnit.parent_id.is_(None), OrgUnit.kind == "province")).first()  # type: ignore[union-attr]
        scope_ids = [province.id] if province else []
    if "owner_unit_id" not in clean and user.unit_id:
        clean["owner_unit_id"] = user.unit_id
    campaign = Campaign(**clean, created_by=user.id, created_at=now, updated_at=now)
    session.add(campaign)
    session.flush()
    for uid in scope_ids:
        session.add(CampaignUnit(campaign_id=campaign.id, unit_id=uid))
    audit(session, user.id, "campaign.create", "campaign", campaign.id, title=campaign.title)
    return campaign


def update_campaign(session: Session, campaign: Campaign, data: dict, user: User) -> Campaign:
    if campaign.status == CampaignStatus.archived:
        raise TransitionError("Chiến dịch đã lưu trữ, không thể sửa.")
    clean = clean_campaign(session, data, partial=True, current=campaign)
    clean.pop("preset", None)
    scope_ids = clean.pop("scope_ids", None)
    for key, value in clean.items():
        setattr(campaign, key, value)
    campaign.updated_at = utcnow()
    session.add(campaign)
    if scope_ids is not None:
        for row in session.exec(select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)).all():
            session.delete(row)
        session.flush()
        for uid in scope_ids:
            session.add(CampaignUnit(campaign_id=campaign.id, unit_id=uid))
    audit(session, user.id, "campaign.update", "campaign", campaign.id, fields=sorted(data))
    return campaign


def allowed_transitions(campaign: Campaign, user: User) -> list[CampaignStatus]:
    out = []
    for target, roles in CAMPAIGN_TRANSITIONS[CampaignStatus(campaign.status)].items():
        if user.role == Role.admin or user.role in roles:
            out.append(target)
    return out


def compliance_for(campaign: Campaign) -> dict:
    return {"sms_class": campaign.sms_class, "campaign_title": campaign.title}


def transition_campaign(session: Session, campaign: Campaign, target: str, user: User,
                        comment: str | None = None) -> Campaign:
    from scheduler.service import set_campaign_held

    try:
        to = CampaignStatus(target)
    except ValueError:
        raise ValidationError({"to": f"Trạng thái '{target}' không tồn tại."}) from None
    current = CampaignStatus(campaign.status)
    if to not in CAMPAIGN_TRANSITIONS[current]:
        raise TransitionError(f"Không thể chuyển từ '{current.value}' sang '{to.value}'.")
    if to not in allowed_transitions(campaign, user):
        raise TransitionError("Vai trò của bạn không được thực hiện bước này.", status=403)
    if comment is not None and len(comment) > 2000:
        raise ValidationError({"comment": "Nhận xét tối đa 2000 ký tự."})
    if current == CampaignStatus.in_review and to == CampaignStatus.draft:
        campaign.review_comment = nfc(comment) if comment else None
    campaign.status = to
    campaign.updated_at = utcnow()
    session.add(campaign)
    was_released, now_released = current in RELEASED, to in RELEASED
    if now_released and not was_released:
        set_campaign_held(session, campaign.id, False, grace=timedelta(hours=campaign.grace_hours),
                          compliance=compliance_for(campaign))
    elif was_released and not now_released:
        set_campaign_held(session, campaign.id, True)
    extra = {}
    if to == CampaignStatus.in_review:  # what the reviewer compares between submissions
        from campaigns.review import snapshot

        extra["snapshot"] = snapshot(session, campaign)
    audit(session, user.id, "campaign.transition", "campaign", campaign.id,
          **{"from": current.value, "to": to.value, "comment": comment or ""}, **extra)
    if to == CampaignStatus.approved:
        from campaigns import hooks

        hooks.on_approved(session, campaign)
    return campaign


def campaign_scope_ids(session: Session, campaign_id: int, *, successors: bool = True) -> list[int]:
    """The units the campaign covers: its scope as written and, after a
    reorganisation that takes effect before the campaign ends, the successors of
    the units it names (core.units)."""
    named = list(session.exec(select(CampaignUnit.unit_id).where(CampaignUnit.campaign_id == campaign_id)).all())
    if not successors:
        return named
    campaign = session.get(Campaign, campaign_id)
    grown = with_successors(session, named, until=campaign.ends_on if campaign else None)
    return named + sorted(grown - set(named))


def visible_campaign_filter(session: Session, user: User):
    """None if the user sees every campaign; else the set of campaign ids."""
    if user.role in (Role.admin, Role.communicator, Role.reviewer):
        return None
    if user.role != Role.unit_officer or user.unit_id is None:
        return set()
    # the unit's subtree with its history (units it succeeded), and their ancestors
    own = subtree_ids(session, user.unit_id)
    covering = set(own)
    for uid in {user.unit_id} | predecessor_ids(session, user.unit_id):
        covering |= set(ancestor_ids(session, uid))
    rows = session.exec(
        select(CampaignUnit.campaign_id).where(CampaignUnit.unit_id.in_(covering))  # type: ignore[attr-defined]
    ).all()
    return set(rows)


def can_see_campaign(session: Session, user: User, campaign: Campaign) -> bool:
    ids = visible_campaign_filter(session, user)
    return ids is None or campaign.id in ids
