"""Pages: kits (list, detail, download), broadcasts (one-click confirmation),
broadcast schedules, and the loudspeaker script editor with live preview."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import func
from sqlmodel import select

from campaigns import service as cs
from campaigns.kits import access
from campaigns.kits import broadcasts as bc
from campaigns.kits.models import KitVersion
from campaigns.models import RELEASED, Campaign, ContentItem, Kit, KitDownload
from core.auth import actor, role_required
from core.db import get_session
from core.downloads import send_download
from core.models import OrgUnit, Role
from core.timeutil import utcnow
from core.units import subtree_ids
from core.validate import db_int
from scheduler.models import ChannelAccount, Delivery, RecurringSchedule

bp = Blueprint(
    "kits",
    __name__,
    url_prefix="/kits",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

VIEWERS = (Role.communicator, Role.reviewer, Role.unit_officer)
ENTRY_LABELS = {
    "readme": lazy_gettext("Hướng dẫn"),
    "print": lazy_gettext("Ấn phẩm in"),
    "script": lazy_gettext("Kịch bản"),
    "audio": lazy_gettext("Âm thanh"),
    "schedule": lazy_gettext("Lịch phát"),
}
JOB_LABELS = {
    "pending": lazy_gettext("Chờ chạy"),
    "running": lazy_gettext("Đang chạy"),
    "done": lazy_gettext("Xong"),
    "failed": lazy_gettext("Lỗi"),
}
EDITORS = (Role.communicator,)


def _public_url_problem() -> str | None:
    from core.config import public_base_url_problem

    return public_base_url_problem(current_app)


@bp.app_context_processor
def _kit_labels():
    return {
        # called by the base layout for admins, and by the kit pages
        "public_url_problem": _public_url_problem,
        "kit_status_labels": access.KIT_STATUS_LABELS,
        "broadcast_state_labels": bc.STATE_LABELS,
        "weekday_labels": bc.WEEKDAY_LABELS,
        "kit_entry_labels": ENTRY_LABELS,
        "job_status_labels": JOB_LABELS,
    }


def _nfc(value) -> str:
    return unicodedata.normalize("NFC", str(value or "")).strip()


def _visible_campaigns(session, released_only: bool = False) -> list[Campaign]:
    query = select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    visible = cs.visible_campaign_filter(session, actor())
    if visible is not None:
        query = query.where(Campaign.id.in_(visible or [-1]))  # type: ignore[attr-defined]
    rows = session.exec(query.limit(200)).all()
    return [c for c in rows if not released_only or c.status in RELEASED]


# -- kits ------------------------------------------------------------------------------------


@bp.route("/")
@role_required(*VIEWERS)
def index():
    session = get_session()
    query = access.visible_kit_query(session, actor()).order_by(Kit.campaign_id.desc(), Kit.id)
    campaign_id = request.args.get("campaign_id", type=db_int)
    if campaign_id:
        query = query.where(Kit.campaign_id == campaign_id)
    kits = session.exec(query.limit(1000)).all()
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    campaigns = {
        c.id: c
        for c in session.exec(
            select(Campaign).where(Campaign.id.in_({k.campaign_id for k in kits} or {-1}))
        ).all()
    }  # type: ignore[attr-defined]
    downloads = dict(
        session.exec(
            select(KitDownload.kit_id, func.count())
            .where(KitDownload.kit_id.in_([k.id for k in kits] or [-1]))  # type: ignore[attr-defined]
            .group_by(KitDownload.kit_id)
        ).all()
    )
    can_build = actor().role in (Role.admin, *EDITORS)
    jobs = []
    if actor().role in access.PROVINCE_WIDE:
        from campaigns.kits.jobs import JOB_NAME
        from scheduler.models import BackgroundJob

        jobs = session.exec(
            select(BackgroundJob)
            .where(BackgroundJob.name == JOB_NAME)
            .order_by(BackgroundJob.id.desc())
            .limit(5)
        ).all()  # type: ignore[union-attr]
        wanted = {(j.payload or {}).get("campaign_id") for j in jobs} - set(campaigns)
        for c in session.exec(
            select(Campaign).where(Campaign.id.in_([w for w in wanted if w] or [-1]))  # type: ignore[attr-defined]
        ).all():
            campaigns[c.id] = c
    return render_template(
        "kits/index.html",
        kits=kits,
        units=units,
        campaigns=campaigns,
        downloads=downloads,
        can_build=can_build,
        campaign_id=campaign_id,
        jobs=jobs,
        buildable=_visible_campaigns(session, released_only=True) if can_build else [],
    )


def _load_kit(kit_id: int) -> Kit:
    kit = access.load_visible_kit(get_session(), actor(), kit_id)
    if kit is None:
        abort(404)
    return kit


@bp.route("/<int:kit_id>")
@role_required(*VIEWERS)
def detail(kit_id: int):
    session = get_session()
    kit = _load_kit(kit_id)
    versions = session.exec(
        select(KitVersion)
        .where(KitVersion.kit_id == kit.id)
        .order_by(KitVersion.version.desc())
        .limit(20)
    ).all()  # type: ignore[attr-defined]
    n_downloads = session.exec(
        select(func.count()).select_from(KitDownload).where(KitDownload.kit_id == kit.id)
    ).one()
    unit = session.get(OrgUnit, kit.unit_id)
    khmer = _khmer_section(session, kit, unit)
    resp = current_app.make_response(render_template(
        "kits/detail.html",
        kit=kit,
        unit=unit,
        campaign=session.get(Campaign, kit.campaign_id),
        versions=versions,
        n_downloads=n_downloads,
        khmer=khmer,
    ))
    if khmer and khmer["can_record"]:  # the Khmer recorder: this page may use the microphone
        resp.headers["Permissions-Policy"] = "geolocation=(), camera=(), microphone=(self)"
    return resp


# -- Khmer readings ------------------------------------------------------------------------------


def _can_record(user, kit: Kit) -> bool:
    """Who records the Khmer reading of a kit: admins, communicators, and the unit
    officer of the kit's own unit (not of its district, not a reviewer)."""
    if user is None:
        return False
    if user.role in (Role.admin, Role.communicator):
        return True
    return user.role == Role.unit_officer and user.unit_id is not None and user.unit_id == kit.unit_id


def _khmer_section(session, kit: Kit, unit: OrgUnit | None) -> dict | None:
    """The kit page's "Bản đọc tiếng Khmer" section: one row per bilingual bulletin."""
    from campaigns.kits import readings
    from campaigns.kits.scripts import khmer_text

    if unit is None:
        return None
    items = readings.khmer_items(session, kit.campaign_id, unit)
    if not items:
        return None
    current = readings.current_readings(session, kit.campaign_id, unit.id)
    rows = []
    for item in items:
        reading = current.get(item.id) or current.get(None)
        rows.append({"item": item, "text": khmer_text(item), "reading": reading})
    return {
        "rows": rows,
        "can_record": _can_record(actor(), kit),
        "live_note": readings.LIVE_NOTE,
        "max_mb": readings.MAX_BYTES // (1024 * 1024),
        "max_minutes": int(readings.MAX_SECONDS // 60),
    }


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.route("/<int:kit_id>/khmer", methods=["POST"])
@role_required(Role.communicator, Role.unit_officer)
def khmer_reading(kit_id: int):
    """Record (browser) or upload a Khmer reading for one bulletin of the kit."""
    from campaigns.kits import readings
    from campaigns.kits.jobs import queue_kit_build
    from core.models import audit

    session = get_session()
    kit = _load_kit(kit_id)
    user = actor()
    if not _can_record(user, kit):
        abort(403)
    unit = session.get(OrgUnit, kit.unit_id)

    def refuse(message: str, status: int = 422):
        if _wants_json():
            return jsonify({"ok": False, "error": message}), status
        flash(message, "error")
        return redirect(url_for("kits.detail", kit_id=kit.id, _anchor="khmer"))

    item_id = request.form.get("item_id", type=db_int)
    items = {i.id: i for i in readings.khmer_items(session, kit.campaign_id, unit)}
    if item_id not in items:
        return refuse(_("Hãy chọn một bản tin có phần tiếng Khmer của bộ tài liệu này."))
    upload = request.files.get("audio")
    if upload is None or not upload.filename:
        return refuse(_("Chưa có bản ghi âm: hãy ghi âm hoặc chọn một tệp âm thanh."))
    data = upload.stream.read(readings.MAX_BYTES + 1)
    try:
        processed = readings.process_reading(data)
    except readings.ReadingError as exc:
        return refuse(exc.message)
    source = "recorded" if request.form.get("source") == "recorded" else "uploaded"
    row = readings.save_reading(
        session,
        Path(current_app.config.get("LANTOA_MEDIA_DIR") or Path(current_app.instance_path) / "media"),
        campaign_id=kit.campaign_id,
        unit=unit,
        item_id=item_id,
        processed=processed,
        source=source,
        original_name=upload.filename if source == "uploaded" else "",
        user_id=user.id,
    )
    audit(session, user.id, "kit.khmer_reading", "kit", kit.id, reading_id=row.id, item_id=item_id,
          source=source, seconds=processed.seconds, lufs=processed.lufs)
    queue_kit_build(session, kit.campaign_id, reason="khmer_reading", unit_ids=[kit.unit_id],
                    user_id=user.id)
    session.commit()
    from core.formatting import fmt_number

    message = _(
        "Đã lưu bản đọc tiếng Khmer (%(s)s giây, đã cắt khoảng lặng và chuẩn hóa âm lượng). "
        "Bộ tài liệu đang được tạo lại với bản đọc này.",
        s=fmt_number(processed.seconds),
    )
    if _wants_json():
        return jsonify({"ok": True, "message": message, "reading_id": row.id,
                        "seconds": processed.seconds})
    flash(message, "success")
    return redirect(url_for("kits.detail", kit_id=kit.id, _anchor="khmer"))


@bp.route("/<int:kit_id>/khmer/<int:reading_id>.mp3")
@role_required(*VIEWERS)
def khmer_reading_audio(kit_id: int, reading_id: int):
    """Listen to a stored reading (whoever sees the kit)."""
    from campaigns.kits import readings
    from campaigns.kits.models import KhmerReading

    session = get_session()
    kit = _load_kit(kit_id)
    row = session.get(KhmerReading, reading_id)
    if row is None or row.campaign_id != kit.campaign_id or row.unit_id != kit.unit_id:
        abort(404)
    path = readings.mp3_path(row)
    if not path.is_file():
        abort(404)
    return send_download(path, mimetype="audio/mpeg", download_name=f"khmer-{row.id}.mp3",
                         max_age=0, inline=True)


@bp.route("/<int:kit_id>/download")
@role_required(*VIEWERS)
def download(kit_id: int):
    session = get_session()
    kit = _load_kit(kit_id)
    path = access.kit_file(kit)
    if path is None:
        flash(
            _("Bộ tài liệu chưa sẵn sàng (đang tạo hoặc tạo lỗi); vui lòng thử lại sau."), "error"
        )
        return redirect(url_for("kits.detail", kit_id=kit.id))
    name = access.download_name(session, kit)
    access.record_download(session, kit, actor(), via="web")
    session.commit()
    return send_download(path, mimetype="application/zip", download_name=name, max_age=0)


@bp.route("/build", methods=["POST"])
@role_required(*EDITORS)
def build():
    from campaigns.kits.jobs import queue_kit_build

    session = get_session()
    campaign = session.get(Campaign, request.form.get("campaign_id", type=db_int) or -1)
    if campaign is None:
        abort(404)
    if campaign.status not in RELEASED:
        flash(_("Chỉ tạo bộ tài liệu cho chiến dịch đã duyệt hoặc đang triển khai."), "error")
    else:
        job = queue_kit_build(
            session,
            campaign.id,
            reason="manual",
            force=bool(request.form.get("force")),
            user_id=actor().id,
        )
        session.commit()
        flash(_("Đã xếp lịch tạo bộ tài liệu (công việc #%(id)s).", id=job.id), "success")
    return redirect(url_for("kits.index", campaign_id=campaign.id))


# -- broadcasts ----------------------------------------------------------------------------------


@bp.route("/broadcasts")
@role_required(*VIEWERS)
def broadcasts():
    session = get_session()
    user = actor()
    query = bc.visible_broadcasts(session, user).order_by(Delivery.scheduled_at.desc(), Delivery.id)  # type: ignore[union-attr]
    state = request.args.get("state")
    now = utcnow()
    if state == "unconfirmed":
        query = query.where(
            Delivery.confirmed_at.is_(None),
            Delivery.scheduled_at <= now,  # type: ignore[union-attr]
            Delivery.status != "cancelled",
        )
    elif state == "confirmed":
        query = query.where(Delivery.confirmed_at.is_not(None))  # type: ignore[union-attr]
    elif state == "upcoming":
        query = query.where(Delivery.confirmed_at.is_(None), Delivery.scheduled_at > now)  # type: ignore[union-attr]
    rows = session.exec(query.limit(500)).all()
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    items = [
        {
            "d": d,
            "unit": units.get(bc.delivery_unit_id(session, d)),
            "state": bc.broadcast_state(d, now),
            "can_confirm": bc.can_confirm(session, user, d),
        }
        for d in rows
    ]
    return render_template("kits/broadcasts.html", items=items, state=state)


@bp.route("/broadcasts/<int:delivery_id>/confirm", methods=["POST"])
@role_required(*VIEWERS)
def confirm(delivery_id: int):
    session = get_session()
    try:
        bc.confirm_broadcast(session, delivery_id, actor(), _nfc(request.form.get("note")) or None)
    except bc.NotFound:
        abort(404)
    except bc.Forbidden:
        abort(403)
    except bc.Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("kits.broadcasts"))
    except cs.ValidationError as exc:
        flash(" ".join(exc.fields.values()), "error")
        return redirect(url_for("kits.broadcasts"))
    session.commit()
    flash(_("Đã xác nhận buổi phát #%(id)s.", id=delivery_id), "success")
    return redirect(url_for("kits.broadcasts", state=request.args.get("state") or None))


# -- schedules ---------------------------------------------------------------------------------------


def _schedulable_units(session) -> list[OrgUnit]:
    user = actor()
    query = (
        select(OrgUnit)
        .where(OrgUnit.kind.in_(("district", "commune")))
        .order_by(OrgUnit.kind, OrgUnit.name)
    )  # type: ignore[attr-defined]
    units = session.exec(query).all()
    if user.role in (Role.admin, Role.communicator):
        return list(units)
    if user.role == Role.unit_officer and user.unit_id:
        mine = subtree_ids(session, user.unit_id)
        return [u for u in units if u.id in mine]
    return []


@bp.route("/schedules", methods=["GET", "POST"])
@role_required(*VIEWERS)
def schedules():
    from campaigns.kits.api import may_schedule_for

    session = get_session()
    user = actor()
    units = _schedulable_units(session)
    campaigns = _visible_campaigns(session)
    errors: dict[str, str] = {}
    form = {"weekdays": [str(d) for d in bc.DEFAULT_WEEKDAYS], "times": ", ".join(bc.DEFAULT_TIMES)}
    can_edit = user.role in (Role.admin, Role.communicator, Role.unit_officer)
    if request.method == "POST":
        if not can_edit:
            abort(403)
        form = {
            "campaign_id": request.form.get("campaign_id", ""),
            "unit": request.form.get("unit", ""),
            "weekdays": request.form.getlist("weekdays"),
            "times": request.form.get("times", ""),
            "starts_on": request.form.get("starts_on", ""),
            "ends_on": request.form.get("ends_on", ""),
            "content_item_id": request.form.get("content_item_id", ""),
        }
        campaign = (
            session.get(Campaign, int(form["campaign_id"]))
            if form["campaign_id"].isdigit()
            else None
        )
        if campaign is None or not cs.can_see_campaign(session, user, campaign):
            errors["campaign_id"] = _("Vui lòng chọn chiến dịch.")
        unit = (
            session.exec(select(OrgUnit).where(OrgUnit.code == form["unit"])).first()
            if form["unit"]
            else None
        )
        if unit is None or not may_schedule_for(session, user, unit):
            errors["unit"] = _("Vui lòng chọn đơn vị trong phạm vi của bạn.")
        if not errors:
            try:
                from campaigns.kits.api import _script_text

                text = _script_text(campaign, unit, form["content_item_id"])
                bc.create_schedule(
                    session, campaign=campaign, unit=unit, data=form, user=user, script_text=text
                )
                session.commit()
                flash(_("Đã tạo lịch phát cho %(unit)s.", unit=unit.name), "success")
                return redirect(url_for("kits.schedules"))
            except cs.ValidationError as exc:
                session.rollback()
                errors.update(exc.fields)
    query = (
        select(RecurringSchedule)
        .join(ChannelAccount, ChannelAccount.id == RecurringSchedule.channel_account_id)
        .where(ChannelAccount.channel == bc.CHANNEL)
        .order_by(RecurringSchedule.id.desc())
    )  # type: ignore[union-attr]
    if user.role == Role.unit_officer:
        query = query.where(RecurringSchedule.unit_id.in_([u.id for u in units] or [-1]))  # type: ignore[union-attr]
    rules = session.exec(query.limit(300)).all()
    all_units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    titles = {c.id: c.title for c in campaigns}
    scripts = session.exec(
        select(ContentItem)
        .where(ContentItem.channel == bc.CHANNEL, ContentItem.campaign_id.in_(list(titles) or [-1]))  # type: ignore[attr-defined]
        .order_by(ContentItem.campaign_id, ContentItem.planned_at)
    ).all()
    return render_template(
        "kits/schedules.html",
        units=units,
        campaigns=campaigns,
        rules=rules,
        errors=errors,
        form=form,
        all_units=all_units,
        titles=titles,
        scripts=scripts,
        can_edit=can_edit,
        slot_label=bc.slot_label,
    ), (422 if errors else 200)


# -- script editor -----------------------------------------------------------------------------------------


def _script_settings():
    from campaigns.kits.scripts import ScriptSettings

    return ScriptSettings.from_config(current_app.config)


def _preview_units(session, campaign: Campaign) -> list[OrgUnit]:
    from campaigns.kits.builder import kit_units

    units = kit_units(session, campaign.id)
    if actor().role == Role.unit_officer and actor().unit_id:
        mine = subtree_ids(session, actor().unit_id)
        units = [u for u in units if u.id in mine]
    return units


@bp.route("/scripts/<int:item_id>", methods=["GET", "POST"])
@role_required(*VIEWERS)
def script_editor(item_id: int):
    from campaigns.kits.scripts import DEFAULT_TEMPLATE, preview, script_fields
    from media_templates.scripts import list_script_templates

    session = get_session()
    item = session.get(ContentItem, item_id)
    campaign = session.get(Campaign, item.campaign_id) if item else None
    if (
        item is None
        or item.channel != bc.CHANNEL
        or not cs.can_see_campaign(session, actor(), campaign)
    ):
        abort(404)
    can_edit = actor().role in (Role.admin, *EDITORS)
    units = _preview_units(session, campaign)
    fields = script_fields(item)
    form = {
        "title": item.title,
        "key_message": fields.get("key_message") or item.body,
        "call_to_action": fields.get("call_to_action", ""),
        "extra": fields.get("extra", ""),
        "template": fields.get("template") or DEFAULT_TEMPLATE,
        "unit": request.values.get("unit") or (units[0].code if units else ""),
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        for key in ("title", "key_message", "call_to_action", "extra", "template"):
            form[key] = _nfc(request.form.get(key, ""))
        if not form["title"]:
            errors["title"] = _("Vui lòng nhập tiêu đề bản tin.")
        elif len(form["title"]) > 200:
            errors["title"] = _("Tiêu đề tối đa 200 ký tự.")
        if not form["key_message"]:
            errors["key_message"] = _("Vui lòng nhập thông điệp chính.")
        if request.form.get("action") == "save" and not errors:
            if not can_edit:
                abort(403)
            item.title = form["title"]
            item.body = form["key_message"]
            item.variants = {
                **(item.variants or {}),
                "script": {
                    "template": form["template"],
                    "call_to_action": form["call_to_action"],
                    "extra": form["extra"],
                },
            }
            item.updated_at = utcnow()
            session.add(item)
            from core.models import audit

            audit(
                session, actor().id, "content.update", "content_item", item.id, channel=bc.CHANNEL
            )
            session.commit()
            flash(_("Đã lưu kịch bản."), "success")
            return redirect(url_for("kits.script_editor", item_id=item.id, unit=form["unit"]))
    unit = next((u for u in units if u.code == form["unit"]), units[0] if units else None)
    result = None
    if unit is not None:
        parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
        result = preview(
            campaign,
            unit,
            item,
            _script_settings(),
            parent=parent,
            overrides={
                k: form[k]
                for k in ("key_message", "call_to_action", "extra", "template")
                if form[k]
            },
        )
    return render_template(
        "kits/script.html",
        item=item,
        campaign=campaign,
        units=units,
        form=form,
        errors=errors,
        result=result,
        can_edit=can_edit,
        templates=list_script_templates(
            [Path(d) for d in _script_settings().template_dirs] or None
        ),
    ), (422 if errors else 200)


@bp.route("/scripts/<int:item_id>/preview", methods=["POST"])
@role_required(*VIEWERS)
def script_preview(item_id: int):
    """Live preview for the editor's JavaScript (JSON in, JSON out; CSRF header)."""
    from campaigns.kits.scripts import preview

    session = get_session()
    item = session.get(ContentItem, item_id)
    campaign = session.get(Campaign, item.campaign_id) if item else None
    if (
        item is None
        or item.channel != bc.CHANNEL
        or not cs.can_see_campaign(session, actor(), campaign)
    ):
        abort(404)
    data = request.get_json(silent=True) or {}
    if not isinstance(data, dict):
        data = {}
    units = _preview_units(session, campaign)
    unit = next((u for u in units if u.code == data.get("unit")), units[0] if units else None)
    if unit is None:
        return jsonify(
            {
                "ok": False,
                "error": _("Chiến dịch chưa có đơn vị nhận bộ tài liệu."),
                "fields": {"unit": _("Không có đơn vị.")},
            }
        ), 422
    overrides = {
        k: _nfc(data[k])
        for k in ("key_message", "call_to_action", "extra", "template")
        if isinstance(data.get(k), str) and data[k].strip()
    }
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    result = preview(campaign, unit, item, _script_settings(), parent=parent, overrides=overrides)
    return jsonify(result), (200 if result["ok"] else 422)
