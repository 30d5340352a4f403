"""Pages: teams per commune (managers), supervision tables and CSV, and the phone
app at /to-cong-nghe/ (app shell, manifest, service worker, device token)."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required
from sqlmodel import select

from campaigns.teams import service as ts
from campaigns.teams.models import ACTION_LABELS, ACTIONS, MEMBER_ROLES, Team, TeamMember
from core.auth import actor, role_required
from core.db import get_session
from core.extensions import csrf
from core.models import OrgUnit, Role, User
from core.timeutil import LOCAL_TZ, utcnow

STATIC = Path(__file__).parent / "static"

bp = Blueprint("teams", __name__, template_folder="templates", static_folder="static",
               static_url_path="/to-cong-nghe/static")

MANAGERS = (Role.communicator, Role.unit_officer)
SUPERVISORS = (Role.communicator, Role.reviewer, Role.unit_officer)


# -- the phone app ------------------------------------------------------------------------


@bp.get("/to-cong-nghe")
def app_redirect():
    return redirect(url_for("teams.app_shell"))


@bp.get("/to-cong-nghe/")
def app_shell():
    """The app shell: no personal data, so the service worker may cache it; the
    script signs the phone in (device token) and keeps visits in IndexedDB."""
    resp = Response(render_template("teams/app.html", actions=ACTIONS, action_labels=ACTION_LABELS))
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/to-cong-nghe/sw.js")
def service_worker():
    resp = Response((STATIC / "sw.js").read_text(encoding="utf-8"), mimetype="text/javascript")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Service-Worker-Allowed"] = "/to-cong-nghe/"
    return resp


@bp.get("/to-cong-nghe/manifest.webmanifest")
def manifest():
    return jsonify({
        "name": "Tổ công nghệ số cộng đồng – Lan Tỏa",
        "short_name": "Tổ CNS",
        "lang": "vi",
        "start_url": url_for("teams.app_shell"),
        "scope": url_for("teams.app_shell"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5cab",
        "icons": [{"src": url_for("teams.static", filename="icon.svg"), "sizes": "any",
                   "type": "image/svg+xml", "purpose": "any"}],
    }), 200, {"Content-Type": "application/manifest+json"}


@bp.post("/to-cong-nghe/token")
@csrf.exempt
@login_required
def device_token():
    """An API token for this phone (kept in IndexedDB), so visits sync with the
    Bearer API after the cookie session has gone. Needs the app's header: a page of
    another site cannot send it without a CORS preflight this site never grants."""
    from core.models import ApiToken
    from core.security import hash_token, new_token

    user = actor()
    if user is None or user.role not in (Role.team_member, Role.admin):
        abort(403)
    if request.headers.get("X-Lantoa-App") != "1":
        return jsonify({"error": {"code": 400, "message": _("Yêu cầu không đến từ ứng dụng.")}}), 400
    session = get_session()
    member = ts.member_of(session, user)
    team = session.get(Team, member.team_id) if member else None
    token = new_token()
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:8], created_at=utcnow()))
    session.commit()
    return jsonify({"token": token, "name": user.name,
                    "team": {"id": team.id, "name": team.name, "hamlets": team.hamlets} if team else None})


# -- managing teams -----------------------------------------------------------------------


@bp.route("/teams/", methods=["GET", "POST"])
@role_required(*MANAGERS)
def index():
    session = get_session()
    user = actor()
    units = ts.manageable_units(session, user)
    if request.method == "POST":
        name = " ".join((request.form.get("name") or "").split())
        unit_id = request.form.get("unit_id", type=int)
        hamlets = ts.split_hamlets(request.form.get("hamlets", ""))
        if not name or len(name) > 120:
            flash(_("Nhập tên tổ (tối đa 120 ký tự)."), "error")
        elif unit_id is None or unit_id not in {u.id for u in units}:
            flash(_("Chọn xã/phường mà bạn quản lý."), "error")
        elif not hamlets:
            flash(_("Nhập ít nhất một ấp/khóm, mỗi dòng một tên."), "error")
        else:
            team = ts.create_team(session, user, unit_id, name, hamlets)
            session.commit()
            flash(_("Đã tạo tổ."), "success")
            return redirect(url_for("teams.detail", team_id=team.id))
    visible = ts.visible_team_ids(session, user)
    query = select(Team).order_by(Team.unit_id, Team.name)
    if visible is not None:
        query = query.where(Team.id.in_(visible or {-1}))  # type: ignore[attr-defined]
    teams = session.exec(query).all()
    unit_names = {u.id: u.name for u in session.exec(select(OrgUnit)).all()}
    counts = {t.id: len(session.exec(select(TeamMember.id).where(TeamMember.team_id == t.id)).all()) for t in teams}
    return render_template("teams/index.html", teams=teams, units=units, unit_names=unit_names, counts=counts)


@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@role_required(*MANAGERS)
def detail(team_id: int):
    import phonenumbers

    session = get_session()
    user = actor()
    team = session.get(Team, team_id)
    if team is None or not ts.can_manage_unit(session, user, team.unit_id):
        abort(404)
    if request.method == "POST":
        name = " ".join((request.form.get("name") or "").split())
        phone_raw = (request.form.get("phone") or "").strip()
        email = (request.form.get("email") or "").strip().lower()
        password = request.form.get("password") or ""
        role = request.form.get("role") or "member"
        phone = ""
        try:
            parsed = phonenumbers.parse(phone_raw, "VN")
            if phonenumbers.is_valid_number(parsed):
                phone = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        except phonenumbers.NumberParseException:
            pass
        if not name or len(name) > 120:
            flash(_("Nhập họ tên thành viên (tối đa 120 ký tự)."), "error")
        elif not phone:
            flash(_("Số điện thoại không hợp lệ."), "error")
        elif "@" not in email or len(email) > 254:
            flash(_("Nhập email đăng nhập hợp lệ."), "error")
        elif session.exec(select(User).where(User.email == email)).first() is not None:
            flash(_("Email này đã có tài khoản."), "error")
        elif len(password) < 8 or len(password) > 200:
            flash(_("Mật khẩu cần từ 8 ký tự."), "error")
        elif role not in MEMBER_ROLES:
            flash(_("Chọn vai trò trong tổ."), "error")
        else:
            ts.add_member(session, user, team, name=name, phone=phone, role=role, email=email, password=password)
            session.commit()
            flash(_("Đã thêm thành viên."), "success")
            return redirect(url_for("teams.detail", team_id=team.id))
    members = session.exec(select(TeamMember).where(TeamMember.team_id == team.id).order_by(TeamMember.name)).all()
    emails = {u.id: u.email for u in session.exec(select(User).where(
        User.id.in_([m.user_id for m in members if m.user_id] or [-1]))).all()}  # type: ignore[attr-defined]
    unit = session.get(OrgUnit, team.unit_id)
    return render_template("teams/detail.html", team=team, members=members, emails=emails, unit=unit,
                           member_roles=MEMBER_ROLES)


# -- supervision --------------------------------------------------------------------------


def _year() -> int | None:
    year = request.args.get("year", type=int)
    return year if year and 2000 <= year <= 2100 else None


def _unit_filter(session) -> OrgUnit | None:
    """``?unit=<code>``: one commune or district (within what the user may see)."""
    code = request.args.get("unit") or ""
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code[:64])).first() if code else None
    return unit


def _units_with_teams(session, user) -> list[OrgUnit]:
    visible = ts.visible_team_ids(session, user)
    query = select(Team.unit_id).distinct()
    if visible is not None:
        query = query.where(Team.id.in_(visible or {-1}))  # type: ignore[attr-defined]
    ids = set(session.exec(query).all())
    return sorted((u for u in session.exec(select(OrgUnit)).all() if u.id in ids), key=lambda u: u.name)


@bp.get("/teams/visits")
@role_required(*SUPERVISORS)
def supervision():
    session = get_session()
    user = actor()
    today = utcnow().astimezone(LOCAL_TZ).date()
    unit = _unit_filter(session)
    rows = ts.summary(session, user, year=_year(), unit_id=unit.id if unit else None)
    totals = {k: sum(r[k] for r in rows) for k in ("households", "people", *ACTIONS, "refused", "conflicts")}
    top = max([totals[a] for a in (*ACTIONS, "refused")] + [1])
    bars = [(ACTION_LABELS[a], totals[a], round(100 * totals[a] / top)) for a in (*ACTIONS, "refused")]
    due = ts.follow_ups_due(session, user, today)
    conflicts = session.exec(ts.visits_query(session, user).where(ts.TeamVisit.conflict_with.is_not(None))  # type: ignore[union-attr]
                             .order_by(ts.TeamVisit.visited_at.desc())).all()  # type: ignore[union-attr]
    teams = {t.id: t.name for t in session.exec(select(Team)).all()}
    return render_template("teams/supervision.html", rows=rows, totals=totals, due=due, today=today,
                           actions=ACTIONS, action_labels=ACTION_LABELS, teams=teams, conflicts=conflicts,
                           year=_year(), unit=unit, units=_units_with_teams(session, user), bars=bars,
                           can_manage=user.role in (Role.admin, *MANAGERS))


@bp.get("/teams/visits.csv")
@role_required(*SUPERVISORS)
def supervision_csv():
    from core.tabular import csv_bytes, csv_cell

    session = get_session()
    unit = _unit_filter(session)
    rows = ts.summary(session, actor(), year=_year(), unit_id=unit.id if unit else None)
    header = [_("Tháng"), _("Xã/phường"), _("Ấp/khóm"), _("Tổ"), _("Hộ đã thăm"), _("Người được hỗ trợ"),
              *[str(ACTION_LABELS[a]) for a in ACTIONS], str(ACTION_LABELS["refused"]), _("Trùng lặp cần xem")]
    body = csv_bytes(header, ([r["month"], csv_cell(r["unit"]), csv_cell(r["hamlet"]), csv_cell(r["team"]),
                               r["households"], r["people"], *[r[a] for a in ACTIONS], r["refused"],
                               r["conflicts"]] for r in rows))
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=to-cong-nghe-so.csv"})
