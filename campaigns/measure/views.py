"""Web views: province/unit/campaign dashboards, figures, feedback, reports,
the public feedback form and summary, and tracked links ``/r/<campaign>/<unit>``.

Public endpoints (no login): ``feedback_form``, ``feedback_thanks``,
``feedback_summary``, ``tracked_link``; each is rate-limited per IP.
"""

from __future__ import annotations

import io
from datetime import date, datetime

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from sqlmodel import select

from campaigns import service as cs
from campaigns.measure import compute, entries, plans
from campaigns.measure import feedback as fbk
from campaigns.measure.models import (
    FEEDBACK_STATUS_LABELS,
    PUBLICATION_KIND_LABELS,
    TASK_STATUS_LABELS,
    Feedback,
    KpiValue,
    Notice,
    OutsidePublication,
    Plan,
    PlanStatus,
    PlanTarget,
    PlanTask,
    PublicationKind,
    TargetKind,
)
from campaigns.models import Campaign, LinkScan
from core.auth import actor, role_required, visible_unit_ids
from core.db import get_session
from core.downloads import send_download
from core.extensions import limiter
from core.models import OrgUnit, Role, audit
from core.timeutil import LOCAL_TZ, utcnow
from core.units import subtree_ids
from core.web import get_locale, public_page

bp = Blueprint("measure", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/measure")

PROVINCE_ROLES = (Role.communicator, Role.reviewer)
ALL_ROLES = (Role.communicator, Role.reviewer, Role.unit_officer)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _conf(name: str, default: str) -> str:
    """``LANTOA_<name>`` from the app config, else the environment, else the default."""
    import os

    return str(current_app.config.get(f"LANTOA_{name}") or os.environ.get(f"LANTOA_{name}") or default)


def _feedback_limit() -> str:
    return _conf("FEEDBACK_RATE_LIMIT", "5 per minute;50 per day")


def _link_limit() -> str:
    return _conf("LINK_RATE_LIMIT", "120 per minute")


@bp.app_context_processor
def _labels():
    return {"task_status_labels": TASK_STATUS_LABELS, "feedback_status_labels": FEEDBACK_STATUS_LABELS,
            "feedback_services": fbk.SERVICES, "satisfaction_labels": fbk.SATISFACTION_LABELS,
            "publication_kind_labels": PUBLICATION_KIND_LABELS}


# -- helpers ------------------------------------------------------------------------


def this_year() -> int:
    return utcnow().astimezone(LOCAL_TZ).year


def current_plan(year: int | None = None) -> Plan | None:
    """The published plan for ``year`` (default: the current year in Vietnam)."""
    session = get_session()
    if not session.exec(select(Plan.id)).first():
        plans.ensure_default_plans(session)
        session.commit()
    return plans.plan_for_year(session, year if year is not None else this_year())


def _year_arg() -> int | None:
    """The ``year`` asked for; anything that is not a year means the current year."""
    raw = request.args.get("year") or request.form.get("year")
    if raw in (None, ""):
        return None
    try:
        year = int(raw)
    except ValueError:
        return None
    return year if 2000 <= year <= 2100 else None


def _no_plan(year: int | None = None):
    """The page for a year without a published plan: says so and (admin) offers to create it."""
    session = get_session()
    year = year if year is not None else (_year_arg() or this_year())
    draft = plans.plan_for_year(session, year, drafts=True)
    source = plans.rollover_source(session, year)
    return render_template("measure/no_plan.html", year=year, draft=draft, source=source,
                           years=plans.plan_years(session)), 200


def _plan_or_404(year: int | None = None) -> Plan:
    plan = current_plan(year if year is not None else _year_arg())
    if plan is None:
        abort(404)
    return plan


def _unit_or_404(code: str) -> OrgUnit:
    """A unit the current user may see (404 otherwise)."""
    session = get_session()
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()
    if unit is None:
        abort(404)
    visible = visible_unit_ids(session, actor())
    if visible is not None and unit.id not in visible:
        abort(404)
    return unit


def _filter_unit() -> OrgUnit | None:
    code = request.args.get("unit")
    return _unit_or_404(code) if code else None


def _units_for_filter() -> list[OrgUnit]:
    return list(get_session().exec(select(OrgUnit).where(OrgUnit.kind != "telecom")
                                   .order_by(OrgUnit.kind, OrgUnit.name)).all())


def _queue_reminders(plan: Plan) -> None:
    """From 1 December, make sure today's reminder run is queued for the scheduler."""
    from campaigns.measure.reminders import enqueue_today, in_reminder_period

    today = compute.local_today()
    if in_reminder_period(plan, today):
        session = get_session()
        enqueue_today(session, plan, today)
        session.commit()


def _send(data: bytes, name: str, mime: str):
    return send_download(io.BytesIO(data), mimetype=mime, download_name=name)


# -- province view -------------------------------------------------------------------


@bp.route("/measure")
@role_required(*ALL_ROLES)
def dashboard():
    user = actor()
    if user.role == Role.unit_officer:
        unit = get_session().get(OrgUnit, user.unit_id) if user.unit_id else None
        if unit is None:
            abort(404)
        return redirect(url_for("measure.unit_view", code=unit.code, year=request.args.get("year")))
    session = get_session()
    plan = current_plan(_year_arg())
    unit = _filter_unit()
    if plan is None:
        return _no_plan()
    _queue_reminders(plan)
    results = compute.evaluate_plan(session, plan, unit_id=unit.id if unit else None, with_path=True)
    scope = subtree_ids(session, unit.id) if unit else None
    rows = compute.task_rows(session, plan, unit_ids=scope)
    summary = compute.unit_task_summary(rows)
    units = {r.unit.id: r.unit for r in rows}
    return render_template("measure/dashboard.html", plan=plan, results=results, unit=unit,
                           summary=[(units[k], v) for k, v in summary.items()], years=plans.plan_years(session),
                           units=_units_for_filter())


@bp.route("/measure/export.xlsx")
@role_required(*ALL_ROLES)
def export_xlsx():
    from campaigns.measure.export import dashboard_xlsx

    session = get_session()
    plan = current_plan(_year_arg())
    if plan is None:
        return _no_plan()
    unit = _filter_unit()
    if actor().role == Role.unit_officer and unit is None:
        unit = _unit_or_404(session.get(OrgUnit, actor().unit_id).code)
    data = dashboard_xlsx(session, plan, unit)
    name = f"chi-tieu-{plan.year}{'-' + unit.code if unit else ''}.xlsx"
    return _send(data, name, XLSX)


@bp.route("/measure/chart/<int:target_id>.png")
@role_required(*ALL_ROLES)
def trend_chart(target_id: int):
    from campaigns.measure.charts import trend_png

    session = get_session()
    target = session.get(PlanTarget, target_id)
    if target is None:
        abort(404)
    plan = session.get(Plan, target.plan_id)
    unit = _filter_unit()
    if actor().role == Role.unit_officer and unit is None:
        abort(404)
    result = compute.evaluate_plan(session, plan, unit_id=unit.id if unit else None,
                                   target_ids={target.id})[0]
    png = trend_png(f"{target.code}: {_('diễn biến theo tháng')} {plan.year}", result.trend, target.goal)
    resp = send_file(io.BytesIO(png), mimetype="image/png")
    resp.headers["Cache-Control"] = "private, max-age=60"
    return resp


# -- unit view -----------------------------------------------------------------------


@bp.route("/measure/units/<code>")
@role_required(*ALL_ROLES)
def unit_view(code: str):
    session = get_session()
    unit = _unit_or_404(code)
    plan = current_plan(_year_arg())
    if plan is None:
        return _no_plan()
    _queue_reminders(plan)
    owed = compute.unit_owes(session, plan, unit)
    results = compute.evaluate_plan(session, plan, unit_id=unit.id, with_trend=False)
    rows = compute.task_rows(session, plan, unit_ids={unit.id})
    figures = session.exec(select(KpiValue).where(KpiValue.unit_id == unit.id, KpiValue.year == plan.year)
                           .order_by(KpiValue.entered_at.desc())).all()  # type: ignore[union-attr]
    targets = {t.id: t for t in session.exec(select(PlanTarget).where(PlanTarget.plan_id == plan.id)).all()}
    notices = session.exec(select(Notice).where(Notice.unit_id == unit.id, Notice.year == plan.year)
                           .order_by(Notice.created_at.desc()).limit(5)).all()  # type: ignore[union-attr]
    user = actor()
    can_edit = user.role == Role.admin or user.unit_id == unit.id
    entered_targets = [t for t in targets.values() if t.kind == TargetKind.entered]
    entered_targets.sort(key=lambda t: t.position)
    outside = session.exec(select(OutsidePublication).where(
        OutsidePublication.unit_id == unit.id,
        OutsidePublication.published_on >= date(plan.year, 1, 1),
        OutsidePublication.published_on <= date(plan.year, 12, 31))
        .order_by(OutsidePublication.published_on.desc()).limit(50)).all()  # type: ignore[attr-defined]
    return render_template("measure/unit.html", plan=plan, unit=unit, owed=owed, results=results, rows=rows,
                           figures=figures, targets=targets, notices=notices, can_edit=can_edit,
                           entered_targets=entered_targets, today=compute.local_today(),
                           years=plans.plan_years(session), outside=outside,
                           outside_form=_outside_form(plan), outside_errors={},
                           publication_kinds=list(PublicationKind))


def _outside_form(plan: Plan) -> dict:
    today = compute.local_today()
    day = today if plan.year == today.year else date(plan.year, 12, 31) if plan.year < today.year else today
    return {"kind": "portal", "title": "", "url": "", "published_on": day.isoformat()}


@bp.route("/measure/units/<code>/outside", methods=["POST"])
@role_required(*ALL_ROLES)
def outside_record(code: str):
    """Record a publication made outside Lan Tỏa (the short form on the unit page)."""
    session = get_session()
    unit = _unit_or_404(code)
    try:
        entries.check_unit_access(session, actor(), unit)
    except entries.EntryError as exc:
        abort(exc.status)
    year = _year_arg() or this_year()
    form = {k: request.form.get(k, "") for k in ("kind", "title", "url", "published_on")}
    upload = request.files.get("attachment")
    has_file = upload is not None and upload.filename
    try:
        row = entries.record_outside(session, actor(), unit, form, upload.stream if has_file else None,
                                     upload.filename if has_file else None, today=compute.local_today())
    except entries.EntryError as exc:
        session.rollback()
        for message in exc.fields.values():
            flash(message, "error")
        return redirect(url_for("measure.unit_view", code=unit.code, year=year, _anchor="outside")), 303
    session.commit()
    flash(_("Đã ghi nhận: %(title)s (ngoài Lan Tỏa).", title=row.title), "success")
    return redirect(url_for("measure.unit_view", code=unit.code, year=row.published_on.year, _anchor="outside"))


@bp.route("/measure/outside/<int:row_id>/file")
@role_required(*ALL_ROLES)
def outside_file(row_id: int):
    session = get_session()
    row = session.get(OutsidePublication, row_id)
    if row is None or not row.attachment_path:
        abort(404)
    visible = visible_unit_ids(session, actor())
    if visible is not None and row.unit_id not in visible:
        abort(404)
    return send_download(row.attachment_path, mimetype=row.attachment_mime,
                         download_name=row.attachment_name or "minh-chung")


@bp.route("/measure/targets/<int:target_id>/rows")
@role_required(*ALL_ROLES)
def target_rows(target_id: int):
    """The rows a target's figure was computed from (figures, deliveries, outside records, feedback)."""
    session = get_session()
    target = session.get(PlanTarget, target_id)
    if target is None:
        abort(404)
    plan = session.get(Plan, target.plan_id)
    if plan.status != PlanStatus.published and actor().role != Role.admin:
        abort(404)
    unit = _filter_unit()
    if actor().role == Role.unit_officer and unit is None:
        unit = session.get(OrgUnit, actor().unit_id) if actor().unit_id else None
        if unit is None:
            abort(404)
    data = compute.figure_rows(session, plan, target, unit_id=unit.id if unit else None)
    names = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    return render_template("measure/target_rows.html", plan=plan, target=target, unit=unit, data=data,
                           r=data.result, names=names)


@bp.route("/measure/units/<code>/figures/<int:target_id>", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def enter_figure(code: str, target_id: int):
    session = get_session()
    unit = _unit_or_404(code)
    target = session.get(PlanTarget, target_id)
    if target is None:
        abort(404)
    plan = session.get(Plan, target.plan_id)
    if plan.status != PlanStatus.published:  # a draft plan takes no figures
        abort(404)
    errors: dict[str, str] = {}
    form = {"value": "", "numerator": "", "denominator": "", "as_of": compute.local_today().isoformat(),
            "note": "", "evidence_url": ""}
    if plan.year < compute.local_today().year:
        form["as_of"] = f"{plan.year}-12-31"
    try:
        entries.check_unit_access(session, actor(), unit)
    except entries.EntryError as exc:
        abort(exc.status)
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in form}
        upload = request.files.get("attachment")
        has_file = upload is not None and upload.filename
        try:
            entries.enter_figure(session, actor(), target, unit, form,
                                 upload.stream if has_file else None, upload.filename if has_file else None,
                                 year=plan.year, today=compute.local_today())
        except entries.EntryError as exc:
            session.rollback()
            errors = exc.fields
            if has_file and "attachment" not in errors:
                errors.setdefault("_file", _("Vui lòng chọn lại tệp minh chứng (tệp chưa được lưu)."))
            return render_template("measure/figure_form.html", unit=unit, target=target, plan=plan, form=form,
                                   errors=errors), exc.status if exc.status in (413, 422) else 422
        session.commit()
        flash(_("Đã lưu số liệu %(code)s.", code=target.code), "success")
        return redirect(url_for("measure.unit_view", code=unit.code, year=plan.year))
    return render_template("measure/figure_form.html", unit=unit, target=target, plan=plan, form=form,
                           errors=errors)


@bp.route("/measure/figures/<int:value_id>/attachment")
@role_required(*ALL_ROLES)
def figure_attachment(value_id: int):
    session = get_session()
    kv = session.get(KpiValue, value_id)
    if kv is None or not kv.attachment_path:
        abort(404)
    visible = visible_unit_ids(session, actor())
    if visible is not None and kv.unit_id not in visible:
        abort(404)
    return send_download(kv.attachment_path, mimetype=kv.attachment_mime,
                         download_name=kv.attachment_name or "minh-chung")


@bp.route("/measure/units/<code>/tasks/<int:task_id>", methods=["POST"])
@role_required(*ALL_ROLES)
def task_progress(code: str, task_id: int):
    session = get_session()
    unit = _unit_or_404(code)
    task = session.get(PlanTask, task_id)
    if task is None:
        abort(404)
    plan = session.get(Plan, task.plan_id)
    if plan.status != PlanStatus.published:
        abort(404)
    try:
        entries.set_task_progress(session, actor(), task, unit, request.form.get("status", ""),
                                  request.form.get("note", ""))
    except entries.EntryError as exc:
        session.rollback()
        if exc.status in (403, 404):
            abort(exc.status)
        flash("; ".join(exc.fields.values()), "error")
        return redirect(url_for("measure.unit_view", code=unit.code, year=plan.year)), 303
    session.commit()
    flash(_("Đã cập nhật nhiệm vụ %(code)s.", code=task.code), "success")
    return redirect(url_for("measure.unit_view", code=unit.code, year=plan.year))


# -- campaign reach ----------------------------------------------------------------------


@bp.route("/measure/campaigns/<int:campaign_id>")
@role_required(*ALL_ROLES)
def campaign_view(campaign_id: int):
    session = get_session()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not cs.can_see_campaign(session, actor(), campaign):
        abort(404)
    reach = compute.campaign_reach(session, campaign.id)
    units = session.exec(select(OrgUnit).where(OrgUnit.id.in_(  # type: ignore[attr-defined]
        cs.campaign_scope_ids(session, campaign.id) or [-1]))).all()
    base = current_app.config.get("LANTOA_PUBLIC_BASE_URL", "").rstrip("/")
    links = [(u, f"{base}{url_for('measure.tracked_link', campaign_id=campaign.id, unit_code=u.code)}")
             for u in units]
    return render_template("measure/campaign.html", campaign=campaign, reach=reach, links=links)


# -- feedback (staff side) ------------------------------------------------------------------


@bp.route("/measure/feedback")
@role_required(*ALL_ROLES)
def feedback_list():
    session = get_session()
    if fbk.purge_personal_data(session):  # never show personal data past its retention date
        session.commit()
    query = select(Feedback).order_by(Feedback.created_at.desc())  # type: ignore[union-attr]
    visible = visible_unit_ids(session, actor())
    if visible is not None:
        query = query.where(Feedback.unit_id.in_(visible or [-1]))  # type: ignore[union-attr]
    status = request.args.get("status")
    if status in FEEDBACK_STATUS_LABELS:
        query = query.where(Feedback.status == status)
    items = session.exec(query.limit(300)).all()
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    return render_template("measure/feedback_list.html", items=items, units=units, status=status)


@bp.route("/measure/feedback/<int:feedback_id>", methods=["POST"])
@role_required(*ALL_ROLES)
def feedback_handle(feedback_id: int):
    session = get_session()
    fb = session.get(Feedback, feedback_id)
    visible = visible_unit_ids(session, actor())
    if fb is None or (visible is not None and fb.unit_id not in visible):
        abort(404)
    if actor().role == Role.reviewer:
        abort(403)
    try:
        fbk.handle_feedback(session, fb, actor(), request.form.get("status", ""), request.form.get("note", ""))
    except fbk.FeedbackError as exc:
        session.rollback()
        flash("; ".join(exc.fields.values()), "error")
        return redirect(url_for("measure.feedback_list")), 303
    session.commit()
    flash(_("Đã lưu kết quả xử lý ý kiến #%(id)s.", id=fb.id), "success")
    return redirect(url_for("measure.feedback_list"))


# -- yearly report ----------------------------------------------------------------------------


def _report_unit_and_check(plan: Plan) -> OrgUnit | None:
    """The unit of the report (None = consolidated) if the user may edit/see it."""
    session = get_session()
    user = actor()
    unit = _filter_unit()
    if unit is None:
        if user.role == Role.unit_officer:
            unit = session.get(OrgUnit, user.unit_id) if user.unit_id else None
            if unit is None:
                abort(404)
    return unit


def _report_to_id(plan: Plan) -> int | None:
    row = get_session().exec(select(OrgUnit.id).where(OrgUnit.code == plan.report_to)).first()
    return row


@bp.route("/measure/report", methods=["GET", "POST"])
@role_required(*ALL_ROLES)
def report_edit():
    from campaigns.measure.report import DEFAULT_TEXT

    session = get_session()
    plan = current_plan(_year_arg())
    if plan is None:
        if request.method == "POST" and actor().role == Role.communicator:
            abort(403)  # only Sở KH&CN's communicators edit a report, and there is no plan to tell
        return _no_plan()
    unit = _report_unit_and_check(plan)
    user = actor()
    if unit is None:
        can_edit = entries.can_edit_consolidated(user, _report_to_id(plan))
    else:
        can_edit = user.role == Role.admin or user.unit_id == unit.id
    texts = entries.report_texts(session, plan.year, unit.id if unit else None)
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not can_edit:
            abort(403)
        texts = {k: request.form.get(k, "") for k in entries.REPORT_SECTIONS}
        try:
            entries.save_report_texts(session, user, plan.year, unit.id if unit else None, texts)
        except entries.EntryError as exc:
            session.rollback()
            errors = exc.fields
        else:
            session.commit()
            flash(_("Đã lưu nội dung báo cáo."), "success")
            return redirect(url_for("measure.report_edit", year=plan.year, unit=unit.code if unit else None))
    return render_template("measure/report.html", plan=plan, unit=unit, texts=texts, errors=errors,
                           can_edit=can_edit, defaults=DEFAULT_TEXT,
                           today_iso=compute.local_today().isoformat()), (422 if errors else 200)


@bp.route("/measure/report/download")
@role_required(*ALL_ROLES)
def report_download():
    from campaigns.measure.report import yearly_report

    session = get_session()
    plan = current_plan(_year_arg())
    if plan is None:
        return _no_plan()
    unit = _report_unit_and_check(plan)
    fmt = request.args.get("format", "docx")
    if fmt not in ("docx", "pdf"):
        abort(404)
    day = None
    if request.args.get("date"):
        try:
            day = date.fromisoformat(request.args["date"])
        except ValueError:
            flash(_("Ngày báo cáo không hợp lệ (dd/mm/yyyy)."), "error")
            return redirect(url_for("measure.report_edit", year=plan.year, unit=unit.code if unit else None))
    data = yearly_report(session, plan, unit, fmt, day=day)
    name = f"bao-cao-{plan.year}-{unit.code if unit else 'tong-hop'}.{fmt}"
    return _send(data, name, DOCX if fmt == "docx" else "application/pdf")


# -- plans (admin) ------------------------------------------------------------------------------


@bp.route("/measure/plans", methods=["GET", "POST"])
@role_required(Role.reviewer)
def plans_admin():
    session = get_session()
    errors: list[str] = []
    if request.method == "POST":
        if actor().role != Role.admin:
            abort(403)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors = [_("Vui lòng chọn tệp kế hoạch (.yaml).")]
        elif not upload.filename.lower().endswith((".yaml", ".yml")):
            errors = [_("Tệp kế hoạch phải có đuôi .yaml hoặc .yml.")]
        else:
            try:
                plan = plans.load_plan(session, upload.read(1_000_001))
            except plans.PlanError as exc:
                session.rollback()
                errors = exc.errors
            else:
                audit(session, actor().id, "plan.load", "plan", plan.id, key=plan.key)
                session.commit()
                flash(_("Đã nạp kế hoạch %(key)s.", key=plan.key), "success")
                return redirect(url_for("measure.plans_admin"))
    return _plans_page(errors)


def _plans_page(errors: list[str], status: int | None = None):
    session = get_session()
    all_plans = session.exec(select(Plan).order_by(Plan.year.desc(), Plan.key)).all()  # type: ignore[union-attr]
    targets = {p.id: session.exec(select(PlanTarget).where(PlanTarget.plan_id == p.id)
                                  .order_by(PlanTarget.position)).all() for p in all_plans}
    tasks = {p.id: session.exec(select(PlanTask).where(PlanTask.plan_id == p.id)
                                .order_by(PlanTask.position)).all() for p in all_plans}
    years = plans.plan_years(session, drafts=True)
    # the roll-over offered: this year if it has no plan yet, else the year after the latest
    next_year = this_year() if this_year() not in years else (max(years) + 1)
    source = plans.rollover_source(session, next_year)
    return render_template("measure/plans.html", plans=all_plans, targets=targets, tasks=tasks, errors=errors,
                           next_year=next_year, source=source), (status or (422 if errors else 200))


@bp.route("/measure/plans/rollover", methods=["POST"])
@role_required()
def plans_rollover():
    """Create a year's plan from a previous one (a draft to edit and publish)."""
    session = get_session()
    try:
        from_year, to_year = int(request.form.get("from_year", "")), int(request.form.get("to_year", ""))
    except ValueError:
        return _plans_page([_("Năm không hợp lệ.")])
    try:
        plan = plans.rollover(session, from_year, to_year)
    except plans.PlanError as exc:
        session.rollback()
        return _plans_page(exc.errors)
    audit(session, actor().id, "plan.rollover", "plan", plan.id, key=plan.key, source_year=from_year)
    session.commit()
    flash(_("Đã tạo bản nháp kế hoạch năm %(year)s từ năm %(source)s. Rà soát chỉ tiêu, nhiệm vụ rồi bấm "
            "“Ban hành”.", year=to_year, source=from_year), "success")
    return redirect(url_for("measure.plans_admin", _anchor=f"plan-{plan.id}"))


@bp.route("/measure/plans/<int:plan_id>/publish", methods=["POST"])
@role_required()
def plan_publish(plan_id: int):
    session = get_session()
    plan = session.get(Plan, plan_id)
    if plan is None:
        abort(404)
    if plan.status == PlanStatus.published:
        flash(_("Kế hoạch năm %(year)s đã được ban hành.", year=plan.year), "error")
        return redirect(url_for("measure.plans_admin")), 303
    other = plans.plan_for_year(session, plan.year, plan.province_code)
    if other is not None and other.id != plan.id:
        flash(_("Năm %(year)s đã có kế hoạch ban hành.", year=plan.year), "error")
        return redirect(url_for("measure.plans_admin")), 303
    plans.publish(session, plan)
    audit(session, actor().id, "plan.publish", "plan", plan.id, key=plan.key)
    session.commit()
    flash(_("Đã ban hành kế hoạch năm %(year)s.", year=plan.year), "success")
    return redirect(url_for("measure.dashboard", year=plan.year))


@bp.route("/measure/tasks/<int:task_id>", methods=["POST"])
@role_required()
def task_edit(task_id: int):
    """Edit a task's title, due date and responsible units (admin)."""
    import unicodedata

    from core.timeutil import parse_local_date

    session = get_session()
    task = session.get(PlanTask, task_id)
    if task is None:
        abort(404)
    title = unicodedata.normalize("NFC", request.form.get("title", "")).strip()
    codes = [unicodedata.normalize("NFC", c).strip() for c in request.form.get("responsible", "").split(",")]
    codes = [c for c in codes if c]
    errors = []
    if not title or len(title) > 2000:
        errors.append(_("Nội dung nhiệm vụ %(code)s không được trống (tối đa 2000 ký tự).", code=task.code))
    try:
        due = parse_local_date(request.form.get("due", ""))
    except ValueError:
        due = None
        errors.append(_("Hạn của nhiệm vụ %(code)s phải có dạng dd/mm/yyyy.", code=task.code))
    known = set(session.exec(select(OrgUnit.code)).all())
    unknown = [c for c in codes if (c.startswith("@") and c not in plans.GROUPS)
               or (not c.startswith("@") and c not in known)]
    if not codes:
        errors.append(_("Nhiệm vụ %(code)s cần ít nhất một đơn vị thực hiện.", code=task.code))
    elif unknown:
        errors.append(_("Không có đơn vị hoặc nhóm: %(codes)s.", codes=", ".join(unknown)))
    if errors:
        for e in errors:
            flash(e, "error")
        return redirect(url_for("measure.plans_admin", _anchor=f"task-{task.id}")), 303
    before = {"title": task.title, "due": task.due.isoformat(), "responsible": list(task.responsible)}
    task.title, task.due, task.responsible = title, due, codes
    session.add(task)
    audit(session, actor().id, "task.edit", "task", task.id, before=before)
    session.commit()
    flash(_("Đã cập nhật nhiệm vụ %(code)s.", code=task.code), "success")
    return redirect(url_for("measure.plans_admin", _anchor=f"task-{task.id}"))


@bp.route("/measure/targets/<int:target_id>", methods=["POST"])
@role_required()
def target_edit(target_id: int):
    session = get_session()
    target = session.get(PlanTarget, target_id)
    if target is None:
        abort(404)
    raw_goal = request.form.get("goal", "").replace(",", ".").strip()
    title = request.form.get("title", "").strip()
    try:
        goal = float(raw_goal)
    except ValueError:
        goal = None
    if goal is None or not 0 <= goal <= 100:
        flash(_("Mục tiêu của %(code)s phải là số phần trăm 0–100.", code=target.code), "error")
        return redirect(url_for("measure.plans_admin")), 303
    if not title or len(title) > 2000:
        flash(_("Nội dung chỉ tiêu %(code)s không được trống (tối đa 2000 ký tự).", code=target.code), "error")
        return redirect(url_for("measure.plans_admin")), 303
    import unicodedata

    before = {"goal": target.goal, "title": target.title}
    target.goal, target.title = goal, unicodedata.normalize("NFC", title)
    session.add(target)
    audit(session, actor().id, "target.edit", "target", target.id, before=before)
    session.commit()
    flash(_("Đã cập nhật chỉ tiêu %(code)s.", code=target.code), "success")
    return redirect(url_for("measure.plans_admin"))


# -- public: feedback form, summary, tracked links -------------------------------------------------


def _public_units() -> list[OrgUnit]:
    return list(get_session().exec(select(OrgUnit).where(OrgUnit.kind.in_(  # type: ignore[attr-defined]
        ("province", "department", "district", "commune"))).order_by(OrgUnit.kind, OrgUnit.name)).all())


def _lang_args() -> dict[str, str]:
    """``{"lang": ...}`` when the visitor chose a language by link (kept on the form's action and
    the redirect to the thanks page, so a visitor without the session cookie stays in it)."""
    from core.web import public_lang_arg

    lang = public_lang_arg()
    return {"lang": lang} if lang else {}


@bp.route("/y-kien", methods=["GET", "POST"])
@public_page
@limiter.limit(_feedback_limit, methods=["POST"])
def feedback_form():
    session = get_session()
    form = {"service": request.args.get("s", ""), "satisfaction": "", "comment": "", "name": "",
            "contact": "", "consent": "", "unit": request.args.get("u", ""), "campaign": request.args.get("c", "")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in form}
        if request.form.get("website"):  # honeypot: people never see this field
            current_app.logger.info("feedback honeypot filled; dropped")
            return redirect(url_for("measure.feedback_thanks", **_lang_args()), 303)
        try:
            fbk.submit_feedback(session, form, language=get_locale())
        except fbk.FeedbackError as exc:
            session.rollback()
            errors = fbk.translated_errors(exc)
        else:
            session.commit()
            return redirect(url_for("measure.feedback_thanks", **_lang_args()), 303)
    return render_template("measure/feedback_form.html", form=form, errors=errors, units=_public_units(),
                           purpose=fbk.purpose_text(), lang_args=_lang_args()), (422 if errors else 200)


@bp.route("/y-kien/qr.png")
@limiter.limit("60 per minute")
def feedback_qr():
    """A QR code to the feedback form, pre-set for a unit (``u``), campaign (``c``), service (``s``)
    — for posters, leaflets and messages."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    session = get_session()
    args = {}
    unit_code = request.args.get("u", "")
    if unit_code:
        if session.exec(select(OrgUnit.id).where(OrgUnit.code == unit_code)).first() is None:
            abort(404)
        args["u"] = unit_code
    if request.args.get("c", "").isdigit():
        args["c"] = request.args["c"]
    if request.args.get("s") in fbk.SERVICES:
        args["s"] = request.args["s"]
    if request.args.get("lang") in ("km", "en"):  # a QR code on a Khmer (English) print
        args["lang"] = request.args["lang"]
    base = current_app.config.get("LANTOA_PUBLIC_BASE_URL", "").rstrip("/")
    target = base + url_for("measure.feedback_form", **args)
    try:
        box = max(2, min(20, int(request.args.get("box", 8))))
    except ValueError:
        box = 8
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box, border=4)
    qr.add_data(target)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image().save(buf, format="PNG")
    resp = send_download(io.BytesIO(buf.getvalue()), mimetype="image/png", download_name="gop-y-dvctt.png",
                         inline=True)
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


@bp.route("/y-kien/cam-on")
@public_page
def feedback_thanks():
    return render_template("measure/feedback_thanks.html")


@bp.route("/y-kien/tong-hop")
@public_page
@limiter.limit("60 per minute")
def feedback_summary():
    session = get_session()
    year = _year_arg()
    if year is None and request.args.get("year"):
        return render_template("core/error.html", status=400,
                               message=_("Năm phải là số nguyên trong khoảng 2000–2100.")), 400
    summary = fbk.public_summary(session, year)
    return render_template("measure/feedback_summary.html", summary=summary, year=year)


def _with_lang(target: str) -> str:
    """``target`` with the link's ``lang`` when it is a page of this site (the feedback form
    behind a QR code); other sites' addresses are left as they are."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    lang = _lang_args().get("lang")
    if not lang:
        return target
    parts = urlsplit(target)
    base = urlsplit(current_app.config.get("LANTOA_PUBLIC_BASE_URL", "") or "")
    if parts.netloc.lower() not in {request.host.lower(), base.netloc.lower()} - {""}:
        return target
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("lang", lang)])))


@bp.route("/r/<int:campaign_id>/<unit_code>")
@public_page
@limiter.limit(_link_limit)
def tracked_link(campaign_id: int, unit_code: str):
    """The QR landing link of printed kits: counts the scan and redirects to the campaign's
    target. ``?lang=km`` (a Khmer print) is remembered for the visitor's next public page and
    passed on when the target is this site's feedback form; an unknown link's error page is
    in that language."""
    session = get_session()
    campaign = session.get(Campaign, campaign_id)
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first()
    if campaign is None or unit is None:
        abort(404)
    session.add(LinkScan(campaign_id=campaign.id, unit_id=unit.id, at=utcnow()))
    session.commit()
    resp = redirect(_with_lang(campaign.target_url), 302)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.template_filter("pct")
    def _pct(value):
        from core.formatting import fmt_number

        return "—" if value is None else f"{fmt_number(value, None)}%"

    @app.template_filter("localtime")
    def _localtime(value: datetime | None):
        return "" if value is None else value.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")
