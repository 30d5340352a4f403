"""Units in the browser: the tree with its validity periods, and reorganisations.

An admin reorganises the tree in one operation (a CSV upload or rows typed in):
the page first shows what the operation would do (nothing is saved), then
applies it on confirmation. The API (``POST /api/v1/units/reorganisations``) and
the CLI (``flask --app app units reorganise FILE.csv``) do the same through
``core.units.reorganise``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from core import formonce
from core.auth import actor, role_required
from core.db import get_session
from core.models import UNIT_KIND_LABELS, OrgUnit, Role, UnitReorganisation
from core.timeutil import LOCAL_TZ, utcnow
from core.units import ReorganisationError, parse_reorganisation_csv, reorganise, successor_map

log = logging.getLogger(__name__)

bp = Blueprint("units", __name__, template_folder="templates")

MAX_CSV_BYTES = 2 * 1024 * 1024


@bp.route("/units")
@role_required(Role.communicator, Role.reviewer)
def index():
    session = get_session()
    units = session.exec(select(OrgUnit).order_by(OrgUnit.name)).all()
    by_id = {u.id: u for u in units}
    children: dict[int | None, list[OrgUnit]] = {}
    for u in units:
        children.setdefault(u.parent_id if u.parent_id in by_id else None, []).append(u)
    rows: list[tuple[int, OrgUnit]] = []

    def walk(parent, depth):
        for u in sorted(children.get(parent, []), key=lambda x: (x.valid_to is not None, str(x.kind), x.name)):
            rows.append((depth, u))
            walk(u.id, depth + 1)

    walk(None, 0)
    successors = {old: [by_id[n] for n, _day in news if n in by_id] for old, news in successor_map(session).items()}
    today = utcnow().astimezone(LOCAL_TZ).date()
    show_ended = request.args.get("ended") == "1"
    if not show_ended:
        rows = [(d, u) for d, u in rows if u.valid_on(today) or (u.valid_from and u.valid_from > today)]
    reorgs = session.exec(select(UnitReorganisation).order_by(UnitReorganisation.id.desc()).limit(20)).all()
    return render_template("units/index.html", rows=rows, successors=successors, kind_labels=UNIT_KIND_LABELS,
                           today=today, show_ended=show_ended, reorgs=reorgs)


def _rows_from_request() -> list[dict]:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_CSV_BYTES + 1)
        if len(raw) > MAX_CSV_BYTES:
            raise ReorganisationError([_("Tệp quá lớn (tối đa 2 MB).")])
        return parse_reorganisation_csv(raw)
    text_ = request.form.get("rows", "").strip()
    if not text_:
        raise ReorganisationError([_("Hãy chọn tệp CSV hoặc dán các dòng sắp xếp.")])
    if not text_.splitlines()[0].startswith("old_code"):
        text_ = "old_code,new_code,new_name,new_kind,new_parent_code,effective_on\n" + text_
    return parse_reorganisation_csv(text_.encode("utf-8"))


@bp.route("/units/reorganise", methods=["GET", "POST"])
@role_required()  # admin only
def reorganise_view():
    session = get_session()
    result = errors = None
    typed = request.form.get("rows", "")
    if request.method == "POST":
        apply = request.form.get("action") == "apply"
        try:
            rows = _rows_from_request()
            if apply and not formonce.consume():
                flash(_("Biểu mẫu này đã được gửi rồi; xem kết quả trong danh sách đơn vị."), "error")
                return redirect(url_for("units.index"))
            result = reorganise(session, rows, actor().id)
            if apply:
                session.commit()
                flash(_("Đã sắp xếp đơn vị: %(n)s đơn vị mới, %(m)s đơn vị kết thúc.",
                        n=len(result["created"]), m=len(result["ended"])), "success")
                return redirect(url_for("units.index"))
            session.rollback()  # preview: nothing is saved
            if not typed:  # an uploaded file: keep its rows for the confirmation
                import csv
                import io

                out = io.StringIO()
                writer = csv.writer(out, lineterminator="\n")
                fields = ("old_code", "new_code", "new_name", "new_kind", "new_parent_code", "effective_on")
                writer.writerow(fields)
                for r in rows:
                    writer.writerow([r.get(f) or "" for f in fields])
                typed = out.getvalue()
        except ReorganisationError as exc:
            session.rollback()
            errors = exc.errors
    units = {u.code: u for u in session.exec(select(OrgUnit)).all()}
    status = 422 if errors else 200
    return render_template("units/reorganise.html", result=result, errors=errors, typed=typed, units=units,
                           kind_labels=UNIT_KIND_LABELS), status


@bp.route("/units/<int:unit_id>/khmer", methods=["GET", "POST"])
@role_required()  # admin only
def khmer(unit_id: int):
    """Whether the plan's Khmer communication applies to a unit (``uses_khmer``: kits get
    the bilingual loudspeaker script and a Khmer reading) and its Khmer share in percent."""
    from flask import abort

    from core.models import audit

    session = get_session()
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        abort(404)
    error = None
    share_raw = request.form.get("khmer_share", "").strip() if request.method == "POST" else (
        "" if unit.khmer_share is None else str(unit.khmer_share))
    if request.method == "POST":
        share = None
        if share_raw:
            try:
                share = int(share_raw.rstrip("%").strip())
            except ValueError:
                share = -1
            if not 0 <= share <= 100:
                error = _("Tỷ lệ người Khmer phải là số nguyên từ 0 đến 100 (phần trăm), hoặc để trống.")
        if error is None:
            uses = request.form.get("uses_khmer") == "1"
            changed = (unit.uses_khmer, unit.khmer_share) != (uses, share)
            unit.uses_khmer, unit.khmer_share = uses, share
            session.add(unit)
            if changed:
                audit(session, actor().id, "unit.khmer", "org_unit", unit.id, uses_khmer=uses, khmer_share=share)
            session.commit()
            flash(_("Đã lưu thông tin tiếng Khmer của %(name)s.", name=unit.name), "success")
            return redirect(url_for("units.index"))
    return render_template("units/khmer.html", unit=unit, share=share_raw, error=error), 422 if error else 200


def init_app(app) -> None:
    app.register_blueprint(bp)
