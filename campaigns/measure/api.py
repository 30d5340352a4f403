"""JSON API of the measure package under /api/v1 (same conventions as campaigns.api).

Bearer tokens; errors ``{"error": {"code", "message", "fields"}}``; lists
``{"items", "total"}`` with ``limit``/``offset``. Another unit's figures,
tasks or feedback answer 404; entering figures for a visible unit that is not
your own answers 403.
"""

from __future__ import annotations

import io

from flask import jsonify, request
from sqlmodel import select

from campaigns import service as cs
from campaigns.api import ApiError, api_blueprint, body, int_arg, is_id, me, paged, roles
from campaigns.measure import compute, entries, plans
from campaigns.measure import feedback as fbk
from campaigns.measure.models import (
    Feedback,
    KpiValue,
    OutsidePublication,
    Plan,
    PlanTarget,
    PlanTask,
)
from campaigns.models import Campaign
from core.auth import visible_unit_ids
from core.db import get_session
from core.downloads import send_download
from core.models import OrgUnit, Role, audit
from core.timeutil import LOCAL_TZ, utcnow
from core.units import subtree_ids
from core.web import api_error

bp = api_blueprint("measure_api")

VIEWERS = (Role.communicator, Role.reviewer, Role.unit_officer)


@bp.errorhandler(entries.EntryError)
def _entry_error(exc: entries.EntryError):
    return api_error(exc.status, exc.message if exc.status in (403, 404) else None, exc.fields)


@bp.errorhandler(fbk.FeedbackError)
def _feedback_error(exc: fbk.FeedbackError):
    return api_error(422, None, exc.fields)


def _plan() -> Plan:
    session = get_session()
    year = int_arg("year")
    if not session.exec(select(Plan.id)).first():
        plans.ensure_default_plans(session)
        session.commit()
    if year is None:
        year = utcnow().astimezone(LOCAL_TZ).year  # the current year, as on the pages
    plan = plans.plan_for_year(session, year)
    if plan is None:
        raise ApiError(404, f"Không có kế hoạch đã ban hành cho năm {year}.")
    return plan


def _unit(code: str | None, *, required: bool = False) -> OrgUnit | None:
    if not code:
        if required:
            raise ApiError(422, None, {"unit": "Cần mã đơn vị."})
        return None
    session = get_session()
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()
    visible = visible_unit_ids(session, me())
    if unit is None or (visible is not None and unit.id not in visible):
        raise ApiError(404, "Không tìm thấy đơn vị.")
    return unit


def _default_unit(code: str | None) -> OrgUnit | None:
    """Unit officers always see their own subtree; others the whole province unless filtered."""
    if not code and me().role == Role.unit_officer:
        unit = get_session().get(OrgUnit, me().unit_id) if me().unit_id else None
        if unit is None:
            raise ApiError(404)
        return unit
    return _unit(code)


def result_json(r: compute.TargetResult) -> dict:
    t = r.target
    return {"id": t.id, "code": t.code, "section": t.section, "title": t.title, "kind": str(t.kind),
            "metric": t.metric, "goal": t.goal, "unit": t.unit, "due_year": t.due_year, "value": r.value,
            "met": r.met, "progress": round(r.progress, 1), "detail": r.detail,
            "numerator": r.numerator, "denominator": r.denominator, "entry": t.entry,
            "complete": r.complete, "reported": r.reported, "owed": r.owed, "verdict": r.verdict,
            "basis": r.basis, "via_lantoa": r.via_lantoa, "via_outside": r.via_outside,
            "baseline": t.baseline, "baseline_year": t.baseline_year,
            "path": [{"year": y, "expected": e, "actual": a} for y, e, a in r.path],
            "trend": [{"month": m, "value": v} for m, v in r.trend]}


@bp.get("/plans")
@roles(*VIEWERS)
def plans_list():
    return paged(select(Plan).order_by(Plan.year.desc(), Plan.key),  # type: ignore[union-attr]
                 lambda p: {"id": p.id, "key": p.key, "province": p.province_code, "year": p.year,
                            "title": p.title, "deadline": p.deadline.isoformat(),
                            "remind_from": p.remind_from.isoformat(), "report_to": p.report_to,
                            "status": p.status})


@bp.get("/targets")
@roles(*VIEWERS)
def targets_list():
    plan = _plan()
    unit = _default_unit(request.args.get("unit"))
    results = compute.evaluate_plan(get_session(), plan, unit_id=unit.id if unit else None,
                                    with_trend=request.args.get("trend", "1") != "0", with_path=True)
    return jsonify({"plan": plan.key, "year": plan.year, "unit": unit.code if unit else None,
                    "items": [result_json(r) for r in results], "total": len(results)})


@bp.patch("/targets/<int:target_id>")
@roles()
def targets_patch(target_id: int):
    session = get_session()
    target = session.get(PlanTarget, target_id)
    if target is None:
        raise ApiError(404)
    data = body()
    errors = {}
    for key in data:
        if key not in ("goal", "title"):
            errors[key] = "Trường không được hỗ trợ."
    if "goal" in data:
        goal = data["goal"]
        if isinstance(goal, bool) or not isinstance(goal, int | float) or not 0 <= goal <= 100:
            errors["goal"] = "Mục tiêu phải là số phần trăm từ 0 đến 100."
    if "title" in data and (not isinstance(data["title"], str) or not data["title"].strip()
                            or len(data["title"]) > 2000):
        errors["title"] = "Nội dung chỉ tiêu không được trống (tối đa 2000 ký tự)."
    if errors:
        raise ApiError(422, None, errors)
    before = {"goal": target.goal, "title": target.title}
    if "goal" in data:
        target.goal = float(data["goal"])
    if "title" in data:
        target.title = cs.nfc(data["title"])
    session.add(target)
    audit(session, me().id, "target.edit", "target", target.id, before=before)
    session.commit()
    plan = session.get(Plan, target.plan_id)
    result = compute.evaluate_plan(session, plan, with_trend=False, target_ids={target.id})[0]
    return jsonify(result_json(result))


def figure_json(kv: KpiValue) -> dict:
    session = get_session()
    unit = session.get(OrgUnit, kv.unit_id)
    target = session.get(PlanTarget, kv.target_id)
    return {"id": kv.id, "target": target.code if target else None, "target_id": kv.target_id,
            "unit": unit.code if unit else None, "year": kv.year, "value": kv.value,
            "numerator": kv.numerator, "denominator": kv.denominator,
            "as_of": kv.as_of.isoformat(), "note": kv.note, "evidence_url": kv.evidence_url,
            "attachment": kv.attachment_name, "entered_by": kv.entered_by,
            "entered_at": kv.entered_at.isoformat() if kv.entered_at else None}


@bp.get("/kpi-values")
@roles(*VIEWERS)
def figures_list():
    session = get_session()
    query = select(KpiValue).order_by(KpiValue.entered_at.desc(), KpiValue.id.desc())  # type: ignore[union-attr]
    visible = visible_unit_ids(session, me())
    if visible is not None:
        query = query.where(KpiValue.unit_id.in_(visible or [-1]))  # type: ignore[attr-defined]
    year = int_arg("year")
    if year is not None:
        query = query.where(KpiValue.year == year)
    unit = _unit(request.args.get("unit"))
    if unit is not None:
        query = query.where(KpiValue.unit_id == unit.id)
    return paged(query, figure_json)


def _target(plan: Plan, ref) -> PlanTarget:
    session = get_session()
    query = select(PlanTarget).where(PlanTarget.plan_id == plan.id)
    if isinstance(ref, int) and not isinstance(ref, bool):
        target = session.exec(query.where(PlanTarget.id == ref)).first() if is_id(ref) else None
    elif isinstance(ref, str) and ref:
        target = session.exec(query.where(PlanTarget.code == ref)).first()
    else:
        raise ApiError(422, None, {"target": "Cần mã chỉ tiêu (ví dụ T10)."})
    if target is None:
        raise ApiError(422, None, {"target": f"Không có chỉ tiêu '{ref}' trong kế hoạch năm {plan.year}."})
    return target


@bp.post("/kpi-values")
@roles(*VIEWERS)
def figures_create():
    """JSON, or multipart/form-data with the same fields plus a file ``attachment``."""
    session = get_session()
    if request.mimetype == "multipart/form-data":
        data = request.form.to_dict()
        upload = request.files.get("attachment")
    else:
        data = body()
        upload = None
    year = data.get("year")
    try:
        year = int(year) if year not in (None, "") else None
    except (TypeError, ValueError):
        raise ApiError(422, None, {"year": "Năm phải là số nguyên."}) from None
    if year is not None:
        plan = plans.plan_for_year(session, year)
        if plan is None:
            raise ApiError(422, None, {"year": f"Không có kế hoạch cho năm {year}."})
    else:
        plan = _plan()
    ref = data.get("target")
    if isinstance(ref, str) and ref.isdigit() and request.mimetype == "multipart/form-data":
        ref = int(ref)
    target = _target(plan, ref)
    unit = _unit(data.get("unit") or None) if data.get("unit") else (
        session.get(OrgUnit, me().unit_id) if me().unit_id else None)
    if unit is None:
        raise ApiError(422, None, {"unit": "Cần mã đơn vị."})
    has_file = upload is not None and upload.filename
    kv = entries.enter_figure(session, me(), target, unit, data, upload.stream if has_file else None,
                              upload.filename if has_file else None, year=plan.year,
                              today=compute.local_today())
    session.commit()
    return jsonify(figure_json(kv)), 201


@bp.get("/tasks")
@roles(*VIEWERS)
def tasks_list():
    session = get_session()
    plan = _plan()
    unit = _default_unit(request.args.get("unit"))
    scope = subtree_ids(session, unit.id) if unit else None
    rows = compute.task_rows(session, plan, unit_ids=scope)
    items = [{"task_id": r.task.id, "code": r.task.code, "title": r.task.title, "due": r.task.due.isoformat(),
              "unit": r.unit.code, "status": str(r.status), "note": r.note} for r in rows]
    return jsonify({"plan": plan.key, "items": items, "total": len(items)})


@bp.put("/tasks/<int:task_id>/progress")
@roles(*VIEWERS)
def task_progress(task_id: int):
    session = get_session()
    task = session.get(PlanTask, task_id)
    if task is None:
        raise ApiError(404)
    data = body()
    unit = _unit(data.get("unit")) if data.get("unit") else (
        session.get(OrgUnit, me().unit_id) if me().unit_id else None)
    if unit is None:
        raise ApiError(422, None, {"unit": "Cần mã đơn vị."})
    status = data.get("status")
    if not isinstance(status, str):
        raise ApiError(422, None, {"status": "Cần trạng thái: not_started, in_progress hoặc done."})
    row = entries.set_task_progress(session, me(), task, unit, status, data.get("note") or "")
    session.commit()
    return jsonify({"task_id": task.id, "code": task.code, "unit": unit.code, "status": row.status,
                    "note": row.note})


@bp.get("/units/<code>/owed")
@roles(*VIEWERS)
def unit_owed(code: str):
    session = get_session()
    plan = _plan()
    unit = _unit(code, required=True)
    owed = compute.unit_owes(session, plan, unit)
    return jsonify({
        "unit": unit.code, "year": plan.year, "deadline": plan.deadline.isoformat(), "count": owed.count,
        "tasks": [{"code": r.task.code, "status": str(r.status), "due": r.task.due.isoformat()} for r in owed.tasks],
        "broadcasts": [d.id for d in owed.broadcasts], "kits": [k.id for k in owed.kits],
        "figures": [t.code for t in owed.figures]})


def outside_json(row: OutsidePublication) -> dict:
    unit = get_session().get(OrgUnit, row.unit_id)
    return {"id": row.id, "unit": unit.code if unit else None, "kind": row.kind, "title": row.title,
            "url": row.url, "attachment": row.attachment_name, "published_on": row.published_on.isoformat(),
            "campaign_id": row.campaign_id, "source": "outside", "entered_by": row.entered_by,
            "entered_at": row.entered_at.isoformat() if row.entered_at else None}


@bp.get("/outside-publications")
@roles(*VIEWERS)
def outside_list():
    """What units published outside Lan Tỏa (the caller's units), newest first."""
    from datetime import date

    session = get_session()
    query = select(OutsidePublication).order_by(OutsidePublication.published_on.desc(),  # type: ignore[attr-defined]
                                                OutsidePublication.id.desc())  # type: ignore[union-attr]
    visible = visible_unit_ids(session, me())
    if visible is not None:
        query = query.where(OutsidePublication.unit_id.in_(visible or [-1]))  # type: ignore[attr-defined]
    year = int_arg("year")
    if year is not None:
        query = query.where(OutsidePublication.published_on >= date(year, 1, 1),
                            OutsidePublication.published_on <= date(year, 12, 31))
    unit = _unit(request.args.get("unit"))
    if unit is not None:
        query = query.where(OutsidePublication.unit_id == unit.id)
    kind = request.args.get("kind")
    if kind:
        query = query.where(OutsidePublication.kind == kind)
    return paged(query, outside_json)


@bp.post("/outside-publications")
@roles(*VIEWERS)
def outside_create():
    """JSON {unit?, kind, title, url?, published_on?, campaign_id?} or multipart with a file ``attachment``."""
    session = get_session()
    if request.mimetype == "multipart/form-data":
        data = request.form.to_dict()
        upload = request.files.get("attachment")
    else:
        data = body()
        upload = None
    unit = _unit(data.get("unit")) if data.get("unit") else (
        session.get(OrgUnit, me().unit_id) if me().unit_id else None)
    if unit is None:
        raise ApiError(422, None, {"unit": "Cần mã đơn vị."})
    has_file = upload is not None and upload.filename
    row = entries.record_outside(session, me(), unit, data, upload.stream if has_file else None,
                                 upload.filename if has_file else None, today=compute.local_today())
    session.commit()
    return jsonify(outside_json(row)), 201


def feedback_json(fb: Feedback, *, personal: bool) -> dict:
    unit = get_session().get(OrgUnit, fb.unit_id) if fb.unit_id else None
    out = {"id": fb.id, "created_at": fb.created_at.isoformat() if fb.created_at else None,
           "service": fb.service, "satisfaction": fb.satisfaction, "comment": fb.comment,
           "unit": unit.code if unit else None, "campaign_id": fb.campaign_id, "status": fb.status,
           "handling_note": fb.handling_note, "language": fb.language,
           "handled_at": fb.handled_at.isoformat() if fb.handled_at else None}
    if personal:
        out.update(name=fb.name, contact=fb.contact)
    return out


@bp.get("/feedback")
@roles(*VIEWERS)
def feedback_list():
    session = get_session()
    if fbk.purge_personal_data(session):  # never show personal data past its retention date
        session.commit()
    query = select(Feedback).order_by(Feedback.created_at.desc(), Feedback.id.desc())  # type: ignore[union-attr]
    visible = visible_unit_ids(session, me())
    if visible is not None:
        query = query.where(Feedback.unit_id.in_(visible or [-1]))  # type: ignore[union-attr]
    status = request.args.get("status")
    if status:
        query = query.where(Feedback.status == status)
    return paged(query, lambda fb: feedback_json(fb, personal=me().role != Role.reviewer))


@bp.post("/feedback/<int:feedback_id>/handle")
@roles(Role.communicator, Role.unit_officer)
def feedback_handle(feedback_id: int):
    session = get_session()
    fb = session.get(Feedback, feedback_id)
    visible = visible_unit_ids(session, me())
    if fb is None or (visible is not None and fb.unit_id not in visible):
        raise ApiError(404)
    data = body()
    fbk.handle_feedback(session, fb, me(), str(data.get("status") or ""), str(data.get("note") or ""))
    session.commit()
    return jsonify(feedback_json(fb, personal=True))


@bp.get("/feedback/summary")
@roles(*VIEWERS)
def feedback_summary():
    return jsonify(fbk.public_summary(get_session(), int_arg("year")))


@bp.get("/campaigns/<int:campaign_id>/reach")
@roles(*VIEWERS)
def campaign_reach(campaign_id: int):
    session = get_session()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not cs.can_see_campaign(session, me(), campaign):
        raise ApiError(404)
    return jsonify({"campaign_id": campaign.id, **compute.campaign_reach(session, campaign.id)})


@bp.get("/reports/yearly")
@roles(*VIEWERS)
def report_yearly():
    from campaigns.measure.report import yearly_report

    session = get_session()
    plan = _plan()
    unit = _default_unit(request.args.get("unit"))
    fmt = request.args.get("format", "docx")
    if fmt not in ("docx", "pdf"):
        raise ApiError(422, None, {"format": "Định dạng phải là docx hoặc pdf."})
    data = yearly_report(session, plan, unit, fmt)
    mime = ("application/pdf" if fmt == "pdf"
            else "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    return send_download(io.BytesIO(data), mimetype=mime,
                         download_name=f"bao-cao-{plan.year}-{unit.code if unit else 'tong-hop'}.{fmt}")


def openapi_paths() -> dict:
    from campaigns.openapi import ID, _op

    tags = ("measure",)
    return {
        "/plans": {"get": _op("List loaded plans (province + year)", tags=tags, params=("limit", "offset"))},
        "/targets": {"get": _op("Targets with current value, goal, progress and monthly trend", tags=tags,
                                params=("year", "unit", "trend"))},
        "/targets/{id}": {"parameters": ID, "patch": _op("Edit a target's goal or title (admin)", tags=tags)},
        "/kpi-values": {
            "get": _op("Figures entered by units", tags=tags, params=("year", "unit", "limit", "offset")),
            "post": _op("Enter a figure {target, unit?, year?, numerator, denominator (counts targets) or value "
                        "(percent targets), as_of, evidence_url?, note?}; multipart "
                        "with file `attachment` (PDF, image, DOCX)", tags=tags, ok="201")},
        "/tasks": {"get": _op("Plan tasks per responsible unit with status", tags=tags, params=("year", "unit"))},
        "/outside-publications": {
            "get": _op("Publications units recorded outside Lan Tỏa (portal, press, broadcast, social, other)",
                       tags=tags, params=("year", "unit", "kind", "limit", "offset")),
            "post": _op("Record one {unit?, kind, title, url?, published_on?, campaign_id?}; multipart with file "
                        "`attachment`; counts for T03 (portal, press, social) or T05 (broadcast)", tags=tags,
                        ok="201")},
        "/tasks/{id}/progress": {"parameters": ID, "put": _op(
            "Report a task's progress {unit?, status: not_started|in_progress|done, note?}", tags=tags)},
        "/units/{code}/owed": {"parameters": [{"name": "code", "in": "path", "required": True,
                                               "schema": {"type": "string"}}],
                               "get": _op("What a unit still owes for the year", tags=tags, params=("year",))},
        "/feedback": {"get": _op("Citizens' feedback routed to the caller's units", tags=tags,
                                 params=("status", "limit", "offset"))},
        "/feedback/{id}/handle": {"parameters": ID, "post": _op(
            "Record how feedback was handled {status: new|in_progress|handled, note}", tags=tags)},
        "/feedback/summary": {"get": _op("Aggregated feedback (no personal data)", tags=tags, params=("year",))},
        "/campaigns/{id}/reach": {"parameters": ID, "get": _op(
            "Reach per channel: posts, SMS delivered, broadcasts confirmed, kits downloaded, QR scans",
            tags=tags)},
        "/reports/yearly": {"get": _op("The yearly report as DOCX or PDF", tags=tags,
                                       params=("year", "unit", "format"))},
    }
