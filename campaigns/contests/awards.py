"""Awards (khen thưởng, plan IV.3i): nominations per unit, the decision record and
the year's list for the yearly report (XLSX)."""

from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import Session, select

from campaigns.contests.models import AWARD_KINDS, AwardNomination
from core.auth import actor, role_required, visible_unit_ids
from core.db import get_session
from core.models import OrgUnit, Role
from core.timeutil import LOCAL_TZ, utcnow


def _unit_id(value) -> int | None:
    from core.validate import db_int

    try:
        return db_int(value) or None
    except (TypeError, ValueError):
        return None


bp = Blueprint("awards", __name__, template_folder="templates")

READERS = (Role.communicator, Role.reviewer, Role.unit_officer)
NOMINATORS = (Role.communicator, Role.unit_officer)
DECIDERS = (Role.communicator,)


def year_list(session: Session, year: int, unit_ids: set[int] | None = None) -> list[AwardNomination]:
    """The year's nominations (decided first, by decision date), within ``unit_ids``."""
    q = select(AwardNomination).where(AwardNomination.year == year)
    if unit_ids is not None:
        q = q.where(AwardNomination.unit_id.in_(unit_ids or {-1}))
    rows = list(session.exec(q).all())
    rows.sort(key=lambda r: (r.decision_date is None, r.decision_date or date.max, r.nominee))
    return rows


def report_xlsx(session: Session, year: int) -> bytes:
    """The decided awards of the year, as the yearly report's appendix."""
    from openpyxl import Workbook

    from core.tabular import append_row

    units = {u.id: u.name for u in session.exec(select(OrgUnit)).all()}
    wb = Workbook()
    ws = wb.active
    ws.title = f"Khen thưởng {year}"
    append_row(ws, ["STT", "Tập thể/cá nhân", "Hình thức", "Đơn vị đề nghị", "Thành tích", "Số quyết định",
                    "Ngày quyết định", "Người/cơ quan quyết định"])
    n = 0
    for r in year_list(session, year):
        if not r.decision_number:
            continue
        n += 1
        append_row(ws, [n, r.nominee, str(AWARD_KINDS.get(r.kind, "")), units.get(r.unit_id, ""), r.achievements,
                        r.decision_number, r.decision_date.strftime("%d/%m/%Y") if r.decision_date else "",
                        r.decided_by or ""])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _year() -> int:
    try:
        y = int(request.args.get("nam") or 0)
    except ValueError:
        y = 0
    return y if 2000 <= y <= 2100 else utcnow().astimezone(LOCAL_TZ).year


@bp.route("/khen-thuong", methods=["GET", "POST"])
@role_required(*READERS)
def index():
    s = get_session()
    me = actor()
    year = _year()
    scope = visible_unit_ids(s, me)
    status = 200
    if request.method == "POST":
        if me.role not in (Role.admin, *NOMINATORS):
            abort(403)
        f = request.form
        unit_id = me.unit_id if me.role == Role.unit_officer else _unit_id(f.get("unit"))
        nominee = (f.get("nominee") or "").strip()
        problems = []
        if unit_id is None or s.get(OrgUnit, unit_id) is None:
            problems.append(_("Chọn đơn vị đề nghị."))
        if not nominee or len(nominee) > 200:
            problems.append(_("Nhập tên tập thể hoặc cá nhân được đề nghị (tối đa 200 ký tự)."))
        if f.get("kind") not in AWARD_KINDS:
            problems.append(_("Chọn tập thể hoặc cá nhân."))
        if problems:
            status = 422
            for p in problems:
                flash(p, "error")
        else:
            s.add(AwardNomination(year=year, unit_id=unit_id, kind=f["kind"], nominee=nominee,
                                  achievements=(f.get("achievements") or "").strip()[:4000],
                                  created_by=me.id, created_at=utcnow()))
            s.commit()
            flash(_("Đã ghi đề nghị khen thưởng."), "success")
            return redirect(url_for("awards.index", nam=year))
    units = s.exec(select(OrgUnit).order_by(OrgUnit.name)).all()
    return render_template("awards/index.html", rows=year_list(s, year, scope), year=year, kinds=AWARD_KINDS,
                           units={u.id: u.name for u in units}, unit_list=units), status


@bp.post("/khen-thuong/<int:nomination_id>/quyet-dinh")
@role_required(*DECIDERS)
def decide(nomination_id: int):
    s = get_session()
    row = s.get(AwardNomination, nomination_id) or abort(404)
    f = request.form
    number = (f.get("decision_number") or "").strip()
    who = (f.get("decided_by") or "").strip()
    try:
        day = date.fromisoformat(f.get("decision_date") or "")
    except ValueError:
        day = None
    if not number or len(number) > 60 or not who or len(who) > 200 or day is None \
            or day > utcnow().astimezone(LOCAL_TZ).date():
        flash(_("Nhập số quyết định, ngày quyết định (không sau hôm nay) và người/cơ quan quyết định."), "error")
    else:
        row.decision_number, row.decision_date, row.decided_by = number, day, who
        s.add(row)
        s.commit()
        flash(_("Đã ghi quyết định khen thưởng."), "success")
    return redirect(url_for("awards.index", nam=row.year))


@bp.get("/khen-thuong/<int:year>.xlsx")
@role_required(Role.communicator, Role.reviewer)
def year_xlsx(year: int):
    if not 2000 <= year <= 2100:
        abort(404)
    return Response(report_xlsx(get_session(), year),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="khen-thuong-{year}.xlsx"'})
