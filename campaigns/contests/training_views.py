"""Training and conference pages at /tap-huan: events (officers), public registration,
the attendee's ticket with a QR code, the organiser's check-in, the attendance list."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlmodel import select

from campaigns.contests import training as tr
from campaigns.contests.models import AUDIENCES, TrainingAttendee, TrainingEvent
from campaigns.contests.service import ContestError
from core.auth import actor, role_required, visible_unit_ids
from core.db import get_session
from core.extensions import limiter
from core.models import OrgUnit, Role
from core.timeutil import LOCAL_TZ, utcnow


def _unit_id(value) -> int | None:
    from core.validate import db_int

    try:
        return db_int(value) or None
    except (TypeError, ValueError):
        return None


bp = Blueprint("training", __name__, template_folder="templates")

ORGANISERS = (Role.communicator, Role.unit_officer)
READERS = (Role.communicator, Role.reviewer, Role.unit_officer)


def _limit() -> str:
    return current_app.config.get("LANTOA_CONTEST_CODE_RATE_LIMIT", "20 per hour")


def _event_in_scope(event_id: int) -> TrainingEvent:
    """The event, or 404 when it is another unit's (unit officers see their subtree)."""
    s = get_session()
    ev = s.get(TrainingEvent, event_id)
    scope = visible_unit_ids(s, actor())
    if ev is None or (scope is not None and ev.unit_id not in scope):
        abort(404)
    return ev


def _units():
    return get_session().exec(select(OrgUnit).order_by(OrgUnit.name)).all()


@bp.route("/tap-huan", methods=["GET", "POST"])
@role_required(*READERS)
def index():
    s = get_session()
    me = actor()
    if request.method == "POST":
        if me.role not in (Role.admin, *ORGANISERS):
            abort(403)
        f = request.form
        title = (f.get("title") or "").strip()
        problems = []
        try:
            starts = datetime.fromisoformat(f.get("starts_at") or "").replace(tzinfo=LOCAL_TZ)
        except ValueError:
            starts = None
            problems.append(_("Chọn ngày giờ bắt đầu."))
        if not title or len(title) > 200:
            problems.append(_("Nhập tên lớp tập huấn, hội nghị (tối đa 200 ký tự)."))
        if f.get("audience") not in AUDIENCES:
            problems.append(_("Chọn đối tượng tham dự."))
        unit_id = me.unit_id if me.role == Role.unit_officer else _unit_id(f.get("unit"))
        if unit_id is None or s.get(OrgUnit, unit_id) is None:
            problems.append(_("Chọn đơn vị tổ chức."))
        link = (f.get("online_link") or "").strip()
        if link and not link.startswith(("https://", "http://")):
            problems.append(_("Đường dẫn trực tuyến phải bắt đầu bằng https://"))
        if problems:
            for p in problems:
                flash(p, "error")
        else:
            ev = TrainingEvent(title=title, audience=f["audience"], unit_id=unit_id, starts_at=starts,
                               place=(f.get("place") or "").strip()[:300], online_link=link[:500],
                               created_by=me.id, created_at=utcnow())
            s.add(ev)
            s.commit()
            flash(_("Đã tạo lớp tập huấn, hội nghị."), "success")
            return redirect(url_for("training.detail", event_id=ev.id))
    q = select(TrainingEvent).order_by(TrainingEvent.starts_at.desc())
    scope = visible_unit_ids(s, me)
    if scope is not None:  # a unit officer: the events of their unit and the units below
        q = q.where(TrainingEvent.unit_id.in_(scope or {-1}))
    events = s.exec(q).all()
    units = {u.id: u.name for u in _units()}
    return render_template("training/index.html", events=events, units=units, audiences=AUDIENCES,
                           unit_list=_units(), form=request.form)


@bp.route("/tap-huan/<int:event_id>", methods=["GET", "POST"])
@role_required(*READERS)
def detail(event_id: int):
    s = get_session()
    me = actor()
    if request.method == "POST" and me.role not in (Role.admin, *ORGANISERS):
        abort(403)
    ev = _event_in_scope(event_id)
    if request.method == "POST":
        title = (request.form.get("material_title") or "").strip()[:200]
        url = (request.form.get("material_url") or "").strip()[:500]
        if not title or not url.startswith(("https://", "http://", "/")):
            flash(_("Nhập tên tài liệu và đường dẫn (https://… hoặc đường dẫn trong Lan Tỏa)."), "error")
        else:
            ev.materials = [*ev.materials, {"title": title, "url": url}]
            s.add(ev)
            s.commit()
            flash(_("Đã thêm tài liệu."), "success")
            return redirect(url_for("training.detail", event_id=ev.id))
    attendees = s.exec(select(TrainingAttendee).where(TrainingAttendee.event_id == ev.id)
                       .order_by(TrainingAttendee.name)).all()
    units = {u.id: u.name for u in _units()}
    return render_template("training/detail.html", ev=ev, attendees=attendees, units=units, audiences=AUDIENCES,
                           checked=sum(1 for a in attendees if a.checked_in_at))


@bp.get("/tap-huan/<int:event_id>/diem-danh.csv")
@role_required(*READERS)
def attendance_csv(event_id: int):
    s = get_session()
    ev = _event_in_scope(event_id)
    return Response(tr.attendance_csv(s, ev), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="diem-danh-{ev.id}.csv"'})


@bp.route("/tap-huan/<int:event_id>/dang-ky", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def register(event_id: int):
    s = get_session()
    ev = s.get(TrainingEvent, event_id) or abort(404)
    error = None
    if request.method == "POST":
        try:
            unit = _unit_id(request.form.get("unit"))
            row = tr.register(s, ev, request.form.get("name", ""), request.form.get("phone", ""), unit)
            s.commit()
            return redirect(url_for("training.ticket", token=row.token))
        except ContestError as exc:
            s.rollback()
            error = exc.message
    return render_template("training/register.html", ev=ev, units=_units(), form=request.form, error=error,
                           audiences=AUDIENCES), (422 if error else 200)


@bp.get("/tap-huan/ve/<token>")
def ticket(token: str):
    s = get_session()
    row = s.exec(select(TrainingAttendee).where(TrainingAttendee.token == token)).first() or abort(404)
    ev = s.get(TrainingEvent, row.event_id)
    code = tr.check_in_code(row)
    url = url_for("training.check_in", code=code, _external=True)
    resp = Response(render_template("training/ticket.html", ev=ev, row=row, svg=tr.qr_svg(url), url=url,
                                    minutes=tr.qr_max_age() // 60))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/tap-huan/diem-danh/<code>", methods=["GET", "POST"])
@role_required(*ORGANISERS)
def check_in(code: str):
    s = get_session()
    if request.method == "POST":
        try:
            row = tr.check_in(s, code, actor().id)
            s.commit()
        except ContestError as exc:
            s.rollback()
            return render_template("training/check_in.html", error=exc.message, row=None, code=code), exc.status
        ev = s.get(TrainingEvent, row.event_id)
        return render_template("training/check_in.html", done=True, row=row, ev=ev, error=None, code=code)
    return render_template("training/check_in.html", row=None, error=None, code=code, done=False)
