"""Helpers for the measure tests: a plan for the current year, activity makers."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import yaml
from sqlmodel import select

from core.db import session_scope
from core.models import OrgUnit
from core.timeutil import LOCAL_TZ, utcnow
from tests.helpers import api_headers, make_user

PLAN_FILE = Path(__file__).resolve().parents[1] / "campaigns" / "measure" / "plans" / "soc-trang-2025.yaml"

# A tiny but valid PDF (header is what the evidence check reads).
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def this_year() -> int:
    return utcnow().astimezone(LOCAL_TZ).year


def freeze_clock(monkeypatch, when):
    """Make ``when`` (an aware datetime) "now" for every module that reads the time through
    ``core.timeutil.utcnow`` (the app's only clock: "today", the current year, timestamps);
    the clock still ticks from there, so order by time keeps working. Modules imported later
    take the patched function from ``core.timeutil``. Returns ``when``."""
    import sys
    import time as _time

    import core.timeutil as timeutil

    real = timeutil.utcnow
    started = _time.monotonic()

    def fake():
        return when + timedelta(seconds=_time.monotonic() - started)

    for module in list(sys.modules.values()):
        try:
            bound = getattr(module, "utcnow", None) is real
        except Exception:  # noqa: BLE001 - lazy modules may refuse getattr
            bound = False
        if bound:
            monkeypatch.setattr(module, "utcnow", fake)
    assert timeutil.utcnow is fake
    return when


def plan_doc(year: int | None = None) -> dict:
    """The bundled plan re-dated to ``year`` (default: the current year), so that
    activity happening now counts towards it."""
    year = year or this_year()
    doc = yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8"))
    doc["key"] = f"soc-trang-{year}"
    doc["year"] = year
    doc["deadline"] = f"{year}-12-15"
    doc["remind_from"] = f"{year}-12-01"
    for t in doc["targets"]:
        if t["due_year"] == 2025:
            t["due_year"] = year
    for t in doc["tasks"]:
        due = str(t["due"])
        t["due"] = f"{year}-{due[5:]}"
    return doc


def fast_hash(password: str) -> str:
    """A cheap password hash for test users (scrypt costs ~0.3 s each)."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method="pbkdf2:sha256:1")


def setup_world(app, monkeypatch=None) -> dict:
    """Demo units, users, one campaign, the bundled 2025 plan and a plan for the current year."""
    from campaigns import service as cs
    from campaigns.demo import seed_units
    from campaigns.measure.plans import load_plan
    from core.models import User

    if monkeypatch is not None:
        monkeypatch.setattr("tests.helpers.hash_password", fast_hash)
    with app.app_context(), session_scope(app) as s:
        seed_units(s)
    admin = make_user(app, "admin")
    with app.app_context(), session_scope(app) as s:
        year = this_year()
        owner = s.exec(select(OrgUnit).where(OrgUnit.code == "so-khcn")).one()
        cs.create_campaign(s, {"title": "Ngày Chuyển đổi số 10/10", "starts_on": f"{year}-10-01",
                               "ends_on": f"{year}-10-31", "owner_unit": owner.code,
                               "target_url": "https://dichvucong.gov.vn/p/home/dvc-trang-chu.html"},
                           s.get(User, admin.id))
        load_plan(s, PLAN_FILE)
        plan = load_plan(s, plan_doc())
        units = {u.code: u.id for u in s.exec(select(OrgUnit)).all()}
        plan_id, year = plan.id, plan.year
    users = {
        "admin": admin,
        "communicator": make_user(app, "communicator"),
        "reviewer": make_user(app, "reviewer"),
        "district": make_user(app, "unit_officer", "tx-vinh-chau"),
        "commune": make_user(app, "unit_officer", "xa-lac-hoa"),
        "other_district": make_user(app, "unit_officer", "ke-sach"),
    }
    return {"plan_id": plan_id, "year": year, "units": units, "users": users}


def headers(app, who: str) -> dict:
    role, unit = {
        "admin": ("admin", None), "communicator": ("communicator", "so-vhttdl"),
        "reviewer": ("reviewer", "so-khcn"), "district": ("unit_officer", "tx-vinh-chau"),
        "commune": ("unit_officer", "xa-lac-hoa"), "other_district": ("unit_officer", "ke-sach"),
    }[who]
    return api_headers(app, role, unit)


def target_id(app, year: int, code: str) -> int:
    from campaigns.measure.models import Plan, PlanTarget

    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).first()
        return s.exec(select(PlanTarget.id).where(PlanTarget.plan_id == plan.id,
                                                  PlanTarget.code == code)).one()


def add_account(app, channel: str, unit_code: str, config: dict | None = None) -> int:
    from scheduler.models import ChannelAccount

    with app.app_context(), session_scope(app) as s:
        unit = s.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).one()
        acc = ChannelAccount(channel=channel, name=f"{channel} {unit_code}", config=config or {},
                             unit_id=unit.id, created_at=utcnow())
        s.add(acc)
        s.flush()
        return acc.id


def add_delivery(app, account_id: int, text: str, *, held: bool = False, minutes_ago: int = 5,
                 unit_code: str | None = None, campaign_id: int | None = None) -> int:
    from scheduler import service as ss
    from scheduler.models import ChannelAccount

    with app.app_context(), session_scope(app) as s:
        acc = s.get(ChannelAccount, account_id)
        content = {"text": text, "title": text[:40]}
        if unit_code:
            content["options"] = {"unit_code": unit_code}
        when = utcnow() - timedelta(minutes=minutes_ago)
        d = ss.create_delivery(s, account=acc, content=content, scheduled_at=when, held=held,
                               unit_id=acc.unit_id, campaign_id=campaign_id)
        return d.id


def figure_form(value="85", as_of=None, denominator="100", **extra) -> dict:
    """A figure form: ``value`` is the percentage of a percent-only target and, for a
    counts target, the numerator out of ``denominator``."""
    data = {"value": value, "numerator": value, "denominator": denominator,
            "as_of": as_of or utcnow().astimezone(LOCAL_TZ).date().isoformat(),
            "note": "Số liệu từ Hệ thống thông tin giải quyết TTHC", "evidence_url": ""}
    data.update(extra)
    return data


def pdf_file(name: str = "minh-chung.pdf", data: bytes = PDF):
    return (io.BytesIO(data), name)


def results_by_code(app, year: int, unit_code: str | None = None) -> dict:
    from campaigns.measure.compute import evaluate_plan
    from campaigns.measure.models import Plan

    with app.app_context(), session_scope(app) as s:
        plan = s.exec(select(Plan).where(Plan.year == year)).first()
        unit_id = None
        if unit_code:
            unit_id = s.exec(select(OrgUnit.id).where(OrgUnit.code == unit_code)).one()
        return {r.target.code: r for r in evaluate_plan(s, plan, unit_id=unit_id)}
