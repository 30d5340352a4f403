"""Pages of the editorial calendar for press and broadcasters."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlmodel import select

from campaigns.measure.entries import EntryError
from campaigns.models import Asset, Campaign
from campaigns.press import slots as ps
from campaigns.press.feeds import bp
from campaigns.press.models import SLOT_KIND_LABELS, SLOT_KINDS, ProgrammeSlot
from core.auth import actor, role_required, visible_unit_ids
from core.db import get_session
from core.downloads import send_download
from core.timeutil import LOCAL_TZ, utcnow


def _int_arg(name: str) -> int | None:
    try:
        value = int(request.args.get(name) or 0)
    except ValueError:
        return None
    return value if 0 < value < 2**31 else None


@bp.route("/press/slots", methods=["GET", "POST"])
@login_required
@role_required("admin", "communicator", "reviewer", "unit_officer")
def slots():
    session = get_session()
    user = actor()
    if request.method == "POST":
        if user.role not in ("admin", "communicator"):
            abort(403)
        data = request.form.to_dict()
        data["asset_ids"] = request.form.get("asset_ids", "")
        try:
            rows = ps.create_slots(session, user, data)
            session.commit()
            flash(_("Đã thêm %(n)s lượt phát/đăng vào lịch.", n=len(rows)), "success")
            return redirect(url_for("press.slots"))
        except EntryError as exc:
            session.rollback()
            for message in exc.fields.values():
                flash(message, "error")
    q = select(ProgrammeSlot).order_by(ProgrammeSlot.air_on, ProgrammeSlot.id)
    visible = visible_unit_ids(session, user)
    if visible is not None:
        q = q.where(ProgrammeSlot.unit_id.in_(visible))  # type: ignore[attr-defined]
    unit_id, campaign_id = _int_arg("unit"), _int_arg("campaign")
    if unit_id:
        q = q.where(ProgrammeSlot.unit_id == unit_id)
    if campaign_id:
        q = q.where(ProgrammeSlot.campaign_id == campaign_id)
    rows = list(session.exec(q.limit(500)))
    wanted = {a for r in rows for a in (r.asset_ids or [])}
    assets = {a.id: a for a in session.exec(select(Asset).where(Asset.id.in_(wanted or {-1})))}  # type: ignore[union-attr]
    units = {u.id: u for u in ps.press_units(session)}
    campaigns = list(session.exec(select(Campaign).order_by(Campaign.starts_on.desc()).limit(200)))  # type: ignore[attr-defined]
    return render_template("press/slots.html", rows=rows, units=units, campaigns=campaigns,
                           campaign_titles={c.id: c.title for c in campaigns}, kinds=SLOT_KINDS,
                           kind_labels=SLOT_KIND_LABELS, can_plan=user.role in ("admin", "communicator"),
                           can_confirm=lambda s: ps.can_confirm(user, s), unit_id=unit_id,
                           campaign_id=campaign_id, assets=assets, today=utcnow().astimezone(LOCAL_TZ).date())


@bp.route("/press/slots/<int:slot_id>/confirm", methods=["POST"])
@login_required
@role_required("admin", "unit_officer")
def confirm(slot_id: int):
    session = get_session()
    user = actor()
    slot = session.get(ProgrammeSlot, slot_id) if slot_id < 2**31 else None
    visible = visible_unit_ids(session, user)
    if slot is None or (visible is not None and slot.unit_id not in visible):
        abort(404)
    upload = request.files.get("attachment")
    if upload is not None and not upload.filename:
        upload = None
    try:
        ps.confirm_slot(session, user, slot, request.form.get("evidence_url"),
                        upload.stream if upload else None, upload.filename if upload else None,
                        today=utcnow().astimezone(LOCAL_TZ).date())
        session.commit()
        flash(_("Đã xác nhận đã phát/đã đăng."), "success")
    except EntryError as exc:
        session.rollback()
        if exc.status == 403:
            abort(403)
        for message in exc.fields.values():
            flash(message, "error")
    return redirect(url_for("press.slots"))





@bp.route("/press/slots/<int:slot_id>/evidence")
@login_required
@role_required("admin", "communicator", "reviewer", "unit_officer")
def evidence(slot_id: int):
    session = get_session()
    slot = session.get(ProgrammeSlot, slot_id) if slot_id < 2**31 else None
    visible = visible_unit_ids(session, actor())
    if slot is None or not slot.attachment_path or (visible is not None and slot.unit_id not in visible):
        abort(404)
    return send_download(slot.attachment_path, mimetype=slot.attachment_mime,
                         download_name=slot.attachment_name or "minh-chung")
