"""Content items: written once, planned per channel and date, scheduled onto accounts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from campaigns import service as cs
from campaigns.forms import ItemForm, ScheduleForm
from campaigns.models import CHANNEL_LABELS, Campaign, CampaignStatus, ContentItem
from campaigns.presets import ACCOUNT_CHANNELS
from core.auth import actor, role_required
from core.db import get_session
from core.models import OrgUnit, Role, audit
from core.timeutil import LOCAL_TZ, utcnow
from scheduler import service as ss
from scheduler.models import ChannelAccount

bp = Blueprint("items", __name__, template_folder="templates")

#: content channel -> account channels that can carry it (SMS: the wave page)
CARRIERS = {**ACCOUNT_CHANNELS, "video": ("facebook",), "print": ()}


def _campaign(campaign_id: int) -> Campaign:
    c = get_session().get(Campaign, campaign_id)
    if c is None or not cs.can_see_campaign(get_session(), actor(), c):
        abort(404)
    return c


def _choices(form: ItemForm) -> None:
    form.channel.choices = list(CHANNEL_LABELS.items())
    units = get_session().exec(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all()
    form.unit.choices = [("", "—")] + [(u.code, u.name) for u in units if u.kind != "telecom"]


def _save(form: ItemForm, item: ContentItem) -> None:
    session = get_session()
    hh, mm = (int(x) for x in form.planned_time.data.split(":"))
    local = datetime.combine(form.planned_on.data, time(hh, mm), tzinfo=LOCAL_TZ)
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == form.unit.data)).first() if form.unit.data else None
    item.title = cs.nfc(form.title.data)
    item.body = cs.nfc(form.body.data or "")
    item.channel = form.channel.data
    item.language = form.language.data
    item.planned_at = local.astimezone(UTC)
    item.unit_id = unit.id if unit else None
    item.updated_at = utcnow()
    session.add(item)


@bp.route("/campaigns/<int:campaign_id>/items/new", methods=["GET", "POST"])
@role_required(Role.communicator)
def new(campaign_id: int):
    campaign = _campaign(campaign_id)
    if campaign.status == CampaignStatus.archived:
        abort(409)
    form = ItemForm()
    _choices(form)
    if request.method == "GET":
        form.planned_on.data = max(campaign.starts_on, utcnow().astimezone(LOCAL_TZ).date())
    if form.validate_on_submit():
        session = get_session()
        item = ContentItem(campaign_id=campaign.id, title="", channel="facebook", created_at=utcnow())
        _save(form, item)
        session.flush()
        audit(session, actor().id, "content.create", "content_item", item.id, campaign_id=campaign.id)
        session.commit()
        flash(_("Đã thêm nội dung."), "success")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id) + f"#item-{item.id}")
    return render_template("campaigns/item_form.html", form=form, campaign=campaign, item=None), (
        422 if form.errors else 200)


@bp.route("/items/<int:item_id>/edit", methods=["GET", "POST"])
@role_required(Role.communicator)
def edit(item_id: int):
    session = get_session()
    item = session.get(ContentItem, item_id)
    if item is None:
        abort(404)
    campaign = _campaign(item.campaign_id)
    form = ItemForm(obj=item if request.method == "GET" else None)
    _choices(form)
    if request.method == "GET":
        local = item.planned_at.astimezone(LOCAL_TZ) if item.planned_at else None
        form.planned_on.data = local.date() if local else campaign.starts_on
        form.planned_time.data = local.strftime("%H:%M") if local else "08:00"
        unit = session.get(OrgUnit, item.unit_id) if item.unit_id else None
        form.unit.data = unit.code if unit else ""
    if form.validate_on_submit():
        _save(form, item)
        audit(session, actor().id, "content.update", "content_item", item.id)
        session.commit()
        from campaigns import hooks

        hooks.on_content_changed(session, campaign)
        session.commit()
        flash(_("Đã lưu nội dung."), "success")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id) + f"#item-{item.id}")
    return render_template("campaigns/item_form.html", form=form, campaign=campaign, item=item), (
        422 if form.errors else 200)


@bp.route("/items/<int:item_id>/schedule", methods=["GET", "POST"])
@role_required(Role.communicator)
def schedule(item_id: int):
    """Put a content item on a channel account at a time (held until approval)."""
    from campaigns.deliveries import DeliveryInputError, prepare_delivery

    session = get_session()
    item = session.get(ContentItem, item_id)
    if item is None:
        abort(404)
    campaign = _campaign(item.campaign_id)
    kinds = CARRIERS.get(item.channel, ())
    accounts = session.exec(select(ChannelAccount).where(ChannelAccount.channel.in_(kinds or ("-",)))).all()
    form = ScheduleForm()
    form.account.choices = [(a.id, f"{a.name} ({a.channel})") for a in accounts]
    if request.method == "GET" and item.planned_at:
        form.when.data = item.planned_at.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")
    if form.validate_on_submit():
        try:
            when = datetime.strptime(form.when.data.strip(), "%d/%m/%Y %H:%M").replace(tzinfo=LOCAL_TZ)
        except ValueError:
            form.when.errors = [_("Thời điểm phải có dạng dd/mm/yyyy HH:MM.")]
        else:
            account = session.get(ChannelAccount, form.account.data)
            content = {"text": item.body or item.title, "title": item.title}
            try:
                content = prepare_delivery(session, account, content, campaign.sms_class)
                d = ss.create_delivery(
                    session, account=account, content=content, scheduled_at=when.astimezone(LOCAL_TZ),
                    campaign_id=campaign.id, held=campaign.status not in ("approved", "active"),
                    grace=timedelta(hours=campaign.grace_hours), compliance=cs.compliance_for(campaign),
                    created_by=actor().id, unit_id=account.unit_id, content_item_id=item.id)
                session.commit()
                flash(_("Đã lên lịch gửi."), "success")
                return redirect(url_for("campaigns.delivery_detail", delivery_id=d.id))
            except DeliveryInputError as exc:
                session.rollback()
                form.when.errors = list(exc.fields.values())
            except ss.DuplicateDelivery as exc:
                session.rollback()
                flash(_("Nội dung này đã được lên lịch trên tài khoản này vào thời điểm này."), "error")
                return redirect(url_for("campaigns.delivery_detail", delivery_id=exc.existing_id))
    return render_template("campaigns/item_schedule.html", form=form, item=item, campaign=campaign,
                           accounts=accounts), (422 if form.errors else 200)
