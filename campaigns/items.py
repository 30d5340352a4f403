"""Content items: written once, planned per channel and date, scheduled onto accounts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from sqlmodel import select
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, ValidationError

from campaigns import composer as cp
from campaigns import service as cs
from campaigns.forms import ScheduleForm
from campaigns.models import CHANNEL_LABELS, RELEASED, Asset, Campaign, CampaignStatus, ContentItem
from core import formonce
from core.auth import actor, role_required, visible_unit_ids
from core.db import get_session
from core.models import OrgUnit, Role, audit
from core.timeutil import LOCAL_TZ, utcnow
from core.validate import db_int
from scheduler import service as ss
from scheduler.models import ChannelAccount

bp = Blueprint("items", __name__, template_folder="templates")

#: content channel -> account channels that can carry it
CARRIERS = cp.CARRIERS


def _campaign(campaign_id: int) -> Campaign:
    c = get_session().get(Campaign, campaign_id)
    if c is None or not cs.can_see_campaign(get_session(), actor(), c):
        abort(404)
    return c


class ComposerForm(FlaskForm):
    """The item's own fields; accounts, media and overrides are read from the request."""

    title = StringField(lazy_gettext("Tiêu đề"), validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập tiêu đề.")),
        Length(max=200, message=lazy_gettext("Tiêu đề tối đa 200 ký tự."))])
    body = TextAreaField(lazy_gettext("Nội dung tiếng Việt (viết một lần, dùng cho mọi kênh)"), validators=[
        Length(max=20000, message=lazy_gettext("Nội dung tối đa 20000 ký tự."))])
    text_km = TextAreaField(lazy_gettext("Nội dung tiếng Khmer (nếu có)"), validators=[
        Length(max=20000, message=lazy_gettext("Nội dung tối đa 20000 ký tự."))])
    text_en = TextAreaField(lazy_gettext("Nội dung tiếng Anh (nếu có)"), validators=[
        Length(max=20000, message=lazy_gettext("Nội dung tối đa 20000 ký tự."))])
    channel = SelectField(lazy_gettext("Loại nội dung"), choices=[])
    planned_on = DateField(lazy_gettext("Ngày dự kiến"), validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập ngày hợp lệ."))])
    planned_time = StringField(lazy_gettext("Giờ (HH:MM)"), default="08:00", validators=[
        DataRequired(message=lazy_gettext("Vui lòng nhập giờ.")), Length(max=5)])
    unit = SelectField(lazy_gettext("Đơn vị phụ trách"), choices=[])

    def validate_planned_time(self, field):
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", field.data or ""):
            raise ValidationError(_("Giờ phải có dạng HH:MM, ví dụ 06:30."))


def _choices(form: ComposerForm) -> None:
    form.channel.choices = [(k, str(v)) for k, v in CHANNEL_LABELS.items()]
    units = get_session().exec(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all()
    form.unit.choices = [("", "—")] + [(u.code, u.name) for u in units if u.kind != "telecom"]


def _planned_at(form: ComposerForm) -> datetime | None:
    if form.planned_on.data is None or form.planned_time.errors or not form.planned_time.data:
        return None
    try:
        hh, mm = (int(x) for x in form.planned_time.data.split(":"))
        return datetime.combine(form.planned_on.data, time(hh, mm), tzinfo=LOCAL_TZ)
    except ValueError:
        return None


def _typed_choices(accounts) -> tuple[dict[int, cp.Choice], set[int]]:
    """Every account's overrides as typed (kept even when unticked) and the ticked ones."""
    f = request.form
    typed = {}
    for a in accounts:
        list_id = f.get(f"a{a.id}_list", type=db_int)
        typed[a.id] = cp.Choice(
            account_id=a.id, title=cs.nfc(f.get(f"a{a.id}_title", ""))[:200],
            text=cs.nfc(f.get(f"a{a.id}_text", ""))[:20000], lang=f.get(f"a{a.id}_lang", "")[:2],
            when=f.get(f"a{a.id}_when", "")[:20].strip(), recipient_list_id=list_id,
            plain=f.get(f"a{a.id}_plain") == "1")
    ticked = {i for i in f.getlist("account", type=db_int) if i in typed}
    return typed, ticked


def _draft(form: ComposerForm, item: ContentItem | None, typed, ticked) -> cp.Draft:
    return cp.Draft(
        title=cs.nfc(form.title.data or ""), body=cs.nfc(form.body.data or ""),
        texts={"km": cs.nfc(form.text_km.data or ""), "en": cs.nfc(form.text_en.data or "")},
        channel=form.channel.data or "facebook", planned_at=_planned_at(form),
        media_asset_ids=list(dict.fromkeys(request.form.getlist("media", type=db_int)))[:20],
        choices=[typed[i] for i in typed if i in ticked], language=item.language if item else "vi")


def _library(campaign: Campaign, chosen: list[int]) -> list[Asset]:
    """Library files to pick from: those attached, then the campaign's, then the newest."""
    session = get_session()
    attached = cp.assets_by_id(session, chosen)
    own = session.exec(select(Asset).where(Asset.campaign_id == campaign.id).order_by(Asset.id.desc())
                       .limit(60)).all()
    recent = session.exec(select(Asset).order_by(Asset.id.desc()).limit(40)).all()
    out, seen = [], set()
    for a in [*attached, *own, *recent]:
        if a.id not in seen:
            seen.add(a.id)
            out.append(a)
    return out


def _asset_url(asset: Asset) -> str:
    return url_for("media.asset_file", asset_id=asset.id, inline=1)


def _ready_lists():
    try:
        from scheduler.sms.models import RecipientList
    except ImportError:  # pragma: no cover
        return []
    return get_session().exec(select(RecipientList).where(RecipientList.status == "ready")
                              .order_by(RecipientList.id.desc()).limit(100)).all()


def _compose(campaign: Campaign, item: ContentItem | None):
    session = get_session()
    form = ComposerForm(obj=item if request.method == "GET" and item else None)
    _choices(form)
    accounts = cp.candidate_accounts(session)
    lists = _ready_lists()
    deliveries = cp.item_deliveries(session, item.id) if item else []
    locked = cp.locked_accounts(deliveries)
    if request.method == "GET":
        if item is not None:
            draft = cp.draft_from_item(item)
            local = item.planned_at.astimezone(LOCAL_TZ) if item.planned_at else None
            form.planned_on.data = local.date() if local else campaign.starts_on
            form.planned_time.data = local.strftime("%H:%M") if local else "08:00"
            unit = session.get(OrgUnit, item.unit_id) if item.unit_id else None
            form.unit.data = unit.code if unit else ""
            form.text_km.data = draft.texts.get("km", "")
            form.text_en.data = draft.texts.get("en", "")
            live = {d.channel_account_id for d in deliveries if d.status in cp.WAITING}
            chosen_ids = {c.account_id for c in draft.choices}
            # accounts scheduled elsewhere (old schedule page, presets) count as chosen too
            typed = {a.id: next((c for c in draft.choices if c.account_id == a.id), cp.Choice(a.id))
                     for a in accounts}
            ticked = (chosen_ids | live) - set(locked)
        else:
            form.planned_on.data = max(campaign.starts_on, utcnow().astimezone(LOCAL_TZ).date())
            channel = request.args.get("channel")
            if channel in CHANNEL_LABELS:
                form.channel.data = channel
            draft = cp.Draft(title="", body="", texts={}, channel=form.channel.data or "facebook",
                             planned_at=None, media_asset_ids=[])
            typed = {a.id: cp.Choice(a.id) for a in accounts}
            ticked = set()
        for a in accounts:  # an SMS account starts on the newest ready list
            if cp.is_sms(a) and typed[a.id].recipient_list_id is None and lists:
                typed[a.id].recipient_list_id = lists[0].id
        draft.choices = [typed[i] for i in typed if i in ticked]
        return _render(campaign, item, form, accounts, typed, ticked, draft, {}, lists, deliveries,
                       show_previews=item is not None)
    typed, ticked = _typed_choices(accounts)
    ticked -= set(locked)
    valid = form.validate_on_submit()
    draft = _draft(form, item, typed, ticked)
    action = request.form.get("action", "save")
    if action == "preview" or not valid:
        if request.headers.get("X-Requested-With") == "composer":
            return _render(campaign, item, form, accounts, typed, ticked, draft, {}, lists, deliveries,
                           fragment=True)
        return _render(campaign, item, form, accounts, typed, ticked, draft, {}, lists, deliveries,
                       status=200 if valid else 422)
    if campaign.status == CampaignStatus.archived:
        abort(409)
    planned, problems = cp.check(session, campaign, draft)
    if problems:
        return _render(campaign, item, form, accounts, typed, ticked, draft, problems, lists, deliveries,
                       status=422)
    if item is None and not formonce.consume():
        flash(_("Biểu mẫu này đã được gửi rồi."), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    created = item is None
    if item is None:
        item = ContentItem(campaign_id=campaign.id, title="", channel="facebook", created_at=utcnow())
    _save_item(form, item, draft)
    session.flush()
    try:
        counts = cp.apply(session, campaign, item, planned, actor().id)
    except cp.ApplyError as exc:
        session.rollback()
        return _render(campaign, None if created else item, form, accounts, typed, ticked, draft, exc.fields,
                       lists, deliveries, status=409)
    audit(session, actor().id, "content.create" if created else "content.update", "content_item", item.id,
          campaign_id=campaign.id, accounts=sorted(p.account.id for p in planned), **counts)
    session.commit()
    if not created:
        from campaigns import hooks

        hooks.on_content_changed(session, campaign)
        session.commit()
    flash(_saved_message(counts, campaign), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id) + f"#item-{item.id}")


def _saved_message(counts: dict, campaign: Campaign) -> str:
    parts = [_("Đã lưu nội dung.")]
    if counts["created"]:
        parts.append(_("Đã lên lịch %(n)s lượt gửi mới.", n=counts["created"]))
    if counts["updated"]:
        parts.append(_("Đã cập nhật %(n)s lượt gửi.", n=counts["updated"]))
    if counts["cancelled"]:
        parts.append(_("Đã hủy %(n)s lượt gửi.", n=counts["cancelled"]))
    if (counts["created"] or counts["updated"]) and campaign.status not in RELEASED:
        parts.append(_("Các lượt gửi chờ chiến dịch được phê duyệt."))
    return " ".join(parts)


def _save_item(form: ComposerForm, item: ContentItem, draft: cp.Draft) -> None:
    session = get_session()
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == form.unit.data)).first() if form.unit.data else None
    item.title = draft.title
    item.body = draft.body
    item.channel = draft.channel
    item.planned_at = draft.planned_at.astimezone(UTC) if draft.planned_at else None
    item.unit_id = unit.id if unit else None
    item.updated_at = utcnow()
    cp.save_variants(item, draft)
    needs = cp.item_needs(session, item)
    cp.save_variants(item, draft, needs)
    session.add(item)


def _render(campaign, item, form, accounts, typed, ticked, draft, problems, lists, deliveries, *,
            status: int = 200, fragment: bool = False, show_previews: bool = True):
    session = get_session()
    previews = {}
    if show_previews:
        for a in accounts:
            if a.id in ticked:
                previews[a.id] = cp.preview(session, campaign, draft, a, typed[a.id], _asset_url)
    if fragment:
        return render_template("campaigns/_composer_previews.html", previews=previews, accounts=accounts,
                               ticked=ticked)
    import media_templates as mt

    try:
        templates = mt.list_templates()
    except Exception:  # noqa: BLE001 - the composer works without the template list
        templates = []
    by_account = {}
    for d in deliveries:
        by_account.setdefault(d.channel_account_id, []).append(d)
    return render_template(
        "campaigns/composer.html", campaign=campaign, item=item, form=form, accounts=accounts, typed=typed,
        ticked=ticked, draft=draft, problems=problems, previews=previews, lists=lists,
        library=_library(campaign, draft.media_asset_ids), chosen_media=set(draft.media_asset_ids),
        templates=templates, by_account=by_account, locked=cp.locked_accounts(deliveries),
        account_labels=cp.ACCOUNT_LABELS, limits={a.channel: cp.media_limits(a.channel) for a in accounts},
        languages=cp.LANGUAGES, released=campaign.status in RELEASED,
        km_state=cp.translation_state(item) if item else None,
        asset_url=_asset_url,
    ), status


@bp.route("/campaigns/<int:campaign_id>/items/new", methods=["GET", "POST"])
@role_required(Role.communicator)
def new(campaign_id: int):
    """The composer for a new content item."""
    campaign = _campaign(campaign_id)
    if campaign.status == CampaignStatus.archived:
        abort(409)
    return _compose(campaign, None)


@bp.route("/items/<int:item_id>/edit", methods=["GET", "POST"])
@role_required(Role.communicator)
def edit(item_id: int):
    """The same composer for an existing item: its waiting deliveries are updated, not duplicated."""
    item = get_session().get(ContentItem, item_id)
    if item is None:
        abort(404)
    return _compose(_campaign(item.campaign_id), item)


@bp.route("/items/<int:item_id>/schedule", methods=["GET", "POST"])
@role_required(Role.communicator)
def schedule(item_id: int):
    """Put a content item on one channel account at a time (held until approval).

    The page itself is now the composer (every account at once); POST stays for old links."""
    from campaigns.deliveries import DeliveryInputError, prepare_delivery

    session = get_session()
    item = session.get(ContentItem, item_id)
    if item is None:
        abort(404)
    campaign = _campaign(item.campaign_id)
    if request.method == "GET":
        return redirect(url_for("items.edit", item_id=item.id) + "#accounts")
    kinds = CARRIERS.get(item.channel, ())
    accounts = session.exec(select(ChannelAccount).where(ChannelAccount.channel.in_(kinds or ("-",)))).all()
    form = ScheduleForm()
    form.account.choices = [(a.id, cp.account_label(a)) for a in accounts]
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


# -- the campaign page's items section; mapping items to accounts ---------------------------------


@bp.app_context_processor
def _composer_helpers():
    return {"composer_summary": lambda c: cp.campaign_summary(get_session(), c),
            "delivery_state": cp.delivery_state, "needs_labels": cp.NEEDS_LABELS,
            "account_channel_labels": cp.ACCOUNT_LABELS, "content_carriers": cp.CARRIERS}


@bp.route("/campaigns/<int:campaign_id>/accounts-map", methods=["GET", "POST"])
@role_required(Role.communicator)
def mapping(campaign_id: int):
    """Put the campaign's items on accounts, now or later: items x matching accounts."""
    from campaigns.presets import map_accounts

    session = get_session()
    campaign = _campaign(campaign_id)
    accounts = cp.candidate_accounts(session)
    items = session.exec(select(ContentItem).where(ContentItem.campaign_id == campaign.id)
                         .order_by(ContentItem.planned_at, ContentItem.id)).all()
    lists = _ready_lists()
    options = {i.id: [a for a in accounts if a.channel in CARRIERS.get(i.channel, ())] for i in items}
    current: dict[int, set[int]] = {}
    states: dict[tuple[int, int], object] = {}
    for i in items:
        for d in cp.item_deliveries(session, i.id):
            if d.status not in cp.ENDED:
                current.setdefault(i.id, set()).add(d.channel_account_id)
                states[(i.id, d.channel_account_id)] = d
    sms_lists = {a.id: (lists[0].id if lists else None) for a in accounts if cp.is_sms(a)}
    ticked = {(i, a) for i, ids in current.items() for a in ids}
    if request.method == "POST":
        ticked = set()
        for raw in request.form.getlist("pair"):
            try:
                i, a = (int(x) for x in raw.split(":"))
            except ValueError:
                continue
            if any(x.id == a for x in options.get(i, [])):
                ticked.add((i, a))
        for a in sms_lists:
            sms_lists[a] = request.form.get(f"list_{a}", type=db_int)
        everything = request.form.get("all", type=db_int)
        if everything is not None:  # "select all" for one account: shown, not saved yet
            ticked |= {(i.id, everything) for i in items if any(x.id == everything for x in options[i.id])}
        elif campaign.status == CampaignStatus.archived:
            abort(409)
        else:
            shown = {i.id: {a.id for a in options[i.id]} for i in items}
            pairs = {i.id: {a for (x, a) in ticked if x == i.id} | (current.get(i.id, set()) - shown[i.id])
                     for i in items}
            changed = [i for i in items if pairs[i.id] != current.get(i.id, set())]
            result = map_accounts(session, campaign, changed, user_id=actor().id, pairs=pairs,
                                  lists={a: v for a, v in sms_lists.items() if v}, cancel_others=True)
            audit(session, actor().id, "campaign.map_accounts", "campaign", campaign.id,
                  created=result.created, refused=len(result.refused))
            session.commit()
            flash(_("Đã lưu: %(n)s lượt gửi mới, %(u)s lượt gửi cập nhật.", n=result.created, u=result.updated),
                  "success")
            for item, label, message in result.refused:
                flash(_("Chưa lên lịch «%(t)s»: %(m)s", t=item.title, m=message or label), "error")
            return redirect(url_for("items.mapping", campaign_id=campaign.id))
    summary = cp.campaign_summary(session, campaign)
    return render_template("campaigns/mapping.html", campaign=campaign, items=items, options=options,
                           ticked=ticked, states=states, accounts=accounts, lists=lists, sms_lists=sms_lists,
                           summary=summary, locked={k for k, d in states.items() if d.status not in cp.WAITING})


# --- Khmer translation (the translator role) -------------------------------------------

class KhmerForm(FlaskForm):
    text_km = TextAreaField(lazy_gettext("Nội dung tiếng Khmer"), validators=[
        Length(max=20000, message=lazy_gettext("Nội dung tối đa 20000 ký tự."))])


def _khmer_items(user) -> list[tuple[ContentItem, Campaign, str | None]]:
    """Items of live campaigns the user may translate: (item, campaign, translation state)."""
    session = get_session()
    visible = visible_unit_ids(session, user)
    rows = session.exec(
        select(ContentItem, Campaign).where(ContentItem.campaign_id == Campaign.id)
        .where(Campaign.status != CampaignStatus.archived)
        .order_by(ContentItem.planned_at, ContentItem.id).limit(500)).all()
    out = []
    for item, campaign in rows:
        unit_id = item.unit_id or campaign.owner_unit_id
        if visible is None or unit_id in visible:
            out.append((item, campaign, cp.translation_state(item)))
    return out


@bp.route("/khmer")
@role_required(Role.translator, Role.communicator)
def khmer_list():
    """The translator's list: items in their units, those without Khmer or 'chưa dịch' first."""
    order = {None: 0, "stale": 1, "current": 2}
    rows = sorted(_khmer_items(actor()), key=lambda r: order[r[2]])
    return render_template("campaigns/khmer_list.html", rows=rows, channel_labels=CHANNEL_LABELS)


@bp.route("/items/<int:item_id>/khmer", methods=["GET", "POST"])
@role_required(Role.translator, Role.communicator)
def khmer_edit(item_id: int):
    """Write the Khmer text of one item; the translator changes nothing else."""
    session = get_session()
    user = actor()
    row = next(((i, c, st) for i, c, st in _khmer_items(user) if i.id == item_id), None)
    if row is None:
        abort(404)
    item, campaign, state = row
    form = KhmerForm()
    if request.method == "GET":
        form.text_km.data = ((item.variants or {}).get("texts") or {}).get("km", "")
    elif form.validate_on_submit():
        cp.set_translation(item, "km", form.text_km.data)
        item.updated_at = utcnow()
        session.add(item)
        audit(session, user.id, "item.translate", "content_item", item.id, lang="km")
        session.commit()
        flash(_("Đã lưu bản tiếng Khmer."), "success")
        return redirect(url_for("items.khmer_list"))
    status = 422 if request.method == "POST" else 200
    return render_template("campaigns/khmer_edit.html", item=item, campaign=campaign, state=state,
                           form=form), status
