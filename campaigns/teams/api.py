"""JSON API for the phone app: visits (idempotent by client_id) and the team's
materials. Same conventions as ``campaigns.api``; another team's visit is 404."""

from __future__ import annotations

from flask import current_app, jsonify
from sqlmodel import select

from campaigns.api import ApiError, api_blueprint, body, me, paged, roles
from campaigns.models import RELEASED, Campaign, ContentItem
from campaigns.teams import service as ts
from campaigns.teams.models import Team, TeamVisit
from core.db import get_session
from core.models import OrgUnit, Role
from core.timeutil import LOCAL_TZ, utcnow

bp = api_blueprint("teams_api")

RECORDERS = (Role.team_member, Role.communicator, Role.unit_officer)
READERS = (Role.team_member, Role.communicator, Role.reviewer, Role.unit_officer)


def visit_json(v: TeamVisit) -> dict:
    return {
        "id": v.id,
        "client_id": v.client_id,
        "team_id": v.team_id,
        "hamlet": v.hamlet,
        "household_label": v.household_label,
        "people": v.people,
        "has_receipt_photo": bool(v.receipt_path),
        "follow_up_on": v.follow_up_on.isoformat() if v.follow_up_on else None,
        "visited_at": v.visited_at.isoformat() if v.visited_at else None,
        "conflict": v.conflict_with is not None,
        "conflict_with": v.conflict_with,
        "purged": v.purged_at is not None,
    }


@bp.post("/visits")
@roles(*RECORDERS)
def visits_create():
    session = get_session()
    try:
        visit, created = ts.record_visit(session, me(), body())
    except ts.VisitError as exc:
        raise ApiError(422, None, exc.fields) from None
    session.commit()
    return jsonify(visit_json(visit)), (201 if created else 200)


@bp.get("/visits")
@roles(*READERS)
def visits_list():
    session = get_session()
    query = ts.visits_query(session, me()).order_by(TeamVisit.visited_at.desc(), TeamVisit.id.desc())  # type: ignore[union-attr]
    return paged(query, visit_json)


@bp.get("/visits/<int:visit_id>")
@roles(*READERS)
def visits_get(visit_id: int):
    visit = ts.load_visit(get_session(), me(), visit_id)
    if visit is None:
        raise ApiError(404)
    return jsonify(visit_json(visit))


def qr_svg(url: str) -> str:
    import io

    import qrcode
    import qrcode.image.svg

    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue().decode("utf-8")


@bp.get("/team-materials")
@roles(*READERS)
def materials():
    """The team, its hamlets, and the current campaigns' short scripts and QR codes
    (the app keeps them on the phone for offline use)."""
    from campaigns.kits.builder import tracked_link

    session = get_session()
    member = ts.member_of(session, me())
    team = session.get(Team, member.team_id) if member else None
    unit = session.get(OrgUnit, team.unit_id if team else me().unit_id) if (team or me().unit_id) else None
    today = utcnow().astimezone(LOCAL_TZ).date()
    campaigns = session.exec(select(Campaign).where(Campaign.status.in_(list(RELEASED)),  # type: ignore[attr-defined]
                                                    Campaign.starts_on <= today, Campaign.ends_on >= today)
                             .order_by(Campaign.starts_on)).all()
    base = str(current_app.config.get("LANTOA_PUBLIC_BASE_URL") or "")
    out = []
    for c in campaigns[:5]:
        items = session.exec(select(ContentItem).where(ContentItem.campaign_id == c.id)
                             .order_by(ContentItem.planned_at, ContentItem.id)).all()
        link = tracked_link(base, c.id, unit.code) if unit else ""
        out.append({
            "id": c.id, "title": c.title,
            "scripts": [{"title": i.title, "text": i.body[:600]} for i in items][:6],
            "link": link, "qr_svg": qr_svg(link) if link else "",
        })
    return jsonify({
        "team": {"id": team.id, "name": team.name, "hamlets": team.hamlets} if team else None,
        "unit": unit.name if unit else None,
        "campaigns": out,
    })


def openapi_paths() -> dict:
    ok = {"200": {"description": "OK"}}
    return {
        "/visits": {
            "get": {"summary": "Household visits of the caller's team(s)", "responses": ok},
            "post": {"summary": "Record a visit (idempotent by client_id: 201 new, 200 repeat)",
                     "responses": {"201": {"description": "Created"}, "200": {"description": "Already recorded"},
                                   "422": {"description": "Invalid"}}},
        },
        "/visits/{visit_id}": {"get": {"summary": "One visit (404 outside the caller's teams)", "responses": ok}},
        "/team-materials": {"get": {"summary": "The team and the current campaigns' scripts and QR codes",
                                    "responses": ok}},
    }
