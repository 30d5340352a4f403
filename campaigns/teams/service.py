"""Teams, scoping, visits (idempotent by ``client_id``), conflicts, the retention
purge and the supervision figures. Plain functions on a session; the views and
the API call them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import Flask, current_app
from sqlmodel import Session, select

from campaigns.teams.models import ACTIONS, Team, TeamMember, TeamVisit
from core.models import OrgUnit, Role, User, audit
from core.timeutil import LOCAL_TZ, as_utc, parse_iso_datetime, utcnow
from core.units import subtree_ids

log = logging.getLogger("lantoa.teams")

MANAGERS = (Role.admin, Role.communicator, Role.unit_officer)
PROVINCE_WIDE = (Role.admin, Role.communicator, Role.reviewer)
DEFAULT_RETENTION_DAYS = 365
MAX_PEOPLE = 30
MAX_PHOTO_BYTES = 5 * 1024 * 1024


class VisitError(Exception):
    def __init__(self, fields: dict):
        super().__init__("invalid visit")
        self.fields = fields


# -- scoping ------------------------------------------------------------------------------


def member_of(session: Session, user: User) -> TeamMember | None:
    if user.role != Role.team_member:
        return None
    return session.exec(select(TeamMember).where(TeamMember.user_id == user.id)).first()


def visible_team_ids(session: Session, user: User) -> set[int] | None:
    """None = every team (province-wide roles); a unit officer: teams of the
    officer's unit subtree; a team member: their own team only."""
    if user.role in PROVINCE_WIDE:
        return None
    if user.role == Role.team_member:
        m = member_of(session, user)
        return {m.team_id} if m else set()
    if user.role == Role.unit_officer and user.unit_id is not None:
        units = subtree_ids(session, user.unit_id)
        return set(session.exec(select(Team.id).where(Team.unit_id.in_(units))).all())  # type: ignore[attr-defined]
    return set()


def can_manage_unit(session: Session, user: User, unit_id: int) -> bool:
    if user.role in (Role.admin, Role.communicator):
        return True
    return (user.role == Role.unit_officer and user.unit_id is not None
            and unit_id in subtree_ids(session, user.unit_id))


def manageable_units(session: Session, user: User) -> list[OrgUnit]:
    """Communes a manager may give a team to."""
    kinds = ("commune", "ward", "special_zone")
    units = session.exec(select(OrgUnit).where(OrgUnit.kind.in_(kinds)).order_by(OrgUnit.name)).all()  # type: ignore[attr-defined]
    return [u for u in units if can_manage_unit(session, user, u.id)]


def visits_query(session: Session, user: User):
    query = select(TeamVisit)
    teams = visible_team_ids(session, user)
    if teams is not None:
        query = query.where(TeamVisit.team_id.in_(teams or {-1}))  # type: ignore[attr-defined]
    return query


def load_visit(session: Session, user: User, visit_id: int) -> TeamVisit | None:
    visit = session.get(TeamVisit, visit_id)
    if visit is None:
        return None
    teams = visible_team_ids(session, user)
    if teams is not None and visit.team_id not in teams:
        return None
    return visit


# -- teams --------------------------------------------------------------------------------


def split_hamlets(text: str) -> list[str]:
    seen: list[str] = []
    for part in (text or "").replace(";", "\n").replace(",", "\n").splitlines():
        name = " ".join(part.split())[:80]
        if name and name not in seen:
            seen.append(name)
    return seen[:100]


def create_team(session: Session, user: User, unit_id: int, name: str, hamlets: list[str]) -> Team:
    team = Team(unit_id=unit_id, name=name.strip()[:120], hamlets=hamlets, created_at=utcnow())
    session.add(team)
    session.flush()
    audit(session, user.id, "team.create", "team", team.id, unit_id=unit_id)
    return team


def add_member(session: Session, actor: User, team: Team, *, name: str, phone: str, role: str,
               email: str, password: str) -> TeamMember:
    """A member and their sign-in account (role team_member, the team's commune)."""
    from core.security import hash_password

    user = User(email=email.strip().lower(), name=name.strip()[:120], password_hash=hash_password(password),
                role=Role.team_member, unit_id=team.unit_id, created_at=utcnow())
    session.add(user)
    session.flush()
    member = TeamMember(team_id=team.id, user_id=user.id, name=name.strip()[:120], phone=phone,
                        role=role if role in ("leader", "member") else "member")
    session.add(member)
    session.flush()
    audit(session, actor.id, "team.member_add", "team", team.id, member_id=member.id)
    return member


# -- visits -------------------------------------------------------------------------------


def _clean_people(raw, errors: dict) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        errors["people"] = "Cần ít nhất một người được hỗ trợ."
        return []
    if len(raw) > MAX_PEOPLE:
        errors["people"] = f"Tối đa {MAX_PEOPLE} người trong một lượt thăm."
        return []
    people = []
    for i, person in enumerate(raw):
        if not isinstance(person, dict):
            errors[f"people[{i}]"] = "Mỗi người là một đối tượng có danh sách việc đã làm."
            continue
        actions = person.get("actions") or []
        refused = bool(person.get("refused"))
        if not isinstance(actions, list) or any(a not in ACTIONS for a in actions):
            errors[f"people[{i}].actions"] = "Việc đã làm không hợp lệ."
            continue
        reason = person.get("reason") or ""
        if not isinstance(reason, str):
            reason = ""
        if refused and actions:
            errors[f"people[{i}]"] = "Người đã từ chối thì không có việc đã làm."
            continue
        if not refused and not actions:
            errors[f"people[{i}]"] = "Chọn ít nhất một việc đã làm, hoặc đánh dấu chưa làm được và lý do."
            continue
        entry: dict = {"actions": [a for a in ACTIONS if a in actions]}
        if refused:
            entry["refused"] = True
            entry["reason"] = " ".join(reason.split())[:200]
        people.append(entry)
    return people


def _parse_follow_up(value, errors: dict) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors["follow_up_on"] = "Ngày hẹn quay lại phải có dạng YYYY-MM-DD."
        return None


def _store_photo(app: Flask, raw_b64: str, errors: dict) -> str | None:
    if not raw_b64:
        return None
    if not isinstance(raw_b64, str):
        errors["receipt_photo"] = "Ảnh biên nhận phải là chuỗi base64."
        return None
    data = raw_b64.split(",", 1)[1] if raw_b64.startswith("data:") else raw_b64
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        errors["receipt_photo"] = "Ảnh biên nhận không đọc được (base64 hỏng)."
        return None
    import media_templates as mt

    try:
        clean = mt.check_upload_image(raw, max_bytes=MAX_PHOTO_BYTES)
    except mt.TemplateError as exc:
        errors["receipt_photo"] = str(exc)
        return None
    ext = "png" if clean[:8] == b"\x89PNG\r\n\x1a\n" else "jpg"
    folder = Path(app.config["LANTOA_MEDIA_DIR"]) / "team-receipts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(clean).hexdigest()}.{ext}"
    path.write_bytes(clean)
    return str(path)


def _same_data(a: TeamVisit, b: TeamVisit) -> bool:
    return a.people == b.people and a.follow_up_on == b.follow_up_on


def _flag_conflict(session: Session, visit: TeamVisit) -> None:
    """Same household label and hamlet in the same commune within a day, other data:
    both visits are flagged for the supervisor; neither is merged or dropped."""
    if not visit.household_label or visit.visited_at is None:
        return
    day = timedelta(days=1)
    others = session.exec(select(TeamVisit).where(
        TeamVisit.unit_id == visit.unit_id, TeamVisit.hamlet == visit.hamlet,
        TeamVisit.household_label == visit.household_label, TeamVisit.id != visit.id,
        TeamVisit.visited_at >= visit.visited_at - day, TeamVisit.visited_at <= visit.visited_at + day,
    )).all()
    for other in others:
        if not _same_data(visit, other):
            visit.conflict_with = other.id
            if other.conflict_with is None:
                other.conflict_with = visit.id
                session.add(other)
            session.add(visit)
            log.info("visit %s conflicts with visit %s (same household, other data)", visit.id, other.id)


def record_visit(session: Session, user: User, data: dict, app: Flask | None = None) -> tuple[TeamVisit, bool]:
    """(visit, created). A known ``client_id`` returns the stored visit unchanged."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    errors: dict = {}
    try:
        client_id = str(uuid.UUID(str(data.get("client_id") or "")))
    except ValueError:
        raise VisitError({"client_id": "client_id phải là một UUID do điện thoại tạo."}) from None
    existing = session.exec(select(TeamVisit).where(TeamVisit.client_id == client_id)).first()
    if existing is not None:
        teams = visible_team_ids(session, user)
        if teams is not None and existing.team_id not in teams:
            raise VisitError({"client_id": "client_id này đã được dùng."})
        return existing, False
    member = member_of(session, user)
    team = session.get(Team, member.team_id) if member else None
    if team is None:
        team_id = data.get("team_id")
        team = session.get(Team, team_id) if isinstance(team_id, int) and not isinstance(team_id, bool) else None
        if team is None or not can_manage_unit(session, user, team.unit_id):
            raise VisitError({"team_id": "Chọn một tổ công nghệ số mà bạn quản lý."})
    hamlet = " ".join(str(data.get("hamlet") or "").split())
    if not hamlet:
        errors["hamlet"] = "Chọn ấp/khóm."
    elif team.hamlets and hamlet not in team.hamlets:
        errors["hamlet"] = "Ấp/khóm này không thuộc địa bàn của tổ."
    label = " ".join(str(data.get("household_label") or "").split())
    if not label:
        errors["household_label"] = "Ghi nhãn hộ (ví dụ: nhà số 12, tổ 3), không ghi họ tên."
    elif len(label) > 80:
        errors["household_label"] = "Nhãn hộ tối đa 80 ký tự."
    people = _clean_people(data.get("people"), errors)
    follow_up = _parse_follow_up(data.get("follow_up_on"), errors)
    visited_at = utcnow()
    if data.get("visited_at"):
        try:
            visited_at = as_utc(parse_iso_datetime(str(data["visited_at"])))
        except (ValueError, TypeError):
            errors["visited_at"] = "Thời điểm thăm phải theo ISO 8601."
        else:
            if visited_at > utcnow() + timedelta(hours=1):
                errors["visited_at"] = "Thời điểm thăm không thể ở tương lai."
    if errors:
        raise VisitError(errors)
    photo = _store_photo(app, data.get("receipt_photo") or "", errors)
    if errors:
        raise VisitError(errors)
    visit = TeamVisit(client_id=client_id, team_id=team.id, unit_id=team.unit_id, user_id=user.id,
                      hamlet=hamlet[:80], household_label=label, people=people, receipt_path=photo,
                      follow_up_on=follow_up, visited_at=visited_at, received_at=utcnow())
    session.add(visit)
    session.flush()
    _flag_conflict(session, visit)
    log.info("visit %s recorded by user %s for team %s (%d people)", visit.id, user.id, team.id, len(people))
    return visit, True


# -- retention ----------------------------------------------------------------------------


def retention_days(app: Flask) -> int:
    try:
        return max(1, int(app.config.get("LANTOA_TEAMS_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS))
    except (TypeError, ValueError):
        return DEFAULT_RETENTION_DAYS


def purge(session: Session, app: Flask, now: datetime | None = None) -> int:
    """Drop the household label, refusal reasons and receipt photo of visits older
    than the retention period; the counts of help given stay. Returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days(app))
    rows = session.exec(select(TeamVisit).where(TeamVisit.purged_at.is_(None),  # type: ignore[union-attr]
                                                TeamVisit.visited_at < cutoff)).all()
    for visit in rows:
        if visit.receipt_path:
            Path(visit.receipt_path).unlink(missing_ok=True)
        visit.household_label = None
        visit.receipt_path = None
        visit.people = [{k: v for k, v in p.items() if k != "reason"} for p in visit.people]
        visit.purged_at = now or utcnow()
        session.add(visit)
    if rows:
        log.info("teams: purged personal data of %d visits older than %d days", len(rows), retention_days(app))
    return len(rows)


def daily_purge(app: Flask, today: date) -> None:
    from core.db import session_scope

    with app.app_context(), session_scope(app) as s:
        purge(s, app)


# -- figures ------------------------------------------------------------------------------


def month_of(visit: TeamVisit) -> str:
    local = as_utc(visit.visited_at).astimezone(LOCAL_TZ) if visit.visited_at else None
    return local.strftime("%Y-%m") if local else ""


def summary(session: Session, user: User, *, year: int | None = None, unit_id: int | None = None) -> list[dict]:
    """Rows per (commune, hamlet, team, month): households visited, people helped,
    and people per kind of help; ``unit_id``: that unit's subtree only."""
    query = visits_query(session, user)
    if unit_id is not None:
        query = query.where(TeamVisit.unit_id.in_(subtree_ids(session, unit_id)))  # type: ignore[attr-defined]
    visits = session.exec(query).all()
    teams = {t.id: t for t in session.exec(select(Team)).all()}
    units = {u.id: u for u in session.exec(select(OrgUnit)).all()}
    rows: dict[tuple, dict] = {}
    for v in visits:
        month = month_of(v)
        if year and not month.startswith(f"{year}-"):
            continue
        key = (v.unit_id, v.hamlet, v.team_id, month)
        row = rows.get(key)
        if row is None:
            unit, team = units.get(v.unit_id), teams.get(v.team_id)
            row = rows[key] = {"unit": unit.name if unit else "", "hamlet": v.hamlet,
                               "team": team.name if team else "", "month": month, "households": 0,
                               "people": 0, **{a: 0 for a in ACTIONS}, "refused": 0, "conflicts": 0}
        row["households"] += 1
        row["people"] += len(v.people)
        row["conflicts"] += 1 if v.conflict_with else 0
        for p in v.people:
            if p.get("refused"):
                row["refused"] += 1
            for a in p.get("actions", []):
                row[a] += 1
    return sorted(rows.values(), key=lambda r: (r["month"], r["unit"], r["hamlet"], r["team"]))


def follow_ups_due(session: Session, user: User, today: date, days: int = 7) -> list[TeamVisit]:
    query = visits_query(session, user).where(TeamVisit.follow_up_on.is_not(None),  # type: ignore[union-attr]
                                              TeamVisit.follow_up_on <= today + timedelta(days=days))
    return list(session.exec(query.order_by(TeamVisit.follow_up_on)).all())


def target_figures(session: Session, unit_ids: set[int] | None = None, year: int | None = None) -> dict[str, int]:
    """For the measure part: people helped per kind, for the plan's targets
    (T09 identified users <- level2_activated; T11 people using online public
    services <- dossier_online). ``unit_ids`` None = the whole province."""
    query = select(TeamVisit)
    if unit_ids is not None:
        query = query.where(TeamVisit.unit_id.in_(unit_ids or {-1}))  # type: ignore[attr-defined]
    counts = defaultdict(int)
    for v in session.exec(query).all():
        if year and not month_of(v).startswith(f"{year}-"):
            continue
        counts["households"] += 1
        for p in v.people:
            for a in p.get("actions", []):
                counts[a] += 1
    return {"households": counts["households"], **{a: counts[a] for a in ACTIONS},
            "T09": counts["level2_activated"], "T11": counts["dossier_online"]}


#: plan targets the visits feed: target code -> the action counted
TARGET_ACTIONS = {"T09": "level2_activated", "T11": "dossier_online"}
TARGET_EVIDENCE = {"T09": "người được kích hoạt định danh mức 2", "T11": "người nộp hồ sơ trực tuyến"}


def evidence_text(session: Session, code: str, unit_ids: set[int] | None, year: int) -> str:
    """For the measure part (``campaigns.measure.compute.evaluate_plan``): the door-to-door
    teams' figure behind a target, appended to the target's detail; "" when none."""
    if code not in TARGET_ACTIONS:
        return ""
    from core.formatting import fmt_number

    figures = target_figures(session, unit_ids, year)
    if not figures[code]:
        return ""
    return (f"; tổ công nghệ số cộng đồng: {fmt_number(figures[code], locale='vi')} {TARGET_EVIDENCE[code]} "
            f"qua {fmt_number(figures['households'], locale='vi')} hộ đã thăm")
