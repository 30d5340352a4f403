"""The calendar's data: entries by day with a state a person reads, the period to
open on, and moving an entry to another day (drag and drop, or the move form).

An entry is a delivery (one send on one account) or, when a content item has no
delivery yet, the item itself (a plan line). States follow the approval rule of
DESIGN.md: an item of a campaign in draft / in review waits for approval; a
delivery is held (waiting for approval), scheduled, sent or failed.
"""

from __future__ import annotations

import calendar as cal
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext
from sqlalchemy import func, update
from sqlmodel import Session, select

from campaigns.models import RELEASED, Campaign, CampaignStatus, ContentItem
from core.timeutil import LOCAL_TZ, utcnow
from scheduler.models import ChannelAccount, Delivery
from scheduler.states import STATUS_LABELS, Status

#: state -> (legend label); the CSS class is ``st-<state>``
STATES = {
    "waiting": lazy_gettext("chiến dịch còn là bản nháp hoặc đang chờ lãnh đạo duyệt"),
    "held": lazy_gettext("lượt gửi được giữ lại cho đến khi chiến dịch được duyệt"),
    "planned": lazy_gettext("chiến dịch đã duyệt, nội dung chưa chọn tài khoản để gửi"),
    "scheduled": lazy_gettext("sẽ tự động gửi đúng giờ"),
    "sent": lazy_gettext("đã gửi thành công"),
    "failed": lazy_gettext("gửi không thành công hoặc cần người kiểm tra"),
    "ended": lazy_gettext("đã hủy, hoặc chiến dịch đã kết thúc"),
}
SHORT = {
    "waiting": lazy_gettext("Chờ duyệt"),
    "held": lazy_gettext("Chờ phê duyệt"),
    "planned": lazy_gettext("Đã duyệt"),
    "scheduled": lazy_gettext("Đã lên lịch"),
    "sent": lazy_gettext("Đã gửi"),
    "failed": lazy_gettext("Lỗi"),
    "ended": lazy_gettext("Đã hủy"),
}
FAILED = (Status.failed, Status.missed, Status.needs_review, Status.needs_auth, Status.unknown)
#: only these may be moved to another day (not yet sent, not being sent)
MOVABLE = (Status.scheduled,)
SMS_CHANNELS = {"sms_kannel": "sms", "sms_partner": "sms"}


def delivery_state(d: Delivery) -> str:
    if d.status == Status.scheduled and d.held:
        return "held"
    if d.status in (Status.scheduled, Status.queued, Status.retry_wait, Status.sending):
        return "scheduled"
    if d.status == Status.sent:
        return "sent"
    if d.status in FAILED:
        return "failed"
    return "ended"


def item_state(campaign: Campaign) -> str:
    status = CampaignStatus(campaign.status)
    if status in (CampaignStatus.draft, CampaignStatus.in_review):
        return "waiting"
    if status in RELEASED:
        return "planned"
    return "ended" if status in (CampaignStatus.completed, CampaignStatus.archived) else "held"


def channel_kind(account: ChannelAccount) -> str:
    return SMS_CHANNELS.get(account.channel, account.channel.split("_")[0])


@dataclass
class Period:
    view: str  # month | week
    anchor: date
    start: date  # first day shown (a Monday)
    end: date  # last day shown (a Sunday)
    prev_d: date
    next_d: date

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, time.min, tzinfo=LOCAL_TZ),
                datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=LOCAL_TZ))

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def own_bounds(self) -> tuple[datetime, datetime]:
        """The month itself (without the neighbouring days that fill the grid)."""
        if self.view != "month":
            return self.bounds
        first = self.anchor.replace(day=1)
        last = first.replace(day=cal.monthrange(first.year, first.month)[1])
        return (datetime.combine(first, time.min, tzinfo=LOCAL_TZ),
                datetime.combine(last + timedelta(days=1), time.min, tzinfo=LOCAL_TZ))


def period(view: str, anchor: date) -> Period:
    if view == "month":
        first = anchor.replace(day=1)
        last = first.replace(day=cal.monthrange(first.year, first.month)[1])
        start = first - timedelta(days=first.weekday())
        end = last + timedelta(days=6 - last.weekday())
        return Period(view, anchor, start, end, (first - timedelta(days=1)).replace(day=1), last + timedelta(days=1))
    start = anchor - timedelta(days=anchor.weekday())
    return Period(view, anchor, start, start + timedelta(days=6), start - timedelta(days=7), start + timedelta(days=7))


@dataclass
class Filters:
    visible: set[int] | None  # campaign ids (None: all)
    channel: str = ""
    unit_id: int | None = None


def _item_query(f: Filters):
    q = select(ContentItem, Campaign).join(Campaign, Campaign.id == ContentItem.campaign_id)
    if f.visible is not None:
        q = q.where(Campaign.id.in_(f.visible or [-1]))  # type: ignore[attr-defined]
    if f.channel:
        q = q.where(ContentItem.channel == f.channel)
    if f.unit_id is not None:
        q = q.where(ContentItem.unit_id == f.unit_id)
    return q


def _delivery_query(f: Filters):
    q = (select(Delivery, ChannelAccount, Campaign)
         .join(ChannelAccount, ChannelAccount.id == Delivery.channel_account_id)
         .outerjoin(Campaign, Campaign.id == Delivery.campaign_id))
    if f.visible is not None:
        q = q.where(Delivery.campaign_id.in_(f.visible or [-1]))  # type: ignore[union-attr]
    if f.unit_id is not None:
        q = q.where(Delivery.unit_id == f.unit_id)
    if f.channel == "sms":
        q = q.where(ChannelAccount.channel.in_(tuple(SMS_CHANNELS)))  # type: ignore[attr-defined]
    elif f.channel:
        q = q.where(ChannelAccount.channel == f.channel)
    return q


def entries(session: Session, f: Filters, lo: datetime, hi: datetime, *, url_for, can_move: bool) -> dict[date, list]:
    """Entries of [lo, hi) by local day, sorted by time."""
    out: dict[date, list] = {}
    with_deliveries: set = set()
    rows = session.exec(_delivery_query(f).where(Delivery.scheduled_at >= lo, Delivery.scheduled_at < hi)
                        .order_by(Delivery.scheduled_at).limit(3000)).all()
    item_titles = {}
    item_ids = {d.content_item_id for d, _a, _c in rows if d.content_item_id}
    if item_ids:
        item_titles = dict(session.exec(select(ContentItem.id, ContentItem.title).where(
            ContentItem.id.in_(item_ids))).all())  # type: ignore[attr-defined]
    for d, account, campaign in rows:
        local = d.scheduled_at.astimezone(LOCAL_TZ)
        state = delivery_state(d)
        title = item_titles.get(d.content_item_id) or (d.content or {}).get("title") or (d.content or {}).get("text", "")
        out.setdefault(local.date(), []).append({
            "kind": "delivery", "id": d.id, "at": local, "time": local.strftime("%H:%M"), "title": str(title)[:80],
            "channel": channel_kind(account), "account": account.name, "campaign": campaign.title if campaign else "",
            "state": state, "detail": STATUS_LABELS.get(d.status, ""),
            "movable": can_move and d.status in MOVABLE,
            "url": url_for("campaigns.delivery_detail", delivery_id=d.id),
        })
    # items that already have deliveries are shown through them (whatever their dates)
    items = session.exec(_item_query(f).where(ContentItem.planned_at >= lo, ContentItem.planned_at < hi)
                         .order_by(ContentItem.planned_at).limit(3000)).all()
    if items:
        with_deliveries = set(session.exec(select(Delivery.content_item_id).where(
            Delivery.content_item_id.in_([i.id for i, _c in items])).distinct()).all())  # type: ignore[union-attr]
    for item, campaign in items:
        if item.id in with_deliveries:
            continue
        local = item.planned_at.astimezone(LOCAL_TZ)
        state = item_state(campaign)
        out.setdefault(local.date(), []).append({
            "kind": "item", "id": item.id, "at": local, "time": local.strftime("%H:%M"), "title": item.title,
            "channel": item.channel, "account": "", "campaign": campaign.title, "state": state, "detail": "",
            "movable": can_move and state != "ended",
            "url": url_for("campaigns.detail", campaign_id=campaign.id) + f"#item-{item.id}",
        })
    if not f.channel:  # press and broadcast slots sit beside the posts; a channel filter hides them
        _press_slots(session, f, lo, hi, out, url_for)
    for day in out.values():
        day.sort(key=lambda e: e["at"])
    return out


def _press_slots(session: Session, f: Filters, lo: datetime, hi: datetime, out: dict, url_for) -> None:
    """Programme slots of the press and broadcasters (campaigns.press) in [lo, hi)."""
    from campaigns.press.models import ProgrammeSlot
    from core.models import OrgUnit

    first, last = lo.astimezone(LOCAL_TZ).date(), hi.astimezone(LOCAL_TZ).date()
    q = (select(ProgrammeSlot, Campaign, OrgUnit).join(Campaign, Campaign.id == ProgrammeSlot.campaign_id)
         .join(OrgUnit, OrgUnit.id == ProgrammeSlot.unit_id)
         .where(ProgrammeSlot.air_on >= first, ProgrammeSlot.air_on <= last))
    if f.visible is not None:
        q = q.where(Campaign.id.in_(f.visible or [-1]))  # type: ignore[attr-defined]
    if f.unit_id is not None:
        q = q.where(ProgrammeSlot.unit_id == f.unit_id)
    for slot, campaign, unit in session.exec(q.order_by(ProgrammeSlot.air_on).limit(3000)).all():
        hh, mm = (int(x) for x in (slot.air_time or "00:00").split(":"))
        local = datetime.combine(slot.air_on, time(hh, mm), tzinfo=LOCAL_TZ)
        if not lo <= local < hi:
            continue
        out.setdefault(slot.air_on, []).append({
            "kind": "slot", "id": slot.id, "at": local, "time": slot.air_time or "", "title": slot.title,
            "channel": "press", "account": unit.name, "campaign": campaign.title,
            "state": "sent" if slot.status == "confirmed" else item_state(campaign), "detail": "",
            "movable": False, "url": url_for("press.slots", unit=slot.unit_id, campaign=slot.campaign_id),
        })


def nearest_with_entries(session: Session, f: Filters, lo: datetime, hi: datetime) -> datetime | None:
    """The first entry after ``hi`` (else the last before ``lo``), for opening on a period with entries."""
    later = [session.exec(select(func.min(ContentItem.planned_at)).select_from(ContentItem).join(
        Campaign, Campaign.id == ContentItem.campaign_id).where(
        ContentItem.planned_at >= hi, *_where_items(f))).one(),
        session.exec(_min_delivery(f, Delivery.scheduled_at >= hi, func.min)).one()]
    later = [v for v in later if v is not None]
    if later:
        return min(_aware(v) for v in later)
    earlier = [session.exec(select(func.max(ContentItem.planned_at)).select_from(ContentItem).join(
        Campaign, Campaign.id == ContentItem.campaign_id).where(
        ContentItem.planned_at < lo, *_where_items(f))).one(),
        session.exec(_min_delivery(f, Delivery.scheduled_at < lo, func.max)).one()]
    earlier = [v for v in earlier if v is not None]
    return max(_aware(v) for v in earlier) if earlier else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _where_items(f: Filters) -> list:
    out = []
    if f.visible is not None:
        out.append(Campaign.id.in_(f.visible or [-1]))  # type: ignore[attr-defined]
    if f.channel:
        out.append(ContentItem.channel == f.channel)
    if f.unit_id is not None:
        out.append(ContentItem.unit_id == f.unit_id)
    return out


def _min_delivery(f: Filters, cond, agg):
    q = select(agg(Delivery.scheduled_at)).select_from(Delivery).join(
        ChannelAccount, ChannelAccount.id == Delivery.channel_account_id).where(cond)
    if f.visible is not None:
        q = q.where(Delivery.campaign_id.in_(f.visible or [-1]))  # type: ignore[union-attr]
    if f.unit_id is not None:
        q = q.where(Delivery.unit_id == f.unit_id)
    if f.channel == "sms":
        q = q.where(ChannelAccount.channel.in_(tuple(SMS_CHANNELS)))  # type: ignore[attr-defined]
    elif f.channel:
        q = q.where(ChannelAccount.channel == f.channel)
    return q


# -- moving an entry -------------------------------------------------------------------


class MoveError(ValueError):
    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message = message
        self.status = status


def parse_day(value: str | None) -> date:
    text = (value or "").strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise MoveError(str(lazy_gettext("Ngày mới không hợp lệ; hãy nhập dạng dd/mm/yyyy.")))


def _new_time(old: datetime, day: date, now: datetime) -> datetime:
    local = old.astimezone(LOCAL_TZ)
    when = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=LOCAL_TZ)
    if when <= now:
        raise MoveError(str(lazy_gettext("Không thể dời sang thời điểm đã qua (%(t)s).",
                                         t=when.strftime("%d/%m/%Y %H:%M"))))
    return when


def move_item(session: Session, item: ContentItem, day: date, user_id: int | None) -> datetime:
    """Move a plan line (an item without deliveries) to ``day``, keeping its time."""
    from core.models import audit

    campaign = session.get(Campaign, item.campaign_id)
    if campaign is None or item_state(campaign) == "ended":
        raise MoveError(str(lazy_gettext("Chiến dịch đã kết thúc: không dời lịch được nữa.")))
    if session.exec(select(Delivery.id).where(Delivery.content_item_id == item.id)).first() is not None:
        raise MoveError(str(lazy_gettext("Nội dung này đã có lượt gửi: hãy dời từng lượt gửi trên lịch.")))
    if item.planned_at is None:
        raise MoveError(str(lazy_gettext("Nội dung chưa có ngày giờ dự kiến.")))
    when = _new_time(item.planned_at, day, utcnow())
    old = item.planned_at
    item.planned_at = when.astimezone(UTC)
    item.updated_at = utcnow()
    session.add(item)
    audit(session, user_id, "content_item.move", "content_item", item.id,
          **{"from": _aware(old).isoformat(), "to": item.planned_at.isoformat()})
    return when


def move_delivery(session: Session, d: Delivery, day: date, user_id: int | None) -> datetime:
    """Move a scheduled (not yet sent) delivery to ``day``, keeping its time: the same rules
    as the composer's update (a new idempotency key that must not clash, a new send window,
    and only while it is still ``scheduled``)."""
    from core.models import audit
    from scheduler import service as ss

    if d.status not in MOVABLE:
        raise MoveError(str(lazy_gettext("Chỉ dời được lượt gửi chưa gửi (trạng thái hiện tại: %(s)s).",
                                         s=STATUS_LABELS.get(d.status, ""))), 409)
    account = session.get(ChannelAccount, d.channel_account_id)
    when = _new_time(d.scheduled_at, day, utcnow()).astimezone(UTC)
    key = ss.idempotency_key(account, d.content, when)
    clash = session.exec(select(Delivery.id).where(Delivery.idempotency_key == key)).first()
    if clash is not None and clash != d.id:
        raise MoveError(str(lazy_gettext(
            "%(a)s: đã có lượt gửi cùng nội dung trên tài khoản này vào thời điểm đó.", a=account.name)), 409)
    campaign = session.get(Campaign, d.campaign_id) if d.campaign_id else None
    grace = timedelta(hours=campaign.grace_hours) if campaign else ss.DEFAULT_GRACE
    now = utcnow()
    old = d.scheduled_at
    result = session.exec(  # type: ignore[call-overload]
        update(Delivery).where(Delivery.id == d.id, Delivery.status == Status.scheduled).values(
            scheduled_at=when, next_attempt_at=when, idempotency_key=key,
            not_after=max(when, now) + grace, updated_at=now))
    if result.rowcount != 1:
        raise MoveError(str(lazy_gettext("Lượt gửi vừa bắt đầu, không dời được nữa.")), 409)
    audit(session, user_id, "delivery.move", "delivery", d.id,
          **{"from": _aware(old).isoformat(), "to": when.isoformat()})
    return when.astimezone(LOCAL_TZ)
