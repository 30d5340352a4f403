"""JSON API for kits, broadcasts, broadcast schedules and script previews.

Same conventions as ``campaigns.api``: Bearer tokens, errors as
``{"error": {"code", "message", "fields"}}``, lists as ``{"items", "total"}``;
another unit's kit or broadcast answers 404.
"""

from __future__ import annotations

from flask import jsonify, request, url_for
from sqlmodel import select

from campaigns import service as cs
from campaigns.api import ApiError, api_blueprint, body, int_arg, is_id, me, paged, roles
from campaigns.kits import access
from campaigns.kits import broadcasts as bc
from campaigns.models import Campaign, ContentItem, Kit, KitDownload
from core.db import get_session
from core.downloads import send_download
from core.models import OrgUnit, Role
from core.timeutil import utcnow
from core.units import subtree_ids
from scheduler.models import ChannelAccount, RecurringSchedule

bp = api_blueprint("kits_api")

VIEWERS = (Role.communicator, Role.reviewer, Role.unit_officer)


# -- kits ---------------------------------------------------------------------------------


def kit_json(kit: Kit) -> dict:
    session = get_session()
    unit = session.get(OrgUnit, kit.unit_id)
    campaign = session.get(Campaign, kit.campaign_id)
    return {
        "id": kit.id,
        "campaign_id": kit.campaign_id,
        "campaign_title": campaign.title if campaign else None,
        "unit": unit.code if unit else None,
        "unit_name": unit.name if unit else None,
        "status": kit.status,
        "version": kit.version,
        "size": kit.size,
        "sha256": kit.sha256,
        "built_at": kit.built_at.isoformat() if kit.built_at else None,
        "contents": kit.contents,
        "warnings": kit.warnings,
        "download_url": url_for("kits_api.kits_download", kit_id=kit.id)
        if kit.status == "ready"
        else None,
    }


@bp.get("/kits")
@roles(*VIEWERS)
def kits_list():
    session = get_session()
    query = access.visible_kit_query(session, me()).order_by(Kit.campaign_id.desc(), Kit.id)
    campaign_id = int_arg("campaign_id")
    if campaign_id is not None:
        query = query.where(Kit.campaign_id == campaign_id)
    unit_code = request.args.get("unit")
    if unit_code:
        unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
        query = query.where(Kit.unit_id == (unit.id if unit else -1))
    status = request.args.get("status")
    if status:
        if status not in access.KIT_STATUS_LABELS:
            raise ApiError(
                422, None, {"status": "Trạng thái phải là pending, building, ready hoặc failed."}
            )
        query = query.where(Kit.status == status)
    return paged(query, kit_json)


def _load_kit(kit_id: int) -> Kit:
    kit = access.load_visible_kit(get_session(), me(), kit_id)
    if kit is None:
        raise ApiError(404)
    return kit


@bp.get("/kits/<int:kit_id>")
@roles(*VIEWERS)
def kits_get(kit_id: int):
    return jsonify(kit_json(_load_kit(kit_id)))


@bp.get("/kits/<int:kit_id>/download")
@roles(*VIEWERS)
def kits_download(kit_id: int):
    session = get_session()
    kit = _load_kit(kit_id)
    path = access.kit_file(kit)
    if path is None:
        raise ApiError(
            409,
            "Bộ tài liệu chưa sẵn sàng (đang tạo hoặc tạo lỗi); vui lòng thử lại sau.",
            {"status": kit.status},
        )
    name = access.download_name(session, kit)
    access.record_download(session, kit, me(), via="api")
    session.commit()
    resp = send_download(
        path,
        mimetype="application/zip",
        download_name=name,
        max_age=0,
        etag=kit.sha256 or True,
    )
    resp.headers["X-Kit-Version"] = str(kit.version)
    return resp


@bp.get("/kits/<int:kit_id>/downloads")
@roles(Role.communicator, Role.reviewer, Role.unit_officer)
def kits_downloads(kit_id: int):
    kit = _load_kit(kit_id)
    query = select(KitDownload).where(KitDownload.kit_id == kit.id).order_by(KitDownload.at.desc())
    return paged(
        query,
        lambda d: {"id": d.id, "user_id": d.user_id, "at": d.at.isoformat() if d.at else None},
    )


@bp.post("/kits/build")
@roles(Role.communicator)
def kits_build():
    from campaigns.kits.jobs import queue_kit_build
    from campaigns.models import RELEASED

    session = get_session()
    data = body()
    cid = data.get("campaign_id")
    campaign = session.get(Campaign, cid) if is_id(cid) else None
    if campaign is None:
        raise ApiError(422, None, {"campaign_id": "Không có chiến dịch với mã này."})
    if campaign.status not in RELEASED:
        raise ApiError(409, "Chỉ tạo bộ tài liệu cho chiến dịch đã duyệt hoặc đang triển khai.")
    force = data.get("force", False)
    if not isinstance(force, bool):
        raise ApiError(422, None, {"force": "Phải là true hoặc false."})
    job = queue_kit_build(session, campaign.id, reason="manual", force=force, user_id=me().id)
    session.commit()
    return jsonify({"job_id": job.id, "status": job.status}), 202


# -- broadcasts ------------------------------------------------------------------------------


def broadcast_json(d) -> dict:
    session = get_session()
    uid = bc.delivery_unit_id(session, d)
    unit = session.get(OrgUnit, uid) if uid else None
    return {
        "id": d.id,
        "campaign_id": d.campaign_id,
        "unit": unit.code if unit else None,
        "unit_name": unit.name if unit else None,
        "scheduled_at": d.scheduled_at.isoformat() if d.scheduled_at else None,
        "title": (d.content or {}).get("title"),
        "status": str(d.status),
        "state": bc.broadcast_state(d),
        "confirmed_at": d.confirmed_at.isoformat() if d.confirmed_at else None,
        "confirmed_by": d.confirmed_by,
        "can_confirm": bc.can_confirm(session, me(), d),
    }


@bp.get("/broadcasts")
@roles(*VIEWERS)
def broadcasts_list():
    from scheduler.models import Delivery

    session = get_session()
    query = bc.visible_broadcasts(session, me()).order_by(Delivery.scheduled_at, Delivery.id)
    campaign_id = int_arg("campaign_id")
    if campaign_id is not None:
        query = query.where(Delivery.campaign_id == campaign_id)
    state = request.args.get("state")
    now = utcnow()
    if state == "confirmed":
        query = query.where(Delivery.confirmed_at.is_not(None))  # type: ignore[union-attr]
    elif state == "unconfirmed":
        query = query.where(
            Delivery.confirmed_at.is_(None),
            Delivery.scheduled_at <= now,  # type: ignore[union-attr]
            Delivery.status != "cancelled",
        )
    elif state == "upcoming":
        query = query.where(
            Delivery.confirmed_at.is_(None),
            Delivery.scheduled_at > now,  # type: ignore[union-attr]
            Delivery.status != "cancelled",
        )
    elif state:
        raise ApiError(
            422, None, {"state": "Trạng thái phải là confirmed, unconfirmed hoặc upcoming."}
        )
    return paged(query, broadcast_json)


@bp.post("/broadcasts/<int:delivery_id>/confirm")
@roles(*VIEWERS)
def broadcasts_confirm(delivery_id: int):
    session = get_session()
    data = request.get_json(silent=True) if request.data else {}
    if data is not None and not isinstance(data, dict):
        raise ApiError(
            422, "Nội dung yêu cầu phải là một đối tượng JSON.", {"_": "Cần JSON object."}
        )
    note = (data or {}).get("note")
    if note is not None and not isinstance(note, str):
        raise ApiError(422, None, {"note": "Ghi chú phải là văn bản."})
    try:
        d = bc.confirm_broadcast(session, delivery_id, me(), note)
    except bc.NotFound:
        raise ApiError(404) from None
    except bc.Forbidden as exc:
        raise ApiError(403, str(exc)) from None
    except bc.Conflict as exc:
        raise ApiError(409, exc.message) from None
    session.commit()
    return jsonify(broadcast_json(d))


# -- broadcast schedules -------------------------------------------------------------------------


def schedule_json(r: RecurringSchedule) -> dict:
    unit = get_session().get(OrgUnit, r.unit_id) if r.unit_id else None
    return {
        "id": r.id,
        "campaign_id": r.campaign_id,
        "unit": unit.code if unit else None,
        "channel_account_id": r.channel_account_id,
        "weekdays": r.weekdays,
        "times": r.times,
        "starts_on": r.starts_on,
        "ends_on": r.ends_on,
        "held": r.held,
        "label": bc.slot_label(r.weekdays, r.times),
        "content_item_id": (r.content or {}).get("content_item_id"),
    }


def may_schedule_for(session, user, unit: OrgUnit) -> bool:
    if user.role in (Role.admin, Role.communicator):
        return True
    return (
        user.role == Role.unit_officer
        and user.unit_id is not None
        and unit.id in subtree_ids(session, user.unit_id)
    )


@bp.get("/broadcast-schedules")
@roles(*VIEWERS)
def schedules_list():
    session = get_session()
    query = (
        select(RecurringSchedule)
        .join(ChannelAccount, ChannelAccount.id == RecurringSchedule.channel_account_id)
        .where(ChannelAccount.channel == bc.CHANNEL)
        .order_by(RecurringSchedule.id)
    )
    if me().role == Role.unit_officer:
        query = query.where(
            RecurringSchedule.unit_id.in_(
                subtree_ids(session, me().unit_id) if me().unit_id else [-1]
            )
        )  # type: ignore[union-attr]
    campaign_id = int_arg("campaign_id")
    if campaign_id is not None:
        query = query.where(RecurringSchedule.campaign_id == campaign_id)
    return paged(query, schedule_json)


def _campaign_and_unit(session, data: dict, errors: dict):
    """The body's ``campaign_id`` (one the caller may see) and ``unit`` code;
    a missing or invisible campaign is recorded in ``errors``."""
    cid = data.get("campaign_id")
    campaign = session.get(Campaign, cid) if is_id(cid) else None
    if campaign is None or not cs.can_see_campaign(session, me(), campaign):
        errors["campaign_id"] = "Không có chiến dịch với mã này."
    code = data.get("unit")
    unit = (
        session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()
        if isinstance(code, str)
        else None
    )
    return campaign, unit


@bp.post("/broadcast-schedules")
@roles(Role.communicator, Role.unit_officer)
def schedules_create():
    session = get_session()
    data = body()
    errors = {}
    campaign, unit = _campaign_and_unit(session, data, errors)
    if unit is None or not may_schedule_for(session, me(), unit):
        errors["unit"] = "Không có đơn vị với mã này (hoặc ngoài phạm vi của bạn)."
    if errors:
        raise ApiError(422, None, errors)
    script_text = _script_text(campaign, unit, data.get("content_item_id"))
    rule = bc.create_schedule(
        session, campaign=campaign, unit=unit, data=data, user=me(), script_text=script_text
    )
    session.commit()
    return jsonify(schedule_json(rule)), 201


def _script_text(campaign: Campaign, unit: OrgUnit, item_id) -> str | None:
    from flask import current_app

    from campaigns.kits.scripts import ScriptSettings, render_for_unit

    session = get_session()
    try:
        item = session.get(ContentItem, int(item_id))
    except (TypeError, ValueError):
        return None
    if item is None or item.campaign_id != campaign.id or item.channel != bc.CHANNEL:
        return None
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    try:
        return render_for_unit(
            campaign, unit, item, ScriptSettings.from_config(current_app.config), parent=parent
        ).text
    except Exception:  # noqa: BLE001 - the rule still gets the raw key message
        return None


# -- script preview ----------------------------------------------------------------------------------


@bp.post("/loudspeaker-scripts/preview")
@roles(*VIEWERS)
def scripts_preview():
    from flask import current_app

    from campaigns.kits.scripts import ScriptSettings, preview

    session = get_session()
    data = body()
    errors = {}
    campaign, unit = _campaign_and_unit(session, data, errors)
    if unit is None:
        errors["unit"] = "Không có đơn vị với mã này."
    overrides = {}
    for key in ("key_message", "call_to_action", "extra", "template", "audience"):
        if key in data:
            if not isinstance(data[key], str):
                errors[key] = "Phải là văn bản."
            else:
                overrides[key] = data[key]
    if errors:
        raise ApiError(422, None, errors)
    item = ContentItem(
        campaign_id=campaign.id,
        title="",
        body=overrides.get("key_message", ""),
        channel=bc.CHANNEL,
        variants={},
    )
    parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    result = preview(
        campaign,
        unit,
        item,
        ScriptSettings.from_config(current_app.config),
        parent=parent,
        overrides=overrides,
    )
    if not result["ok"]:
        raise ApiError(422, result["error"], result["fields"])
    return jsonify(result)


def openapi_paths() -> dict:
    from campaigns.openapi import ID, _op

    return {
        "/kits": {
            "get": _op(
                "List kits you may see (unit officers: own unit and below)",
                params=("campaign_id", "unit", "status", "limit", "offset"),
            )
        },
        "/kits/{id}": {"parameters": ID, "get": _op("Get a kit (contents, warnings, version)")},
        "/kits/{id}/download": {"parameters": ID, "get": _op("Download a kit ZIP (logged)")},
        "/kits/{id}/downloads": {"parameters": ID, "get": _op("List a kit's downloads")},
        "/kits/build": {"post": _op("Queue the kits.build job for a campaign", ok="202")},
        "/broadcasts": {
            "get": _op(
                "List loudspeaker broadcast slots",
                params=("campaign_id", "state", "limit", "offset"),
            )
        },
        "/broadcasts/{id}/confirm": {
            "parameters": ID,
            "post": _op("Confirm a broadcast (own unit or its district)"),
        },
        "/broadcast-schedules": {
            "get": _op("List recurring loudspeaker slots", params=("campaign_id",)),
            "post": _op("Create recurring loudspeaker slots for a unit", ok="201"),
        },
        "/loudspeaker-scripts/preview": {
            "post": _op("Preview a script: reading text, unknown tokens, duration")
        },
    }
