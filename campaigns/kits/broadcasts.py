"""The broadcast schedule (recurring loudspeaker slots per unit) and the
commune officers' broadcast confirmations.

A unit's slots are ``RecurringSchedule`` rows on the unit's ``loudspeaker``
channel account (created on first use); the scheduler expands them into one
``Delivery`` per slot. Confirming a broadcast stamps ``confirmed_at`` /
``confirmed_by`` on that delivery. Who may confirm: the delivery's own unit
and its parent (the district), and admins; every other unit gets 404, and
province-wide roles that may see it but not confirm get 403.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, select

from campaigns.models import Asset, Campaign, ContentItem
from campaigns.service import ValidationError
from core.models import OrgUnit, Role, User, audit
from core.timeutil import LOCAL_TZ, parse_local_date, to_local, utcnow
from core.units import subtree_ids
from scheduler.models import ChannelAccount, Delivery, RecurringSchedule
from scheduler.states import Status

CHANNEL = "loudspeaker"
WEEKDAY_LABELS = {
    1: "Thứ Hai",
    2: "Thứ Ba",
    3: "Thứ Tư",
    4: "Thứ Năm",
    5: "Thứ Sáu",
    6: "Thứ Bảy",
    7: "Chủ nhật",
}
#: suggested slots when a unit has none yet (shown as a suggestion in the kit)
DEFAULT_WEEKDAYS = [1, 3, 5]
DEFAULT_TIMES = ["06:00", "17:00"]
#: a slot may be confirmed from this long before its time (the announcer reads early)
CONFIRM_EARLY = timedelta(hours=1)
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_SLOTS_PER_DAY = 12


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class Conflict(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# -- accounts ------------------------------------------------------------------------


def loudspeaker_account(session: Session, unit: OrgUnit) -> ChannelAccount:
    """The unit's loudspeaker channel account; created (no webhook) if missing."""
    account = session.exec(
        select(ChannelAccount)
        .where(ChannelAccount.channel == CHANNEL, ChannelAccount.unit_id == unit.id)
        .order_by(ChannelAccount.id)
    ).first()
    if account is None:
        account = ChannelAccount(
            channel=CHANNEL,
            name=f"Loa truyền thanh {unit.name}",
            config={"unit_code": unit.code},
            unit_id=unit.id,
            created_at=utcnow(),
        )
        session.add(account)
        session.flush()
        audit(
            session,
            None,
            "channel_account.create",
            "channel_account",
            account.id,
            channel=CHANNEL,
            unit=unit.code,
            auto=True,
        )
    return account


# -- recurring slots ------------------------------------------------------------------


def parse_weekdays(value, errors: dict) -> list[int]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list) or not value:
        errors["weekdays"] = "Chọn ít nhất một ngày trong tuần (1 = Thứ Hai … 7 = Chủ nhật)."
        return []
    out = []
    for v in value:
        try:
            n = int(v)
        except (TypeError, ValueError):
            n = 0
        if isinstance(v, bool) or not 1 <= n <= 7:
            errors["weekdays"] = (
                f"Ngày trong tuần '{v}' không hợp lệ: dùng số 1 (Thứ Hai) đến 7 (Chủ nhật)."
            )
            return []
        if n not in out:
            out.append(n)
    return sorted(out)


def parse_times(value, errors: dict) -> list[str]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, list) or not value:
        errors["times"] = "Nhập ít nhất một giờ phát, dạng HH:MM (ví dụ 06:00)."
        return []
    out = []
    for v in value:
        m = _TIME_RE.match(str(v).strip()) if isinstance(v, str) else None
        if not m:
            errors["times"] = (
                f"Giờ phát '{v}' không hợp lệ: dùng dạng HH:MM, ví dụ 06:00 hoặc 17:30."
            )
            return []
        t = f"{int(m.group(1)):02d}:{m.group(2)}"
        if t not in out:
            out.append(t)
    if len(out) > MAX_SLOTS_PER_DAY:
        errors["times"] = f"Tối đa {MAX_SLOTS_PER_DAY} giờ phát mỗi ngày."
        return []
    return sorted(out)


def _opt_date(value, field: str, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return parse_local_date(str(value))
    except ValueError:
        errors[field] = (
            f"'{str(value)[:20]}' không phải là ngày hợp lệ (YYYY-MM-DD hoặc dd/mm/yyyy)."
        )
        return None


def create_schedule(
    session: Session,
    *,
    campaign: Campaign,
    unit: OrgUnit,
    data: dict,
    user: User | None,
    script_text: str | None = None,
) -> RecurringSchedule:
    """Validate ``data`` (weekdays, times, optional starts_on/ends_on/content_item_id) and
    create the rule on the unit's loudspeaker account. Raises ValidationError with every field."""
    errors: dict[str, str] = {}
    weekdays = parse_weekdays(data.get("weekdays"), errors)
    times = parse_times(data.get("times"), errors)
    starts = _opt_date(data.get("starts_on"), "starts_on", errors) or campaign.starts_on
    ends = _opt_date(data.get("ends_on"), "ends_on", errors) or campaign.ends_on
    if "starts_on" not in errors and "ends_on" not in errors:
        if ends < starts:
            errors["ends_on"] = "Ngày kết thúc phải sau hoặc bằng ngày bắt đầu."
        elif starts < campaign.starts_on or ends > campaign.ends_on:
            errors["starts_on" if starts < campaign.starts_on else "ends_on"] = (
                f"Lịch phát phải nằm trong thời gian chiến dịch "
                f"({campaign.starts_on:%d/%m/%Y} – {campaign.ends_on:%d/%m/%Y})."
            )
    if not errors:  # a unit exists for part of a campaign only after a reorganisation
        if unit.valid_from is not None and starts < unit.valid_from:
            starts = unit.valid_from
        if unit.valid_to is not None and ends >= unit.valid_to:
            ends = unit.valid_to - timedelta(days=1)
        if ends < starts:
            errors["unit"] = (f"Đơn vị «{unit.name}» không tồn tại trong thời gian này "
                              "(đã sắp xếp lại); hãy lập lịch cho đơn vị kế thừa.")
    item = None
    raw_item = data.get("content_item_id")
    if raw_item not in (None, ""):
        try:
            item = session.get(ContentItem, int(raw_item))
        except (TypeError, ValueError):
            item = None
        if item is None or item.campaign_id != campaign.id or item.channel != CHANNEL:
            errors["content_item_id"] = (
                "Kịch bản phải là một nội dung loa truyền thanh của chiến dịch này."
            )
    if errors:
        raise ValidationError(errors)
    account = loudspeaker_account(session, unit)
    if item is None:
        first = session.exec(
            select(ContentItem)
            .where(ContentItem.campaign_id == campaign.id, ContentItem.channel == CHANNEL)
            .order_by(ContentItem.planned_at, ContentItem.id)
        ).first()
    else:
        first = item
    content = {
        "text": script_text or (first.body if first else campaign.title),
        "title": first.title if first else campaign.title,
        "options": {"unit_code": unit.code},
    }
    if item is not None:
        content["content_item_id"] = item.id
    from campaigns.models import RELEASED

    rule = RecurringSchedule(
        campaign_id=campaign.id,
        channel_account_id=account.id,
        unit_id=unit.id,
        content=content,
        weekdays=weekdays,
        times=times,
        starts_on=starts.isoformat(),
        ends_on=ends.isoformat(),
        held=campaign.status not in RELEASED,
        created_at=utcnow(),
    )
    session.add(rule)
    session.flush()
    audit(
        session,
        user.id if user else None,
        "broadcast_schedule.create",
        "recurring_schedule",
        rule.id,
        unit=unit.code,
        campaign_id=campaign.id,
        weekdays=weekdays,
        times=times,
    )
    return rule


def expand_slots(
    weekdays: list[int], times: list[str], starts_on: date, ends_on: date
) -> list[datetime]:
    """Every local slot (aware, Asia/Ho_Chi_Minh) of a rule, in order."""
    out = []
    day = starts_on
    parsed = sorted(time(int(t[:2]), int(t[3:5])) for t in times)
    while day <= ends_on:
        if day.isoweekday() in weekdays:
            out.extend(datetime.combine(day, t, tzinfo=LOCAL_TZ) for t in parsed)
        day += timedelta(days=1)
    return out


def unit_rules(session: Session, campaign_id: int, unit_id: int) -> list[RecurringSchedule]:
    return list(
        session.exec(
            select(RecurringSchedule)
            .join(ChannelAccount, ChannelAccount.id == RecurringSchedule.channel_account_id)
            .where(
                RecurringSchedule.campaign_id == campaign_id,
                RecurringSchedule.unit_id == unit_id,
                ChannelAccount.channel == CHANNEL,
            )
            .order_by(RecurringSchedule.id)
        ).all()
    )


def slot_label(weekdays: list[int], times: list[str]) -> str:
    days = ", ".join(WEEKDAY_LABELS[d] for d in weekdays)
    return f"{days} lúc {' và '.join(times)}"


# -- confirmations --------------------------------------------------------------------


def delivery_unit_id(session: Session, d: Delivery) -> int | None:
    if d.unit_id is not None:
        return d.unit_id
    account = session.get(ChannelAccount, d.channel_account_id)
    return account.unit_id if account else None


def is_broadcast(session: Session, d: Delivery) -> bool:
    account = session.get(ChannelAccount, d.channel_account_id)
    return account is not None and account.channel == CHANNEL


def visible_broadcasts(session: Session, user: User):
    """A select of the loudspeaker deliveries the user may see (None-safe for every role)."""
    query = (
        select(Delivery)
        .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
        .where(ChannelAccount.channel == CHANNEL)
    )
    if user.role in (Role.admin, Role.communicator, Role.reviewer):
        return query
    if user.role != Role.unit_officer or user.unit_id is None:
        return query.where(Delivery.id == -1)
    units = subtree_ids(session, user.unit_id)
    from sqlalchemy import or_

    return query.where(
        or_(
            Delivery.unit_id.in_(units),  # type: ignore[union-attr]
            (Delivery.unit_id.is_(None)) & ChannelAccount.unit_id.in_(units),
        )
    )  # type: ignore[union-attr]


def can_see_broadcast(session: Session, user: User, d: Delivery) -> bool:
    if user.role in (Role.admin, Role.communicator, Role.reviewer):
        return True
    if user.role != Role.unit_officer or user.unit_id is None:
        return False
    uid = delivery_unit_id(session, d)
    return uid is not None and uid in subtree_ids(session, user.unit_id)


def can_confirm(session: Session, user: User, d: Delivery) -> bool:
    """The delivery's own unit or its district (the unit's parent); admins too."""
    if user.role == Role.admin:
        return True
    if user.role != Role.unit_officer or user.unit_id is None:
        return False
    uid = delivery_unit_id(session, d)
    if uid is None:
        return False
    if uid == user.unit_id:
        return True
    unit = session.get(OrgUnit, uid)
    return unit is not None and unit.parent_id == user.unit_id


def broadcast_state(d: Delivery, now: datetime | None = None) -> str:
    """confirmed | cancelled | upcoming | unconfirmed (a past slot nobody confirmed)."""
    now = now or utcnow()
    if d.confirmed_at is not None:
        return "confirmed"
    if d.status == Status.cancelled:
        return "cancelled"
    if d.scheduled_at is not None and d.scheduled_at > now:
        return "upcoming"
    return "unconfirmed"


STATE_LABELS = {
    "confirmed": "Đã xác nhận phát",
    "cancelled": "Đã hủy",
    "upcoming": "Sắp phát",
    "unconfirmed": "Chưa xác nhận",
}


def confirm_broadcast(
    session: Session, delivery_id: int, user: User, note: str | None = None
) -> Delivery:
    """Confirm that a slot was broadcast. NotFound for what the user may not see
    (or is not a broadcast), Forbidden for viewers who may not confirm, Conflict
    for a cancelled or future slot. Confirming twice keeps the first confirmation."""
    d = session.get(Delivery, delivery_id)
    if d is None or not is_broadcast(session, d) or not can_see_broadcast(session, user, d):
        raise NotFound(delivery_id)
    if not can_confirm(session, user, d):
        if user.role in (Role.communicator, Role.reviewer):
            raise Forbidden(
                "Chỉ cán bộ của đơn vị phát (hoặc huyện quản lý) mới xác nhận được buổi phát."
            )
        raise NotFound(delivery_id)
    if d.confirmed_at is not None:
        return d
    if d.status == Status.cancelled:
        raise Conflict("Buổi phát này đã bị hủy, không thể xác nhận.")
    if d.scheduled_at is not None and d.scheduled_at - CONFIRM_EARLY > utcnow():
        raise Conflict("Chưa đến giờ phát: chỉ xác nhận được từ 1 giờ trước giờ phát trở đi.")
    if note is not None and len(note) > 500:
        raise ValidationError({"note": "Ghi chú tối đa 500 ký tự."})
    d.confirmed_at = utcnow()
    d.confirmed_by = user.id
    d.updated_at = d.confirmed_at
    session.add(d)
    audit(
        session,
        user.id,
        "broadcast.confirm",
        "delivery",
        d.id,
        note=unicodedata.normalize("NFC", note) if note else "",
    )
    return d


# -- publishing scripts and audio to the slots -----------------------------------------------------------


def _audio_asset(
    session: Session, campaign: Campaign, unit: OrgUnit, script: dict, media_dir
) -> Asset:
    """The script's MP3 as a content-addressed Asset with an unguessable public token."""
    import hashlib
    import secrets
    import shutil
    from pathlib import Path

    src = Path(script["mp3"])
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    existing = session.exec(select(Asset).where(Asset.sha256 == sha, Asset.kind == "audio")).first()
    if existing is not None and Path(existing.path).is_file():
        return existing
    dest = Path(media_dir) / "assets" / sha[:2] / f"{sha}.mp3"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copyfile(src, dest)
    asset = Asset(
        kind="audio",
        path=str(dest),
        filename=f"ban-tin-{unit.code}-{sha[:8]}.mp3",
        mime="audio/mpeg",
        sha256=sha,
        size=dest.stat().st_size,
        duration=script.get("seconds"),
        public_token=secrets.token_urlsafe(24),
        tags=["kit", unit.code],
        title=script["title"][:200],
        campaign_id=campaign.id,
        created_at=utcnow(),
    )
    session.add(asset)
    session.flush()
    return asset


def publish_to_broadcasts(
    session: Session,
    campaign: Campaign,
    unit: OrgUnit,
    scripts: list[dict],
    media_dir,
    base_url: str,
    rotation: dict | None = None,
) -> int:
    """Put each slot's script text (as read for this unit) and its MP3 on the unit's
    waiting broadcast deliveries and recurring rules, so a send publishes them and an
    IP-loudspeaker webhook gets a public ``audio_url``. Returns how many slots changed.

    A slot whose content names no bulletin takes the one ``rotation`` gives its
    local time (the kit's schedule: the campaign's bulletins in turn), else the first."""
    if not scripts:
        return 0
    account = session.exec(
        select(ChannelAccount)
        .where(ChannelAccount.channel == CHANNEL, ChannelAccount.unit_id == unit.id)
        .order_by(ChannelAccount.id)
    ).first()
    if account is None:
        return 0
    media: dict[int, dict] = {}
    for s in scripts:
        if s.get("mp3"):
            asset = _audio_asset(session, campaign, unit, s, media_dir)
            media[s["id"]] = {
                "path": asset.path,
                "mime": asset.mime,
                "size": asset.size,
                "duration": asset.duration,
                "asset_id": asset.id,
                "url": f"{base_url.rstrip('/')}/m/{asset.public_token}",
            }
    by_id = {s["id"]: s for s in scripts}

    def fill(content: dict, slot=None) -> dict:
        script = (
            by_id.get((content or {}).get("content_item_id"))
            or by_id.get((rotation or {}).get(slot))
            or scripts[0]
        )
        new = {
            **(content or {}),
            "text": script["text"],
            "title": (content or {}).get("title") or script["title"],
        }
        if script["id"] in media:
            new["media"] = [media[script["id"]]]
        else:
            new.pop("media", None)
        return new

    changed = 0
    waiting = session.exec(
        select(Delivery).where(
            Delivery.channel_account_id == account.id,
            Delivery.campaign_id == campaign.id,
            Delivery.status.in_([Status.scheduled, Status.retry_wait]),
        )
    ).all()  # type: ignore[attr-defined]
    for d in waiting:
        slot = (
            to_local(d.scheduled_at).replace(second=0, microsecond=0)
            if d.scheduled_at is not None
            else None
        )
        new = fill(d.content, slot)
        if new != d.content:
            d.content = new
            d.updated_at = utcnow()
            session.add(d)
            changed += 1
    for rule in unit_rules(session, campaign.id, unit.id):
        new = fill(rule.content)
        if new != rule.content:
            rule.content = new
            session.add(rule)
    return changed
