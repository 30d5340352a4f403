"""Campaign presets are data: one YAML file per preset in this folder.

A preset names an anchor day (e.g. 10/10), the owner unit, the scope and a
list of content items with offsets in days from the anchor, a local time, a
channel and the unit responsible (plan section VI). Applying it creates the
campaign, its content items, and a held delivery for every item whose channel
has a matching account -- validated exactly as the composer validates (an item
the composer would refuse, e.g. a Zalo article without a cover image, gets no
delivery and is marked ``needs: ["cover"]`` instead); print items become kit
contents, not deliveries. SMS items get no wave automatically (a wave needs a
recipient list chosen by a person: the account mapping page or the composer).
Items with a ``template:`` (print and images; not videos) are rendered in the background
(job ``media.render`` with ``item_id``) and the file is attached to the item when done.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path

import yaml
from sqlmodel import Session, select

from campaigns.models import Campaign, CampaignUnit, ContentItem
from core.models import OrgUnit, User, audit
from core.timeutil import LOCAL_TZ, utcnow

HERE = Path(__file__).parent

#: content channel -> channel-account kinds a preset schedules on by itself (no SMS: see above)
ACCOUNT_CHANNELS = {
    "facebook": ("facebook",),
    "zalo": ("zalo",),
    "loudspeaker": ("loudspeaker",),
    "webhook": ("webhook",),
    "video": ("facebook",),
}
#: preset template keys -> media template names where the name differs
TEMPLATE_ALIASES = {"short-vertical": "video-vertical", "standee": "standee-rollup"}


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
    for group in ("items", "khmer_items"):
        for i, item in enumerate(data.get(group) or []):
            for key in ("offset_days", "time", "channel", "title", "body"):
                if key not in item:
                    raise PresetError(f"{name}: {group} {i} missing '{key}'")
            km = item.get("km")
            if km is not None and not (isinstance(km, str) or (isinstance(km, dict) and km.get("body"))):
                raise PresetError(f"{name}: {group} {i}: 'km' is a text or {{title, body}}")
        if group == "khmer_items" and any("km" not in i for i in data.get(group) or []):
            raise PresetError(f"{name}: every Khmer item needs its 'km' text")


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
    # the plan's Khmer communication (IV.2a/b): when the scope reaches a unit that uses
    # Khmer, items get their Khmer text and the Khmer items are added (campaigns/khmer.py)
    from campaigns.khmer import KHMER_AUDIENCE, khmer_unit_ids

    khmer = bool(khmer_unit_ids(session, list(scope_ids), today))
    entries = [(item, False) for item in preset["items"]]
    if khmer:
        entries += [(item, True) for item in preset.get("khmer_items") or []]
    made = []
    for item, for_khmer in entries:
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
        if for_khmer:
            content.variants = {**(content.variants or {}), "audience": KHMER_AUDIENCE}
        if khmer and item.get("km"):
            _set_khmer(content, item["km"], anchor)
        session.add(content)
        session.flush()
        made.append(content)
    result = map_accounts(session, campaign, made, user_id=user.id)
    renders = enqueue_renders(session, campaign, made, user_id=user.id)
    audit(session, user.id, "campaign.create", "campaign", campaign.id, preset=key,
          deliveries=result.created, refused=len(result.refused), renders=renders,
          khmer_items=sum(1 for _i, k in entries if k))
    return campaign


def _set_khmer(content: ContentItem, km, anchor: date) -> None:
    """The preset's Khmer text of an item (a text, or {title, body}) as its translation."""
    from campaigns.composer import set_translation

    body = km.get("body") if isinstance(km, dict) else km
    set_translation(content, "km", _fmt(body, anchor))
    if isinstance(km, dict) and km.get("title"):
        variants = dict(content.variants or {})
        variants["print"] = {**(variants.get("print") or {}), "headline_km": _fmt(km["title"], anchor)}
        content.variants = variants


@dataclass
class MappingResult:
    created: int = 0
    updated: int = 0
    #: (item, account label, problem) that got no delivery
    refused: list = field(default_factory=list)


def map_accounts(session: Session, campaign: Campaign, items: list[ContentItem], *, user_id: int | None,
                 pairs: dict[int, set[int]] | None = None, lists: dict[int, int] | None = None,
                 cancel_others: bool = False) -> MappingResult:
    """Put items on accounts, each pair validated as the composer does; refused pairs get no
    delivery (the item is marked with what it needs instead).

    ``pairs`` = {item id: account ids}; None = every non-disabled account that carries the
    item's channel by itself (``ACCOUNT_CHANNELS``: what a new preset campaign gets).
    ``lists`` = {SMS account id: recipient list id}. ``cancel_others`` cancels the waiting
    deliveries of accounts that are not in ``pairs`` (the mapping page's unticked boxes)."""
    from campaigns import composer as cp

    result = MappingResult()
    accounts = cp.candidate_accounts(session)
    for item in items:
        draft = cp.draft_from_item(item)
        if pairs is None:
            wanted = [a for a in accounts if a.channel in ACCOUNT_CHANNELS.get(item.channel, ())]
        else:
            ids = pairs.get(item.id, set())
            wanted = [a for a in accounts if a.id in ids]
        old = {c.account_id: c for c in draft.choices}
        choices = []
        for a in wanted:
            c = old.get(a.id) or cp.Choice(account_id=a.id)
            if cp.is_sms(a) and lists and lists.get(a.id):
                c.recipient_list_id = lists[a.id]
            choices.append(c)
        draft.choices = choices
        planned, problems = cp.check(session, campaign, draft)
        refused_ids = {a.id for a in wanted} - {p.account.id for p in planned}
        for a in wanted:
            if a.id in refused_ids:
                message = next((m for k, m in problems.items() if k.endswith(f"-{a.id}")), "")
                result.refused.append((item, cp.account_label(a), message))
        deliveries = cp.item_deliveries(session, item.id)
        keep = set()
        if not cancel_others:  # a refused or unlisted account keeps what it had
            keep = {d.channel_account_id for d in deliveries} - {p.account.id for p in planned}
        keep |= {d.channel_account_id for d in deliveries if d.channel_account_id in refused_ids}
        try:
            with session.begin_nested():  # an item that cannot be written leaves nothing half-done
                counts = cp.apply(session, campaign, item, planned, user_id, keep=keep)
        except cp.ApplyError as exc:
            result.refused.extend((item, "", m) for m in exc.fields.values())
            continue
        result.created += counts["created"]
        result.updated += counts["updated"]
        draft.choices = [p.choice for p in planned] + [c for c in old.values() if c.account_id in keep]
        cp.save_variants(item, draft, cp.item_needs(session, item))
        session.add(item)
    return result


def resolve_template(name: str | None) -> str | None:
    """The media template a preset item names (``poster_a3`` -> ``poster-a3``), or None."""
    import media_templates as mt

    if not name:
        return None
    key = name.replace("_", "-")
    key = TEMPLATE_ALIASES.get(key, key)
    names = [t.name for t in mt.list_templates()]
    if key in names:
        return key
    return next((n for n in names if n.startswith(key)), None)


def enqueue_renders(session: Session, campaign: Campaign, items: list[ContentItem], *,
                    user_id: int | None) -> int:
    """Queue a background render for every item with a template (print: PDF, else the
    template's first format, PNG; videos are left to the composer); the job attaches the file
    to the item. Returns how many."""
    import media_templates as mt
    from campaigns.kits.builder import print_data
    from scheduler.jobs import enqueue_job

    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    province = next((u for u in units.values() if u.parent_id is None), None)
    count = 0
    for item in items:
        name = resolve_template(item.template)
        if name is None:
            continue
        tpl = mt.get_template(name)
        if item.channel == "video":
            continue  # minutes of encoding: rendered on demand from the composer
        fmt = "pdf" if item.channel == "print" and "pdf" in tpl.formats else tpl.formats[0]
        unit = units.get(item.unit_id) or units.get(campaign.owner_unit_id) or province
        try:
            data = print_data(tpl, item, campaign, unit, campaign.target_url, getattr(unit, "phone", None))
            clean = mt.validate_data(tpl, data)
        except (mt.TemplateError, AttributeError, TypeError, ValueError):
            continue  # the communicator renders it from the composer instead
        key = mt.cache_key(name, fmt, clean, None)
        enqueue_job(session, "media.render", {
            "template": name, "format": fmt, "data": mt.json_data(clean), "user_id": user_id,
            "campaign_id": campaign.id, "item_id": item.id, "tags": ["preset"]},
            dedupe_key=f"render:item{item.id}:{key}"[:128], created_by=user_id)
        count += 1
    return count
