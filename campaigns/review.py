"""What a reviewer compares: a snapshot of the campaign at each submission, and
the difference between the last two submissions (fields and items, word-level).

Snapshots are stored in the audit log payload of the ``campaign.transition``
row that moved the campaign to ``in_review`` (key ``snapshot``): no new table.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from flask_babel import lazy_gettext
from markupsafe import Markup, escape
from sqlmodel import Session, select

from campaigns.models import CHANNEL_LABELS, Campaign, ContentItem
from core.models import AuditLog
from core.timeutil import LOCAL_TZ

#: campaign fields a reviewer reads, in display order
CAMPAIGN_FIELDS = {
    "title": lazy_gettext("Tên chiến dịch"),
    "description": lazy_gettext("Mô tả"),
    "starts_on": lazy_gettext("Bắt đầu"),
    "ends_on": lazy_gettext("Kết thúc"),
    "target_url": lazy_gettext("Đường dẫn đích"),
}
ITEM_FIELDS = {
    "title": lazy_gettext("Tiêu đề"),
    "channel": lazy_gettext("Kênh"),
    "planned_at": lazy_gettext("Thời điểm"),
    "body": lazy_gettext("Nội dung"),
    "variants": lazy_gettext("Biến thể theo kênh"),
}


def _when(value) -> str:
    if value is None:
        return ""
    return value.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


def snapshot(session: Session, campaign: Campaign) -> dict:
    """The texts a reviewer approves, as display strings (JSON-safe)."""
    items = session.exec(select(ContentItem).where(ContentItem.campaign_id == campaign.id)
                         .order_by(ContentItem.planned_at, ContentItem.id)).all()
    return {
        "campaign": {
            "title": campaign.title, "description": campaign.description or "",
            "starts_on": campaign.starts_on.strftime("%d/%m/%Y") if campaign.starts_on else "",
            "ends_on": campaign.ends_on.strftime("%d/%m/%Y") if campaign.ends_on else "",
            "target_url": campaign.target_url or "",
        },
        "items": [{
            "id": i.id, "title": i.title, "channel": str(CHANNEL_LABELS.get(i.channel, i.channel)),
            "planned_at": _when(i.planned_at), "body": i.body or "",
            "variants": _variants_text(session, i.variants or {}),
        } for i in items],
    }


LANGUAGE_LABELS = {"vi": lazy_gettext("Tiếng Việt"), "km": lazy_gettext("Tiếng Khmer"), "en": lazy_gettext("Tiếng Anh")}


def _variants_text(session: Session, variants: dict) -> str:
    """The composer's per-language texts, attached files and per-account overrides as
    lines a reviewer reads (names, never keys or ids)."""
    from campaigns.models import Asset
    from scheduler.models import ChannelAccount

    lines: list[str] = []
    for lang, text in sorted((variants.get("texts") or {}).items()):
        if isinstance(text, str) and text.strip():
            lines.append(f"{LANGUAGE_LABELS.get(lang, lang)}: {text}")
    for asset_id in variants.get("media_asset_ids") or []:
        asset = session.get(Asset, int(asset_id)) if str(asset_id).isdigit() else None
        if asset is not None:
            lines.append(f"{lazy_gettext('Tệp đính kèm')}: {asset.title or asset.filename}")
    for account_id, choice in sorted((variants.get("accounts") or {}).items()):
        account = session.get(ChannelAccount, int(account_id)) if str(account_id).isdigit() else None
        if account is None or not isinstance(choice, dict):
            continue
        parts = [str(choice[k]) for k in ("title", "text", "when") if isinstance(choice.get(k), str) and choice[k]]
        lines.append(f"{account.name}" + (f": {' · '.join(parts)}" if parts else ""))
    for key, value in sorted(variants.items()):  # plain per-channel variants of older items
        if isinstance(value, str) and value and key in CHANNEL_LABELS:
            lines.append(f"{CHANNEL_LABELS[key]}: {value}")
    return "\n".join(lines)


def submissions(session: Session, campaign_id: int) -> list[AuditLog]:
    """Audit rows of every submission for review, newest first."""
    rows = session.exec(select(AuditLog).where(
        AuditLog.object_type == "campaign", AuditLog.object_id == campaign_id,
        AuditLog.action == "campaign.transition").order_by(AuditLog.id.desc())).all()
    return [r for r in rows if (r.detail or {}).get("to") == "in_review"]


def word_diff(old: str, new: str) -> tuple[Markup, Markup]:
    """Two HTML fragments: ``old`` with removed words in <del>, ``new`` with added words in <ins>."""
    a, b = old.split(" "), new.split(" ")
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        ta, tb = escape(" ".join(a[i1:i2])), escape(" ".join(b[j1:j2]))
        if op == "equal":
            left.append(ta)
            right.append(tb)
            continue
        if i2 > i1:
            left.append(Markup("<del>%s</del>") % ta)
        if j2 > j1:
            right.append(Markup("<ins>%s</ins>") % tb)
    return Markup(" ").join(left), Markup(" ").join(right)


@dataclass
class Change:
    label: str
    old: Markup
    new: Markup


@dataclass
class ItemChange:
    title: str
    kind: str  # added | removed | changed
    changes: list[Change] = field(default_factory=list)


@dataclass
class ReviewDiff:
    first: bool  # the first submission: nothing to compare with
    campaign: list[Change]
    items: list[ItemChange]
    previous_at: object = None
    comment: str = ""  # the reviewer's comment when it was sent back

    @property
    def empty(self) -> bool:
        return not self.first and not self.campaign and not self.items


def _changes(old: dict, new: dict, labels: dict) -> list[Change]:
    out = []
    for key, label in labels.items():
        a, b = str(old.get(key, "")), str(new.get(key, ""))
        if a != b:
            out.append(Change(str(label), *word_diff(a, b)))
    return out


def diff_snapshots(old: dict, new: dict) -> tuple[list[Change], list[ItemChange]]:
    campaign = _changes(old.get("campaign", {}), new.get("campaign", {}), CAMPAIGN_FIELDS)
    before = {i["id"]: i for i in old.get("items", [])}
    after = {i["id"]: i for i in new.get("items", [])}
    items = []
    for iid, item in after.items():
        if iid not in before:
            items.append(ItemChange(item["title"], "added", _changes({}, item, ITEM_FIELDS)))
        else:
            changes = _changes(before[iid], item, ITEM_FIELDS)
            if changes:
                items.append(ItemChange(item["title"], "changed", changes))
    for iid, item in before.items():
        if iid not in after:
            items.append(ItemChange(item["title"], "removed", _changes(item, {}, ITEM_FIELDS)))
    return campaign, items


def review_diff(session: Session, campaign: Campaign) -> ReviewDiff:
    """What changed between the previous submission and the latest one."""
    rows = [r for r in submissions(session, campaign.id) if "snapshot" in (r.detail or {})]
    if len(rows) < 2:
        return ReviewDiff(first=True, campaign=[], items=[])
    latest, previous = rows[0], rows[1]
    comment = ""
    for r in session.exec(select(AuditLog).where(
            AuditLog.object_type == "campaign", AuditLog.object_id == campaign.id,
            AuditLog.action == "campaign.transition", AuditLog.id > previous.id,
            AuditLog.id < latest.id).order_by(AuditLog.id)).all():
        if (r.detail or {}).get("to") == "draft" and r.detail.get("comment"):
            comment = r.detail["comment"]
    fields, items = diff_snapshots(previous.detail["snapshot"], latest.detail["snapshot"])
    return ReviewDiff(first=False, campaign=fields, items=items, previous_at=previous.at, comment=comment)
