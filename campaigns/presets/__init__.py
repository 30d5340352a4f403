"""Campaign presets are data: one YAML file per preset in this folder.

A preset names an anchor day (e.g. 10/10), the owner unit, the scope and a
list of content items with offsets in days from the anchor, a local time, a
channel and the unit responsible (plan section VI). Applying it creates the
campaign, its content items, and a held delivery for every item whose channel
has a matching account; print items become kit contents, not deliveries.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import yaml
from sqlmodel import Session, select

from campaigns.models import Campaign, CampaignUnit, ContentItem
from core.models import OrgUnit, User, audit
from core.timeutil import LOCAL_TZ, utcnow

HERE = Path(__file__).parent

#: content channel -> channel-account kinds that can carry it
ACCOUNT_CHANNELS = {
    "facebook": ("facebook",),
    "zalo": ("zalo",),
    "loudspeaker": ("loudspeaker",),
    "webhook": ("webhook",),
}


class PresetError(ValueError):
    pass


@cache
def _load_all() -> dict[str, dict]:
    presets = {}
    for path in sorted(HERE.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        _check(data, path.name)
        presets[data["key"]] = data
    return presets


def _check(data: dict, name: str) -> None:
    for key in ("key", "title", "anchor", "owner_unit", "items"):
        if key not in data:
            raise PresetError(f"{name}: missing '{key}'")
    for i, item in enumerate(data["items"]):
        for key in ("offset_days", "time", "channel", "title", "body"):
            if key not in item:
                raise PresetError(f"{name}: item {i} missing '{key}'")


def preset_names() -> list[str]:
    return list(_load_all())


def presets() -> list[dict]:
    return list(_load_all().values())


def get_preset(key: str) -> dict:
    try:
        return _load_all()[key]
    except KeyError:
        raise PresetError(f"unknown preset {key}") from None


def anchor_date(preset: dict, today: date) -> date:
    """The next occurrence of the preset's anchor (MM-DD), today included."""
    month, day = (int(x) for x in str(preset["anchor"]).split("-"))
    candidate = date(today.year, month, day)
    if candidate < today:
        candidate = date(today.year + 1, month, day)
    return candidate


def current_unit_ids(session: Session, unit_ids: list[int], today: date) -> list[int]:
    """Units named by a preset as they are today: a unit ended by a reorganisation is
    replaced by its successors (e.g. the province Sóc Trăng by Cần Thơ city)."""
    from core.units import with_successors

    by_id = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    out: list[int] = []
    for uid in unit_ids:
        unit = by_id.get(uid)
        if unit is None:
            continue
        if unit.valid_on(today):
            candidates = [uid]
        else:
            candidates = sorted(i for i in with_successors(session, [uid], until=today)
                                if i in by_id and by_id[i].valid_on(today))
        out += [c for c in candidates if c not in out]
    return out


def _fmt(text: str, anchor: date) -> str:
    return unicodedata.normalize("NFC", str(text).replace("{year}", str(anchor.year)))


def apply_preset(session: Session, key: str, user: User, *, overrides: dict | None = None,
                 today: date | None = None) -> Campaign:
    preset = get_preset(key)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    today = today or utcnow().astimezone(LOCAL_TZ).date()
    anchor = anchor_date(preset, today)
    units = {u.code: u for u in session.exec(select(OrgUnit)).all()}
    offsets = [int(i["offset_days"]) for i in preset["items"]]
    starts_on = overrides.pop("starts_on", anchor + timedelta(days=min(offsets)))
    ends_on = overrides.pop("ends_on", anchor + timedelta(days=max(offsets)))
    owner = units.get(preset["owner_unit"])
    scope_ids = overrides.pop("scope_ids", None)
    if scope_ids is None:
        scope_ids = current_unit_ids(session, [units[c].id for c in preset.get("scope", []) if c in units],
                                     today)
    now = utcnow()
    campaign = Campaign(
        title=overrides.pop("title", _fmt(preset["title"], anchor)),
        description=overrides.pop("description", _fmt(preset.get("description", ""), anchor)),
        starts_on=starts_on,
        ends_on=ends_on,
        preset=key,
        owner_unit_id=overrides.pop("owner_unit_id", owner.id if owner else None),
        target_url=overrides.pop("target_url", preset.get("target_url", "https://dichvucong.gov.vn")),
        sms_class=overrides.pop("sms_class", preset.get("sms_class", "public_service")),
        grace_hours=overrides.pop("grace_hours", 6),
        created_by=user.id,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    for uid in scope_ids:
        session.add(CampaignUnit(campaign_id=campaign.id, unit_id=uid))
    accounts = session.exec(select(ChannelAccount).where(ChannelAccount.status != "disabled")).all()
    created_deliveries = 0
    for item in preset["items"]:
        day = anchor + timedelta(days=int(item["offset_days"]))
        hh, mm = (int(x) for x in str(item["time"]).split(":"))
        local = datetime.combine(day, time(hh, mm), tzinfo=LOCAL_TZ)
        unit = units.get(item.get("unit", ""))
        content = ContentItem(
            campaign_id=campaign.id,
            title=_fmt(item["title"], anchor),
            body=_fmt(item["body"], anchor),
            language=item.get("language", "vi"),
            channel=item["channel"],
            planned_at=local.astimezone(UTC),
            unit_id=unit.id if unit else None,
            phase=item.get("phase"),
            template=item.get("template"),
            created_at=now,
            updated_at=now,
        )
        session.add(content)
        session.flush()
        for account in accounts:
            if account.channel not in ACCOUNT_CHANNELS.get(item["channel"], ()):
                continue
            try:
                create_delivery(
                    session,
                    account=account,
                    campaign_id=campaign.id,
                    content={"text": content.body, "title": content.title},
                    scheduled_at=content.planned_at,
                    held=True,
                    grace=timedelta(hours=campaign.grace_hours),
                    created_by=user.id,
                    unit_id=account.unit_id,
                    content_item_id=content.id,
                )
                created_deliveries += 1
            except DuplicateDelivery:
                continue
    audit(session, user.id, "campaign.create", "campaign", campaign.id, preset=key,
          deliveries=created_deliveries)
    return campaign
