"""Server-rendered pages for planning: campaigns, approval, calendar, deliveries."""

from __future__ import annotations

from collections import Counter
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func
from sqlmodel import select

from campaigns import service as cs
from campaigns.forms import CampaignForm, TransitionForm
from campaigns.models import (
    CAMPAIGN_STATUS_LABELS,
    CHANNEL_LABELS,
    Campaign,
    CampaignStatus,
    CampaignUnit,
    ContentItem,
)
from core.auth import actor, has_role, role_required
from core.db import get_session
from core.models import OrgUnit, Role
from core.timeutil import LOCAL_TZ, utcnow
from core.validate import db_int
from scheduler.models import ChannelAccount, Delivery
from scheduler.states import STATUS_LABELS, Status

bp = Blueprint("campaigns", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/campaigns")

ALL_ROLES = (Role.communicator, Role.reviewer, Role.unit_officer)

TRANSITION_LABELS = {
    CampaignStatus.in_review: "Gửi duyệt",
    CampaignStatus.approved: "Phê duyệt",
    CampaignStatus.draft: "Trả lại để sửa",
    CampaignStatus.active: "Bắt đầu triển khai",
    CampaignStatus.paused: "Tạm dừng",
    CampaignStatus.completed: "Kết thúc",
    CampaignStatus.archived: "Lưu trữ",
}


def campaign_hint(campaign: Campaign) -> str:
    """What tells two campaigns with the same title apart: dates, status, owner unit."""
    from flask import g

    names = g.get("_unit_names")
    if names is None:
        names = g._unit_names = dict(get_session().exec(select(OrgUnit.id, OrgUnit.name)).all())
    parts = [f"{campaign.starts_on:%d/%m/%Y}–{campaign.ends_on:%d/%m/%Y}" if campaign.starts_on and campaign.ends_on
             else "", _(str(CAMPAIGN_STATUS_LABELS.get(CampaignStatus(campaign.status), campaign.status))),
             names.get(campaign.owner_unit_id, "")]
    return " · ".join(p for p in parts if p)


@bp.app_context_processor
def _labels():
    return {"campaign_status_labels": CAMPAIGN_STATUS_LABELS, "channel_labels": CHANNEL_LABELS,
            "delivery_status_labels": STATUS_LABELS, "campaign_hint": campaign_hint}


def _load(campaign_id: int) -> Campaign:
    session = get_session()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not cs.can_see_campaign(session, actor(), campaign):
        abort(404)
    return campaign


@bp.route("/")
def home():
    """Each role's start page: what is due and what needs their action."""
    from campaigns import home as h

    user = actor()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.role == Role.telecom_partner:
        return redirect(url_for("campaigns.partner_home"))
    if user.role == Role.team_member:  # the phone app of the community digital-technology teams
        return redirect(url_for("teams.app_shell"))
    if user.role == Role.contest_judge:  # the contests they judge (docs/contests.md)
        return redirect(url_for("design.index"))
    session = get_session()
    ctx: dict = {"today": h.local_today()}
    if user.role in (Role.communicator, Role.admin):
        ctx.update(due=h.due_this_week(session), sent_back=h.sent_back(session),
                   accounts=h.accounts_to_reconnect(session), failed_kits=h.failed_kits(session),
                   renders=h.recent_renders(session), steps=h.first_steps(session))
        ctx["problems"], ctx["problem_counts"] = h.problem_deliveries(session)
    if user.role in (Role.reviewer, Role.admin):
        ctx["queue"] = h.review_queue(session)
    if user.role == Role.unit_officer:
        from campaigns.kits.access import KIT_STATUS_LABELS
        from campaigns.measure.models import TASK_STATUS_LABELS

        ctx.update(h.unit_officer_home(session, user), kit_status_labels=KIT_STATUS_LABELS,
                   task_status_labels=TASK_STATUS_LABELS)
    if user.role == Role.admin:
        ctx.update(overview=h.admin_overview(session), warnings=h.admin_warnings())
    return render_template("campaigns/home.html", **ctx)


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico before reading the page's icon links."""
    from pathlib import Path

    from flask import send_from_directory

    return send_from_directory(Path(__file__).resolve().parent.parent / "core" / "static", "favicon.ico",
                               mimetype="image/vnd.microsoft.icon", max_age=86400)


@bp.route("/partner")
@role_required(Role.telecom_partner)
def partner_home():
    unit = get_session().get(OrgUnit, actor().unit_id) if actor().unit_id else None
    return render_template("campaigns/partner_home.html", unit=unit)


@bp.route("/campaigns")
@role_required(*ALL_ROLES)
def index():
    session = get_session()
    query = select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    visible = cs.visible_campaign_filter(session, actor())
    if visible is not None:
        query = query.where(Campaign.id.in_(visible or [-1]))
    status = request.args.get("status")
    if status in CampaignStatus.__members__:
        query = query.where(Campaign.status == status)
    campaigns = session.exec(query.limit(500)).all()
    owners = dict(session.exec(select(OrgUnit.id, OrgUnit.name)).all())
    return render_template("campaigns/index.html", campaigns=campaigns, status=status, owners=owners)


def _form_choices(form: CampaignForm, keep: set[int] | None = None) -> None:
    """Units to choose from: those that exist today (after a reorganisation the
    ended ones are history), plus those ``keep`` names (an old campaign's own)."""
    from campaigns.presets import presets

    session = get_session()
    today = utcnow().astimezone(LOCAL_TZ).date()
    keep = keep or set()
    units = [u for u in session.exec(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all()
             if u.valid_on(today) or u.id in keep]
    form.preset.choices = [("", _("— Không dùng mẫu —"))] + [(p["key"], p["title"].replace("{year}", "…"))
                                                          for p in presets()]
    form.owner_unit.choices = [("", _("— Chọn đơn vị —"))] + [(u.code, u.name) for u in units
                                                          if u.kind in ("province", "department", "district")]
    form.scope.choices = [(u.code, u.name) for u in units if u.kind in (
        "province", "district", "commune", "ward", "special_zone", "department", "press")]


def _form_data(form: CampaignForm) -> dict:
    data = {"title": form.title.data or "", "description": form.description.data or "",
            "target_url": form.target_url.data, "sms_class": form.sms_class.data,
            "grace_hours": form.grace_hours.data}
    if form.starts_on.data:
        data["starts_on"] = form.starts_on.data.isoformat()
    if form.ends_on.data:
        data["ends_on"] = form.ends_on.data.isoformat()
    if form.owner_unit.data:
        data["owner_unit"] = form.owner_unit.data
    if form.scope.data:
        data["scope"] = form.scope.data
    return data


@bp.route("/campaigns/new", methods=["GET", "POST"])
@role_required(Role.communicator)
def create():
    form = CampaignForm()
    _form_choices(form)
    if request.method == "GET" and not form.scope.data:
        provinces = [u.code for u in get_session().exec(select(OrgUnit).where(OrgUnit.kind == "province")).all()
                     if u.valid_on(utcnow().astimezone(LOCAL_TZ).date())]
        form.scope.data = provinces[:1]
    if form.validate_on_submit():
        from core import formonce

        # the form carries a one-time token: the back button or a double click cannot
        # make a second campaign (a POST without the field, e.g. a script, is not guarded)
        if formonce.FIELD in request.form and not formonce.consume():
            flash(_("Biểu mẫu này đã được gửi rồi: chiến dịch đã được tạo, xem trong danh sách."), "error")
            return redirect(url_for("campaigns.index"))
        session = get_session()
        data = _form_data(form)
        if form.preset.data:
            data = {k: v for k, v in data.items() if v not in ("", None)}
            data["preset"] = form.preset.data
            if not form.title.data:
                data.pop("title", None)
        try:
            if form.preset.data:
                clean = cs.clean_campaign(session, {**data, "title": data.get("title", "x")}, partial=True)
                from campaigns.presets import apply_preset

                overrides = {k: v for k, v in clean.items() if k != "preset"}
                if "title" not in data:
                    overrides.pop("title", None)
                campaign = apply_preset(session, form.preset.data, actor(), overrides=overrides)
            else:
                campaign = cs.create_campaign(session, data, actor())
        except cs.ValidationError as exc:
            session.rollback()
            for field, message in exc.fields.items():
                target = getattr(form, field, None)
                if target is not None:
                    target.errors = list(target.errors) + [message]
                else:
                    flash(message, "error")
            return render_template("campaigns/form.html", form=form, campaign=None), 422
        session.commit()
        if form.preset.data:  # what the preset gave, and what is still to map (campaigns/composer.py)
            from campaigns.composer import preset_created_message

            flash(preset_created_message(session, campaign), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id) + "#items")
        flash(_("Đã tạo chiến dịch."), "success")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    status = 422 if form.errors else 200
    return render_template("campaigns/form.html", form=form, campaign=None), status


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@role_required(Role.communicator)
def edit(campaign_id: int):
    session = get_session()
    campaign = _load(campaign_id)
    form = CampaignForm(obj=None if request.method == "POST" else campaign)
    _form_choices(form, keep=set(cs.campaign_scope_ids(session, campaign.id, successors=False))
                  | {campaign.owner_unit_id})
    form.preset.choices = [("", "—")]
    if request.method == "GET":
        owner = session.get(OrgUnit, campaign.owner_unit_id) if campaign.owner_unit_id else None
        form.owner_unit.data = owner.code if owner else ""
        form.scope.data = list(session.exec(select(OrgUnit.code).join(
            CampaignUnit, CampaignUnit.unit_id == OrgUnit.id).where(CampaignUnit.campaign_id == campaign.id)).all())
    if form.validate_on_submit():
        try:
            cs.update_campaign(session, campaign, _form_data(form), actor())
        except cs.ValidationError as exc:
            session.rollback()
            for field, message in exc.fields.items():
                target = getattr(form, field, None)
                if target is not None:
                    target.errors = list(target.errors) + [message]
            return render_template("campaigns/form.html", form=form, campaign=campaign), 422
        except cs.TransitionError as exc:
            session.rollback()
            flash(exc.message, "error")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
        session.commit()
        flash(_("Đã lưu thay đổi."), "success")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return render_template("campaigns/form.html", form=form, campaign=campaign), (422 if form.errors else 200)


@bp.route("/campaigns/<int:campaign_id>")
@role_required(*ALL_ROLES)
def detail(campaign_id: int):
    session = get_session()
    campaign = _load(campaign_id)
    items = session.exec(select(ContentItem).where(ContentItem.campaign_id == campaign.id)
                         .order_by(ContentItem.planned_at)).all()
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    scope = [units[uid] for uid in cs.campaign_scope_ids(session, campaign.id) if uid in units]
    counts = dict(session.exec(select(Delivery.status, func.count()).where(
        Delivery.campaign_id == campaign.id).group_by(Delivery.status)).all())
    return render_template(
        "campaigns/detail.html", campaign=campaign, items=items, units=units, scope=scope,
        counts=counts, transitions=cs.allowed_transitions(campaign, actor()),
        transition_labels=TRANSITION_LABELS, form=TransitionForm(),
        owner=units.get(campaign.owner_unit_id),
        review=_review(session, campaign),
    )


def _review(session, campaign: Campaign):
    """What changed since the previous submission, for a campaign waiting for review."""
    if campaign.status != CampaignStatus.in_review:
        return None
    from campaigns.review import review_diff

    return review_diff(session, campaign)


@bp.route("/campaigns/<int:campaign_id>/transition/<target>", methods=["POST"])
@role_required(Role.communicator, Role.reviewer)
def transition(campaign_id: int, target: str):
    session = get_session()
    campaign = _load(campaign_id)
    form = TransitionForm()
    if not form.validate_on_submit():
        flash(" ".join(map(str, form.comment.errors)) or _("Biểu mẫu không hợp lệ."), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    try:
        cs.transition_campaign(session, campaign, target, actor(), form.comment.data or None)
    except (cs.TransitionError, cs.ValidationError) as exc:
        session.rollback()
        flash(exc.message if hasattr(exc, "message") else str(exc), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    session.commit()
    flash(_("Đã chuyển trạng thái: %(s)s.", s=_(CAMPAIGN_STATUS_LABELS[CampaignStatus(target)])), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id))


# -- calendar -------------------------------------------------------------------------


def _calendar_filters(session) -> tuple:
    from campaigns.planner import Filters

    units = session.exec(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all()
    channel = request.args.get("channel") or ""
    if channel not in CHANNEL_LABELS:
        channel = ""
    unit_code = request.args.get("unit") or ""
    unit = next((u for u in units if u.code == unit_code), None)
    f = Filters(cs.visible_campaign_filter(session, actor()), channel, unit.id if unit else None)
    return f, units, channel, unit.code if unit else ""


@bp.route("/calendar")
@role_required(*ALL_ROLES)
def calendar_view():
    """Month or week of entries. Without a date it opens on the last period viewed (this
    session), else on today's period or, when that one is empty, the nearest period with entries."""
    from flask import session as web_session

    from campaigns import planner

    session = get_session()
    today = utcnow().astimezone(LOCAL_TZ).date()
    f, units, channel, unit_code = _calendar_filters(session)
    remembered = web_session.get("calendar") or {}
    view = request.args.get("view") or remembered.get("view") or "month"
    if view not in ("month", "week"):
        view = "month"
    jumped = None
    raw = request.args.get("d") or ""
    try:
        anchor = date.fromisoformat(raw) if raw else None
    except ValueError:
        anchor = None
    if anchor is None and not raw and remembered.get("d"):
        try:
            anchor = date.fromisoformat(remembered["d"])
        except ValueError:
            anchor = None
    if anchor is None:
        anchor = today
        p = planner.period(view, anchor)
        lo, hi = p.own_bounds
        if not planner.entries(session, f, lo, hi, url_for=url_for, can_move=False):
            nearest = planner.nearest_with_entries(session, f, lo, hi)
            if nearest is not None:
                anchor = jumped = nearest.astimezone(LOCAL_TZ).date()
    p = planner.period(view, anchor)
    web_session["calendar"] = {"view": view, "d": anchor.isoformat()}
    can_move = has_role(actor(), Role.communicator)
    lo, hi = p.bounds
    entries = planner.entries(session, f, lo, hi, url_for=url_for, can_move=can_move)
    return render_template("campaigns/calendar.html", view=view, period=p, days=p.days, entries=entries,
                           anchor=anchor, today=today, prev_d=p.prev_d, next_d=p.next_d, channel=channel,
                           unit_code=unit_code, units=units, channels=CHANNEL_LABELS, jumped=jumped,
                           states=planner.STATES, short=planner.SHORT, can_move=can_move)


@bp.route("/calendar/move", methods=["GET", "POST"])
@role_required(Role.communicator)
def calendar_move():
    """Move a calendar entry to another day, keeping its time: the drop of a drag (JSON)
    or a small form (keyboard and phone users)."""
    from flask import jsonify

    from campaigns import planner

    session = get_session()
    kind = request.values.get("kind", "")
    entry_id = request.values.get("id", type=db_int)
    wants_json = request.accept_mimetypes.best == "application/json"
    obj = None
    if kind == "delivery" and entry_id:
        obj = session.exec(_delivery_scope(select(Delivery)).where(Delivery.id == entry_id)).first()
        if obj is not None and obj.campaign_id:
            c = session.get(Campaign, obj.campaign_id)
            if c is None or not cs.can_see_campaign(session, actor(), c):
                obj = None
    elif kind == "item" and entry_id:
        obj = session.get(ContentItem, entry_id)
        if obj is not None:
            c = session.get(Campaign, obj.campaign_id)
            if c is None or not cs.can_see_campaign(session, actor(), c):
                obj = None
    if obj is None:
        abort(404)
    current = (obj.scheduled_at if kind == "delivery" else obj.planned_at)
    current_local = current.astimezone(LOCAL_TZ) if current else None
    back = url_for("campaigns.calendar_view", d=current_local.date().isoformat()) if current_local else \
        url_for("campaigns.calendar_view")
    if request.method == "GET":
        return render_template("campaigns/calendar_move.html", kind=kind, obj=obj, current=current_local,
                               back=back, error=None, value=request.args.get("date", ""))
    if not TransitionForm().validate_on_submit():  # the CSRF check
        message = _("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ. Vui lòng tải lại trang.")
        return (jsonify({"error": {"message": message}}), 400) if wants_json else (
            render_template("campaigns/calendar_move.html", kind=kind, obj=obj, current=current_local, back=back,
                            error=message, value=request.form.get("date", "")), 400)
    try:
        day = planner.parse_day(request.form.get("date"))
        if kind == "delivery":
            when = planner.move_delivery(session, obj, day, actor().id)
        else:
            when = planner.move_item(session, obj, day, actor().id)
    except planner.MoveError as exc:
        session.rollback()
        if wants_json:
            return jsonify({"error": {"message": exc.message}}), exc.status
        return render_template("campaigns/calendar_move.html", kind=kind, obj=obj, current=current_local, back=back,
                               error=exc.message, value=request.form.get("date", "")), exc.status
    session.commit()
    message = _("Đã dời sang %(t)s.", t=when.strftime("%d/%m/%Y %H:%M"))
    if wants_json:
        return jsonify({"ok": True, "message": message, "date": when.date().isoformat()})
    flash(message, "success")
    return redirect(url_for("campaigns.calendar_view", d=when.date().isoformat()))


# -- deliveries ------------------------------------------------------------------------


def _delivery_scope(query):
    user = actor()
    if user.role in (Role.admin, Role.communicator, Role.reviewer):
        return query
    from core.units import subtree_ids

    return query.where(Delivery.unit_id.in_(subtree_ids(get_session(), user.unit_id)))


@bp.route("/deliveries")
@role_required(*ALL_ROLES)
def deliveries():
    session = get_session()
    campaign_id = request.args.get("campaign_id", type=db_int)
    status = request.args.get("status") or ""
    q = _delivery_scope(select(Delivery))
    cq = _delivery_scope(select(Delivery.status, func.count()).group_by(Delivery.status))
    campaign = None
    if campaign_id:
        campaign = _load(campaign_id)
        q = q.where(Delivery.campaign_id == campaign_id)
        cq = cq.where(Delivery.campaign_id == campaign_id)
    if status in Status.__members__:
        q = q.where(Delivery.status == status)
    rows = session.exec(q.order_by(Delivery.scheduled_at.desc()).limit(300)).all()
    counts = Counter(dict(session.exec(cq).all()))
    accounts = {a.id: a for a in session.exec(select(ChannelAccount)).all()}
    return render_template("campaigns/deliveries.html", rows=rows, counts=counts, total=sum(counts.values()),
                           campaign=campaign, status=status, accounts=accounts, form=TransitionForm())


@bp.route("/deliveries/<int:delivery_id>")
@role_required(*ALL_ROLES)
def delivery_detail(delivery_id: int):
    from scheduler.models import DeliveryAttempt

    session = get_session()
    d = session.exec(_delivery_scope(select(Delivery)).where(Delivery.id == delivery_id)).first()
    if d is None:
        abort(404)
    attempts = session.exec(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == d.id)
                            .order_by(DeliveryAttempt.number)).all()
    account = session.get(ChannelAccount, d.channel_account_id)
    published = None  # where a sent portal article can be read
    if account is not None and account.channel == "portal_wordpress" and d.external_id and d.status == Status.sent:
        from channels.portal_wordpress import post_link

        published = post_link(str(account.config.get("site_url", "")), d.external_id)
    return render_template("campaigns/delivery.html", d=d, attempts=attempts, account=account,
                           form=TransitionForm(), published=published)


@bp.route("/deliveries/<int:delivery_id>/<action>", methods=["POST"])
@role_required(Role.communicator)
def delivery_action(delivery_id: int, action: str):
    from scheduler import service as ss
    from scheduler.states import IllegalTransition

    session = get_session()
    d = session.get(Delivery, delivery_id)
    if d is None:
        abort(404)
    actions = {
        "cancel": lambda: ss.cancel(session, d, actor().id),
        "retry": lambda: ss.retry(session, d, actor().id),
        "mark-sent": lambda: ss.resolve_review(session, d, True, actor().id),
        "mark-failed": lambda: ss.resolve_review(session, d, False, actor().id),
    }
    if action not in actions:
        abort(404)
    if action.startswith("mark-") and d.status != Status.needs_review:
        flash(_("Chỉ xác nhận thủ công được lượt gửi đang cần kiểm tra."), "error")
        return redirect(url_for("campaigns.delivery_detail", delivery_id=d.id))
    try:
        actions[action]()
    except IllegalTransition:
        session.rollback()
        flash(_("Không thể thực hiện ở trạng thái hiện tại."), "error")
        return redirect(url_for("campaigns.delivery_detail", delivery_id=d.id))
    session.commit()
    flash(_("Đã cập nhật lượt gửi."), "success")
    return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("campaigns.delivery_detail", delivery_id=d.id))


@bp.route("/deliveries/progress")
@role_required(*ALL_ROLES)
def deliveries_progress():
    """Status counts as JSON for the live progress bar."""
    from flask import jsonify

    session = get_session()
    cq = _delivery_scope(select(Delivery.status, func.count()).group_by(Delivery.status))
    campaign_id = request.args.get("campaign_id", type=db_int)
    if campaign_id:
        _load(campaign_id)
        cq = cq.where(Delivery.campaign_id == campaign_id)
    counts = {str(k): v for k, v in session.exec(cq).all()}
    return jsonify({"counts": counts, "total": sum(counts.values())})
