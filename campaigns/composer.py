"""The composer: one content item, written once, sent to many channel accounts.

What the communicator chose is kept on the item (``ContentItem.variants``, JSON):

- ``texts``: the text in other languages, ``{"km": "...", "en": "..."}`` (the item's
  ``body`` is the text in its own language, Vietnamese by default);
- ``media_asset_ids``: the files attached to the item (library assets), in order — the
  first image is a Zalo article's cover;
- ``accounts``: ``{"<account id>": {"title", "text", "lang", "when", "recipient_list_id",
  "plain"}}`` — the accounts it goes to, each with its overrides (a shorter SMS, another
  Zalo title, another time, the SMS recipient list and the no-diacritics choice);
- ``text_sources``: ``{"km": "<hash>"}``, a hash of the item's Vietnamese title and body
  when each translation in ``texts`` was last written; when the Vietnamese changes
  afterwards, ``translation_state()`` says ``stale`` and the composer marks the
  translation "chưa dịch" (not translated yet);
- ``needs``: what a preset could not provide yet (``["cover"]``: a Zalo article without
  a cover image), shown on the account mapping page;
- other keys (``script`` for loudspeaker kits, ...) belong to other parts and are kept.

``check()`` builds every account's frozen delivery content and validates it exactly as the
manual delivery form does (``campaigns.deliveries.prepare_delivery``: the adapter's
``check()``, SMS ``wave_problems``); ``apply()`` then creates one delivery per account, or
updates the item's deliveries that are still waiting, and cancels those of accounts that
were removed. Nothing is written when ``check()`` found a problem.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext
from sqlalchemy import update
from sqlmodel import Session, select

from campaigns import service as cs
from campaigns.models import RELEASED, Asset, Campaign, ContentItem
from core.timeutil import LOCAL_TZ, utcnow
from core.validate import db_int
from scheduler.models import ChannelAccount, Delivery
from scheduler.states import Status

#: account channels the composer can schedule on
ACCOUNT_CHANNELS = ("facebook", "zalo", "sms_kannel", "sms_partner", "loudspeaker", "webhook")
ACCOUNT_LABELS = {
    "facebook": "Facebook",
    "zalo": "Zalo OA",
    "sms_kannel": lazy_gettext("SMS (tổng đài riêng)"),
    "sms_partner": lazy_gettext("SMS qua nhà mạng"),
    "loudspeaker": lazy_gettext("Loa truyền thanh"),
    "webhook": lazy_gettext("Hệ thống khác (webhook)"),
}
#: content channel (ContentItem.channel) -> account channels that carry it
CARRIERS: dict[str, tuple[str, ...]] = {
    "facebook": ("facebook",),
    "zalo": ("zalo",),
    "sms": ("sms_kannel", "sms_partner"),
    "loudspeaker": ("loudspeaker",),
    "webhook": ("webhook",),
    "video": ("facebook",),
    "portal": ("webhook",),
    "print": (),
}
LANGUAGES = (("vi", lazy_gettext("Tiếng Việt")), ("km", lazy_gettext("Tiếng Khmer")),
             ("en", lazy_gettext("Tiếng Anh")))
#: waiting deliveries the composer may still change
WAITING = (Status.scheduled,)
#: deliveries that are over without having gone out: the account may be chosen again
ENDED = (Status.cancelled, Status.failed, Status.missed)
WHEN_FORMAT = "%d/%m/%Y %H:%M"


def account_label(account: ChannelAccount) -> str:
    return f"{ACCOUNT_LABELS.get(account.channel, account.channel)} «{account.name}»"


def is_sms(account: ChannelAccount) -> bool:
    return account.channel.startswith("sms_")


@dataclass
class Choice:
    """One chosen account and its overrides (empty = the item's own value)."""

    account_id: int
    title: str = ""
    text: str = ""
    lang: str = ""
    when: str = ""
    recipient_list_id: int | None = None
    plain: bool = False

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("account_id")
        return data

    @classmethod
    def from_json(cls, account_id: int, data: dict) -> Choice:
        known = {k: data[k] for k in ("title", "text", "lang", "when", "recipient_list_id", "plain") if k in data}
        return cls(account_id=account_id, **known)


@dataclass
class Draft:
    """The item as typed on the composer (not saved yet)."""

    title: str
    body: str
    texts: dict[str, str]
    channel: str
    planned_at: datetime | None
    media_asset_ids: list[int]
    choices: list[Choice] = field(default_factory=list)
    language: str = "vi"

    def text_for(self, lang: str) -> str:
        if not lang or lang == self.language:
            return self.body
        return self.texts.get(lang) or self.body


def draft_from_item(item: ContentItem) -> Draft:
    variants = item.variants or {}
    return Draft(
        title=item.title, body=item.body, texts=dict(variants.get("texts") or {}), channel=item.channel,
        planned_at=item.planned_at, media_asset_ids=[int(i) for i in variants.get("media_asset_ids") or []],
        choices=[Choice.from_json(int(k), v) for k, v in (variants.get("accounts") or {}).items()],
        language=item.language or "vi",
    )


def candidate_accounts(session: Session) -> list[ChannelAccount]:
    """Every account the composer offers: not disabled, on a channel it can schedule."""
    rows = session.exec(select(ChannelAccount).where(
        ChannelAccount.channel.in_(ACCOUNT_CHANNELS),  # type: ignore[attr-defined]
        ChannelAccount.status != "disabled").order_by(ChannelAccount.channel, ChannelAccount.name)).all()
    order = {c: i for i, c in enumerate(ACCOUNT_CHANNELS)}
    return sorted(rows, key=lambda a: (order.get(a.channel, 99), a.name))


def assets_by_id(session: Session, ids: list[int]) -> list[Asset]:
    if not ids:
        return []
    found = {a.id: a for a in session.exec(select(Asset).where(Asset.id.in_(ids))).all()}  # type: ignore[union-attr]
    return [found[i] for i in ids if i in found]


def _adapter_class(channel: str):
    from channels import registry

    try:
        return registry.adapter_class(channel)
    except (ImportError, KeyError):
        return None


def media_kinds(channel: str) -> frozenset[str]:
    cls = _adapter_class(channel)
    return cls.media_kinds if cls is not None else frozenset()


def media_limits(channel: str) -> str:
    """The limits on attached files for an account channel, as a sentence."""
    if channel == "facebook":
        from channels.facebook import MAX_PHOTOS

        return str(lazy_gettext("Tối đa %(n)s ảnh, hoặc đúng một video.", n=MAX_PHOTOS))
    if channel == "zalo":
        return str(lazy_gettext("Cần ít nhất một ảnh: ảnh đầu tiên là ảnh bìa (tối đa 1 MB)."))
    if channel == "loudspeaker":
        return str(lazy_gettext("Chỉ nhận tệp âm thanh; không có tệp thì đọc kịch bản."))
    if channel.startswith("sms_"):
        return str(lazy_gettext("Tin nhắn không kèm tệp."))
    return ""


def parse_when(value: str) -> datetime | None:
    """dd/mm/yyyy HH:MM (local) -> aware datetime; None when it does not parse."""
    try:
        return datetime.strptime((value or "").strip(), WHEN_FORMAT).replace(tzinfo=LOCAL_TZ)
    except ValueError:
        return None


def build_content(draft: Draft, account: ChannelAccount, choice: Choice, assets: list[Asset]) -> dict:
    """The delivery content for one account, before ``prepare_delivery`` freezes its files."""
    text = choice.text.strip() or draft.text_for(choice.lang) or draft.title
    content: dict[str, Any] = {"text": cs.nfc(text), "title": cs.nfc(choice.title.strip() or draft.title)}
    kinds = media_kinds(account.channel)
    ids = [a.id for a in assets if a.mime.split("/", 1)[0] in kinds]
    if ids:
        content["media_asset_ids"] = ids
    if is_sms(account):
        if choice.recipient_list_id is not None:
            content["recipient_list_id"] = choice.recipient_list_id
        if choice.plain:
            from scheduler.sms.encoding import strip_diacritics

            content["text"] = strip_diacritics(content["text"])
            if account.channel == "sms_kannel":
                content["options"] = {"coding": "gsm7"}
    return content


@dataclass
class Planned:
    account: ChannelAccount
    choice: Choice
    content: dict
    when: datetime


def check(session: Session, campaign: Campaign, draft: Draft) -> tuple[list[Planned], dict[str, str]]:
    """Every chosen account's delivery content, validated; problems keyed ``account-<id>``
    (and ``when-<id>`` / ``list-<id>``), each naming the account and the rule in Vietnamese."""
    from campaigns.deliveries import DeliveryInputError, prepare_delivery

    problems: dict[str, str] = {}
    planned: list[Planned] = []
    assets = assets_by_id(session, draft.media_asset_ids)
    missing = [i for i in draft.media_asset_ids if i not in {a.id for a in assets}]
    if missing:
        problems["media"] = str(lazy_gettext("Có tệp đính kèm không còn trong thư viện; hãy chọn lại."))
    for choice in draft.choices:
        account = session.get(ChannelAccount, choice.account_id)
        if account is None or account.status == "disabled" or account.channel not in ACCOUNT_CHANNELS:
            problems[f"account-{choice.account_id}"] = str(lazy_gettext(
                "Tài khoản đã chọn không còn dùng được; hãy bỏ chọn."))
            continue
        label = account_label(account)
        when = draft.planned_at
        if choice.when.strip():
            when = parse_when(choice.when)
            if when is None:
                problems[f"when-{account.id}"] = str(lazy_gettext(
                    "%(a)s: thời điểm gửi phải có dạng dd/mm/yyyy HH:MM.", a=label))
                continue
        if when is None:
            problems[f"when-{account.id}"] = str(lazy_gettext("%(a)s: cần ngày giờ gửi.", a=label))
            continue
        if is_sms(account) and choice.recipient_list_id is None:
            problems[f"list-{account.id}"] = str(lazy_gettext(
                "%(a)s: hãy chọn danh sách người nhận.", a=label))
            continue
        content = build_content(draft, account, choice, assets)
        try:
            content = prepare_delivery(session, account, content, campaign.sms_class)
        except DeliveryInputError as exc:
            seen: list[str] = []
            for message in exc.fields.values():
                if message not in seen:
                    seen.append(message)
            problems[f"account-{account.id}"] = f"{label}: " + " ".join(seen)
            continue
        planned.append(Planned(account=account, choice=choice, content=content, when=when))
    return planned, problems


def item_deliveries(session: Session, item_id: int) -> list[Delivery]:
    return list(session.exec(select(Delivery).where(Delivery.content_item_id == item_id)
                             .order_by(Delivery.id)).all())


def locked_accounts(deliveries: list[Delivery]) -> dict[int, Delivery]:
    """Accounts whose delivery of this item is under way or done (not changed any more)."""
    out: dict[int, Delivery] = {}
    for d in deliveries:
        if d.status not in WAITING and d.status not in ENDED:
            out[d.channel_account_id] = d
    return out


class ApplyError(ValueError):
    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def apply(session: Session, campaign: Campaign, item: ContentItem, planned: list[Planned],
          user_id: int | None, *, keep: set[int] | None = None) -> dict[str, int]:
    """Create, update or cancel the item's deliveries to match ``planned`` (already checked);
    the waiting deliveries of accounts in ``keep`` are left as they are.
    Raises ApplyError (the caller rolls back) when a delivery cannot be written."""
    from scheduler import service as ss

    held = campaign.status not in RELEASED
    grace = timedelta(hours=campaign.grace_hours)
    existing = item_deliveries(session, item.id)
    locked = locked_accounts(existing)
    waiting: dict[int, Delivery] = {}
    for d in existing:
        if d.status in WAITING:
            waiting.setdefault(d.channel_account_id, d)
    counts = {"created": 0, "updated": 0, "cancelled": 0, "kept": 0}
    errors: dict[str, str] = {}
    chosen = {p.account.id for p in planned}
    for p in planned:
        when = p.when.astimezone(UTC)
        if p.account.id in locked and p.account.id not in waiting:
            counts["kept"] += 1  # already sent or being sent: never sent twice from here
            continue
        d = waiting.get(p.account.id)
        key = ss.idempotency_key(p.account, p.content, when)
        clash = session.exec(select(Delivery.id).where(Delivery.idempotency_key == key)).first()
        if d is None:
            if clash is not None:
                errors[f"account-{p.account.id}"] = str(lazy_gettext(
                    "%(a)s: nội dung này đã được lên lịch trên tài khoản này vào thời điểm này.",
                    a=account_label(p.account)))
                continue
            ss.create_delivery(
                session, account=p.account, content=p.content, scheduled_at=when, campaign_id=campaign.id,
                held=held, grace=grace, compliance=cs.compliance_for(campaign), created_by=user_id,
                unit_id=p.account.unit_id, content_item_id=item.id)
            counts["created"] += 1
            continue
        if clash is not None and clash != d.id:
            errors[f"account-{p.account.id}"] = str(lazy_gettext(
                "%(a)s: nội dung này đã được lên lịch trên tài khoản này vào thời điểm này.",
                a=account_label(p.account)))
            continue
        if clash == d.id:
            counts["kept"] += 1
            continue
        now = utcnow()
        result = session.exec(  # type: ignore[call-overload]
            update(Delivery).where(Delivery.id == d.id, Delivery.status == Status.scheduled).values(
                content=p.content, scheduled_at=when, next_attempt_at=when, idempotency_key=key,
                not_after=max(when, now) + grace, updated_at=now))
        if result.rowcount != 1:
            errors[f"account-{p.account.id}"] = str(lazy_gettext(
                "%(a)s: lượt gửi vừa bắt đầu, không sửa được nữa.", a=account_label(p.account)))
            continue
        from core.models import audit

        audit(session, user_id, "delivery.update", "delivery", d.id, content_item_id=item.id)
        counts["updated"] += 1
    for account_id, d in waiting.items():
        if account_id not in chosen and account_id not in (keep or set()):
            session.refresh(d)
            if d.status in WAITING:
                ss.cancel(session, d, user_id)
                counts["cancelled"] += 1
    if errors:
        raise ApplyError(errors)
    return counts


def source_hash(title: str | None, body: str | None) -> str:
    """A short hash of the Vietnamese text a translation is written from."""
    import hashlib

    return hashlib.sha256(cs.nfc(f"{title or ''}\n{body or ''}").encode("utf-8")).hexdigest()[:16]


def translation_state(item: ContentItem | None, lang: str = "km") -> str | None:
    """None (no text in ``lang``), ``current``, or ``stale``: the Vietnamese title or body
    changed after the ``lang`` text was written ("chưa dịch")."""
    variants = (item.variants or {}) if item is not None else {}
    if not (variants.get("texts") or {}).get(lang):
        return None
    source = (variants.get("text_sources") or {}).get(lang)
    if source is None:  # written before sources were recorded: nothing to compare with
        return "current"
    return "current" if source == source_hash(item.title, item.body) else "stale"


def set_translation(item: ContentItem, lang: str, text: str | None) -> None:
    """Set (or clear) the item's text in ``lang`` only, as a translation of its current
    Vietnamese (the translator's page); nothing else of the item changes."""
    variants = dict(item.variants or {})
    texts = dict(variants.get("texts") or {})
    sources = dict(variants.get("text_sources") or {})
    text = cs.nfc(text or "").strip()
    if text:
        texts[lang] = text
        sources[lang] = source_hash(item.title, item.body)
    else:
        texts.pop(lang, None)
        sources.pop(lang, None)
    variants["texts"] = texts
    if sources:
        variants["text_sources"] = sources
    else:
        variants.pop("text_sources", None)
    item.variants = variants


def save_variants(item: ContentItem, draft: Draft, needs: list[str] | None = None) -> None:
    variants = dict(item.variants or {})
    old_texts = dict(variants.get("texts") or {})
    variants["texts"] = {k: cs.nfc(v) for k, v in draft.texts.items() if v and v.strip()}
    # a translation written (or changed) now is a translation of the current Vietnamese
    sources = dict(variants.get("text_sources") or {})
    current = source_hash(item.title, item.body)
    for lang, text in variants["texts"].items():
        if text != old_texts.get(lang) or lang not in sources:
            sources[lang] = current
    sources = {k: v for k, v in sources.items() if k in variants["texts"]}
    if sources:
        variants["text_sources"] = sources
    else:
        variants.pop("text_sources", None)
    variants["media_asset_ids"] = list(draft.media_asset_ids)
    variants["accounts"] = {str(c.account_id): c.to_json() for c in draft.choices}
    if needs is not None:
        if needs:
            variants["needs"] = needs
        else:
            variants.pop("needs", None)
    item.variants = variants


def item_needs(session: Session, item: ContentItem) -> list[str]:
    """What the item lacks for its own channel: ``cover`` for a Zalo article without an image."""
    ids = [int(i) for i in (item.variants or {}).get("media_asset_ids") or []]
    if item.channel == "zalo":
        if not any(a.mime.startswith("image/") for a in assets_by_id(session, ids)):
            return ["cover"]
    return []


def attach_asset(session: Session, item: ContentItem, asset_id: int) -> bool:
    """Attach a library file to an item (a render for it finished); True if it was new."""
    variants = dict(item.variants or {})
    ids = [int(i) for i in variants.get("media_asset_ids") or []]
    if asset_id in ids:
        return False
    variants["media_asset_ids"] = ids + [asset_id]
    item.variants = variants
    if "cover" in (variants.get("needs") or []):
        item.variants = {**variants, "needs": [n for n in variants["needs"] if n != "cover"]}
        if item_needs(session, item):
            item.variants = variants
    item.updated_at = utcnow()
    session.add(item)
    return True


# -- previews --------------------------------------------------------------------------------


def _fmt_seconds(seconds: float) -> str:
    try:
        from core.formatting import fmt_duration

        return fmt_duration(seconds)
    except ImportError:  # pragma: no cover
        return f"{seconds:.1f}".replace(".", ",") + " giây"


def _unit_name_in_preview(session: Session, markup: str, code: str) -> str:
    import html

    from core.models import OrgUnit

    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()
    if unit is None:
        return markup
    return markup.replace(f": {html.escape(code)}</div>", f": {html.escape(unit.name)}</div>", 1)


def preview(session: Session, campaign: Campaign, draft: Draft, account: ChannelAccount, choice: Choice,
            asset_url) -> dict:
    """What the account's audience will see or hear: ``html`` (adapter preview, escaped) and,
    for SMS, the counters of both variants; for loudspeakers the spoken form and duration."""
    from channels import MediaFile, Message

    assets = assets_by_id(session, draft.media_asset_ids)
    content = build_content(draft, account, choice, assets)
    out: dict[str, Any] = {"account": account, "label": account_label(account), "content": content}
    if is_sms(account):
        from campaigns.sms.compose import preview as sms_preview

        sample = None
        known = None
        if choice.recipient_list_id is not None:
            try:
                from campaigns.sms.service import list_fields, sample_recipient

                sample = sample_recipient(session, choice.recipient_list_id)
                known = set(list_fields(session, choice.recipient_list_id))
            except Exception:  # noqa: BLE001 - a list that cannot be read previews without fields
                sample, known = None, None
        text = draft.text_for(choice.lang) if not choice.text.strip() else choice.text
        out["sms"] = sms_preview(cs.nfc(text or draft.title), message_class=campaign.sms_class,
                                 sample=sample, known_fields=known)
        out["sms"]["plain_chosen"] = choice.plain
        return out
    if account.channel == "loudspeaker":
        try:
            from media_templates.speech import estimate_duration, normalize_for_reading

            out["spoken"] = normalize_for_reading(content["text"]).text
            out["duration"] = _fmt_seconds(estimate_duration(content["text"]))
        except Exception:  # noqa: BLE001 - the preview stays useful without the spoken form
            out["spoken"] = None
    cls = _adapter_class(account.channel)
    if cls is None:
        return out
    media = tuple(MediaFile(path=a.path, mime=a.mime, size=a.size, url=asset_url(a))
                  for a in assets if a.id in content.get("media_asset_ids", []))
    message = Message(idempotency_key="preview", text=content["text"], title=content.get("title"),
                      media=media, options=content.get("options", {}))
    try:
        adapter = cls(dict(account.config), {})
        out["html"] = adapter.preview(message)
        if account.channel == "loudspeaker":  # the unit's name, not its code
            out["html"] = _unit_name_in_preview(session, out["html"], adapter.unit_code(message))
    except Exception:  # noqa: BLE001 - an account whose config is broken is reported on its page
        out["html"] = None
        out["broken"] = True
    return out


# -- renders for an item (the media form's ?item=<id>) ------------------------------------------


def render_link(session: Session, values) -> dict:
    """``{"item_id", "campaign_id"}`` for a render started from the composer (``item`` /
    ``campaign`` in the request, checked against what the user may see), else ``{}``."""
    from core.auth import actor

    user = actor()
    item_id = values.get("item", type=db_int)
    campaign_id = values.get("campaign", type=db_int)
    item = session.get(ContentItem, item_id) if item_id else None
    campaign = session.get(Campaign, item.campaign_id if item else campaign_id) if (item or campaign_id) else None
    if campaign is None or user is None or not cs.can_see_campaign(session, user, campaign):
        return {}
    if item is not None:
        return {"item_id": item.id, "campaign_id": campaign.id}
    return {"campaign_id": campaign.id}


def template_values(session: Session, template, link: dict) -> dict | None:
    """A template's fields filled from the item a render was started for (``link`` from
    ``render_link``): its headline, message, points, the campaign's link, and its Khmer text
    for a bilingual template -- as kits and presets fill them. Required fields the item
    cannot fill keep the template's sample so the form opens complete. None without an item."""
    from campaigns.kits.builder import print_data
    from core.models import OrgUnit

    item = session.get(ContentItem, link.get("item_id")) if link.get("item_id") else None
    if item is None:
        return None
    campaign = session.get(Campaign, item.campaign_id)
    unit = session.get(OrgUnit, item.unit_id or campaign.owner_unit_id or 0) if campaign else None
    if campaign is None or unit is None:
        return None
    values = print_data(template, item, campaign, unit, campaign.target_url or "", unit.phone)
    sample = template.sample_data()
    for f in template.fields:
        if f.get("required") and f["name"] not in values and f["name"] in sample:
            values[f["name"]] = sample[f["name"]]
    return values


def attach_rendered(session: Session, link: dict, asset: Asset) -> bool:
    """Attach a finished render to the item it was made for (``link`` from ``render_link``
    or a job payload); the asset joins the item's campaign. True if it was attached now."""
    item = session.get(ContentItem, link.get("item_id")) if link.get("item_id") else None
    if asset.campaign_id is None and link.get("campaign_id"):
        asset.campaign_id = int(link["campaign_id"])
        session.add(asset)
    if item is None:
        return False
    if not attach_asset(session, item, asset.id):
        return False
    refresh_waiting(session, item)
    return True


def refresh_waiting(session: Session, item: ContentItem) -> None:
    """Give the item's waiting deliveries its current files (a render just finished):
    each is validated again; one that no longer passes keeps what it had."""
    from campaigns.presets import map_accounts

    waiting = {d.channel_account_id for d in item_deliveries(session, item.id) if d.status in WAITING}
    campaign = session.get(Campaign, item.campaign_id)
    if waiting and campaign is not None:
        map_accounts(session, campaign, [item], user_id=None, pairs={item.id: waiting})


# -- the campaign page's items section and the account mapping page ------------------------------


@dataclass
class ItemRow:
    item: ContentItem
    deliveries: list = field(default_factory=list)  # (account label, delivery)
    needs: list = field(default_factory=list)
    media: int = 0
    carriers: tuple = ()
    #: the Khmer text's state (translation_state) and whether the item is Khmer-only
    khmer: str | None = None
    khmer_only: bool = False


def campaign_summary(session: Session, campaign: Campaign) -> dict:
    """Which items go to which accounts, what each item still needs, and which channels of
    the campaign have no account at all (``missing``: content channel codes)."""
    items = session.exec(select(ContentItem).where(ContentItem.campaign_id == campaign.id)
                         .order_by(ContentItem.planned_at, ContentItem.id)).all()
    accounts = {a.id: a for a in session.exec(select(ChannelAccount)).all()}
    usable = {a.channel for a in accounts.values() if a.status != "disabled"}
    ids = [i.id for i in items]
    deliveries = session.exec(select(Delivery).where(
        Delivery.content_item_id.in_(ids or [-1]),  # type: ignore[union-attr]
        Delivery.status != Status.cancelled).order_by(Delivery.scheduled_at)).all()
    by_item: dict[int, list] = {}
    for d in deliveries:
        a = accounts.get(d.channel_account_id)
        by_item.setdefault(d.content_item_id, []).append((account_label(a) if a else "", d))
    rows = []
    for item in items:
        variants = item.variants or {}
        rows.append(ItemRow(item=item, deliveries=by_item.get(item.id, []), needs=list(variants.get("needs") or []),
                            media=len(variants.get("media_asset_ids") or []), carriers=CARRIERS.get(item.channel, ()),
                            khmer=translation_state(item), khmer_only=variants.get("audience") == "khmer"))
    missing = []
    for channel in dict.fromkeys(i.channel for i in items):
        carriers = CARRIERS.get(channel, ())
        if carriers and not any(c in usable for c in carriers):
            missing.append(channel)
    unmapped = sum(1 for r in rows if r.carriers and not r.deliveries)
    return {"rows": rows, "missing": missing, "unmapped": unmapped}


def delivery_state(d: Delivery) -> str:
    """A delivery's state as a communicator reads it (held = waiting for approval)."""
    from scheduler.states import STATUS_LABELS

    if d.status == Status.scheduled and d.held:
        return str(lazy_gettext("chờ duyệt"))
    label = STATUS_LABELS.get(d.status, "")
    try:
        from flask_babel import gettext

        return gettext(str(label)) if label else ""
    except (RuntimeError, KeyError):  # pragma: no cover
        return str(label)


NEEDS_LABELS = {"cover": lazy_gettext("cần ảnh bìa")}


def preset_created_message(session: Session, campaign: Campaign) -> str:
    """What a new preset campaign got, in one flash message."""
    from flask_babel import gettext

    summary = campaign_summary(session, campaign)
    rows = summary["rows"]
    parts = [gettext("Đã tạo chiến dịch với %(n)s nội dung và %(d)s lượt gửi chờ duyệt.", n=len(rows),
                     d=sum(len(r.deliveries) for r in rows))]
    if summary["unmapped"]:
        parts.append(gettext("%(n)s nội dung chưa gán tài khoản: xem mục «Nội dung theo lịch».",
                             n=summary["unmapped"]))
    if any(r.item.template and r.item.channel != "video" for r in rows):
        parts.append(gettext("Ảnh và ấn phẩm của mẫu đang được tạo và sẽ tự gắn vào nội dung."))
    return " ".join(parts)
