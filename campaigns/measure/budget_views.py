"""Web pages of the budget (plan section V): a unit's lines for a year (system lines
for SMS and printing, lines the unit enters), the consolidated view, the XLSX export
and the price table an admin maintains. See docs/measure.md "Budget"."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from campaigns.measure import budget as bd
from core.auth import actor, role_required, visible_unit_ids
from core.db import get_session
from core.downloads import send_download
from core.models import OrgUnit, Role, audit
from core.units import subtree_ids

bp = Blueprint("budget", __name__)
ALL_ROLES = (Role.communicator, Role.reviewer, Role.unit_officer)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _year() -> int:
    raw = request.values.get("year") or ""
    if not raw:
        return bd.today().year
    try:
        year = int(raw)
    except ValueError:
        abort(404)
    if not 2000 <= year <= 2100:
        abort(404)
    return year


def _unit() -> OrgUnit | None:
    """The unit asked for (one the user may see) or, for unit officers, their own."""
    session = get_session()
    user = actor()
    code = request.values.get("unit")
    if code:
        unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()
        visible = visible_unit_ids(session, user)
        if unit is None or (visible is not None and unit.id not in visible):
            abort(404)
        return unit
    if user.role == Role.unit_officer:
        unit = session.get(OrgUnit, user.unit_id) if user.unit_id else None
        if unit is None:
            abort(404)
        return unit
    return None


def _can_edit(unit: OrgUnit | None) -> bool:
    user = actor()
    return unit is not None and (user.role == Role.admin or (user.unit_id == unit.id and user.role in (
        Role.unit_officer, Role.communicator)))


@bp.route("/budget")
@role_required(*ALL_ROLES)
def budget_page():
    session = get_session()
    year, unit = _year(), _unit()
    scope = subtree_ids(session, unit.id) if unit is not None else visible_unit_ids(session, actor())
    lines = bd.budget_lines(session, year, scope)
    session.commit()  # the price table may just have been seeded
    return render_template("budget/budget.html", year=year, unit=unit, lines=lines, totals=bd.totals(lines),
                           categories=bd.CATEGORIES, can_edit=_can_edit(unit), errors={}, form={},
                           fmt_money=bd.fmt_money, fmt_qty=bd.fmt_qty, default_source=bd.DEFAULT_SOURCE,
                           campaigns=bd.year_campaigns(session, year))


@bp.route("/budget/lines", methods=["POST"])
@role_required(Role.unit_officer, Role.communicator)
def line_add():
    session = get_session()
    year, unit = _year(), _unit()
    if unit is None:
        abort(404)  # a line belongs to a unit: name one
    if not _can_edit(unit):
        abort(403)
    try:
        row = bd.add_line(session, actor().id, year, unit, request.form)
    except bd.BudgetError as exc:
        session.rollback()
        lines = bd.budget_lines(session, year, subtree_ids(session, unit.id))
        return render_template("budget/budget.html", year=year, unit=unit, lines=lines,
                               totals=bd.totals(lines), categories=bd.CATEGORIES, can_edit=True,
                               errors=exc.errors, form=request.form, fmt_money=bd.fmt_money,
                               fmt_qty=bd.fmt_qty, default_source=bd.DEFAULT_SOURCE,
                           campaigns=bd.year_campaigns(session, year)), 422
    audit(session, actor().id, "budget.line_add", "budget_line", row.id, year=year)
    session.commit()
    flash(_("Đã thêm khoản chi."), "success")
    return redirect(url_for("budget.budget_page", year=year, unit=unit.code))


@bp.route("/budget/lines/<int:line_id>/delete", methods=["POST"])
@role_required(Role.unit_officer, Role.communicator)
def line_delete(line_id: int):
    session = get_session()
    row = session.get(bd.BudgetLine, line_id)
    unit = session.get(OrgUnit, row.unit_id) if row is not None else None
    if row is None or unit is None:
        abort(404)
    visible = visible_unit_ids(session, actor())
    if visible is not None and unit.id not in visible:
        abort(404)
    if not _can_edit(unit):
        abort(403)
    year = row.year
    session.delete(row)
    audit(session, actor().id, "budget.line_delete", "budget_line", line_id, year=year)
    session.commit()
    flash(_("Đã xóa khoản chi."), "success")
    return redirect(url_for("budget.budget_page", year=year, unit=unit.code))


@bp.route("/budget/export.xlsx")
@role_required(*ALL_ROLES)
def budget_export():
    session = get_session()
    year, unit = _year(), _unit()
    if unit is None and visible_unit_ids(session, actor()) is not None:
        abort(404)  # the consolidated estimate is the province's
    data = bd.budget_xlsx(session, year, unit)
    session.commit()
    name = f"du-toan-{year}-{unit.code if unit else 'tong-hop'}.xlsx"
    return send_download(io.BytesIO(data), mimetype=XLSX, download_name=name)


@bp.route("/budget/prices", methods=["GET", "POST"])
@role_required(Role.reviewer)
def prices():
    session = get_session()
    rows = bd.ensure_prices(session)
    errors: dict[str, str] = {}
    if request.method == "POST":
        if actor().role != Role.admin:
            abort(403)
        try:
            bd.save_prices(session, actor().id, request.form)
        except bd.BudgetError as exc:
            session.rollback()
            errors = exc.errors
            rows = bd.ensure_prices(session)
        else:
            audit(session, actor().id, "budget.prices", "budget_price", None)
            session.commit()
            flash(_("Đã lưu bảng đơn giá."), "success")
            return redirect(url_for("budget.prices"))
    session.commit()
    ordered = sorted(rows.values(), key=lambda r: (list(bd.CATEGORIES).index(r.category), r.key))
    return render_template("budget/prices.html", prices=ordered, errors=errors, categories=bd.CATEGORIES,
                           can_edit=actor().role == Role.admin, fmt_money=bd.fmt_money), (422 if errors else 200)
